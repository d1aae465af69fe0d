"""TextPipeline: raw → CleanText (masked normalized text, raw-text spans, tokens, flags), stopwords,
negation features."""

from __future__ import annotations

import itertools
import json

import pytest

import nlp
from nlp.negation import is_negation, mark_negation
from nlp.pipeline import TextPipeline, get_pipeline
from nlp.types import CleanText


def test_get_pipeline_is_cached() -> None:
    assert get_pipeline() is get_pipeline()
    assert nlp.get_pipeline() is get_pipeline()


@pytest.mark.parametrize(
    ("raw", "text", "tokens", "pii_types"),
    [
        (
            "پیک خیلی دیر رسید، شماره من ۰۹۱۲۱۲۳۴۵۶۷ است",
            "پیک خیلی دیر رسید، شماره من [PHONE] است",
            ("پیک", "خیلی", "دیر", "رسید", "،", "شماره", "من", "[PHONE]", "است"),
            ["PHONE"],
        ),
        (
            "قیمتش 4.5 بود ولی خیلییییی دیر رسيد😍😍",
            "قیمتش ۴.۵ بود ولی خیلی دیر رسید 😍😍",
            ("قیمتش", "۴.۵", "بود", "ولی", "خیلی", "دیر", "رسید", "😍", "😍"),
            [],
        ),
        (
            "مبلغ رو به کارت 6037-9974-8337-8874 برگردونید",
            "مبلغ رو به کارت [CARD] برگردونید",
            ("مبلغ", "رو", "به", "کارت", "[CARD]", "برگردونید"),
            ["CARD"],
        ),
        (
            "سیب زمینی ها مزه نداشت و غذا خواهد رسید",
            "سیب\u200cزمینی\u200cها مزه نداشت و غذا خواهد رسید",
            ("سیب\u200cزمینی\u200cها", "مزه", "نداشت", "و", "غذا", "خواهد_رسید"),
            [],
        ),
        ("", "", (), []),
    ],
)
def test_process_table(raw: str, text: str, tokens: tuple[str, ...], pii_types: list[str]) -> None:
    clean = get_pipeline().process(raw)
    assert isinstance(clean, CleanText)
    assert clean.text == text
    assert clean.tokens == tokens
    assert [s.type for s in clean.pii] == pii_types


def test_spans_index_the_raw_text() -> None:
    raw = "كد ملي من ۰۰۱۳۵۴۲۴۱۹ و ايميل ali@gmail.com"
    clean = get_pipeline().process(raw)
    assert [(s.type, raw[s.start : s.end]) for s in clean.pii] == [
        ("NATIONAL_ID", "۰۰۱۳۵۴۲۴۱۹"),
        ("EMAIL", "ali@gmail.com"),
    ]
    assert clean.text == "کد ملی من [NATIONAL_ID] و ایمیل [EMAIL]"


def test_flags() -> None:
    clean = get_pipeline().process("عاااالی بود!!! ولی غذا گرم نبود 👌🏽👌🏽")
    assert clean.flags == {"emphasis": True, "emoji": 2, "exclaim": 3, "negation": 1}
    assert get_pipeline().process("غذا خوب بود").flags == {"emphasis": False, "emoji": 0, "exclaim": 0, "negation": 0}


def test_process_batch_matches_process(data_dir) -> None:
    with (data_dir / "snappfood-stream" / "comments.jsonl").open(encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in itertools.islice(f, 300)]
    pipe = get_pipeline()
    batch = pipe.process_batch(texts)
    assert len(batch) == len(texts)
    assert all(b == pipe.process(t) for b, t in zip(batch, texts, strict=True))
    # tokens join back to the text modulo spacing around punctuation
    for clean in batch:
        assert "".join(clean.tokens).replace("_", "") == clean.text.replace(" ", "").replace("\n", "")


def test_options_digits_en_and_no_masking() -> None:
    pipe = TextPipeline(digits="en", mask_pii=False, tokenize=False)
    clean = pipe.process("شماره ۰۹۱۲۱۲۳۴۵۶۷ ساعت ١١:٣٠")
    assert clean.text == "شماره 09121234567 ساعت 11:30"
    assert clean.pii == () and clean.tokens == ()


def test_non_str_input_does_not_raise() -> None:
    assert get_pipeline().process(None).text == ""  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("token", "negated"),
    [("نبود", True), ("نمی\u200cخورم", True), ("نیومد", True), ("نیست", True), ("نوشت", False), ("نان", False),
     ("بود", False), ("نداشت", True)],
)
def test_is_negation(token: str, negated: bool) -> None:
    assert is_negation(token) is negated


def test_mark_negation() -> None:
    assert mark_negation(["غذا", "گرم", "نبود"]) == ("غذا", "گرم", "نبود", "NOT_گرم")
    assert mark_negation(["غذا", "گرم", "بود"]) == ("غذا", "گرم", "بود")


def test_stopwords() -> None:
    words = nlp.stopwords()
    assert {"از", "به", "که", "یه", "دیگه", "رو"} <= words
    # sentiment and negation words are not stopwords
    assert not {"خوب", "عالی", "بد", "نه", "نیست", "نبود", "هیچ", "خیلی"} & words


def test_untokenized_processing_gives_the_same_text_and_pii():
    pipe = get_pipeline()
    for raw in ("پیک خیلی دیر رسید، شماره من ۰۹۱۲۳۴۵۶۷۸۹ است", "غذا گرم نبود 👌🏽!!", "", "a-b 4.5 www.x.ir"):
        full, bare = pipe.process(raw), pipe.process(raw, tokenize=False)
        assert (bare.text, bare.pii) == (full.text, full.pii)
        assert bare.tokens == () and "negation" not in bare.flags
        assert {k: v for k, v in full.flags.items() if k != "negation"} == bare.flags
    assert [c.text for c in pipe.process_batch(["خیلیییی خوب"], tokenize=False)] == ["خیلی خوب"]
