"""PII masking: tables of common forms, generated valid IDs inside Persian sentences (all masked), and
random digit strings failing the checksums (left alone)."""

from __future__ import annotations

import random

import pytest

from nlp.chars import ARABIC_DIGITS, PERSIAN_DIGITS
from nlp.pii import PiiMasker, iban_valid, luhn_valid, national_id_valid


@pytest.fixture(scope="module")
def masker() -> PiiMasker:
    return PiiMasker()


def to_script(digits: str, script: str) -> str:
    table = {"en": "0123456789", "fa": PERSIAN_DIGITS, "ar": ARABIC_DIGITS}[script]
    return "".join(table[int(d)] if d.isdigit() else d for d in digits)


# -- generators of valid values --------------------------------------------------------------------

def gen_national_id(rng: random.Random) -> str:
    while True:
        body = [rng.randrange(10) for _ in range(9)]
        s = sum(d * (10 - i) for i, d in enumerate(body)) % 11
        code = "".join(map(str, body)) + str(s if s < 2 else 11 - s)
        if len(set(code)) > 1:
            return code


def gen_card(rng: random.Random) -> str:
    prefix = rng.choice(["603799", "610433", "589210", "627353", "621986", "502229", "622106"])
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(9))
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable")


def gen_iban(rng: random.Random) -> str:
    bban = "0" + "".join(str(rng.randrange(10)) for _ in range(21))
    n = int(bban + "182700")  # I=18 R=27, check digits 00
    return f"IR{98 - n % 97:02d}{bban}"


SENTENCES = [
    "سلام کد ملی من {} است لطفا پیگیری کنید",
    "مبلغ رو به کارت {} برگردونید",
    "شماره شبا: {} به نام خودم",
    "لطفا با {} تماس بگیرید، ممنون",
    "{}",
    "پول رو واریز کنید به{}ممنون",
]


def fmt_card(card: str, rng: random.Random) -> str:
    sep = rng.choice(["", " ", "-"])
    return sep.join(card[i : i + 4] for i in range(0, 16, 4))


