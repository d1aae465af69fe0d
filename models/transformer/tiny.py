"""A tiny BERT built from scratch on local texts, saved as a Hugging Face directory.

It stands in for a real checkpoint (ParsBERT, a multilingual encoder) where there is no model hub:
the tests and the offline demo fine-tune it through exactly the path a real checkpoint takes.
"""

from __future__ import annotations

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
