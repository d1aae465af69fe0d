"""PII masking on raw customer text, in any digit script.

``PiiMasker().mask(text)`` replaces personal data with typed placeholders (``[PHONE]``, ``[CARD]``,
...) and returns the spans it replaced, as offsets into the *raw* text. Detection runs on a copy of
the text with every digit folded to ASCII (same length, so offsets carry over), which is how
``۰۹۱۲…``, ``٠٩١٢…`` and mixed-script numbers are found with one set of patterns.

Numbers that look like an ID but fail its checksum are not masked as that type: a 10-digit order
number is not a national code, a 16-digit number failing Luhn is not a card.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from nlp.chars import unify_digits
from nlp.types import PiiSpan

PII_TYPES = ("EMAIL", "URL", "IBAN", "CARD", "PHONE", "NATIONAL_ID")
PLACEHOLDER_RE = re.compile(r"\[(?:" + "|".join(PII_TYPES) + r")\]")


# -- checksums (public: tests and data generators use them) ----------------------------------------


def luhn_valid(digits: str) -> bool:
    """Luhn check used by bank cards (``digits`` = ASCII digits only)."""
    if not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def national_id_valid(digits: str) -> bool:
    """Iranian national code (کد ملی): 10 digits, the last one a mod-11 check digit."""
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit() or len(set(digits)) == 1:
        return False
    s = sum((ord(digits[i]) - 48) * (10 - i) for i in range(9)) % 11
    check = ord(digits[9]) - 48
    return check == s if s < 2 else check == 11 - s


def iban_valid(iban: str) -> bool:
    """IBAN mod-97 check (ISO 13616); ``iban`` without separators, e.g. ``IR062960000000100324200001``."""
    iban = iban.upper()
    if len(iban) < 5 or not iban.isascii() or not iban[:2].isalpha() or not iban[2:].isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


# -- patterns (run on digit-folded text) ------------------------------------------------------------

# No look-behind: the leftmost match starts the local part, so a text and its normalized form (where a
# space may follow a placeholder) find the same e-mails. Lengths are bounded (RFC 5321) to stay linear.
_EMAIL = r"[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){0,8}\.[A-Za-z]{2,24}(?![A-Za-z])"
# scheme or www. URLs take anything up to white space; bare domains need a common TLD.
_URL_TAIL = r"[^\s<>\"'«»\[\]{}\ue000-\uf8ff]*"
_URL = (
    r"(?:(?i:https?|ftp)://|(?<![A-Za-z0-9_.])(?i:www)\.)" + _URL_TAIL
    + r"|(?<![A-Za-z0-9_.@/-])[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"\.(?i:ir|com|org|net|io|co|me|info|app|shop|online|site|xyz)(?![A-Za-z0-9-])(?:/" + _URL_TAIL + ")?"
)
_URL_TRAILING = ".,;:!?،؛؟)»'\""

_D = r"(?<![0-9])"  # no digit before
_ND = r"(?![0-9])"  # no digit after
_SEP = r"[ \-.]?"

# IBAN: IR + 24 digits, free grouping; also a bare 24-digit run that passes mod-97 as an IR IBAN.
_IBAN = r"(?<![A-Za-z0-9])(?i:IR)[ \-]?[0-9]{2}(?:[ \-]?[0-9]){22}" + _ND
_IBAN_BARE = _D + r"[0-9]{24}" + _ND
# Card: 16 digits, contiguous or in four groups with one consistent separator.
_CARD = _D + r"[0-9]{4}([ \-]?)[0-9]{4}\1[0-9]{4}\1[0-9]{4}" + _ND + r"(?!\1[0-9])"
# Mobile: 9xx xxx xxxx behind 0 / +98 / 0098 / 98 with any single separators, or bare in 3-3-4 groups.
_MOBILE_PREFIXED = (
    _D + r"(?:(?:\+|00)98[ \-]?\(?0?|(?<!\+)98[ \-]?|\(?0)9[0-9]{2}\)?" + r"(?:" + _SEP + r"[0-9]){7}" + _ND
)
_MOBILE_BARE = _D + r"9[0-9]{2}(?:[0-9]{7}|([ \-])[0-9]{3}\1[0-9]{4})" + _ND
# Landline: 0 + 2-digit area code (not 9x) + 8 digits; or 8 digits right after a phone keyword.
_LANDLINE = (
    _D + r"(?:(?:\+|00)98[ \-]?\(?|\(?0)[1-8][0-9]\)?[ \-]?[0-9]{4}[ \-]?[0-9]{4}" + _ND
)
_LANDLINE_KEYWORD = (
    r"(?:تلفن|تماس|(?i:tel|phone))[^0-9\n]{0,12}?" + _D + r"([0-9]{4}[ \-]?[0-9]{4})" + _ND
)
# National code: 10 digits, contiguous or 3-6-1 with dashes/spaces.
_NATIONAL_ID = _D + r"[0-9]{3}([ \-]?)[0-9]{6}\1[0-9]" + _ND


@dataclass(frozen=True, slots=True)
class Masked:
    """The result of masking: text with placeholders and the raw-text spans that were replaced."""

    text: str
    spans: tuple[PiiSpan, ...]


class PiiMasker:
    """Finds and masks personal data (phones, national codes, cards, IBANs, e-mails, URLs).

    Args:
        types: the PII types to mask (default: all of ``PII_TYPES``).
        placeholder: format of the replacement; ``{type}`` is the PII type.

    Examples:
        >>> PiiMasker().mask("شماره من ۰۹۱۲ ۱۲۳ ۴۵۶۷ است").text
        'شماره من [PHONE] است'
    """

    def __init__(self, types: Iterable[str] | None = None, placeholder: str = "[{type}]") -> None:
        self.types = tuple(PII_TYPES if types is None else types)
        self.placeholder = placeholder

    # Each finder returns (type, start, end) candidates on folded text; order = priority on overlap.
    def find_emails(self, folded: str) -> list[tuple[str, int, int]]:
        return [("EMAIL", m.start(), m.end()) for m in _EMAIL_RE.finditer(folded)]

    def find_urls(self, folded: str) -> list[tuple[str, int, int]]:
        out = []
        for m in _URL_RE.finditer(folded):
            start, end = m.start(), m.end()
            while end > start and folded[end - 1] in _URL_TRAILING:
                end -= 1
            if end - start >= 4:
                out.append(("URL", start, end))
        return out

    def find_ibans(self, folded: str) -> list[tuple[str, int, int]]:
        out = []
        for m in _IBAN_RE.finditer(folded):
            compact = re.sub(r"[ \-]", "", m.group())
            if iban_valid(compact):
                out.append(("IBAN", m.start(), m.end()))
        for m in _IBAN_BARE_RE.finditer(folded):
            if iban_valid("IR" + m.group()):
                out.append(("IBAN", m.start(), m.end()))
        return out

    def find_cards(self, folded: str) -> list[tuple[str, int, int]]:
        out = []
        for m in _CARD_RE.finditer(folded):
            sep, start = m.group(1), m.start()
            if sep and start >= 2 and folded[start - 1] == sep and folded[start - 2].isdigit():
                continue  # a 4-digit group of a longer grouped number
            if luhn_valid(re.sub(r"[ \-]", "", m.group())):
                out.append(("CARD", m.start(), m.end()))
        return out

    def find_phones(self, folded: str) -> list[tuple[str, int, int]]:
        out = [("PHONE", m.start(), m.end()) for m in _MOBILE_PREFIXED_RE.finditer(folded)]
        out += [("PHONE", m.start(), m.end()) for m in _LANDLINE_RE.finditer(folded)]
        out += [("PHONE", m.start(1), m.end(1)) for m in _LANDLINE_KEYWORD_RE.finditer(folded)]
        return out

    def find_national_ids(self, folded: str) -> list[tuple[str, int, int]]:
        out = []
        for m in _NATIONAL_ID_RE.finditer(folded):
            if national_id_valid(re.sub(r"[ \-]", "", m.group())):
                out.append(("NATIONAL_ID", m.start(), m.end()))
        return out

    def find_bare_mobiles(self, folded: str) -> list[tuple[str, int, int]]:
        """``9121234567`` without 0/+98: a phone unless it is a valid national code (checked first)."""
        return [("PHONE", m.start(), m.end()) for m in _MOBILE_BARE_RE.finditer(folded)]

    def find(self, text: str) -> tuple[PiiSpan, ...]:
        """All PII spans in ``text`` (offsets into ``text``), non-overlapping, in text order."""
        if not isinstance(text, str) or not text:
            return ()
        folded = unify_digits(text, "en")
        spans, dropped = self._scan(folded, 0)
        # A candidate that lost to an overlapping one may hide another value in what is left
        # ("a@b.irhttps://t.co/x": the e-mail takes "https"): scan the gaps again, as a second
        # pass over the masked text would.
        for _ in range(3):
            if not dropped:
                break
            bounds = [0, *(x for span in spans for x in (span.start, span.end)), len(folded)]
            found: list[PiiSpan] = []
            dropped = False
            for gap_start, gap_end in zip(bounds[::2], bounds[1::2], strict=True):
                if gap_end > gap_start:
                    more, more_dropped = self._scan(folded[gap_start:gap_end], gap_start)
                    found += more
                    dropped |= more_dropped
            if not found:
                break
            spans = sorted(spans + found, key=lambda span: span.start)
        return tuple(spans)

    def _scan(self, folded: str, offset: int) -> tuple[list[PiiSpan], bool]:
        finders = []
        if _LATIN.search(folded):
            finders += [self.find_emails, self.find_urls] if "@" in folded else [self.find_urls]
        if _ANY_DIGIT.search(folded):
            finders += [
                self.find_ibans,
                self.find_cards,
                self.find_phones,
                self.find_national_ids,
                self.find_bare_mobiles,
            ]
        wanted = set(self.types)
        candidates = [
            (start, start - end, priority, kind, end)
            for priority, finder in enumerate(finders)
            for kind, start, end in finder(folded)
            if kind in wanted
        ]
        # Left to right, longest first, then finder priority (a valid national code beats a bare
        # 9xxxxxxxxx mobile): an e-mail inside a URL's query is part of the URL.
        spans: list[PiiSpan] = []
        for start, _, _, kind, end in sorted(candidates):
            if not spans or start >= spans[-1].end - offset:
                spans.append(PiiSpan(kind, start + offset, end + offset))
        return spans, len(spans) < len(candidates)

    def replace(self, text: str, spans: Iterable[PiiSpan]) -> str:
        """``text`` with each span replaced by its placeholder."""
        parts, pos = [], 0
        for span in spans:
            parts += [text[pos : span.start], self.placeholder.format(type=span.type)]
            pos = span.end
        parts.append(text[pos:])
        return "".join(parts)

    def mask(self, text: str) -> Masked:
        """Main method: ``text`` with PII replaced by placeholders, plus the replaced spans."""
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        spans = self.find(text)
        return Masked(self.replace(text, spans) if spans else text, spans)


_ANY_DIGIT = re.compile(r"[0-9]")
_LATIN = re.compile(r"[A-Za-z]")
_EMAIL_RE = re.compile(_EMAIL)
_URL_RE = re.compile(_URL)
_IBAN_RE = re.compile(_IBAN)
_IBAN_BARE_RE = re.compile(_IBAN_BARE)
_CARD_RE = re.compile(_CARD)
_MOBILE_PREFIXED_RE = re.compile(_MOBILE_PREFIXED)
_MOBILE_BARE_RE = re.compile(_MOBILE_BARE)
_LANDLINE_RE = re.compile(_LANDLINE)
_LANDLINE_KEYWORD_RE = re.compile(_LANDLINE_KEYWORD)
_NATIONAL_ID_RE = re.compile(_NATIONAL_ID)
