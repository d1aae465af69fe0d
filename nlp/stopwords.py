"""Persian stopwords for key phrases and features: hazm's list + informal function words, minus
words that carry sentiment or negation (hazm lists خوب, عالی, نه, نیست, کم...: a sentiment model
and a theme label both need them)."""

from __future__ import annotations

from functools import lru_cache

from nlp.negation import NEGATORS

INFORMAL = frozenset(
    "یه دیگه اینو اونو اون اونا اینا رو واسه برام بهم بهش براش ازش اینه اونه هست هستش بودش میشه "
    "شده بود کن کنه کنن دارم داره دارن بودن خودم خودتون تون مون ام ات ش ی هم همش یکم اینجوری "
    "اونجوری چی چیه کی کجا الان امروز دیروز بازم یعنی اصلا واقعا حتما انقدر اینقدر اونقدر".split()
)
SENTIMENT_BEARING = frozenset(
    "خوب خوبی عالی بهتر بهترین بد بدتر کم کمی زیاد زیادی کافی کامل کاملا مناسب متاسفانه بسیار "
    "خیلی بزرگ کوچک دیر لازم مهم اما ولی بلکه عدم غیر".split()
)


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """The stopword set (built once)."""
    from hazm import stopwords_list

    return (frozenset(stopwords_list()) | INFORMAL) - SENTIMENT_BEARING - NEGATORS
