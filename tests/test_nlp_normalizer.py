"""Normalizer steps: tables of real Persian inputs (from ../shared/data: SnappFood, Digikala, Taaghche,
SentiPers, ArmanEmo comments) → expected outputs, in the style of hazm's own tests."""

from __future__ import annotations

import itertools
import json

import pytest

from nlp.normalizer import Normalizer

ZWNJ = "\u200c"


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer()


@pytest.fixture(scope="module")
def normalizer_en() -> Normalizer:
    return Normalizer(digits="en")


# -- whole normalizer ----------------------------------------------------------------------------

NORMALIZE_CASES = [
    # Arabic letters (snappfood, sentipers)
    ("كيفيت خيلي بد بود", "کیفیت خیلی بد بود"),
    ("غذاها خوب بود سالاد هم سفارش داده بوديم ولى نه چنگال نه سس كلا هيچى",
     "غذاها خوب بود سالاد هم سفارش داده بودیم ولی نه چنگال نه سس کلا هیچی"),
    ("لا قوة الا بالله", "لا قوه الا بالله"),
    # elongation (snappfood)
    ("خیییییلی خوشمزه بود. عاااالی", "خیلی خوشمزه بود. عالی"),
    ("وااااقعا خورشت قیمه و قرمه عااااالی بود ممنونم", "واقعا خورشت قیمه و قرمه عالی بود ممنونم"),
    # numbers, decimals, times, percent: kept whole, digits unified (snappfood)
    ("خیلی دیر فرستاد تقریبا ۱٫۵ ساعت طول کشیده", "خیلی دیر فرستاد تقریبا ۱٫۵ ساعت طول کشیده"),
    ("ترشی که ۴,۰۰۰تومن پولشو گرفته بودن", "ترشی که ۴,۰۰۰ تومن پولشو گرفته بودن"),
    ("ساعت ١١:٣٠ شب", "ساعت ۱۱:۳۰ شب"),
    ("غذا 1ساعت و نیم بعد رسید", "غذا ۱ ساعت و نیم بعد رسید"),
    ("قیمتش 4.5 بود", "قیمتش ۴.۵ بود"),
    ("پیتزا 50% فقط فلفل دلمه بود", "پیتزا ۵۰٪ فقط فلفل دلمه بود"),
    # spacing and ZWNJ (snappfood)
    ("نوشابه ها کنار ساندویچ های گرم گذاشته بودن", f"نوشابه{ZWNJ}ها کنار ساندویچ{ZWNJ}های گرم گذاشته بودن"),
    ("کالباس اینقدر کیفیت پایینی داشت که بوی بدی می داد ، حجم غذا",
     f"کالباس اینقدر کیفیت پایینی داشت که بوی بدی می{ZWNJ}داد، حجم غذا"),
    ("سیب زمینی ها مزه نداشت", f"سیب{ZWNJ}زمینی{ZWNJ}ها مزه نداشت"),
    ("ازخریدش شک نکنید،عالیه👌👌", "ازخریدش شک نکنید، عالیه 👌👌"),
    # invisible characters (sentipers ZWJ, taaghche NBSP)
    ("تو پيشنهاد وي\u200dژه اين تبلت رو  گرفتم", "تو پیشنهاد ویژه این تبلت رو گرفتم"),
    ("کتاب\xa0یه شروع خیلی جذاب", "کتاب یه شروع خیلی جذاب"),
    # protected: URL, hashtag, mention (digikala, taaghche, armanemo)
    ("اگه همراه اول باشه tci.ir رو وارد کنید", "اگه همراه اول باشه tci.ir رو وارد کنید"),
    ("به مناسبت #روز_کوروش، روزی", "به مناسبت #روز_کوروش، روزی"),
    ("ماجرا چيه؟؟؟؟   @BTS_twt", "ماجرا چیه؟؟؟؟ @BTS_twt"),
    ("", ""),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALIZE_CASES)
def test_normalize_table(normalizer: Normalizer, raw: str, expected: str) -> None:
    assert normalizer.normalize(raw) == expected
    assert normalizer.normalize(expected) == expected


def test_digits_target_en(normalizer_en: Normalizer) -> None:
    assert normalizer_en.normalize("ساعت ١١:٣٠ و ۵۰٪ تخفیف 2تا") == "ساعت 11:30 و 50% تخفیف 2 تا"


def test_invalid_digit_target_is_a_user_error() -> None:
    from nlp.errors import BazkhordError

    with pytest.raises(BazkhordError) as err:
        Normalizer(digits="roman")
    assert err.value.code == "nlp.invalid_option"


# -- steps ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ساندويچ ژامبون تنوري", "ساندويچ ژامبون تنوري".replace("ي", "ی")),
        ("ولى كلا", "ولی کلا"),
        ("رةواقعا", "رهواقعا"),
        ("وي\u200dژه", "ویژه"),
        ("سلام دنیـــا", "سلام دنیا"),
        ("﷼", "ریال"),
    ],
)
def test_unify_characters(normalizer: Normalizer, raw: str, expected: str) -> None:
    assert normalizer.unify_characters(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fa", "en"),
    [
        ("٤٧٫٥٠٠ تومان", "۴۷٫۵۰۰ تومان", "47٫500 تومان"),
        ("500سی سی", "۵۰۰سی سی", "500سی سی"),
        ("۹۰٪", "۹۰٪", "90%"),
        ("١٢3۴", "۱۲۳۴", "1234"),
        ("０１２", "۰۱۲", "012"),  # fullwidth digits: any script
    ],
)
def test_unify_digits(normalizer: Normalizer, normalizer_en: Normalizer, raw: str, fa: str, en: str) -> None:
    assert normalizer.unify_digits(raw) == fa
    assert normalizer_en.unify_digits(raw) == en


