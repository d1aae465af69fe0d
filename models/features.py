"""Text → sparse features: word n-gram and character n-gram TF-IDF, side by side.

Word n-grams carry meaning and give readable evidence; character n-grams within word boundaries
absorb the informal spelling, missing half-spaces and suffix variation of Persian comments.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer

# A word is a run of letters/digits, half-space (ZWNJ) included, so "می‌خواهم" stays one token.
TOKEN_PATTERN = r"(?u)[\w\u200c]*\w"


class TextVectorizer(TransformerMixin, BaseEstimator):
    """Word (1..``word_ngrams``) + character-in-word (``char_ngrams``) TF-IDF, horizontally stacked.

    The fitted state is four numpy arrays (terms and idf weights of each part): a saved model holds
    no Python dict of 10^5 keys, so it is small and loads in a fraction of a second.
    """

    def __init__(
        self,
        word_ngrams: int = 2,
        char_ngrams: tuple[int, int] = (2, 5),
        max_word_features: int | None = 60000,
        max_char_features: int | None = 120000,
        min_df: int = 2,
    ):
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.max_word_features = max_word_features
        self.max_char_features = max_char_features
        self.min_df = min_df

    def _word_params(self) -> dict:
        return {"token_pattern": TOKEN_PATTERN, "ngram_range": (1, self.word_ngrams), "sublinear_tf": True,
                "dtype": np.float32}

    def _char_params(self) -> dict:
        return {"analyzer": "char_wb", "ngram_range": tuple(self.char_ngrams), "sublinear_tf": True,
                "dtype": np.float32}

    def fit(self, texts: Sequence[str], y=None) -> TextVectorizer:
        texts = list(texts)
        min_df = self.min_df if len(texts) >= 50 else 1
        word = TfidfVectorizer(min_df=min_df, max_features=self.max_word_features, **self._word_params()).fit(texts)
        char = TfidfVectorizer(min_df=min_df, max_features=self.max_char_features, **self._char_params()).fit(texts)
        self.word_terms_ = word.get_feature_names_out().astype(str)
        self.word_idf_ = word.idf_.astype(np.float64)
        self.char_terms_ = char.get_feature_names_out().astype(str)
        self.char_idf_ = char.idf_.astype(np.float64)
        self.n_word_features_ = len(self.word_terms_)
        self._parts = None
        return self

    @staticmethod
    def _rebuild(params: dict, terms: np.ndarray, idf: np.ndarray) -> TfidfVectorizer:
        vec = TfidfVectorizer(vocabulary={str(t): i for i, t in enumerate(terms)}, **params)
        vec._validate_vocabulary()
        vec.idf_ = idf
        return vec

    def parts(self) -> tuple[TfidfVectorizer, TfidfVectorizer]:
        """The word and char sklearn vectorizers, rebuilt from the arrays once per process."""
        parts = getattr(self, "_parts", None)
        if parts is None:
            parts = (self._rebuild(self._word_params(), self.word_terms_, self.word_idf_),
                     self._rebuild(self._char_params(), self.char_terms_, self.char_idf_))
            self._parts = parts
        return parts

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        texts = list(texts)
        return sp.hstack([self.transform_words(texts), self.transform_chars(texts)], format="csr")

    def transform_words(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The word n-gram part alone (the first ``n_word_features_`` columns of ``transform``)."""
        return self.parts()[0].transform(list(texts))

    def transform_chars(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The character n-gram part, identical to sklearn's ``char_wb`` TF-IDF but much faster.

        ``char_wb`` n-grams never cross a word boundary, so a document's n-grams are the
        concatenation of its words' n-grams: they are computed once per distinct word and cached
        (comments reuse a small vocabulary), instead of re-slicing every word of every text.
        """
        char = self.parts()[1]
        cache: dict[str, list[int]] = self.__dict__.setdefault("_char_cache", {})
        if len(cache) > 500_000:  # bounded memory on a long-running service
            cache.clear()
        vocab = char.vocabulary_
        analyze = char.build_analyzer()
        indices: list[int] = []
        indptr = [0]
        for text in texts:
            for word in text.lower().split():
                ids = cache.get(word)
                if ids is None:
                    ids = [vocab[g] for g in analyze(word) if g in vocab]
                    cache[word] = ids
                indices.extend(ids)
            indptr.append(len(indices))
        counts = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int32), np.asarray(indptr)),
            shape=(len(indptr) - 1, len(vocab)),
        )
        counts.sum_duplicates()
        return char._tfidf.transform(counts, copy=False).astype(np.float32, copy=False)

    def __getstate__(self):
        # caches are rebuilt on demand; they never go into a saved artifact
        state = super().__getstate__()
        state.pop("_parts", None)
        state.pop("_char_cache", None)
        return state

    def word_names(self) -> np.ndarray:
        """Names of the word features (the first ``n_word_features_`` columns)."""
        return self.word_terms_


def top_word_evidence(
    vectorizer: TextVectorizer, row: sp.csr_matrix | tuple[np.ndarray, np.ndarray], weights: np.ndarray, k: int = 3,
    skip: frozenset[str] = frozenset(),
) -> list[str]:
    """The ``k`` word n-grams of one transformed row that pushed a linear score up the most.

    Overlapping n-grams are collapsed (a bigram hides the unigrams inside it) so each phrase is shown
    once; n-grams made only of ``skip`` words (stopwords) explain nothing and are left out.
    """
    n_word = vectorizer.n_word_features_
    # ``row`` is a 1-row CSR matrix or its (indices, data) arrays (cheaper than slicing a matrix)
    idx, vals = row if isinstance(row, tuple) else (row.indices, row.data)
    mask = idx < n_word
    idx, vals = idx[mask], vals[mask]
    if idx.size == 0:
        return []
    contrib = vals * weights[idx]
    order = np.argsort(-contrib)
    names = vectorizer.word_names()
    out: list[str] = []
    for j in order:
        if contrib[j] <= 0 or len(out) >= k:
            break
        phrase = str(names[idx[j]])
        if all(w in skip for w in phrase.split()) or any(phrase in p for p in out):
            continue
        out = [p for p in out if p not in phrase]
        out.append(phrase)
    return out
