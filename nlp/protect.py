"""Protection of spans that hazm's normalization would break (hazm splits ``4.5``, URLs, e-mails).

Before normalization each protected span becomes one private-use sentinel character with a space on
each side; after normalization the sentinels are swapped back. Spans survive byte-for-byte, except
numbers, whose digits are unified to the normalizer's digit target.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from nlp.chars import (
    EMOJI_BASE as _EMOJI_FIRST,
)
from nlp.chars import (
    EMOJI_CLUSTER_RE,
    EMOJI_RUN,
    PRIVATE_USE_RE,
    SENTINEL_BASE,
    SENTINEL_CLASS,
    SENTINEL_LIMIT,
    unify_digits,
)
from nlp.pii import _EMAIL, _URL, _URL_TRAILING, PLACEHOLDER_RE

# Kinds, in alternation order (earlier wins at the same position).
_LATIN_KINDS = [
    f"(?P<PLACEHOLDER>{PLACEHOLDER_RE.pattern})",
    f"(?P<EMAIL>{_EMAIL})",
    f"(?P<URL>{_URL})",
    r"(?P<MENTION>(?<![A-Za-z0-9_@])@[A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?)",
]
# Detection never depends on the Persian letter before a span: normalization may put a space there,
# and the second pass must find the same span (idempotence).
_OTHER_KINDS = [
    r"(?P<HASHTAG>(?<!#)(?:#\w+(?:\u200c\w+)*)+)",
    # integers, decimals, thousands, dates, times, ranges: 4.5, ۱۲٬۵۰۰, 1402/05/12, 12:30, 10-15, 50%
    r"(?P<NUMBER>\d+(?:[.,٫٬/:\-]\d+)*[%٪]?)",
    f"(?P<EMOJI>{EMOJI_RUN})",
]
# The look-ahead on the first character lets the scan skip ordinary letters quickly.
_PROTECT_ALL = re.compile(rf"(?=[\w@#\[{_EMOJI_FIRST}])(?:" + "|".join(_LATIN_KINDS + _OTHER_KINDS) + ")")
_PROTECT_NO_EMAIL = re.compile(
    rf"(?=[\w@#\[{_EMOJI_FIRST}])(?:" + "|".join([k for k in _LATIN_KINDS if "EMAIL" not in k] + _OTHER_KINDS) + ")"
)
_PROTECT_NON_LATIN = re.compile(rf"(?=[\d#{_EMOJI_FIRST}])(?:" + "|".join(_OTHER_KINDS) + ")")
_LATIN_RE = re.compile("[A-Za-z@]")
_GAP_CLEAN_RE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u0640\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff"
    + SENTINEL_CLASS
    + "]"
    + f"|(?<![{_EMOJI_FIRST}\ufe0f\ufe0e])\u200d"
)


@dataclass(frozen=True, slots=True)
class Protected:
    """Text with sentinels in place of protected spans; ``values[i]`` restores sentinel ``i``."""

    text: str
    values: tuple[str, ...]
    kinds: tuple[str, ...]

    def sentinel_value(self, ch: str) -> str | None:
        i = ord(ch) - SENTINEL_BASE
        return self.values[i] if 0 <= i < len(self.values) else None


class Protector:
    """Swaps spans for sentinels and back.

    Args:
        digits: digit script that protected numbers are written in after restoring ("fa" or "en").
    """

    def __init__(self, digits: str = "fa") -> None:
        self.digits = digits

    def spans(self, text: str) -> list[tuple[str, int, int]]:
        """Protected spans ``(kind, start, end)`` found in ``text``."""
        out = []
        # Detection runs on ASCII-folded digits, exactly as the PII masker does (same spans).
        text = unify_digits(text, "en")
        if _LATIN_RE.search(text) is None:
            pattern = _PROTECT_NON_LATIN
        else:
            pattern = _PROTECT_ALL if "@" in text else _PROTECT_NO_EMAIL
        for m in pattern.finditer(text):
            kind, start, end = m.lastgroup or "", m.start(), m.end()
            if kind == "URL":
                while end > start and text[end - 1] in _URL_TRAILING:
                    end -= 1
                if end - start < 4:  # as the PII masker: "www" alone is no URL
                    continue
            out.append((kind, start, end))
        return out

    def protect(self, text: str, fixed: Sequence[tuple[int, int, str]] = ()) -> Protected:
        """Main method: sentinels for protected spans and for ``fixed`` replacements.

        ``fixed`` holds non-overlapping ``(start, end, replacement)`` spans of ``text`` (PII
        placeholders). Protected spans are searched in the gaps between them, so a number touching
        a placeholder is still found whole, and found the same on a second pass. Characters that
        normalization deletes anyway (controls, bidi marks, BOM, tatweel, stray ZWJ, private-use)
        are dropped from the gaps first, so they cannot hide a span that the second pass would see.
        """
        parts: list[str] = []
        values: list[str] = []
        kinds: list[str] = []

        def add(value: str, kind: str) -> None:
            if SENTINEL_BASE + len(values) > SENTINEL_LIMIT:  # out of sentinels: plain text
                parts.append(f" {value} ")
                return
            parts.append(f" {chr(SENTINEL_BASE + len(values))} ")
            values.append(value)
            kinds.append(kind)

        gap_start = 0
        for start, end, replacement in [*sorted(fixed), (len(text), len(text), "")]:
            if start < gap_start:
                continue
            gap = _GAP_CLEAN_RE.sub("", text[gap_start:start])
            pos = 0
            for kind, s, e in self.spans(gap):
                parts.append(gap[pos:s])
                value = gap[s:e]
                if kind == "NUMBER":
                    value = unify_digits(value, self.digits)
                    value = value.replace("%", "٪") if self.digits == "fa" else value.replace("٪", "%")
                add(value, kind)
                pos = e
            parts.append(gap[pos:])
            if end > start:
                add(replacement, "FIXED")
            gap_start = end
        return Protected("".join(parts), tuple(values), tuple(kinds))

    def restore(self, text: str, protected: Protected) -> str:
        """``text`` with every sentinel replaced by its original value."""
        if not protected.values:
            return text
        return PRIVATE_USE_RE.sub(lambda m: protected.sentinel_value(m.group()) or "", text)

    def restore_tokens(self, tokens: Sequence[str], protected: Protected) -> list[str]:
        """Tokens with sentinels restored; an emoji run becomes one token per emoji."""
        if not protected.values:
            return list(tokens)
        out: list[str] = []
        for tok in tokens:
            if len(tok) == 1 and PRIVATE_USE_RE.match(tok):
                i = ord(tok) - SENTINEL_BASE
                if i >= len(protected.values):
                    continue
                if protected.kinds[i] == "EMOJI":
                    out += EMOJI_CLUSTER_RE.findall(protected.values[i]) or [protected.values[i]]
                else:
                    out.append(protected.values[i])
            elif PRIVATE_USE_RE.search(tok):
                if "_" in tok:  # hazm joins verb parts with "_", sometimes onto a protected span
                    out += self.restore_tokens([part for part in tok.split("_") if part], protected)
                    continue
                restored = self.restore(tok, protected)
                if restored:
                    out.append(restored)
            else:
                out.append(tok)
        return out
