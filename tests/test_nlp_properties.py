"""Properties (hypothesis): never raises, idempotent, protected spans survive byte-for-byte, masked
PII leaves none of its digits behind in any script."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlp.chars import ARABIC_DIGITS, PERSIAN_DIGITS, unify_digits
from nlp.pipeline import get_pipeline

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

persian_words = st.sampled_from(
    [
        "غذا", "خیلی", "خیلیییی", "سرد", "بود", "می", "خواهم", "ها", "كيفيت", "عالي", "نبود", "کتاب",
        "زمین", "لرزه", "ای", "ی", "تر", "نمی", "دونم", "میخواهم", "ممنون", "ة", "!!", "؟", "،", ".",
        "...", "«", "»", "(", ")", '"', "\u200c", "\u200d", "ـــ", "\n", "\t", " ", "4.5", "۱۲٬۵۰۰",
        "12:30", "٤٧٫٥٠٠", "50%", "😍", "👌🏽", "❤️", "@ali_1", "#غذای_خوب", "www.snappfood.ir/x?a=1",
        "https://t.co/abc", "a@b.ir", "[PHONE]", "\ue005", "\ufeff", "َ", "ﷲ",
    ]
)
texts = st.one_of(
    st.text(max_size=80),
    st.lists(persian_words, max_size=25).map(lambda ws: " ".join(ws)),
    st.lists(persian_words, max_size=25).map(lambda ws: "".join(ws)),
)


@SETTINGS
@given(texts)
def test_never_raises_and_idempotent(text: str) -> None:
    pipe = get_pipeline()
    once = pipe.process(text)
    assert isinstance(once.text, str)
    assert pipe.process(once.text).text == once.text
    assert pipe.normalizer.normalize(pipe.normalizer.normalize(text)) == pipe.normalizer.normalize(text)
    for span in once.pii:
        assert 0 <= span.start < span.end <= len(text)


protected_values = st.sampled_from(
    [
        "www.snappfood.ir/menu?id=12", "https://t.co/tZOurPSXzi", "tci.ir", "info@shop.ir", "@BTS_twt",
        "#روز_کوروش", "#perfect", "😍😍", "👌🏽", "❤️❤️", "👨\u200d👩\u200d👧",
    ]
)


@SETTINGS
@given(st.lists(persian_words, max_size=10), protected_values, st.lists(persian_words, max_size=10))
def test_protected_spans_survive_byte_for_byte(before: list[str], value: str, after: list[str]) -> None:
    normalizer = get_pipeline().normalizer
    text = " ".join([*before, value, *after])
    out = normalizer.normalize(text)
    assert value in out, (text, out)


numbers = st.from_regex(r"\A[0-9]{1,6}([.٫:/,٬][0-9]{1,3})?\Z", fullmatch=True)


@SETTINGS
@given(st.lists(persian_words, max_size=8), numbers, st.sampled_from(["en", "fa", "ar"]), st.lists(persian_words, max_size=8))
def test_numbers_survive_whole(before: list[str], number: str, script: str, after: list[str]) -> None:
    """Numbers are one token, separators kept, digits unified to the target script."""
    pipe = get_pipeline()
    written = number.translate(str.maketrans("0123456789", {"en": "0123456789", "fa": PERSIAN_DIGITS, "ar": ARABIC_DIGITS}[script]))
    text = " ".join([*before, written, *after])
    clean = pipe.process(text)
    expected = unify_digits(number, "fa")
    if not clean.pii:
        assert expected in clean.tokens, (text, clean.tokens)
        assert expected in clean.text


def _digit_runs(s: str) -> set[str]:
    return {m.group() for m in re.finditer(r"\d{4,}", unify_digits(s, "en"))}


pii_values = st.one_of(
    st.from_regex(r"\A09[0-9]{9}\Z", fullmatch=True),
    st.from_regex(r"\A\+98 9[0-9]{2} [0-9]{3} [0-9]{4}\Z", fullmatch=True),
    st.from_regex(r"\A0[1-8][0-9]-[0-9]{8}\Z", fullmatch=True),
    st.sampled_from(["0013542419", "IR062960000000100324200001", "6037-9974-8337-8874", "6219861034529007"]),
)


@SETTINGS
@given(st.lists(persian_words, max_size=8), pii_values, st.sampled_from(["en", "fa", "ar"]), st.lists(persian_words, max_size=8))
def test_masking_leaves_no_digit_run_of_the_value(before: list[str], value: str, script: str, after: list[str]) -> None:
    pipe = get_pipeline()
    written = value.translate(str.maketrans("0123456789", {"en": "0123456789", "fa": PERSIAN_DIGITS, "ar": ARABIC_DIGITS}[script]))
    text = " ".join([*before, written, *after])
    clean = pipe.process(text)
    assert clean.pii, text
    value_digits = re.sub(r"\D", "", value)
    out_digits = re.sub(r"\D", "", unify_digits(clean.text, "en"))
    assert value_digits not in out_digits
    for run in _digit_runs(clean.text):
        assert run not in value_digits or len(run) < 4
    assert pipe.masker.mask(text).text.count("[") >= 1
