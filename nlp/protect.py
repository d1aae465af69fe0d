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
_PROTECT_NON_LATIN = re.compile(rf"(?=[\d#{_EMOJI_FIRST}])(?:" + "|".join(_OTHER_KINDS) + ")")
_LATIN_RE = re.compile("[A-Za-z@]")


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
        pattern = _PROTECT_ALL if _LATIN_RE.search(text) else _PROTECT_NON_LATIN
        for m in pattern.finditer(text):
            kind, start, end = m.lastgroup or "", m.start(), m.end()
            if kind == "URL":
                while end > start and text[end - 1] in _URL_TRAILING:
                    end -= 1
                if end == start:
                    continue
            out.append((kind, start, end))
        return out

    def protect(self, text: str, fixed: Sequence[tuple[int, int, str]] = ()) -> Protected:
        """Main method: sentinels for protected spans and for ``fixed`` replacements.

        ``fixed`` holds ``(start, end, replacement)`` (e.g. PII placeholders); they win over
        overlapping protected spans. Private-use characters in the input are dropped (they carry
        no meaning and would collide with sentinels).
        """
        items: list[tuple[int, int, str, str]] = []
        gap_start = 0
        # Protected spans are searched in the gaps between fixed spans, so a number touching a
        # placeholder is still found whole (and found again, the same, on a second pass).
        for start, end, replacement in [*sorted(fixed), (len(text), len(text), "")]:
            if start < gap_start:
                continue
            for kind, s, e in self.spans(text[gap_start:start]):
                value = text[gap_start + s : gap_start + e]
                if kind == "NUMBER":
                    value = unify_digits(value, self.digits)
                    value = value.replace("%", "٪") if self.digits == "fa" else value.replace("٪", "%")
                items.append((gap_start + s, gap_start + e, value, kind))
            if end > start:
                items.append((start, end, replacement, "FIXED"))
            gap_start = end
        parts: list[str] = []
        values: list[str] = []
        kinds: list[str] = []
        pos = 0
        for start, end, value, kind in items:
            if start < pos or SENTINEL_BASE + len(values) > SENTINEL_LIMIT:
                continue
            parts.append(PRIVATE_USE_RE.sub("", text[pos:start]))
            parts.append(f" {chr(SENTINEL_BASE + len(values))} ")
            values.append(value)
            kinds.append(kind)
            pos = end
        parts.append(PRIVATE_USE_RE.sub("", text[pos:]))
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
