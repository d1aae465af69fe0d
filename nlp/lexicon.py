"""hazm's lexicons, loaded once per process and shared (its Normalizer loads the word list and the
verb conjugations: about two seconds and ~200 MB, so every user in the process shares one)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def hazm_normalizer() -> Any:
    """A hazm ``Normalizer`` with default flags, so every step and lexicon exists.

    (hazm 0.10 with ``seperate_mi=False`` raises inside ``correct_spacing``; we never build that.)
    """
    from hazm import Normalizer

    return Normalizer()


@lru_cache(maxsize=1)
def words() -> dict[str, tuple]:
    """hazm's word list: word → (frequency, POS tags)."""
    hn = hazm_normalizer()
    found = getattr(hn, "words", None) or getattr(hn, "_words", None)
    if found:
        return found
    from hazm import words_list

    return {w: (f, tags) for w, f, tags in words_list()}


@lru_cache(maxsize=1)
def verbs() -> frozenset[str]:
    """Every conjugated verb form hazm knows (including negative forms such as نبود)."""
    hn = hazm_normalizer()
    found = getattr(hn, "verbs", None) or getattr(hn, "_verbs", None)
    if not found:
        from hazm import Lemmatizer

        found = Lemmatizer(joined_verb_parts=False).verbs
    return frozenset(found.keys() if isinstance(found, dict) else found)


SUFFIXES = frozenset({"ی", "ای", "ها", "های", "هایی", "تر", "تری", "ترین", "گر", "گری", "ام", "ات", "اش"})


@lru_cache(maxsize=1)
def suffixes() -> frozenset[str]:
    """Suffixes hazm's ``token_spacing`` joins to a known word with a ZWNJ."""
    found = getattr(hazm_normalizer(), "suffixes", None)
    if not found:
        try:
            from hazm.constants import SUFFIXES as found  # hazm >= 0.11
        except ImportError:
            found = SUFFIXES
    return frozenset(found)


@lru_cache(maxsize=1)
def zwnj_join_index() -> tuple[frozenset[str], frozenset[str]]:
    """(left parts, right parts) of every ZWNJ-joined verb or word: a pair of tokens can only be a
    lexicon compound when the first is a left part and the second a right part."""
    left: set[str] = set()
    right: set[str] = set()
    for source in (verbs(), words()):
        for w in source:
            if "\u200c" not in w:
                continue
            parts = w.split("\u200c")
            for i in range(1, len(parts)):
                left.add("\u200c".join(parts[:i]))
                right.add("\u200c".join(parts[i:]))
    return frozenset(left), frozenset(right)


@lru_cache(maxsize=1)
def verb_lemmas() -> dict[str, str]:
    """Conjugated verb form → hazm lemma (``past#present`` stems): نبود and بود share ``بود#است``."""
    found = getattr(hazm_normalizer(), "verbs", None)
    if not isinstance(found, dict):  # hazm >= 0.11 keeps only a set of forms in the normalizer
        from hazm import Lemmatizer

        found = Lemmatizer(joined_verb_parts=False).verbs
    return found


@lru_cache(maxsize=1)
def word_tokenizer() -> Any:
    """hazm's ``WordTokenizer`` with default options (what ``hazm.word_tokenize`` uses)."""
    from hazm import WordTokenizer

    return WordTokenizer()
