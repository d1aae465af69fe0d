"""raw text -> CleanText: the one entry point every other layer calls.

PROVISIONAL first cut (hazm normalize + tokenize only); the nlp work replaces the internals
(protection of URLs/numbers, PII masking, flags) keeping this interface.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from nlp.types import CleanText


class TextPipeline:
    def __init__(self) -> None:
        self._normalizer = None

    def _norm(self):
        if self._normalizer is None:
            from hazm import Normalizer

            self._normalizer = Normalizer()
        return self._normalizer

    def process(self, text: str) -> CleanText:
        from hazm import word_tokenize

        clean = self._norm().normalize(text)
        return CleanText(text=clean, tokens=tuple(word_tokenize(clean)))

    def process_batch(self, texts: Iterable[str]) -> list[CleanText]:
        return [self.process(t) for t in texts]


@lru_cache(maxsize=1)
def get_pipeline() -> TextPipeline:
    """The process-wide pipeline (hazm's constructor takes about a second: build it once)."""
    return TextPipeline()