@pytest.mark.parametrize(
    ("raw", "expected", "emphasis"),
    [
        ("خیلیییییییییی بدمزه بود", "خیلی بدمزه بود", True),
        ("وااااقعا عااااالی", "واقعا عالی", True),
        ("مممنون", "ممنون", True),  # the doubled form is the word hazm knows
        ("انقددددددرررر", "انقدر", True),
        ("خوبتوووووووون", "خوبتون", True),
        ("سلامم به همه", "سلامم به همه", False),  # two letters are left alone
        ("ممنون", "ممنون", False),
    ],
)
def test_squeeze(normalizer: Normalizer, raw: str, expected: str, emphasis: bool) -> None:
    assert normalizer.squeeze(raw) == (expected, emphasis)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("نوشابه ها گرم بود", f"نوشابه{ZWNJ}ها گرم بود"),
        ("لطفاً به درخواست ها توجه کنید", f"لطفاً به درخواست{ZWNJ}ها توجه کنید"),
        ("من سس زیاد نمی خواستم", f"من سس زیاد نمی{ZWNJ}خواستم"),
        ("بهتر می شد", f"بهتر می{ZWNJ}شد"),
        ("اگر واقعا غذای رژیمی می خواین", f"اگر واقعا غذای رژیمی می{ZWNJ}خواین"),  # informal verb: rule
        ("ظرف کوچک تر", f"ظرف کوچک{ZWNJ}تر"),
        ("بهتر از دفعه ی قبل", f"بهتر از دفعه{ZWNJ}ی قبل"),
        ("یه تیکه ای بود", f"یه تیکه{ZWNJ}ای بود"),
        ("ماه می سال بعد", "ماه می سال بعد"),  # «May», not the verb prefix
        ("زمین لرزه ای آمد", f"زمین{ZWNJ}لرزه{ZWNJ}ای آمد"),
    ],
)
def test_join_affixes(normalizer: Normalizer, raw: str, expected: str) -> None:
    assert normalizer.join_affixes(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("غذا سرد بود.پیک دیر اومد", "غذا سرد بود. پیک دیر اومد"),
        ("بوی بدی میداد ، حجم غذا", "بوی بدی میداد، حجم غذا"),
        ("عالی بود !", "عالی بود!"),
        ("( خیلی ) خوب", "(خیلی) خوب"),
        ("سلام\nخوب", "سلام\nخوب"),  # no space after a line end
    ],
)
def test_fix_punctuation_spacing(normalizer: Normalizer, raw: str, expected: str) -> None:
    assert normalizer.fix_punctuation_spacing(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("سلام   دنیا", "سلام دنیا"),
        ("\u200cسلام\u200c به \u200cهمه\u200c", "سلام به همه"),
        ("کاروان\u200c\u200cسرا", "کاروان\u200cسرا"),
        ("خط اول \r\n\n\n\nخط دوم ", "خط اول\n\nخط دوم"),
        ("کتاب\xa0یه\tشروع", "کتاب یه شروع"),
    ],
)
def test_fix_whitespace(normalizer: Normalizer, raw: str, expected: str) -> None:
    assert normalizer.fix_whitespace(raw) == expected


def test_token_spacing_matches_hazm_on_real_text(normalizer: Normalizer, data_dir) -> None:
    """Our indexed token_spacing is hazm's rule: same output on real comments."""
    with (data_dir / "snappfood" / "dev.jsonl").open(encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in itertools.islice(f, 1500)]
    for text in texts:
        tokens = normalizer.unify_characters(text).split(" ")
        assert normalizer.token_spacing(list(tokens)) == normalizer.hazm.token_spacing(list(tokens))


def test_real_comments_idempotent_and_hazm_like(normalizer: Normalizer, data_dir) -> None:
    """On real comments: idempotent, and equal to hazm's own normalize on most texts without digits
    or Latin characters (where protection changes nothing)."""
    with (data_dir / "snappfood" / "train.jsonl").open(encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in itertools.islice(f, 1500)]
    same = plain = 0
    for text in texts:
        once = normalizer.normalize(text)
        assert normalizer.normalize(once) == once, text
        if not any(ch.isdigit() or (ch.isascii() and ch.isalpha()) for ch in text):
            plain += 1
            same += once == normalizer.hazm.normalize(text)
    assert same / plain > 0.85, (same, plain)


# -- flags hazm breaks on ------------------------------------------------------------------------

FLAG_NAMES = ("fix_spacing", "squeeze", "remove_diacritics", "persian_style", "separate_mi", "hazm_spacing")
FLAG_SAMPLES = [
    "جمعهها که کار نمی کنم مطالعه میکنم",
    "اِعلاممممم کَرد : « زمین لرزه ای به بُزرگیِ 6 دهم ریشتر ...»",
    "شماره 09121234567 و www.snappfood.ir 😍😍",
    "",
]


@pytest.mark.parametrize("flags", list(itertools.product([False, True], repeat=len(FLAG_NAMES))))
def test_every_flag_combination_works(flags: tuple[bool, ...]) -> None:
    """hazm 0.10's Normalizer(seperate_mi=False) raises in correct_spacing: our flags never do."""
    normalizer = Normalizer(**dict(zip(FLAG_NAMES, flags, strict=True)))
    for text in FLAG_SAMPLES:
        out = normalizer.normalize(text)
        assert isinstance(out, str)
        assert "www.snappfood.ir" in out or "www" not in text
        assert normalizer.normalize(out) == out or flags[-1]  # hazm's own spacing is not idempotent
