"""Text → sparse features: word n-gram and character n-gram TF-IDF, side by side.

Word n-grams carry meaning and give readable evidence; character n-grams within word boundaries
absorb the informal spelling, missing half-spaces and suffix variation of Persian comments.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

# A word is a run of letters/digits, half-space (ZWNJ) included, so "می‌خواهم" stays one token.
TOKEN_PATTERN = r"(?u)[\w\u200c]*\w"
# Derived state rebuilt on demand: never saved, dropped on refit.
_CACHES = ("_parts", "_chunk_caches", "_idf_cat", "_word_name_list", "_pairs", "_pair_dict", "_skip_only")
# Up to this many texts per call, per-text bookkeeping runs in Python: fewer steps than numpy's calls.
SMALL_BATCH = 16


def _csr_checked(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    return sp.csr_matrix((data, indices, indptr), shape=shape)


def _csr_unchecked(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """A CSR matrix of arrays already in canonical form (int32 indices), without scipy's format checks
    (a dozen numpy calls, more than a one-text transform's own arithmetic)."""
    m = sp.csr_matrix.__new__(sp.csr_matrix)
    sp._base._spbase.__init__(m, None)
    m.data, m.indices, m.indptr, m._shape = data, indices, indptr, shape
    return m


def _pick_csr():
    """The unchecked constructor if this scipy builds the same, working matrix with it, else scipy's own."""
    try:
        args = (np.array([1.0, 2.0], dtype=np.float32), np.array([1, 0], dtype=np.int32)[::-1].copy(),
                np.array([0, 1, 2], dtype=np.int32), (2, 3))
        fast, ref = _csr_unchecked(*args), _csr_checked(*args)
        dense = np.arange(6, dtype=np.float32).reshape(3, 2)
        ok = (fast.shape == ref.shape and (fast != ref).nnz == 0 and np.array_equal(fast @ dense, ref @ dense)
              and np.array_equal(fast[1].toarray(), ref[1].toarray()) and fast.has_canonical_format)
        return _csr_unchecked if ok else _csr_checked
    except Exception:
        return _csr_checked


_csr = _pick_csr()


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
        """Per-chunk caches: word entries, char entries, and both parts' entries for ``transform``."""
        caches = self.__dict__.get("_chunk_caches")
        if caches is None or sum(map(len, caches)) > 600_000:  # bounded memory on a long-running service
            caches = ({}, {}, {})
            self._chunk_caches = caches
        return caches

    # A chunk's cache entry is ``(feature ids, bigram-token ids)``, each an int32 array's bytes: a batch's
    # ids are then one ``b"".join`` away from numpy (no Python list of 10^6 ints to convert), and the word
    # bigrams of a whole batch are looked up at once (``_bigram_keys``) instead of pair by pair.

    def _bigram_index(self) -> tuple[dict[str, int], np.ndarray, np.ndarray, int]:
        """Word bigrams: (token → index among the tokens of vocabulary bigrams, sorted pair keys
        ``first * m + second``, the feature id of each key, m)."""
        cached = self.__dict__.get("_pairs")
        if cached is None:
            tok: dict[str, int] = {}
            firsts: list[int] = []
            seconds: list[int] = []
            ids: list[int] = []
            if self.word_ngrams >= 2:
                for term, j in self.parts()[0].vocabulary_.items():
                    parts = term.split(" ")
                    if len(parts) == 2:
                        firsts.append(tok.setdefault(parts[0], len(tok)))
                        seconds.append(tok.setdefault(parts[1], len(tok)))
                        ids.append(j)
            m = max(len(tok), 1)
            keys = np.asarray(firsts, dtype=np.int64) * m + np.asarray(seconds, dtype=np.int64)
            order = np.argsort(keys, kind="stable")
            cached = self._pairs = (tok, keys[order], np.asarray(ids, dtype=np.int64)[order], m)
        return cached

    def _chunk_words(self, chunk: str, cache: dict) -> tuple[bytes, bytes]:
        """(unigram ids, bigram-token ids) of one lower-cased white-space chunk, cached."""
        word = self.parts()[0]
        get = word.vocabulary_.get
        toks = word.build_tokenizer()(chunk)
        pair_tok = self._bigram_index()[0].get
        # bytes, not lists: the garbage collector does not track them (the caches hold 10^5 entries)
        hit = cache[chunk] = (array("i", [j for j in map(get, toks) if j is not None]).tobytes(),
                              array("i", [pair_tok(t, -1) for t in toks]).tobytes())
        return hit

    def _chunk_chars(self, chunk: str, cache: dict) -> bytes:
        """Char n-gram ids of one lower-cased white-space chunk, cached."""
        char = self.parts()[1]
        vocab = char.vocabulary_
        hit = cache[chunk] = array("i", [vocab[g] for g in char.build_analyzer()(chunk) if g in vocab]).tobytes()
        return hit

    def _chunk_both(self, chunk: str, word_cache: dict, char_cache: dict, both: dict) -> tuple[bytes, bytes]:
        """Word unigram ids and char ids shifted by ``n_word_features_`` (``transform``'s entry), cached."""
        w, toks = word_cache.get(chunk) or self._chunk_words(chunk, word_cache)
        c = char_cache.get(chunk)
        if c is None:
            c = self._chunk_chars(chunk, char_cache)
        shifted = np.frombuffer(c, dtype=np.int32) + np.int32(self.n_word_features_)
        hit = both[chunk] = (w + shifted.tobytes(), toks)
        return hit

    @staticmethod
    def _row_keys(parts: list[bytes], text_ends: list[int], n_cols: int) -> np.ndarray:
        """``row * n_cols + id`` for the ids in ``parts`` (chunk entries, text ``r`` ending at chunk ``text_ends[r]``)."""
        ids = np.frombuffer(b"".join(parts), dtype=np.int32).astype(np.int64)
        n_rows = len(text_ends)
        if n_rows > 1 and len(ids):
            if n_rows <= SMALL_BATCH:  # a few texts: their id counts in Python cost less than numpy calls
                counts, start = [], 0
                for end in text_ends:
                    counts.append(sum(map(len, parts[start:end])) >> 2)
                    start = end
            else:
                chunk_len = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)) // 4
                counts = np.diff(np.concatenate([[0], np.cumsum(chunk_len)])[np.asarray(text_ends, dtype=np.int64)],
                                 prepend=0)
            ids += np.repeat(np.arange(n_rows, dtype=np.int64) * n_cols, counts)
        return ids

    def _bigram_keys(self, tparts: list[bytes], text_ends: list[int], n_cols: int) -> np.ndarray:
        """``row * n_cols + id`` of the vocabulary bigrams among consecutive word tokens of each text."""
        _, keys, ids, m = self._bigram_index()
        if len(keys) == 0:
            return np.empty(0, dtype=np.int64)
        n_rows = len(text_ends)
        if n_rows <= SMALL_BATCH:  # pair by pair in Python: fewer steps than the vectorized lookup
            get = self._bigram_dict().get
            out: list[int] = []
            start = 0
            for r, end in enumerate(text_ends):
                tok = array("i")
                tok.frombytes(b"".join(tparts[start:end]))
                start = end
                base, prev = r * n_cols, -1
                for t in tok:
                    if prev >= 0 and t >= 0:
                        j = get(prev * m + t)
                        if j is not None:
                            out.append(j + base)
                    prev = t
            return np.array(out, dtype=np.int64)
        tok = np.frombuffer(b"".join(tparts), dtype=np.int32).astype(np.int64)
        if len(tok) < 2:
            return np.empty(0, dtype=np.int64)
        chunk_len = np.fromiter(map(len, tparts), dtype=np.int64, count=len(tparts)) // 4
        tok_ends = np.concatenate([[0], np.cumsum(chunk_len)])[np.asarray(text_ends, dtype=np.int64)]
        first, second = tok[:-1], tok[1:]
        ok = (first >= 0) & (second >= 0)
        last = tok_ends[:-1] - 1  # a text's last token pairs with nothing
        ok[last[(last >= 0) & (last < len(ok))]] = False
        pos = np.flatnonzero(ok)
        pair = first[pos] * m + second[pos]
        at = np.minimum(np.searchsorted(keys, pair), len(keys) - 1)
        found = keys[at] == pair
        rows = np.searchsorted(tok_ends, pos[found], side="right")
        return ids[at[found]] + rows * n_cols

    def _bigram_dict(self) -> dict[int, int]:
        """``_bigram_index``'s pair keys → feature ids, as a dict (the small-batch lookup)."""
        found = self.__dict__.get("_pair_dict")
        if found is None:
            _, keys, ids, _ = self._bigram_index()
            found = self._pair_dict = dict(zip(keys.tolist(), ids.tolist(), strict=True))
        return found

    def _matrix(self, keys: np.ndarray, n_rows: int, n_cols: int, idf: np.ndarray,
                split_at: int | None = None) -> sp.csr_matrix:
        """TF-IDF matrix of ``row * n_cols + column`` keys (with repeats): counts with sorted, summed
        indices as sklearn's ``CountVectorizer`` builds them, then sublinear tf × idf and L2 rows.

        With ``split_at``, the columns before and from it are normalized each on their own (the word
        and char parts of ``transform``). Sorted and summed with numpy and handed to scipy in canonical
        form: scipy's own ``sum_duplicates`` and format checks cost more than the counting for a few texts.
        """
        keys.sort()
        first = np.empty(len(keys) + 1, dtype=bool)  # first[i]: keys[i] starts a run; first[-1]: the end
        first[0] = first[-1] = True
        np.not_equal(keys[1:], keys[:-1], out=first[1:-1])
        bounds = np.flatnonzero(first)
        data = (bounds[1:] - bounds[:-1]).astype(np.float32)
        keys = keys[bounds[:-1]]
        if n_rows == 1:
            indices = keys.astype(np.int32)
            indptr = np.array([0, len(keys)], dtype=np.int32)
            segments = indptr if split_at is None else \
                np.array([0, np.searchsorted(keys, split_at), len(keys)], dtype=np.int32)
        else:
            edges = np.arange(n_rows + 1, dtype=np.int64) * n_cols
            if split_at is None:
                segments = indptr = np.searchsorted(keys, edges).astype(np.int32)
            else:  # row starts and each row's first column >= split_at, interleaved: one search
                both = np.empty(2 * n_rows + 1, dtype=np.int64)
                both[0::2] = edges
                both[1::2] = edges[:-1] + split_at
                segments = np.searchsorted(keys, both).astype(np.int32)
                indptr = np.ascontiguousarray(segments[0::2])
            indices = (keys % n_cols).astype(np.int32)
        self._tfidf(data, indices, idf, segments)
        return _csr(data, indices, indptr, (n_rows, n_cols))

    @staticmethod
    def _tfidf(data: np.ndarray, indices: np.ndarray, idf: np.ndarray, indptr: np.ndarray) -> None:
        """In place: sublinear tf × idf, then each ``indptr`` segment L2-normalized (sklearn's operations)."""
        np.log(data, data)
        data += 1.0
        data *= idf[indices]
        inplace_csr_row_normalize_l2(SimpleNamespace(data=data, shape=(len(indptr) - 1, 0), indices=indices, indptr=indptr))

    def _analyzer_keys(self, texts: list[str], part: TfidfVectorizer, shift: int, n_cols: int) -> np.ndarray:
        """``row * n_cols + id + shift`` through sklearn's own analyzer (word n-grams above 2)."""
        analyze, get = part.build_analyzer(), part.vocabulary_.get
        ids: list[int] = []
        for r, text in enumerate(texts):
            base = r * n_cols + shift
            ids.extend(j + base for j in map(get, analyze(text)) if j is not None)
        return np.asarray(ids, dtype=np.int64)

    def _word_keys(self, texts: list[str], n_cols: int) -> np.ndarray:
        """Word n-gram keys (``row * n_cols + id``, with repeats) of each text."""
        if self.word_ngrams > 2:  # not our configuration: sklearn's analyzer
            return self._analyzer_keys(texts, self.parts()[0], 0, n_cols)
        cache = self._caches()[0]
        wparts: list[bytes] = []
        tparts: list[bytes] = []
        ends: list[int] = []
        for text in texts:
            for chunk in text.lower().split():
                w, t = cache.get(chunk) or self._chunk_words(chunk, cache)
                wparts.append(w)
                tparts.append(t)
            ends.append(len(wparts))
        return np.concatenate([self._row_keys(wparts, ends, n_cols), self._bigram_keys(tparts, ends, n_cols)])

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Word and char TF-IDF side by side (word features first), one row per text."""
        texts = list(texts)
        word_cache, char_cache, both = self._caches()
        n_word = self.n_word_features_
        n_cols = n_word + len(self.char_terms_)
        if self.word_ngrams > 2:  # not our configuration: the two parts one after the other
            keys = np.concatenate([self._word_keys(texts, n_cols), self._char_keys(texts, n_cols, n_word)])
        else:
            # One count matrix over both parts, from one cache entry per chunk (unigram and shifted char ids).
            parts: list[bytes] = []
            tparts: list[bytes] = []
            ends: list[int] = []
            for text in texts:
                for chunk in text.lower().split():
                    hit = both.get(chunk) or self._chunk_both(chunk, word_cache, char_cache, both)
                    parts.append(hit[0])
                    tparts.append(hit[1])
                ends.append(len(parts))
            keys = np.concatenate([self._row_keys(parts, ends, n_cols), self._bigram_keys(tparts, ends, n_cols)])
        return self._matrix(keys, len(texts), n_cols, self._idf_all(), split_at=n_word)

    def warm(self) -> TextVectorizer:
        """Build the lookup tables ``transform`` needs (a service does it at load, not in a request)."""
        self.parts()
        self._bigram_index()
        self._bigram_dict()
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
        texts = list(texts)
        return self._matrix(self._word_keys(texts, self.n_word_features_), len(texts), self.n_word_features_,
                            self.parts()[0].idf_)

    def _char_keys(self, texts: list[str], n_cols: int, shift: int = 0) -> np.ndarray:
        """Character n-gram keys (``row * n_cols + id + shift``, with repeats) of each text."""
        cache = self._caches()[1]
        parts: list[bytes] = []
        ends: list[int] = []
        for text in texts:
            for chunk in text.lower().split():
                hit = cache.get(chunk)
                parts.append(self._chunk_chars(chunk, cache) if hit is None else hit)
            ends.append(len(parts))
        return self._row_keys(parts, ends, n_cols) + shift

    def transform_chars(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The character n-gram part, identical to sklearn's ``char_wb`` TF-IDF but much faster.

        ``char_wb`` n-grams never cross a word boundary, so a document's n-grams are the
        concatenation of its words' n-grams: they are computed once per distinct word and cached.
        """
        texts = list(texts)
        n_char = len(self.char_terms_)
        return self._matrix(self._char_keys(texts, n_char), len(texts), n_char, self.parts()[1].idf_)

    def __getstate__(self):
        # caches are rebuilt on demand; they never go into a saved artifact
        state = super().__getstate__()
        for cache in _CACHES:
            state.pop(cache, None)
        return state

    def word_names(self) -> np.ndarray:
        """Names of the word features (the first ``n_word_features_`` columns)."""
        return self.word_terms_

    def skip_only_mask(self, skip: frozenset[str]) -> np.ndarray:
        """Per word feature: is it made only of ``skip`` words (remembered for the last skip set)."""
        cached = self.__dict__.get("_skip_only")
        if cached is None or cached[0] is not skip:
            mask = np.fromiter((all(w in skip for w in name.split()) for name in self.word_name_list()),
                               dtype=bool, count=self.n_word_features_)
            cached = self._skip_only = (skip, mask)
        return cached[1]

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
    order = np.argsort(-contrib, kind="stable")  # equal contributions: in column order
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
    the positive contributions of each hit are sorted (hit, then contribution descending, then column:
    both sorts are stable over a row's entries, which are in column order).
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
    keep = (contrib > 0) & ~vectorizer.skip_only_mask(skip)[idx]  # n-grams of skip words alone explain nothing
    hit_of, idx, contrib = hit_of[keep], idx[keep], contrib[keep]
    order = np.lexsort((-contrib, hit_of))
    hit_of, idx = hit_of[order], idx[order]
    bounds = np.searchsorted(hit_of, np.arange(len(hits) + 1)).tolist()
    names = vectorizer.word_name_list()
    idx_l = idx.tolist()
    results: list[list[str]] = []
    for h in range(len(hits)):
        out: list[str] = []
        for j in idx_l[bounds[h]:bounds[h + 1]]:
            if len(out) >= k:
                break
            phrase = names[j]
            if any(phrase in p for p in out):
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
