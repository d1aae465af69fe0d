"""A realistic year of food-delivery feedback for ``bazkhord demo``, written for this project.

Texts are assembled from Persian phrases written here (not copied from any data set): per topic and
polarity a pool of clauses, joined with connectives, plus generic verdicts and a few themes the
taxonomy does not cover (menu variety, opening hours) so emerging themes have something to find.
Ratings, NPS and kind follow the intended sentiment; a few stories play out over the year (delivery
gets worse in winter, one restaurant has a hygiene problem in the last month, prices rise after
Nowruz) so trends, alerts and top themes show something meaningful. Deterministic for a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

PHRASES: dict[str, dict[str, list[str]]] = {
    "delivery": {
        "neg": [
            "پیک یک ساعت دیر رسید", "سفارش خیلی دیر به دستم رسید", "پیک بی‌ادب بود و جواب تلفن رو نمی‌داد",
            "پیک آدرس رو پیدا نکرد و کلی معطل شدیم", "هزینه ارسال خیلی زیاده", "بیش از یک ساعت منتظر پیک بودم",
            "پیک غذا رو دم در ساختمان اشتباهی تحویل داد", "تاخیر ارسال واقعا آزاردهنده بود",
        ],
        "pos": [
            "پیک خیلی سریع رسید", "ارسال به موقع بود", "پیک مودب و خوش‌برخورد بود", "زودتر از زمان اعلام‌شده رسید",
            "ارسال رایگان بود و سریع رسید",
        ],
        "neu": ["زمان ارسال حدود چهل دقیقه بود", "با پیک هماهنگ کردم که زنگ نزنه"],
    },
    "food_quality": {
        "neg": [
            "غذا کاملا سرد بود", "گوشت کباب سفت و خشک بود", "برنج شفته و بی‌کیفیت بود", "پیتزا خمیر بود و پخته نشده بود",
            "غذا خیلی شور بود", "طعم غذا اصلا خوب نبود", "مرغ بوی بدی می‌داد", "سیب‌زمینی‌ها روغن زیادی داشتند",
        ],
        "pos": [
            "غذا خیلی خوشمزه بود", "کباب تازه و آبدار بود", "طعم پیتزا عالی بود", "غذا داغ و تازه رسید",
            "کیفیت مواد اولیه عالیه", "مثل همیشه خوش‌طعم و خوب",
        ],
        "neu": ["طعمش معمولی بود", "غذا نه خوب بود نه بد"],
    },
    "portion": {
        "neg": [
            "حجم غذا خیلی کم بود", "گوشتش خیلی کم بود", "پنیر پیتزا خیلی کم بود", "برنج برای یک نفر هم کافی نبود",
            "نسبت به عکس منو مقدارش نصف بود",
        ],
        "pos": ["حجم غذا عالی بود و سیر شدیم", "مقدارش خیلی خوب بود", "پرس‌ها بزرگ و کامل بود"],
        "neu": ["مقدارش برای یک نفر کافیه"],
    },
    "price": {
        "neg": [
            "قیمت‌ها خیلی گرون شده", "نسبت به کیفیتش گرون بود", "قیمت با چیزی که در منو بود فرق داشت",
            "با این قیمت انتظار بیشتری داشتم", "تخفیف اعلام‌شده اعمال نشد",
        ],
        "pos": ["با این قیمت واقعا به‌صرفه است", "قیمتش مناسب بود", "تخفیف خوبی داشت و ارزان درآمد"],
        "neu": ["قیمتش مثل بقیه رستوران‌هاست"],
    },
    "packaging": {
        "neg": [
            "بسته‌بندی افتضاح بود و خورش ریخته بود", "در ظرف باز شده بود", "جعبه پیتزا له شده بود",
            "سس کل کیسه رو کثیف کرده بود",
        ],
        "pos": ["بسته‌بندی خیلی تمیز و مرتب بود", "بسته‌بندی عالی بود و هیچی نریخته بود"],
        "neu": ["ظرف‌ها یکبار مصرف پلاستیکی بود"],
    },
    "order_accuracy": {
        "neg": [
            "نوشابه رو نفرستادن", "سفارشم رو اشتباه فرستادن", "گفته بودم بدون پیاز ولی پیاز داشت", "نون و سس نفرستاده بودند",
            "یکی از غذاها کلا جا افتاده بود",
        ],
        "pos": ["سفارش کامل و درست رسید", "دقیقا همون چیزی بود که سفارش دادم"],
        "neu": ["توضیحات سفارش رو خوندند"],
    },
    "hygiene": {
        "neg": [
            "توی غذا مو بود", "بعد از خوردن غذا مسموم شدم", "یک تکه پلاستیک توی غذا بود", "سالاد تاریخ گذشته بود و بو می‌داد",
            "ظرف غذا کثیف بود",
        ],
        "pos": ["رعایت بهداشت عالی بود", "همه چیز تمیز و بهداشتی بود"],
        "neu": [],
    },
    "service": {
        "neg": [
            "پشتیبانی جواب نداد", "رستوران سفارش رو بدون اطلاع لغو کرد", "تلفن رستوران رو کسی جواب نمی‌داد",
            "برخورد کارکنان رستوران خیلی بد بود", "پرداخت انجام شد ولی سفارش ثبت نشد",
        ],
        "pos": ["پشتیبانی سریع پیگیری کرد", "برخورد رستوران عالی بود", "مشکل رو سریع حل کردند"],
        "neu": ["با پشتیبانی تماس گرفتم"],
    },
}
GENERIC = {
    "pos": ["عالی بود", "ممنون از رستوران خوبتون", "مثل همیشه عالی", "خیلی راضی بودم", "دستتون درد نکنه"],
    "neg": ["اصلا راضی نبودم", "دیگه سفارش نمی‌دم", "خیلی بد بود", "واقعا ناامید شدم"],
    "neu": ["سفارش رسید", "معمولی بود", "بد نبود"],
}
# Themes outside the taxonomy (no topic should claim them): what emerging-theme clustering should surface.
UNCLAIMED = [
    "لطفا غذای گیاهی هم به منو اضافه کنید", "منوی گیاهی ندارید و گزینه گیاهی خیلی کمه", "کاش منو غذای گیاهی داشت",
    "ساعت کاری رستوران کمه و شب زود می‌بندید", "آخر شب رستوران بسته است لطفا ساعت کاری رو بیشتر کنید",
    "ساعت کاری تا دیروقت نیست و شب‌ها نمی‌شه سفارش داد",
]
OPENERS = ["", "", "", "سلام، ", "متاسفانه ", "راستش "]
JOIN = {"same": ["، ", " و ", "، همچنین "], "mixed": [" ولی ", " اما ", "، هرچند "]}
SEGMENTS = [
    "پیتزا آفتاب", "کبابی شهرزاد", "برگر نارنج", "آش و حلیم مادر", "ساندویچی پاییز", "رستوران سنتی گیلانه",
    "سوشی ماهور", "فست‌فود ستاره", "کافه نیلوفر", "چلوکبابی البرز",
]
CHANNELS = [("اپلیکیشن", 0.6), ("وب‌سایت", 0.2), ("تلفن", 0.12), ("پیامک", 0.08)]
REGIONS = ["تهران", "مشهد", "اصفهان", "شیراز", "تبریز"]
PRODUCTS = ["پیتزا", "کباب", "برگر", "ساندویچ", "سالاد", "خورش"]


@dataclass
class DemoItem:
    text: str
    kind: str
    channel: str
    segment: str
    region: str
    product: str
    created_at: datetime
    rating: int
    rating_scale: int
    nps: int | None
    sentiment: str  # what the text was written to say (tests compare the model's output with it)
    topics: dict[str, str] = field(default_factory=dict)
    external_id: str = ""

    def to_feedback(self) -> dict:
        """The fields of a feedback record (``POST /v1/feedback`` / ``insert_feedback`` input)."""
        return {
            "text": self.text, "external_id": self.external_id, "kind": self.kind, "channel": self.channel,
            "segment": self.segment, "product": self.product, "region": self.region,
            "created_at": self.created_at, "rating": self.rating, "rating_scale": self.rating_scale, "nps": self.nps,
            "metadata": {"demo": True},
        }


def _weights(day: date, end: date, segment: str) -> dict[str, float]:
    """How likely each topic is to be complained about on ``day`` (the year's stories)."""
    w = {"delivery": 1.0, "food_quality": 1.0, "portion": 0.6, "price": 0.6, "packaging": 0.4, "order_accuracy": 0.6, "hygiene": 0.15, "service": 0.5}
    if day.month in (12, 1, 2):  # winter: couriers are late
        w["delivery"] *= 2.2
    if date(day.year, 3, 21) <= day <= date(day.year, 5, 31):  # after Nowruz the prices go up
        w["price"] *= 2.5
    if segment == SEGMENTS[2] and (end - day).days < 21:  # one restaurant, last three weeks: hygiene problem
        w["hygiene"] *= 25
    return w


def _pick_weighted(rng: random.Random, weights: dict[str, float]) -> str:
    keys = sorted(weights)
    return rng.choices(keys, [weights[k] for k in keys])[0]


def generate(n: int = 12000, end: date | None = None, days: int = 365, seed: int = 7) -> list[DemoItem]:
    """``n`` feedback items spread over the ``days`` days up to ``end`` (default: today)."""
    rng = random.Random(seed)
    end = end or date.today()
    start = end - timedelta(days=days - 1)
    seg_quality = {s: rng.uniform(-0.12, 0.12) for s in SEGMENTS}
    seg_weight = [rng.uniform(0.5, 2.0) for _ in SEGMENTS]
    items: list[DemoItem] = []
    for i in range(n):
        # more feedback on weekends (Thursday/Friday) and a slowly growing customer base
        while True:
            d = start + timedelta(days=rng.randrange(days))
            growth = 0.6 + 0.4 * (d - start).days / days
            if rng.random() < growth * (1.25 if d.weekday() in (3, 4) else 1.0) / 1.25:
                break
        segment = rng.choices(SEGMENTS, seg_weight)[0]
        channel = rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
        p_neg = 0.28 - seg_quality[segment] + (0.08 if d.month in (12, 1, 2) else 0.0)
        if segment == SEGMENTS[2] and (end - d).days < 21:
            p_neg += 0.25
        u = rng.random()
        sentiment = "neg" if u < p_neg else ("neu" if u < p_neg + 0.12 else "pos")
        topics: dict[str, str] = {}
        r = rng.random()
        if r < 0.05:
            text = rng.choice(UNCLAIMED)
            sentiment = "neu" if sentiment == "pos" else sentiment
        elif r < 0.22:
            text = rng.choice(GENERIC[sentiment])
        else:
            k = 1 if rng.random() < 0.65 else 2
            w = _weights(d, end, segment) if sentiment != "pos" else {t: 1.0 for t in PHRASES}
            while len(topics) < k:
                t = _pick_weighted(rng, w)
                pol = sentiment
                if k == 2 and topics and sentiment == "neu":
                    pol = "pos" if "neg" in topics.values() else "neg"  # mixed comment: one good, one bad
                if not PHRASES[t][pol]:
                    pol = "neg"
                topics[t] = pol
            clauses = [rng.choice(PHRASES[t][p]) for t, p in topics.items()]
            mixed = len(set(topics.values())) > 1
            text = rng.choice(OPENERS) + rng.choice(JOIN["mixed" if mixed else "same"]).join(clauses)
            if rng.random() < 0.3:
                text += "، " + rng.choice(GENERIC[sentiment])
        rating = {"pos": rng.choice([4, 5, 5]), "neu": rng.choice([3, 3, 4, 2]), "neg": rng.choice([1, 1, 2, 2, 3])}[sentiment]
        kind = "comment"
        if sentiment == "neg" and (topics or rng.random() < 0.3) and rng.random() < 0.6:
            kind = "complaint"
        elif sentiment == "pos" and rng.random() < 0.2:
            kind = "compliment"
        elif text in UNCLAIMED and rng.random() < 0.5:
            kind = "suggestion"
        nps = None
        if rng.random() < 0.35:
            kind = "survey_answer" if kind == "comment" else kind
            nps = {"pos": rng.choice([8, 9, 9, 10, 10]), "neu": rng.choice([6, 7, 7, 8]), "neg": rng.choice([0, 2, 3, 4, 5, 6])}[sentiment]
        created = datetime(d.year, d.month, d.day, rng.randrange(10, 23), rng.randrange(60), rng.randrange(60))
        items.append(DemoItem(
            text=text, kind=kind, channel=channel, segment=segment, region=rng.choice(REGIONS), product=rng.choice(PRODUCTS),
            created_at=created, rating=rating, rating_scale=5, nps=nps, sentiment=sentiment, topics=topics,
            external_id=f"demo-{seed}-{i:06d}",
        ))
    items.sort(key=lambda it: (it.created_at, it.external_id))
    return items
