"""Text → padded id arrays with the artifact's own ``tokenizer.json`` (``tokenizers`` only, no torch).

Training and serving share this one code path, so the ids the ONNX graph sees at serving time are
exactly the ids the network was trained on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

TOKENIZER_FILE = "tokenizer.json"


class TextEncoder:
    """Wraps a fast tokenizer: truncation to ``max_length``, dynamic padding per batch."""

    def __init__(self, tokenizer, max_length: int = 128):
        self.tokenizer = tokenizer
        self.max_length = max_length
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length)
        self.pad_id = self._pad_id(tokenizer)

    @staticmethod
    def _pad_id(tokenizer) -> int:
        for tok in ("[PAD]", "<pad>", "<PAD>"):
            idx = tokenizer.token_to_id(tok)
            if idx is not None:
                return int(idx)
        return 0

    @classmethod
    def load(cls, directory: str | Path, max_length: int = 128) -> TextEncoder:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(Path(directory) / TOKENIZER_FILE)), max_length)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / TOKENIZER_FILE
        self.tokenizer.save(str(path))
        return path

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [enc.ids for enc in self.tokenizer.encode_batch(list(texts))]

    def pad(self, ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """(input_ids, attention_mask) int64 arrays padded to the longest row."""
        width = max((len(r) for r in ids), default=1) or 1
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return input_ids, mask

    def batches(self, texts: Sequence[str], batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Length-sorted batches (less padding): yields (row indices, input_ids, attention_mask)."""
        ids = self.ids(texts)
        order = np.argsort([len(r) for r in ids], kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            input_ids, mask = self.pad([ids[i] for i in rows])
            yield rows, input_ids, mask
