"""Persian text pipeline: protection, normalization, PII masking, tokenization, features."""

from nlp.pipeline import TextPipeline, get_pipeline
from nlp.types import CleanText, PiiSpan

__all__ = ["CleanText", "PiiSpan", "TextPipeline", "get_pipeline"]
