"""Persian text pipeline: protection, normalization, PII masking, tokenization, features."""

from nlp.negation import mark_negation
from nlp.normalizer import Normalizer
from nlp.pii import PiiMasker
from nlp.pipeline import TextPipeline, get_pipeline
from nlp.stopwords import stopwords
from nlp.types import CleanText, PiiSpan

__all__ = [
    "CleanText",
    "Normalizer",
    "PiiMasker",
    "PiiSpan",
    "TextPipeline",
    "get_pipeline",
    "mark_negation",
    "stopwords",
]
