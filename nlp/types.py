"""Value types the text pipeline hands to every other layer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One masked personal-data value.

    ``start``/``end`` index the *raw* input text (the source of ``CleanText.text``), so a caller
    holding the raw text can locate what was removed; the value itself is never kept.
    """

    type: str  # PHONE, NATIONAL_ID, CARD, IBAN, EMAIL, URL, ...
    start: int
    end: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CleanText:
    """Raw customer text after protection, normalization, PII masking and tokenization."""

    text: str  # normalized, PII replaced by typed placeholders such as [PHONE]
    pii: tuple[PiiSpan, ...] = ()
    tokens: tuple[str, ...] = ()
    # Signals the normalizer removed from the text but models may want (e.g. emphasis from
    # letter elongation "خیلیییی", emoji present, exclamation runs).
    flags: dict[str, bool | int] = field(default_factory=dict)
