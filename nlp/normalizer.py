"""Persian normalization built on hazm's ``Normalizer``.

hazm's own ``normalize`` breaks numbers (``4.5`` → ``۴ ٫ ۵``) and URLs, and half of its cost is
``correct_spacing`` (21 regex passes plus a full tokenization). This class keeps hazm's character
table, its diacritics / special-character / unicode / ``می`` steps and its lexicon-driven
``token_spacing``, and replaces ``correct_spacing`` and ``decrease_repeated_chars`` with cheaper
compiled rules that also report what they removed (``emphasis``).

Every step is a public method taking and returning ``str``; ``normalize`` chains them. All steps are
deterministic and idempotent; ``normalize`` never raises on a ``str``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from nlp import lexicon
from nlp.chars import (
    DIGIT_TARGETS,
    EMOJI_CLUSTER_RE,
    EXTRA_LETTERS,
    PERSIAN_LETTERS,
    SENTINEL_CLASS,
    ZWNJ,
    unify_digits,
)
from nlp.protect import Protected, Protector

log = logging.getLogger(__name__)

_L = PERSIAN_LETTERS
_PUNC_AFTER = r"\.:!،؛؟»\]\)\}"
_PUNC_BEFORE = r"«\[\(\{"

# Characters with no visible meaning in feedback text: zero-width space/joiner, bidi controls,
# BOM, soft hyphen, tatweel (kashida), C0/C1 controls except tab and newline.
_INVISIBLE_RE = re.compile("[\u200b\u200d\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\u00ad\u0640\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_SPACES_RE = re.compile("[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_NEWLINES_RE = re.compile("\r\n|[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_NEWLINE_CHARS_RE = re.compile("[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_ZWNJ_RUN_RE = re.compile(ZWNJ + "{2,}")
# A ZWNJ is only meaningful between two letters of a word.
_ZWNJ_EDGE_RE = re.compile(rf"(?<![^\W\d_]){ZWNJ}|{ZWNJ}(?![^\W\d_])")
_MULTI_SPACE_RE = re.compile(" {2,}")
_SPACE_NEWLINE_RE = re.compile(" *\n *")
_MANY_NEWLINES_RE = re.compile("\n{3,}")

# hazm's punctuation spacing rules, compiled once; "\n" excluded so a line end gets no space.
_PUNCT_RULES = [
    (re.compile(r'" ([^\n"]+) "'), r'"\1"'),
    (re.compile(" ([" + _PUNC_AFTER + "])"), r"\1"),
    (re.compile("([" + _PUNC_BEFORE + "]) "), r"\1"),
    (re.compile("([" + _PUNC_AFTER[:3] + "])([^ \n" + _PUNC_AFTER + r"\d])"), r"\1 \2"),
    (re.compile("([" + _PUNC_AFTER[3:] + "])([^ \n" + _PUNC_AFTER + "])"), r"\1 \2"),
    (re.compile("([^ \n" + _PUNC_BEFORE + "])([" + _PUNC_BEFORE + "])"), r"\1 \2"),
]

_PUNCT_ANY_RE = re.compile('["' + _PUNC_AFTER + _PUNC_BEFORE + "]")

# hazm's affix rules (ZWNJ joins), compiled once. The می rule is limited to a following Persian
# letter (never a protected span) and skips «ماه می» (May).
_AFFIX_RULES = [
    (re.compile("ه ی"), re.compile(r"([^ \n]ه) ی(?= |\n|$)"), "\\1" + ZWNJ + "ی"),
    (re.compile("می "), re.compile(rf"(^| |\n)(?<!ماه )(ن?می) (?=[{_L}])"), "\\1\\2" + ZWNJ),
    (
        re.compile(" (?:تر|گر|ها)"),
        re.compile(
            rf"(?<=[^\n\d {_PUNC_AFTER}{_PUNC_BEFORE}{SENTINEL_CLASS}]{{2}}) (تر(?:ین)?|گری?|ها(?:یی|ی)?)(?=[ \n{_PUNC_AFTER}{_PUNC_BEFORE}]|$)"
        ),
        ZWNJ + "\\1",
    ),
    (re.compile("ه ا"), re.compile(rf"([^ \n]ه) (ا(?:م|یم|ش|ند|ی|ید|ت))(?=[ \n{_PUNC_AFTER}]|$)"), "\\1" + ZWNJ + "\\2"),
    (re.compile("هها"), re.compile("(ه)(ها)"), "\\1" + ZWNJ + "\\2"),
]

_UNICODE_WORDS_RE = re.compile("[\ufdf0-\ufdfd\ufef5-\ufefc]")
_MI_RE = re.compile(rf"(?<![\w{ZWNJ}])ن?می[{_L}]+")
_REPEAT_WORD_RE = re.compile(rf"[{_L}]{{3,}}")  # candidate words; linear, unlike a back-reference scan
_REPEAT_RUN_RE = re.compile(rf"([{_L}])\1{{2,}}")
_ANY_TRIPLE_RE = re.compile(r"(.)\1\1")  # a cheap first filter (3x faster than the letter class)
_QUOTES_RE = re.compile('"|\\.\\.\\.')


def _freq(words: dict, word: str) -> int:
    entry = words.get(word)
    return -1 if entry is None else int(entry[0])


@dataclass(slots=True)
class Normalized:
    """Output of ``Normalizer.run``: normalized text (sentinels restored), tokens and flags."""

    text: str
    tokens: tuple[str, ...] = ()
    flags: dict[str, bool | int] = field(default_factory=dict)


class Normalizer:
    """Persian normalizer on top of hazm's.

    Args:
        digits: target digit script for every digit in the text: ``"fa"`` (۰-۹) or ``"en"`` (0-9).
        fix_spacing: spacing of punctuation, white space, ZWNJ and affixes (replaces hazm's
            ``correct_spacing``: same rules, compiled once, plus hazm's lexicon ``token_spacing``).
        squeeze: reduce letter elongation (``خیلیییی`` → ``خیلی``) and report ``emphasis``.
        remove_diacritics: drop Arabic diacritics (hazm).
        persian_style: ``"..."`` → ``«...»``, ``...`` → ``…`` (hazm).
        separate_mi: ``میخواهم`` → ``می‌خواهم`` for verbs in hazm's lexicon (hazm).
        hazm_spacing: use hazm's own ``correct_spacing`` instead of ``fix_spacing`` (slower; kept
            for comparison in ``bench/normalize.py``).

    Examples:
        >>> Normalizer().normalize("قیمتش 4.5 بود ولی خیلییییی دیر رسيد")
        'قیمتش ۴.۵ بود ولی خیلی دیر رسید'
    """

    def __init__(
        self,
        digits: str = "fa",
        fix_spacing: bool = True,
        squeeze: bool = True,
        remove_diacritics: bool = True,
        persian_style: bool = True,
        separate_mi: bool = True,
        hazm_spacing: bool = False,
    ) -> None:
        if digits not in DIGIT_TARGETS:
            from nlp.errors import BazkhordError

            raise BazkhordError(
                "nlp.invalid_option", f"digits must be one of {sorted(DIGIT_TARGETS)}", {"digits": digits}
            )
        self.digits = digits
        self.fix_spacing_enabled = fix_spacing
        self.squeeze_enabled = squeeze
        self.remove_diacritics_enabled = remove_diacritics
        self.persian_style_enabled = persian_style
        self.separate_mi_enabled = separate_mi
        self.hazm_spacing = hazm_spacing
        self.protector = Protector(digits)

        # One shared hazm Normalizer with default flags: we call its steps one by one.
        self.hazm = lexicon.hazm_normalizer()
        self._char_table = self._build_char_table()
        self._char_re = re.compile("[" + re.escape("".join(map(chr, self._char_table))) + "]")
        self._words = lexicon.words()
        self._verbs = lexicon.verbs()
        self._suffixes = lexicon.suffixes()
        self._join_index = lexicon.zwnj_join_index()

    def _build_char_table(self) -> dict[int, str]:
        src = getattr(self.hazm, "translation_src", None)
        dst = getattr(self.hazm, "translation_dst", None)
        if src is None or dst is None:  # hazm >= 0.11 keeps the table in hazm.constants
            from hazm import constants

            src, dst = constants.TRANSLATION_SRC, constants.TRANSLATION_DST
        table = {ord(a): b for a, b in zip(src, dst, strict=False) if a != b}
        table.update({ord(a): b for a, b in EXTRA_LETTERS.items()})
        return table

    def _hazm_step(self, step: Callable[[str], str], text: str) -> str:
        # hazm is third-party code running on arbitrary user text: a failure in one of its steps
        # must not lose the text, so the step is skipped (only the exception type is logged).
        try:
            out = step(text)
            return out if isinstance(out, str) else text
        except Exception as exc:
            log.warning("hazm step %s failed (%s); skipped", getattr(step, "__name__", step), type(exc).__name__)
            return text

    # -- steps ---------------------------------------------------------------------------------------

    def unify_characters(self, text: str) -> str:
        """Arabic letter forms → Persian (ي ك ى ة, presentation forms), invisible characters removed."""
        if self._char_re.search(text):
            text = text.translate(self._char_table)
        if _INVISIBLE_RE.search(text):
            text = _INVISIBLE_RE.sub("", text)
        if _UNICODE_WORDS_RE.search(text):  # ligature words such as ﷼ → ریال
            text = self._hazm_step(self.hazm.unicodes_replacement, text)
        return text

    def unify_digits(self, text: str) -> str:
        """Every digit (Persian, Arabic-Indic, Latin, other scripts) → the configured target; % → ٪ for fa."""
        text = unify_digits(text, self.digits)
        if self.digits == "fa":
            return text.replace("%", "٪")
        return text.replace("٪", "%")

    def remove_diacritics(self, text: str) -> str:
        """Arabic diacritics and special marks removed (hazm's two steps)."""
        text = self._hazm_step(self.hazm.remove_diacritics, text)
        return self._hazm_step(self.hazm.remove_specials_chars, text)

    def persian_style(self, text: str) -> str:
        """``"..."`` → ``«...»`` and ``...`` → ``…`` (hazm)."""
        if _QUOTES_RE.search(text) is None:
            return text
        # Quotes pair up differently once a pair is replaced ('a""b"c"'): repeat to a fixed point.
        for _ in range(8):
            styled = self._hazm_step(self.hazm.persian_style, text)
            if styled == text:
                break
            text = styled
        return text

    def squeeze(self, text: str) -> tuple[str, bool]:
        """Letter elongation squeezed; returns ``(text, emphasis)``.

        A run of 3+ equal letters becomes one letter, or two when the doubled form is the more
        frequent word in hazm's lexicon (``مممنون`` → ``ممنون``, ``خیلیییی`` → ``خیلی``).
        """
        if _ANY_TRIPLE_RE.search(text) is None or _REPEAT_RUN_RE.search(text) is None:
            return text, False
        words = self._words

        def repl(m: re.Match[str]) -> str:
            word = m.group()
            if _REPEAT_RUN_RE.search(word) is None:
                return word
            one = _REPEAT_RUN_RE.sub(r"\1", word)
            two = _REPEAT_RUN_RE.sub(r"\1\1", word)
            return two if _freq(words, two) > _freq(words, one) else one

        return _REPEAT_WORD_RE.sub(repl, text), True

    def fix_whitespace(self, text: str) -> str:
        """Spaces and newlines unified and collapsed; ZWNJ kept only inside words."""
        if "\u200c" in text:
            text = _ZWNJ_RUN_RE.sub(ZWNJ, text)
            text = _ZWNJ_EDGE_RE.sub("", text)
        text = _SPACES_RE.sub(" ", text)
        if "\n" in text or _NEWLINE_CHARS_RE.search(text):
            text = _NEWLINES_RE.sub("\n", text)
            text = _SPACE_NEWLINE_RE.sub("\n", text)
            text = _MANY_NEWLINES_RE.sub("\n\n", text)
        text = _MULTI_SPACE_RE.sub(" ", text)
        return text.strip(" \n")

    def fix_punctuation_spacing(self, text: str) -> str:
        """No space before ``. ، ! ؟ ) »``, one after; none inside brackets (hazm's rules)."""
        if _PUNCT_ANY_RE.search(text) is None:
            return text
        for pattern, repl in _PUNCT_RULES:
            text = pattern.sub(repl, text)
        return text

    def token_spacing(self, tokens: list[str]) -> list[str]:
        """hazm's ``token_spacing`` rule with an index that skips impossible pairs (same output).

        Two tokens are joined with a ZWNJ when the pair is a verb or a frequent word in hazm's
        lexicon (``می خواهم``, ``زمین لرزه``), or when the second is a suffix of a known word
        (``کتاب ها``). (hazm's extra look-ahead for ``_``-joined verbs never fires: its verb list
        has no ``_``.)
        """
        left, right = self._join_index
        verbs, words, suffixes = self._verbs, self._words, self._suffixes
        result: list[str] = []
        for token in tokens:
            if result:
                prev = result[-1]
                if prev in left and token in right:
                    pair = prev + ZWNJ + token
                    if pair in verbs or (pair in words and words[pair][0] > 0):
                        result[-1] = pair
                        continue
                if token in suffixes and prev in words:
                    result[-1] = prev + ZWNJ + token
                    continue
            result.append(token)
        return result

    def _join_tokens(self, line: str) -> str:
        # hazm's pass is left to right: after "پاک کن" → "پاک‌کن" it does not look back at "برف";
        # repeat to a fixed point so that normalization is idempotent ("برف‌پاک‌کن").
        tokens = line.split(" ")
        for _ in range(4):
            joined = self.token_spacing(tokens)
            if len(joined) == len(tokens):
                break
            tokens = joined
        return " ".join(tokens)

    def join_affixes(self, text: str) -> str:
        """ZWNJ joins: ``می خواهم`` → ``می‌خواهم``, ``کتاب ها`` → ``کتاب‌ها``, ``خانه ای`` → ``خانه‌ای``.

        Lexicon joins first (``token_spacing``: compounds and verbs hazm knows), then hazm's affix
        rules for words it does not know (informal verbs such as ``می دونم``).
        """
        if " " in text:
            text = "\n".join(self._join_tokens(line) if " " in line else line for line in text.split("\n"))
        for trigger, pattern, repl in _AFFIX_RULES:
            if trigger.search(text):
                text = pattern.sub(repl, text)
        return text

    def fix_spacing(self, text: str) -> str:
        """White space, punctuation spacing and affix joins (our replacement for hazm's correct_spacing)."""
        text = self.fix_whitespace(text)
        text = self.fix_punctuation_spacing(text)
        if self.persian_style_enabled and "..." in text:  # spacing can close up ". . ." into "..."
            text = self.fix_whitespace(self.persian_style(text))
        text = self.join_affixes(text)
        return self.fix_whitespace(text)

    def separate_mi(self, text: str) -> str:
        """``میخواهم`` → ``می‌خواهم`` when hazm's verb lexicon knows the verb.

        hazm's ``seperate_mi`` rule, but only at a word start: hazm also matches after a ZWNJ
        (``می‌میزد`` → ``می‌می‌زد``), which makes it non-idempotent.
        """
        if "می" not in text:
            return text
        verbs = self._verbs

        def repl(m: re.Match[str]) -> str:
            word = m.group()
            split = word.replace("می", "می" + ZWNJ, 1)
            return split if split in verbs else word

        return _MI_RE.sub(repl, text)

    # -- main ----------------------------------------------------------------------------------------

    def normalize_protected(self, text: str) -> tuple[str, bool]:
        """All steps on text whose protected spans are already sentinels; returns (text, emphasis)."""
        text = self.unify_characters(text)
        text = self.unify_digits(text)
        if self.remove_diacritics_enabled:
            text = self.remove_diacritics(text)
        if self.persian_style_enabled:
            text = self.persian_style(text)
        emphasis = False
        if self.squeeze_enabled:
            text, emphasis = self.squeeze(text)
        if self.hazm_spacing:
            text = self._hazm_step(self.hazm.correct_spacing, text)
        elif self.fix_spacing_enabled:
            text = self.fix_spacing(text)
            if self.persian_style_enabled and "..." in text:  # spacing can close up ". . ." into "..."
                text = self.fix_whitespace(self.persian_style(text))
        else:
            text = self.fix_whitespace(text)
        if self.separate_mi_enabled:
            text = self.separate_mi(text)
        return text, emphasis

    def run(
        self,
        text: str,
        fixed: Sequence[tuple[int, int, str]] = (),
        tokenize: Callable[[str], list[str]] | None = None,
    ) -> Normalized:
        """Protect → normalize → (tokenize) → restore, with flags.

        ``fixed`` are ``(start, end, replacement)`` spans of ``text`` replaced verbatim (PII
        placeholders). ``tokenize`` runs on the sentinel text so protected spans stay one token.
        """
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        protected = self.protector.protect(text, fixed)
        body, emphasis = self.normalize_protected(protected.text)
        tokens: tuple[str, ...] = ()
        if tokenize is not None:
            tokens = tuple(self.protector.restore_tokens(self._tokens(tokenize, body), protected))
        return Normalized(
            self.protector.restore(body, protected), tokens, self._flags(text, protected, emphasis)
        )

    @staticmethod
    def _tokens(tokenize: Callable[[str], list[str]], body: str) -> list[str]:
        try:
            return tokenize(body)
        except Exception as exc:
            log.warning("tokenizer failed (%s); splitting on white space", type(exc).__name__)
            return body.split()

    @staticmethod
    def _flags(raw: str, protected: Protected, emphasis: bool) -> dict[str, bool | int]:
        emoji = sum(len(EMOJI_CLUSTER_RE.findall(v)) for v, k in zip(protected.values, protected.kinds, strict=True) if k == "EMOJI")
        return {"emphasis": emphasis, "emoji": emoji, "exclaim": raw.count("!") + raw.count("！")}

    def normalize(self, text: str) -> str:
        """Main method: normalized text (protected spans kept, no PII masking)."""
        return self.run(text).text
