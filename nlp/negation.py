"""Negation-aware features: Persian negates mostly by a verb prefix (نبود, نمی‌خورم, نیومد), and the
negated predicate comes *before* the verb (``غذا گرم نبود``), so the marked word is the one before it.
"""

from __future__ import annotations

from collections.abc import Sequence

from nlp.lexicon import verb_lemmas

# Negators that are not prefixed verbs, and common informal negative verbs hazm's lexicon lacks.
NEGATORS = frozenset(
    {
        "نه", "نیست", "نیستند", "نیستش", "نیس", "هیچ", "هیچی", "بدون", "نبود", "نبودن", "نبوده", "نیومد",
        "نیومده", "نیومدن", "نمیاد", "نمیان", "نداره", "ندارن", "نداشت", "نشده", "نشد", "نکرد",
        "نکردن", "نکرده", "نمیده", "نمیدن", "نمیشه", "نمیکنه", "نمیکنن", "نرسید", "نرسیده", "نزنید",
        "نخرید", "نخورید", "نگیرید",
    }
)
NEGATION_PREFIX = "NOT_"


def is_negation(token: str) -> bool:
    """True for a negator or a negative verb form (``ن`` + a verb hazm knows, ``نمی‌…``)."""
    if token in NEGATORS:
        return True
    if len(token) < 3 or token[0] != "ن":
        return False
    if token.startswith("نمی\u200c") or token.startswith("نمی"):
        return len(token) > 4
    # ن + a verb form with the same lemma (نبود/بود, not نوشت/وشت)
    head = token.split("_", 1)[0]
    lemmas = verb_lemmas()
    lemma = lemmas.get(head)
    return lemma is not None and lemmas.get(head[1:]) == lemma


_FIRST_CHARS = frozenset(w[0] for w in NEGATORS) | {"ن"}


def count_negations(tokens: Sequence[str]) -> int:
    return sum(1 for t in tokens if t[:1] in _FIRST_CHARS and is_negation(t))


def mark_negation(tokens: Sequence[str]) -> tuple[str, ...]:
    """Tokens plus ``NOT_<word>`` for the word before each negation (``گرم نبود`` → ``NOT_گرم``).

    Example: ``mark_negation(["غذا", "گرم", "نبود"])`` → ``("غذا", "گرم", "نبود", "NOT_گرم")``.
    """
    extra = [
        NEGATION_PREFIX + tokens[i - 1]
        for i, tok in enumerate(tokens)
        if i > 0 and is_negation(tok) and tokens[i - 1].isalpha() and not is_negation(tokens[i - 1])
    ]
    return (*tokens, *extra)
