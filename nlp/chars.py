"""Character classes and tables shared by the normalizer, the PII masker and the tokenizer glue.

Everything here is pure data or a pure function of one string: cheap, deterministic, never raises.
"""

from __future__ import annotations

import re
import unicodedata

# Letters of the Persian alphabet (hazm uses the same class in its spacing/repetition rules).
PERSIAN_LETTERS = "آابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی"
ZWNJ = "\u200c"

ASCII_DIGITS = "0123456789"
PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
ARABIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"

DIGIT_TARGETS = {"fa": PERSIAN_DIGITS, "en": ASCII_DIGITS}

# Arabic letter forms hazm's translation table does not cover (it maps ي ك ى and presentation forms).
EXTRA_LETTERS = {"ة": "ه", "ﺓ": "ه", "ﺔ": "ه", "ٱ": "ا"}

# Private-use code points carry protected spans through normalization (one sentinel per span).
SENTINEL_BASE = 0xE000
SENTINEL_LIMIT = 0xF8FF
SENTINEL_CLASS = "\ue000-\uf8ff"
PRIVATE_USE_RE = re.compile(f"[{SENTINEL_CLASS}]")



def _digit_table(target: str) -> dict[int, str]:
    table: dict[int, str] = {}
    for src in (ASCII_DIGITS, PERSIAN_DIGITS, ARABIC_DIGITS):
        for i, ch in enumerate(src):
            if ch != target[i]:
                table[ord(ch)] = target[i]
    return table


_DIGIT_TABLES = {name: _digit_table(digits) for name, digits in DIGIT_TARGETS.items()}
_ANY_DIGIT_RE = re.compile(r"\d")
# Digits not already in the target script (a cheap scan before the translate).
_FOREIGN_DIGIT_RES = {
    "en": re.compile(r"\d(?<![0-9])"),
    "fa": re.compile(r"\d(?<![۰-۹])"),
}


def unify_digits(text: str, target: str = "en") -> str:
    """Every decimal digit of any script (Persian, Arabic-Indic, fullwidth, Devanagari...) → ``target``.

    The result has the same length as the input, so offsets found in it index the input too.
    """
    digits = DIGIT_TARGETS[target]
    if _FOREIGN_DIGIT_RES[target].search(text) is None:
        return text
    text = text.translate(_DIGIT_TABLES[target])
    if _FOREIGN_DIGIT_RES[target].search(text) is None:
        return text

    def repl(m: re.Match[str]) -> str:
        ch = m.group()
        value = unicodedata.digit(ch, None)
        return ch if value is None else digits[value]

    return _ANY_DIGIT_RE.sub(repl, text)


# Emoji: pictographs with their modifiers, variation selectors and ZWJ sequences; flags as pairs.
EMOJI_BASE = (
    "\U0001f000-\U0001faff"  # pictographs, emoticons, transport, supplemental symbols
    "\u2600-\u27bf"  # misc symbols, dingbats (☺ ♥ ✔ ❤)
    "\u2300-\u23ff"  # technical (⌛ ⏰)
    "\u2b00-\u2bff"  # arrows, stars (⭐)
    "\u2190-\u21ff"  # arrows
    "\u3030\u303d\u3297\u3299\u00a9\u00ae\u203c\u2049\u2122\u2139"
)
_EMOJI_MOD = "\ufe0f\ufe0e\U0001f3fb-\U0001f3ff\u20e3"
EMOJI_CLUSTER = f"[{EMOJI_BASE}][{_EMOJI_MOD}]*(?:\u200d[{EMOJI_BASE}][{_EMOJI_MOD}]*)*"
EMOJI_CLUSTER_RE = re.compile(EMOJI_CLUSTER)
EMOJI_RUN = f"(?:{EMOJI_CLUSTER})+"
