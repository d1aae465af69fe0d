"""Text → sparse features: word n-gram and character n-gram TF-IDF, side by side.

Word n-grams carry meaning and give readable evidence; character n-grams within word boundaries
absorb the informal spelling, missing half-spaces and suffix variation of Persian comments.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

# A word is a run of letters/digits, half-space (ZWNJ) included, so "می‌خواهم" stays one token.
TOKEN_PATTERN = r"(?u)[\w\u200c]*\w"
# Derived state rebuilt on demand: never saved, dropped on refit.
_CACHES = ("_parts", "_chunk_caches", "_idf_cat", "_word_name_list", "_pairs", "_skip_only")


# auto_wrap_output_keys=None: the output is sparse, which set_output cannot turn into a DataFrame, and
# the wrapper it puts around transform cost ~10% of a one-text analysis.
class TextVectorizer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
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
        for cache in _CACHES:  # a refit invalidates everything derived from the old vocabulary
            self.__dict__.pop(cache, None)
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

    # -- transform: identical to the sklearn vectorizers' output, without their per-call overheads --
    #
    # Both parts are computed from white-space chunks of the lower-cased text: ``char_wb`` n-grams never
    # cross white space, and neither do the word tokens (``TOKEN_PATTERN`` matches no white space), so a
    # text's features are its chunks' features (looked up once per distinct chunk and cached; comments
    # reuse a small vocabulary) plus the word bigrams across chunk ends. The counts then go through the
    # same numpy / sklearn operations as ``TfidfTransformer.transform`` (same float32 values, bit for bit).

    def _caches(self) -> tuple[dict, dict, dict]:
        """Per-chunk caches: word (tokens, unigram ids), char ids, and both parts' ids for ``transform``."""
        caches = self.__dict__.get("_chunk_caches")
        if caches is None or sum(map(len, caches)) > 600_000:  # bounded memory on a long-running service
            caches = ({}, {}, {})
            self._chunk_caches = caches
        return caches

    def _word_ids(self, texts: Sequence[str], cache: dict) -> tuple[list[int], list[int]]:
        """Word n-gram ids (with repeats, in no particular order) of each text: (ids, row ends)."""
        word = self.parts()[0]
        get = word.vocabulary_.get
        if self.word_ngrams > 2:  # not our configuration: sklearn's analyzer
            analyze = word.build_analyzer()
            ids: list[int] = []
            ends: list[int] = []
            for text in texts:
                ids.extend(j for j in map(get, analyze(text)) if j is not None)
                ends.append(len(ids))
            return ids, ends
        get_pair = self._bigram_ids().get
        ids = []
        ends = []
        for text in texts:
            tokens: list[str] = []
            for chunk in text.lower().split():
                hit = cache.get(chunk) or self._chunk_words(chunk, cache)
                tokens += hit[0]
                ids += hit[1]
            if len(tokens) > 1:
                ids += [j for j in map(get_pair, pairwise(tokens)) if j is not None]
            ends.append(len(ids))
        return ids, ends

    def _bigram_ids(self) -> dict[tuple[str, str], int]:
        """Word bigram ids keyed by (first, second) token: a tuple of two cached tokens hashes faster
        than the joined string sklearn looks up (same ids: tokens never contain a space)."""
        pairs = self.__dict__.get("_pairs")
        if pairs is None:
            pairs = {}
            if self.word_ngrams >= 2:
                for term, j in self.parts()[0].vocabulary_.items():
                    parts = term.split(" ")
                    if len(parts) == 2:
                        pairs[(parts[0], parts[1])] = j
            self._pairs = pairs
        return pairs

    def _chunk_words(self, chunk: str, cache: dict) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """(word tokens, their unigram ids) of one lower-cased white-space chunk, cached."""
        word = self.parts()[0]
        get = word.vocabulary_.get
        toks = tuple(word.build_tokenizer()(chunk))
        # tuples, not lists: the garbage collector stops tracking them (the caches hold 10^5 entries)
        hit = cache[chunk] = (toks, tuple(j for j in map(get, toks) if j is not None))
        return hit

    def _chunk_chars(self, chunk: str, cache: dict) -> tuple[int, ...]:
        """Char n-gram ids of one lower-cased white-space chunk, cached."""
        char = self.parts()[1]
        vocab = char.vocabulary_
        hit = cache[chunk] = tuple(vocab[g] for g in char.build_analyzer()(chunk) if g in vocab)
        return hit

    def _char_ids(self, texts: Sequence[str], cache: dict) -> tuple[list[int], list[int]]:
        """Character n-gram ids (with repeats) of each text: (ids, row ends)."""
        ids: list[int] = []
        ends: list[int] = []
        for text in texts:
            for chunk in text.lower().split():
                hit = cache.get(chunk)
                ids += self._chunk_chars(chunk, cache) if hit is None else hit
            ends.append(len(ids))
        return ids, ends

    @staticmethod
    def _counts(ids: list[int], ends: list[int], n_cols: int) -> sp.csr_matrix:
        """Count matrix with sorted, summed indices (as sklearn's ``CountVectorizer`` builds it).

        Sorted and summed with numpy and handed to scipy in canonical form: scipy's own
        ``sum_duplicates`` and format checks cost more than the counting for a one-text call.
        """
        n_rows = len(ends)
        keys = np.asarray(ids, dtype=np.int64)
        if n_rows > 1:
            keys += np.repeat(np.arange(n_rows, dtype=np.int64) * n_cols, np.diff(ends, prepend=0))
        keys.sort()
        first = np.empty(len(keys) + 1, dtype=bool)  # first[i]: keys[i] starts a run; first[-1]: the end
        first[0] = first[-1] = True
        np.not_equal(keys[1:], keys[:-1], out=first[1:-1])
        bounds = np.flatnonzero(first)
        counts = (bounds[1:] - bounds[:-1]).astype(np.float32)
        keys = keys[bounds[:-1]]
        if n_rows == 1:
            return sp.csr_matrix((counts, keys.astype(np.int32), np.array([0, len(keys)], dtype=np.int32)),
                                 shape=(1, n_cols))
        rows = keys // n_cols
        indptr = np.searchsorted(rows, np.arange(n_rows + 1)).astype(np.int32)
        return sp.csr_matrix((counts, (keys - rows * n_cols).astype(np.int32), indptr), shape=(n_rows, n_cols))

    @staticmethod
    def _tfidf(data: np.ndarray, indices: np.ndarray, idf: np.ndarray, indptr: np.ndarray) -> None:
        """In place: sublinear tf × idf, then each ``indptr`` segment L2-normalized (sklearn's operations)."""
        np.log(data, data)
        data += 1.0
        data *= idf[indices]
        inplace_csr_row_normalize_l2(SimpleNamespace(data=data, shape=(len(indptr) - 1, 0), indices=indices, indptr=indptr))

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Word and char TF-IDF side by side (word features first), one row per text."""
        texts = list(texts)
        word_cache, char_cache, both = self._caches()
        n_word = self.n_word_features_
        get_pair = self._bigram_ids().get
        ids: list[int] = []
        ends: list[int] = []
        if self.word_ngrams > 2:  # not our configuration: the two parts one after the other
            w_ids, w_ends = self._word_ids(texts, word_cache)
            c_ids, c_ends = self._char_ids(texts, char_cache)
            wpos = cpos = 0
            for we, ce in zip(w_ends, c_ends, strict=True):
                ids += w_ids[wpos:we]
                ids += [j + n_word for j in c_ids[cpos:ce]]
                wpos, cpos = we, ce
                ends.append(len(ids))
        else:
            # One count matrix over both parts; a chunk's entry holds its word tokens and the ids of
            # its unigrams and (shifted by n_word) char n-grams.
            for text in texts:
                tokens: list[str] = []
                for chunk in text.lower().split():
                    hit = both.get(chunk)
                    if hit is None:
                        toks, w = self._chunk_words(chunk, word_cache)
                        c = self._chunk_chars(chunk, char_cache)
                        hit = both[chunk] = (toks, (*w, *(j + n_word for j in c)))
                    tokens += hit[0]
                    ids += hit[1]
                if len(tokens) > 1:
                    ids += [j for j in map(get_pair, pairwise(tokens)) if j is not None]
                ends.append(len(ids))
        X = self._counts(ids, ends, n_word + len(self.char_terms_))
        indptr = X.indptr
        # Each part is normalized on its own: split every row at its first char feature (rows are
        # sorted, word ids < n_word come first).
        is_word = np.concatenate([[0], np.cumsum(X.indices < n_word, dtype=np.int64)])
        split = np.empty(2 * len(texts) + 1, dtype=indptr.dtype)
        split[0::2] = indptr
        split[1::2] = indptr[:-1] + (is_word[indptr[1:]] - is_word[indptr[:-1]])
        self._tfidf(X.data, X.indices, self._idf_all(), split)
        return X

    def warm(self) -> TextVectorizer:
        """Build the lookup tables ``transform`` needs (a service does it at load, not in a request)."""
        self.parts()
        self._bigram_ids()
        self._idf_all()
        self.word_name_list()
        return self

    def _idf_all(self) -> np.ndarray:
        idf = self.__dict__.get("_idf_cat")
        if idf is None:
            word, char = self.parts()
            idf = np.concatenate([word.idf_, char.idf_])
            self._idf_cat = idf
        return idf

    def transform_words(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The word n-gram part alone (the first ``n_word_features_`` columns of ``transform``)."""
        ids, ends = self._word_ids(list(texts), self._caches()[0])
        X = self._counts(ids, ends, self.n_word_features_)
        self._tfidf(X.data, X.indices, self.parts()[0].idf_, X.indptr)
        return X

    def transform_chars(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The character n-gram part, identical to sklearn's ``char_wb`` TF-IDF but much faster.

        ``char_wb`` n-grams never cross a word boundary, so a document's n-grams are the
        concatenation of its words' n-grams: they are computed once per distinct word and cached.
        """
        ids, ends = self._char_ids(list(texts), self._caches()[1])
        X = self._counts(ids, ends, len(self.char_terms_))
        self._tfidf(X.data, X.indices, self.parts()[1].idf_, X.indptr)
        return X

    def __getstate__(self):
        # caches are rebuilt on demand; they never go into a saved artifact
        state = super().__getstate__()
        for cache in _CACHES:
            state.pop(cache, None)
        return state

    def word_names(self) -> np.ndarray:
        """Names of the word features (the first ``n_word_features_`` columns)."""
        return self.word_terms_

    def word_name_list(self) -> list[str]:
        """``word_names()`` as Python strings (indexing a numpy string array builds a new object each time)."""
        names = self.__dict__.get("_word_name_list")
        if names is None:
            names = self._word_name_list = self.word_terms_.tolist()
        return names


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
    names = vectorizer.word_name_list()
    # Python scalars from here: the loop reads a few entries, numpy scalars cost more than the work.
    contrib_l, idx_l = contrib.tolist(), idx.tolist()
    out: list[str] = []
    for j in order.tolist():
        if contrib_l[j] <= 0 or len(out) >= k:
            break
        phrase = names[idx_l[j]]
        if all(w in skip for w in phrase.split()) or any(phrase in p for p in out):
            continue
        out = [p for p in out if p not in phrase]
        out.append(phrase)
    return out


def top_word_evidence_batch(
    vectorizer: TextVectorizer, X: sp.csr_matrix, hits: np.ndarray, coef: np.ndarray, k: int = 3,
    skip: frozenset[str] = frozenset(),
) -> list[list[str]]:
    """``top_word_evidence`` of row ``i`` of ``X`` under weights ``coef[t]`` for every ``(i, t)`` of ``hits``.

    Same output as calling ``top_word_evidence`` per hit, with the numpy work done once for all hits:
    the positive contributions of each hit are sorted (hit, then contribution descending). Where two
    of a hit's positive contributions are equal, their order is whatever ``np.argsort`` gives in
    ``top_word_evidence``, so such a hit (rare) goes through it.
    """
    hits = np.asarray(hits, dtype=np.int64).reshape(-1, 2)
    if len(hits) == 0:
        return []
    n_word = vectorizer.n_word_features_
    rows, topics = hits[:, 0], hits[:, 1]
    starts, lens = X.indptr[rows], X.indptr[rows + 1] - X.indptr[rows]
    hit_of = np.repeat(np.arange(len(hits)), lens)
    # positions of every hit's row entries in X.indices / X.data, hit after hit
    pos = np.arange(len(hit_of)) + np.repeat(starts - (np.cumsum(lens) - lens), lens)
    idx = X.indices[pos]
    word = idx < n_word
    hit_of, idx, pos = hit_of[word], idx[word], pos[word]
    contrib = X.data[pos] * coef[topics[hit_of], idx]  # the same float32 products as top_word_evidence
    positive = contrib > 0
    hit_of, idx, contrib = hit_of[positive], idx[positive], contrib[positive]
    order = np.lexsort((-contrib, hit_of))
    hit_of, idx, contrib = hit_of[order], idx[order], contrib[order]
    tied = set(hit_of[1:][(hit_of[1:] == hit_of[:-1]) & (contrib[1:] == contrib[:-1])].tolist())
    bounds = np.searchsorted(hit_of, np.arange(len(hits) + 1)).tolist()
    names = vectorizer.word_name_list()
    idx_l = idx.tolist()
    # "made only of skip words", per feature, remembered for this skip set (the same set every call)
    cached = vectorizer.__dict__.get("_skip_only")
    if cached is None or cached[0] is not skip:
        cached = vectorizer._skip_only = (skip, {})
    skip_only = cached[1]
    results: list[list[str]] = []
    for h in range(len(hits)):
        if h in tied:
            r, t = int(rows[h]), int(topics[h])
            a, b = X.indptr[r], X.indptr[r + 1]
            results.append(top_word_evidence(vectorizer, (X.indices[a:b], X.data[a:b]), coef[t], k=k, skip=skip))
            continue
        out: list[str] = []
        for j in idx_l[bounds[h]:bounds[h + 1]]:
            if len(out) >= k:
                break
            phrase = names[j]
            only = skip_only.get(j)
            if only is None:
                only = skip_only[j] = all(w in skip for w in phrase.split())
            if only or any(phrase in p for p in out):
                continue
            out = [p for p in out if p not in phrase]
            out.append(phrase)
        results.append(out)
    return results


def hstack_dense_onehot(X: sp.csr_matrix, dense: np.ndarray, categories: Sequence[int], n_categories: int) -> sp.csr_matrix:
    """``sp.hstack([X, sp.csr_matrix(dense), one-hot(categories)], format="csr")``, built in one go.

    Same matrix (entries, order, float32 values; the zeros of ``dense`` are left out as scipy does) for
    a canonical ``X``, without the intermediate COO/CSR conversions that dominate a one-row call.
    """
    n, n_x = X.shape
    dense = np.asarray(dense, dtype=np.float32).reshape(n, -1)
    n_dense = dense.shape[1]
    nz_rows, nz_cols = np.nonzero(dense)
    x_rows = np.repeat(np.arange(n), np.diff(X.indptr))
    rows = np.concatenate([x_rows, nz_rows, np.arange(n)])
    cols = np.concatenate([X.indices, nz_cols + n_x, np.asarray(categories, dtype=np.int64) + n_x + n_dense])
    data = np.concatenate([X.data.astype(np.float32, copy=False), dense[nz_rows, nz_cols], np.ones(n, dtype=np.float32)])
    order = np.argsort(rows, kind="stable")  # per row: X's entries, then the dense ones, then the one-hot
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return sp.csr_matrix((data[order], cols[order], indptr), shape=(n, n_x + n_dense + n_categories))