def fmt_iban(iban: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return iban
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


@pytest.mark.parametrize("kind", ["NATIONAL_ID", "CARD", "IBAN"])
def test_generated_valid_ids_in_sentences_all_masked(masker: PiiMasker, kind: str) -> None:
    rng = random.Random(7)
    n_total = 0
    for _ in range(300):
        if kind == "NATIONAL_ID":
            value = gen_national_id(rng)
        elif kind == "CARD":
            value = fmt_card(gen_card(rng), rng)
        else:
            value = fmt_iban(gen_iban(rng), rng)
        script = rng.choice(["en", "fa", "ar"])
        value = to_script(value, script)
        sentence = rng.choice(SENTENCES)
        text = sentence.format(value)
        masked = masker.mask(text)
        assert [s.type for s in masked.spans] == [kind], (text, masked)
        span = masked.spans[0]
        assert text[span.start : span.end] == value
        assert masked.text == sentence.format(f"[{kind}]")
        n_total += 1
    assert n_total == 300


def test_random_digit_strings_failing_checksums_are_left_alone(masker: PiiMasker) -> None:
    rng = random.Random(11)
    checked = {10: 0, 16: 0, 24: 0}
    while min(checked.values()) < 200:
        n = rng.choice([10, 16, 24])
        digits = "".join(str(rng.randrange(10)) for _ in range(n))
        if digits[0] == "9" or digits.startswith("0"):
            continue  # a bare 9xxxxxxxxx is a mobile number; 0-prefixed may be a phone
        if (n == 10 and national_id_valid(digits)) or (n == 16 and luhn_valid(digits)):
            continue
        if n == 24 and iban_valid("IR" + digits):
            continue
        text = f"کد پیگیری سفارش {to_script(digits, rng.choice(['en', 'fa', 'ar']))} بود"
        assert masker.mask(text).spans == (), text
        checked[n] += 1


@pytest.mark.parametrize(
    "phone",
    [
        "09121234567", "0912 123 4567", "0912-123-4567", "0912 1234567", "0912.123.4567",
        "+989121234567", "+98 912 123 4567", "+98-912-123-4567", "00989121234567", "989121234567",
        "9121234567", "912 123 4567", "(0912) 123 4567", "۰۹۱۲۱۲۳۴۵۶۷", "۰۹۱۲ ۱۲۳ ۴۵۶۷", "٠٩١٢١٢٣٤٥٦٧",
        "۰۹۱۲123۴۵۶۷", "+۹۸۹۳۵۱۲۳۴۵۶۷",
        # landlines
        "02188776655", "021-88776655", "021 8877 6655", "(021) 88776655", "+98 21 88776655", "۰۳۱۳۲۲۲۴۴۵۵",
    ],
)
def test_phone_forms(masker: PiiMasker, phone: str) -> None:
    text = f"لطفا با شماره {phone} تماس بگیرید"
    masked = masker.mask(text)
    assert masked.text == "لطفا با شماره [PHONE] تماس بگیرید"
    assert [(s.type, text[s.start : s.end]) for s in masked.spans] == [("PHONE", phone)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ایمیل من ali.rezaei@gmail.com هست", "ایمیل من [EMAIL] هست"),
        ("ایمیلali_r@yahoo.co.uk", "ایمیل[EMAIL]"),
        ("لینک زیر را مطالعه کنید:\nhttp://www.jc313.ir/21811-%DA%A9", "لینک زیر را مطالعه کنید:\n[URL]"),
        ("باید tci.ir رو وارد کنید", "باید [URL] رو وارد کنید"),
        ("سایت www.snappfood.ir.", "سایت [URL]."),
        ("تلفن رستوران: 88776655", "تلفن رستوران: [PHONE]"),
        ("کد ملی: ۰۰۱۳۵۴۲۴۱۹", "کد ملی: [NATIONAL_ID]"),
        ("کد ملی ۰۰۱-۳۵۴۲۴۱-۹", "کد ملی [NATIONAL_ID]"),
        ("شبا IR06 2960 0000 0010 0324 2000 01", "شبا [IBAN]"),
        ("شبا ir062960000000100324200001", "شبا [IBAN]"),
        ("شبا 062960000000100324200001", "شبا [IBAN]"),
    ],
)
def test_other_types(masker: PiiMasker, text: str, expected: str) -> None:
    assert masker.mask(text).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "ساعت ۱۲:۳۰ رسید و ۴۷٫۵۰۰ تومان پرداخت کردم",  # real snappfood-style numbers
        "سفارش 1402/05/12 ثبت شد",
        "کد تخفیف 1234567890",  # fails the national-code checksum
        "0013542418",  # one digit off a valid national code
        "1111111111",  # passes the checksum but is a placeholder, not a code
        "شماره سفارش ۶۰۳۷۹۹۱۲۳۴۵۶۷۸۹۰",  # 16 digits failing Luhn
        "IR062960000000100324200002",  # IBAN failing mod-97
        "@BTS_twt و #روز_کوروش",
        "نسخه 2.0.1 برنامه",
        "",
    ],
)
def test_not_pii(masker: PiiMasker, text: str) -> None:
    assert masker.mask(text).spans == ()


def test_checksums() -> None:
    assert national_id_valid("0013542419")
    assert not national_id_valid("0013542418")
    assert not national_id_valid("12345")
    assert luhn_valid("4539578763621486")
    assert not luhn_valid("4539578763621487")
    assert iban_valid("IR062960000000100324200001")
    assert not iban_valid("IR062960000000100324200002")
    assert not iban_valid("I")


def test_types_option_and_spans_order(masker: PiiMasker) -> None:
    text = "ایمیل a@b.com و شماره 09121234567"
    spans = masker.find(text)
    assert [s.type for s in spans] == ["EMAIL", "PHONE"]
    assert spans[0].start < spans[1].start
    only_phone = PiiMasker(types=["PHONE"]).mask(text)
    assert only_phone.text == "ایمیل a@b.com و شماره [PHONE]"
