"""A tiny BERT built from scratch on local texts, saved as a Hugging Face directory.

It stands in for a real checkpoint (ParsBERT, a multilingual encoder) where there is no model hub:
the tests and the offline demo fine-tune it through exactly the path a real checkpoint takes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path


def build_tiny_bert(
    texts: Iterable[str],
    out_dir: str | Path,
    *,
    vocab_size: int = 3000,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int = 256,
    max_position: int = 256,
    seed: int = 0,
) -> Path:
    """Train a WordPiece vocabulary on ``texts``, initialise a BERT with random weights, save both.

    The directory holds config.json, model.safetensors, tokenizer.json, vocab.txt and
    tokenizer_config.json, like a checkpoint downloaded from a hub.
    """
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # clean_text drops control/format characters (as BERT's own normaliser does); accents are kept
    # because Persian diacritics and hamza forms are letters, not decoration.
    wordpiece = BertWordPieceTokenizer(lowercase=True, strip_accents=False, clean_text=True)
    wordpiece.train_from_iterator(list(texts), vocab_size=vocab_size, min_frequency=2, show_progress=False)
    BertTokenizerFast(tokenizer_object=wordpiece._tokenizer, do_lower_case=True).save_pretrained(str(out))
    wordpiece.save_model(str(out))  # vocab.txt too, as BERT checkpoints ship it

    config = BertConfig(
        vocab_size=wordpiece.get_vocab_size(),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(out), safe_serialization=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m models.transformer.tiny --data FILE.jsonl [...] --out DIR``: an offline stand-in base model."""
    ap = argparse.ArgumentParser(description="Build a tiny BERT (WordPiece vocabulary + random 2-layer encoder).")
    ap.add_argument("--data", nargs="+", required=True, help="canonical JSONL files whose texts train the vocabulary")
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=20000, help="texts read per file")
    ap.add_argument("--vocab-size", type=int, default=3000)
    ap.add_argument("--hidden-size", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    texts: list[str] = []
    for path in args.data:
        with open(path, encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if i >= args.limit:
                    break
                if line.strip():
                    texts.append(json.loads(line)["text"])
    out = build_tiny_bert(texts, args.out, vocab_size=args.vocab_size, hidden_size=args.hidden_size,
                          num_layers=args.layers, num_heads=max(1, args.hidden_size // 32), seed=args.seed)
    print(f"tiny BERT from {len(texts)} texts written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
