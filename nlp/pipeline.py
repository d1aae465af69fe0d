"""raw text → CleanText: the one entry point every other layer calls.

Order: find PII on the raw text (spans index the raw text) → protect PII placeholders, URLs,
numbers, emoji... → normalize → tokenize (hazm ``WordTokenizer``; protected spans stay one token)
→ restore. ``get_pipeline()`` returns the process-wide instance (hazm's lexicons take a couple of
seconds to load: build once).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from nlp import lexicon
from nlp.negation import count_negations
from nlp.normalizer import Normalizer
from nlp.pii import PiiMasker
from nlp.types import CleanText


class TextPipeline:
    """Normalization + PII masking + tokenization.

    Args:
        digits: digit script of the output (``"fa"`` or ``"en"``).
        mask_pii: replace personal data with placeholders (``[PHONE]``, ``[CARD]``...).
        tokenize: fill ``CleanText.tokens`` (hazm ``word_tokenize``: verb parts joined with ``_``).
    """

    def __init__(self, digits: str = "fa", mask_pii: bool = True, tokenize: bool = True) -> None:
        self.normalizer = Normalizer(digits=digits)
        self.masker = PiiMasker() if mask_pii else None
        # hazm's word_tokenize() is this tokenizer with default options (shared, built once).
        self._tokenize = lexicon.word_tokenizer().tokenize if tokenize else None

    def process(self, text: str, tokenize: bool | None = None) -> CleanText:
        """Main method: raw text → ``CleanText``. Never raises on a ``str``.

        ``tokenize=False`` skips tokenization for this call (``tokens`` empty, no ``negation`` flag):
        the models read ``CleanText.text`` alone, and hazm's tokenizer is a quarter of the pipeline's cost.
        """
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        spans = self.masker.find(text) if self.masker is not None else ()
        fixed = [(s.start, s.end, self.masker.placeholder.format(type=s.type)) for s in spans] if spans else ()
        tokenizer = self._tokenize if tokenize is not False else None
        out = self.normalizer.run(text, fixed, tokenize=tokenizer)
        flags = dict(out.flags)
        if tokenizer is not None:
            flags["negation"] = count_negations(out.tokens)
        return CleanText(text=out.text, pii=spans, tokens=out.tokens, flags=flags)

    def process_batch(self, texts: Iterable[str], tokenize: bool | None = None) -> list[CleanText]:
        return [self.process(t, tokenize) for t in texts]


@lru_cache(maxsize=1)
def get_pipeline() -> TextPipeline:
    """The process-wide pipeline (hazm's constructors take about two seconds: build it once)."""
    return TextPipeline()
