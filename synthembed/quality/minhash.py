"""MinHash signatures and an LSH index that streams: query and insert one batch at a time.

Signatures
    Permutation ``j`` of a shingle hash ``x`` (the high 32 bits of its splitmix64-finalised 64-bit
    hash, so already uniform) is ``v = (x ^ s_j) * m_j; v ^ (v >> 15)`` in 32-bit arithmetic, with a
    random seed ``s_j`` and a random odd multiplier ``m_j`` per permutation. The loop over the
    permutations is 32-bit integer code that LLVM vectorises (8 lanes with AVX2), twice as fast as
    murmur3's two-multiply finaliser and as good here: on random sets the estimator's standardised
    error has mean 0.01 and standard deviation 0.99 (binomial: 0 and 1), and the estimates agree
    with exact Jaccard and with datasketch's (``tests/quality/test_minhash.py``).

    One kernel goes from a text's UTF-8 bytes in the Arrow buffer to its signature: with
    ``normalize=True`` it also does ``normalize_for_matching``'s work, code point by code point
    through :func:`~synthembed.quality.shingles.fold_table`, and hands the few texts that need
    whole-text NFKC back to it. A batch is cut into slices that threads hash in parallel (the
    kernels release the GIL); each text is hashed on its own, so the number of threads changes
    nothing in the result.

Index
    ``bands`` x ``rows`` LSH over the signature. Each band's values hash to a 64-bit key; one
    open-addressing table (linear probing, several entries per key allowed) holds a 64-bit slot per
    band of each document: the key's high 32 bits over the document number, at the first free slot
    from the key's low bits. A query collects the documents that share a band, then verifies each
    candidate against the threshold: by default with the exact Jaccard similarity of the two
    documents' shingle sets (kept as 32-bit hashes), or, with ``verify="signature"``, with
    the estimate from the full signatures.

    Memory per indexed document: the band keys (``8 * bands`` bytes, for saving and for growing
    the table) and table slots (at most half full, ``2 * 8 * bands`` bytes), plus 4 bytes per
    shingle (exact) or ``4 * num_perm`` bytes (signature). With the defaults (18 bands) and
    200-word documents that is about 1.2 KiB per document, 1.16 GiB per million (arrays grow by
    doubling, so more is allocated); queries of ten words need a third of it.

The streaming decision is greedy: an incoming document is compared with the documents already
kept (earlier batches, earlier rows of its batch, earlier releases), never with dropped ones.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numba import njit, uint32

from synthembed.errors import ConfigError
from synthembed.quality.shingles import (
    CHAR,
    FNV_OFFSET,
    FNV_PRIME,
    FoldTable,
    fold_table,
    fold_tokenize,
    mix64,
    shingle_hash,
    tokenize,
)
from synthembed.quality.text import as_string_array, normalize_for_matching, utf8_buffers

#: Bumped whenever signatures would come out differently (tokens, hashing, normalisation).
HASH_SCHEME = "fnv1a-shingle/xor-mul-xorshift32/nfkc-lower/v1"

_EMPTY = np.uint32(0xFFFFFFFF)


def choose_banding(num_perm: int, threshold: float, min_recall: float = 0.995) -> tuple[int, int]:
    """Bands and rows for ``num_perm`` permutations: the most rows per band (fewest false
    candidates) such that a pair exactly at ``threshold`` becomes a candidate with probability at
    least ``min_recall``.

    >>> choose_banding(128, 0.85)
    (18, 7)
    """
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if bands < 1:
            break
        if candidate_probability(threshold, bands, rows) >= min_recall:
            best = (bands, rows)
    return best


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """Probability that a pair with this Jaccard similarity shares at least one band."""
    return 1.0 - (1.0 - jaccard**rows) ** bands


def permutation_seeds(num_perm: int, seed: int) -> np.ndarray:
    """``(2, num_perm)`` uint32: per permutation a xor seed and an odd multiplier."""
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**32, size=num_perm, dtype=np.uint64)
    mults = rng.integers(0, 2**31, size=num_perm, dtype=np.uint64) * 2 + 1
    return np.stack([seeds, mults]).astype(np.uint32)


@njit(cache=True, nogil=True, boundscheck=False)
def _min_permutations(xs, lo, hi, seeds, sig):
    """``sig[j]``: the least of permutation ``j`` over ``xs[lo:hi]`` (all ones when empty). The
    inner loop runs over the permutations, 32-bit lanes that LLVM vectorises."""
    s15 = uint32(15)
    sig[:] = uint32(0xFFFFFFFF)
    for i in range(lo, hi):
        x = xs[i]
        for j in range(seeds.shape[1]):
            v = uint32(uint32(x ^ seeds[0, j]) * seeds[1, j])
            sig[j] = min(sig[j], uint32(v ^ uint32(v >> s15)))


@njit(cache=True, nogil=True, boundscheck=False)
def _hash_texts(
    data, offsets, modes, k_word, k_char, seeds, fold, sigs, flat, counts, first, last
):  # pragma: no cover - numba
    """Signatures of texts ``first:last`` into ``sigs``, and their 32-bit shingle hashes into
    ``flat`` at each text's byte offset (a text has at most one shingle per byte, plus one), their
    number into ``counts``. The shingles stay unsorted: only the rare candidate pairs need them as
    sets, so sorting waits for verification.

    With a ``fold`` table (:func:`~synthembed.quality.shingles.fold_table`) the texts are raw and
    normalised on the way; a text that needs whole-text normalisation gets ``counts`` -1."""
    folding = len(fold[0]) > 0
    longest = 0
    for d in range(first, last):
        longest = max(longest, offsets[d + 1] - offsets[d])
    tokens = np.empty(longest + 1, dtype=np.uint64)
    for d in range(first, last):
        start = offsets[d]
        end = offsets[d + 1]
        base = start - offsets[0] + d
        char_mode = modes[d] == CHAR
        room = tokens[: end - start + 1]
        if folding:
            nt = fold_tokenize(data, start, end, char_mode, fold, room)
        else:
            nt = tokenize(data, start, end, char_mode, room)
        ns = 0
        if nt > 0:
            kk = min(k_char if char_mode else k_word, nt)
            ns = nt - kk + 1
            for i in range(ns):
                flat[base + i] = uint32(shingle_hash(tokens, i, kk) >> np.uint64(32))
        counts[d] = ns if nt >= 0 else -1
        _min_permutations(flat, base, base + ns, seeds, sigs[d])


@njit(cache=True, nogil=True)
def _compact(flat, offsets, counts, rows, out_off, out, first, last):  # pragma: no cover - numba
    """Text ``i``'s shingles, from its byte offset in ``flat``, to row ``rows[i]`` of ``out``."""
    for i in range(first, last):
        if counts[i] > 0:
            base = offsets[i] - offsets[0] + i
            at = out_off[rows[i]]
            out[at : at + counts[i]] = flat[base : base + counts[i]]


_NO_FOLD = FoldTable(
    *(np.zeros(0, t) for t in (np.int32, np.int32, np.uint8, np.uint8, np.int32, np.int32, np.int64))
)


def _ranges(n: int, threads: int, smallest: int = 128) -> list[tuple[int, int]]:
    """Contiguous slices of ``range(n)`` for ``threads`` workers: a few per worker, so that one
    slowed down by other work on its core does not hold up the rest."""
    parts = max(1, min(4 * threads if threads > 1 else 1, n // smallest))
    bounds = np.linspace(0, n, parts + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _run(kernel, args: tuple, n: int, threads: int) -> None:
    """``kernel(*args, first, last)`` over slices of ``range(n)`` on ``threads`` threads (the
    kernels release the GIL); each slice writes its own rows, so the result is the same for any
    number of threads."""
    ranges = _ranges(n, threads)
    if threads <= 1 or len(ranges) <= 1:
        for first, last in ranges:
            kernel(*args, first, last)
        return
    pool = _POOLS.get(threads)
    if pool is None:
        pool = _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="minhash")
    for future in [pool.submit(kernel, *args, first, last) for first, last in ranges]:
        future.result()


@dataclass(frozen=True)
class MinHashParams:
    """Everything that must match for two signatures (or indexes) to be comparable."""

    num_perm: int = 128
    seed: int = 1
    word_shingle_size: int = 5
    char_shingle_size: int = 5
    hash_scheme: str = HASH_SCHEME


class MinHasher:
    """Computes MinHash signatures of texts, raw or normalised.

    Args:
        params: permutations, seed and shingle sizes.
        threads: threads to hash on (the kernels release the GIL); default
            ``numba.get_num_threads()`` at each call. The results do not depend on it.

    Example::

        hasher = MinHasher(MinHashParams(num_perm=128))
        sigs = hasher.signatures(["The quick brown fox jumps over", ...], modes, normalize=True)
    """

    def __init__(self, params: MinHashParams = MinHashParams(), threads: int | None = None) -> None:
        self.params = params
        self.threads = threads
        self.seeds = permutation_seeds(params.num_perm, params.seed)

    def signatures(
        self, texts: pa.Array | Sequence[str], modes: np.ndarray, normalize: bool = False
    ) -> np.ndarray:
        """``(n, num_perm)`` uint32 signatures; a text without tokens gets all ``0xFFFFFFFF``."""
        return self.signatures_and_shingles(texts, modes, normalize)[0]

    def signatures_and_shingles(
        self, texts: pa.Array | Sequence[str], modes: np.ndarray, normalize: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Signatures, and each text's 32-bit shingle hashes (flat, with offsets; repeats kept).

        Args:
            texts: texts normalised by :func:`~synthembed.quality.text.normalize_for_matching`,
                or raw texts with ``normalize=True``.
            modes: per text, WORD or CHAR shingles (:func:`~synthembed.quality.shingles.shingle_modes`).
            normalize: normalise in the hashing kernel, code point by code point: the same
                result as ``normalize_for_matching`` first, without its passes over the texts.
                The few texts that need whole-text NFKC (see
                :func:`~synthembed.quality.shingles.fold_table`) go through it.

        Returns:
            ``(signatures, shingles, offsets)``: text ``i``'s shingle hashes are
            ``shingles[offsets[i]:offsets[i + 1]]``, in text order.
        """
        texts = as_string_array(texts)
        modes = np.asarray(modes, np.int8)
        sigs, flat, offsets, counts = self._hash(texts, modes, fold_table() if normalize else _NO_FOLD)
        lengths = np.maximum(counts, 0)
        slow = np.flatnonzero(counts < 0)
        if len(slow):
            normalized = normalize_for_matching(texts.take(pa.array(slow)))
            slow_sigs, slow_flat, slow_offsets, slow_counts = self._hash(normalized, modes[slow], _NO_FOLD)
            sigs[slow] = slow_sigs
            lengths[slow] = slow_counts
        out_off = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=out_off[1:])
        shingles = np.empty(out_off[-1], dtype=np.uint32)
        rows = np.arange(len(counts))
        _run(_compact, (flat, offsets, counts, rows, out_off, shingles), len(counts), self._threads())
        if len(slow):
            _compact(slow_flat, slow_offsets, slow_counts, slow, out_off, shingles, 0, len(slow))
        return sigs, shingles, out_off

    def _threads(self) -> int:
        return self.threads or numba.get_num_threads()

    def _hash(
        self, texts: pa.Array, modes: np.ndarray, fold: FoldTable
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        data, offsets = utf8_buffers(texts)
        n = len(offsets) - 1
        sigs = np.empty((n, self.params.num_perm), dtype=np.uint32)
        flat = np.empty(offsets[n] - offsets[0] + n, dtype=np.uint32)
        counts = np.zeros(n, dtype=np.int64)
        p = self.params
        args = (data, offsets, modes, p.word_shingle_size, p.char_shingle_size, self.seeds, fold)
        _run(_hash_texts, (*args, sigs, flat, counts), n, self._threads())
        return sigs, flat, offsets, counts


def estimate_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Share of equal signature positions: the MinHash estimate of Jaccard similarity."""
    return float(np.mean(a == b))


# --- LSH table -----------------------------------------------------------------------------------


@njit(cache=True)
def _band_keys(sigs, bands, rows):  # pragma: no cover - numba
    n = sigs.shape[0]
    keys = np.empty((n, bands), dtype=np.uint64)
    for d in range(n):
        for b in range(bands):
            h = FNV_OFFSET ^ np.uint64(b)
            for r in range(rows):
                h = (h ^ np.uint64(sigs[d, b * rows + r])) * FNV_PRIME
            h = mix64(h)
            keys[d, b] = h if h != 0 else np.uint64(1)  # 0 marks an empty slot
    return keys


_LOW32 = np.uint64(0xFFFFFFFF)

#: Bytes per slot of the LSH table.
SLOT_BYTES = 8


@njit(cache=True)
def _table_insert(table, keys, doc):  # pragma: no cover - numba
    """One slot per band: the key's high 32 bits over ``doc + 1`` (0 is an empty slot; documents
    up to 2^32 - 2), at the first free slot from the key's low bits."""
    mask = np.uint64(table.shape[0] - 1)
    for b in range(keys.shape[0]):
        slot = keys[b] & mask
        while table[slot] != 0:
            slot = (slot + np.uint64(1)) & mask
        table[slot] = (keys[b] & ~_LOW32) | np.uint64(doc + 1)


@njit(cache=True)
def _insert_all(table, keys, first):  # pragma: no cover - numba
    for d in range(keys.shape[0]):
        _table_insert(table, keys[d], first + d)


@njit
def exact_jaccard(a, b):  # pragma: no cover - numba
    """Jaccard similarity of two arrays of shingle hashes taken as sets."""
    a = np.unique(a)
    b = np.unique(b)
    i = 0
    j = 0
    inter = 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            inter += 1
            i += 1
            j += 1
        elif a[i] < b[j]:
            i += 1
        else:
            j += 1
    union = len(a) + len(b) - inter
    return inter / union if union > 0 else 0.0


@njit(cache=True)
def _query_insert(
    table,
    alive,
    n_stored,
    keys,
    valid,
    threshold,
    insert,
    exact,
    sig_store,
    sigs,
    sh_store,
    sh_off,
    sh_used,
    q_sh,
    q_off,
):  # pragma: no cover - numba
    """For each row in order, find a live stored document that shares a band with it and whose
    similarity reaches ``threshold`` (exact Jaccard of the shingle sets, or the signatures'
    estimate); if none and ``insert``, store the row.

    Returns the matched stored index per row (-1: none), where each kept row was stored
    (-1: not stored), and the new counts of stored documents and stored shingles."""
    n = keys.shape[0]
    num_perm = sigs.shape[1]
    need = math.ceil(threshold * num_perm - 1e-9)
    mask = np.uint64(table.shape[0] - 1)
    matched = np.full(n, -1, dtype=np.int64)
    stored_at = np.full(n, -1, dtype=np.int64)
    for d in range(n):
        if not valid[d]:
            continue
        best = -1
        for b in range(keys.shape[1]):
            key = keys[d, b]
            high = key & ~_LOW32
            slot = key & mask
            while table[slot] != 0 and best < 0:
                entry = table[slot]
                other = np.int64(entry & _LOW32) - 1
                # equal high bits, and a slot on the key's probe path: the same key but for a
                # chance of 2^-32 or so, which verification catches
                if (entry & ~_LOW32) == high and alive[other]:
                    if exact:
                        sim = exact_jaccard(
                            q_sh[q_off[d] : q_off[d + 1]], sh_store[sh_off[other] : sh_off[other + 1]]
                        )
                        if sim >= threshold - 1e-12:
                            best = other
                    else:
                        same = 0
                        for j in range(num_perm):
                            if sig_store[other, j] == sigs[d, j]:
                                same += 1
                        if same >= need:
                            best = other
                slot = (slot + np.uint64(1)) & mask
            if best >= 0:
                break
        matched[d] = best
        if best < 0 and insert:
            if exact:
                m = q_off[d + 1] - q_off[d]
                sh_store[sh_used : sh_used + m] = q_sh[q_off[d] : q_off[d + 1]]
                sh_used += m
                sh_off[n_stored + 1] = sh_used
            else:
                sig_store[n_stored] = sigs[d]
            alive[n_stored] = True
            _table_insert(table, keys[d], n_stored)
            stored_at[d] = n_stored
            n_stored += 1
    return matched, stored_at, n_stored, sh_used


@dataclass(frozen=True)
class Match:
    """The indexed document a query matched."""

    id: str
    source: str  # "" for this release, else the label of the index it was loaded from


VERIFY_MODES = ("exact", "signature")


def _grow(array: np.ndarray, size: int) -> np.ndarray:
    if size <= array.shape[0]:
        return array
    grown = np.zeros((max(size, 2 * array.shape[0]), *array.shape[1:]), dtype=array.dtype)
    grown[: array.shape[0]] = array
    return grown


class MinHashIndex:
    """A growing LSH index with greedy streaming dedup.

    ``verify="exact"`` (the default) keeps each indexed document's 32-bit shingle hashes
    and confirms a candidate with their exact Jaccard similarity; ``verify="signature"`` keeps the
    signature instead and confirms with its estimate (fixed memory per document, but a pair within
    about 0.05 of the threshold may land on either side).

    Example::

        index = MinHashIndex(MinHashParams(), threshold=0.85)
        sigs, shingles, offsets = MinHasher().signatures_and_shingles(texts, modes)
        matches, stored = index.add_batch(ids, sigs, shingles=(shingles, offsets))
        index.save("out/minhash_index/query")
    """

    def __init__(
        self,
        params: MinHashParams,
        threshold: float = 0.85,
        bands: int | None = None,
        rows: int | None = None,
        verify: str = "exact",
    ) -> None:
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}, not {verify!r}")
        _, auto_rows = choose_banding(params.num_perm, threshold)
        rows = rows or (auto_rows if bands is None else max(1, params.num_perm // bands))
        bands = bands or max(1, params.num_perm // rows)
        if bands * rows > params.num_perm:
            raise ValueError(f"bands * rows = {bands * rows} exceeds num_perm = {params.num_perm}")
        self.params = params
        self.threshold = threshold
        self.bands = bands
        self.rows = rows
        self.verify = verify
        self._n = 0
        self._alive = np.zeros(1024, dtype=np.bool_)
        self._keys = np.zeros((1024, bands), dtype=np.uint64)  # band keys of stored documents
        self._sigs = np.zeros((1024 if verify == "signature" else 0, params.num_perm), dtype=np.uint32)
        self._sh = np.zeros(1 << 16 if verify == "exact" else 0, dtype=np.uint32)
        self._sh_off = np.zeros(1025, dtype=np.int64)
        self._sh_used = 0
        self._table = np.zeros(1 << 12, dtype=np.uint64)  # see _table_insert
        self._ids: list[pa.Array] = []
        self._id_starts: list[int] = []
        self._sources: list[tuple[int, str]] = []  # (first index, source label), in order
        self._own_start = 0

    def __len__(self) -> int:
        return self._n

    @property
    def own_count(self) -> int:
        """Live documents added by this run (not loaded from earlier releases)."""
        return int(self._alive[self._own_start : self._n].sum())

    def describe(self) -> dict[str, object]:
        return {
            **asdict(self.params),
            "threshold": self.threshold,
            "bands": self.bands,
            "rows": self.rows,
            "verify": self.verify,
            "candidate_probability_at_threshold": round(
                candidate_probability(self.threshold, self.bands, self.rows), 5
            ),
        }

    def memory_bytes(self) -> int:
        """Bytes the index holds now (allocated, growth slack included)."""
        arrays = (
            self._alive,
            self._keys,
            self._sigs,
            self._sh,
            self._sh_off,
            self._table,
        )
        return sum(a.nbytes for a in arrays)

    def _reserve(self, docs: int, shingles: int) -> None:
        needed = self._n + docs
        if needed > self._alive.shape[0]:
            self._alive = _grow(self._alive, needed)
            self._keys = _grow(self._keys, needed)
            self._sh_off = _grow(self._sh_off, self._alive.shape[0] + 1)
            if self.verify == "signature":
                self._sigs = _grow(self._sigs, self._alive.shape[0])
        if self.verify == "exact":
            self._sh = _grow(self._sh, self._sh_used + shingles)
        if 2 * needed * self.bands > self._table.shape[0]:
            size = 1 << max(12, math.ceil(math.log2(4 * needed * self.bands)))
            self._table = np.zeros(size, dtype=np.uint64)
            _insert_all(self._table, self._keys[: self._n], 0)

    def add_batch(
        self,
        ids: pa.Array | Sequence[str],
        signatures: np.ndarray,
        shingles: tuple[np.ndarray, np.ndarray] | None = None,
        insert: bool = True,
        valid: np.ndarray | None = None,
    ) -> tuple[list[Match | None], np.ndarray]:
        """Dedup one batch against the index, in row order; kept rows are inserted.

        Args:
            ids: one id per row (reported in matches).
            signatures: ``(n, num_perm)`` from :class:`MinHasher`.
            shingles: ``(hashes, offsets)`` from :meth:`MinHasher.signatures_and_shingles`;
                required when ``verify="exact"``.
            insert: store the rows that are kept.
            valid: rows to consider (others are neither matched nor stored).

        Returns:
            ``(matches, stored_at)``: per row, None when kept, else the :class:`Match` it
            duplicates; and where each row was stored (-1: not stored), for :meth:`discard`.
        """
        ids = as_string_array(ids)
        signatures = np.ascontiguousarray(signatures, dtype=np.uint32)
        if signatures.shape[1] != self.params.num_perm:
            raise ValueError(
                f"signatures have {signatures.shape[1]} permutations, index {self.params.num_perm}"
            )
        exact = self.verify == "exact"
        if exact and shingles is None:
            raise ValueError("this index verifies on exact Jaccard: pass shingles=(hashes, offsets)")
        q_sh, q_off = shingles if exact else (np.zeros(0, np.uint32), np.zeros(len(ids) + 1, np.int64))
        self._reserve(len(ids), len(q_sh))
        nonempty = ~np.all(signatures == _EMPTY, axis=1)
        valid = nonempty if valid is None else (nonempty & valid)
        keys = _band_keys(signatures, self.bands, self.rows)
        start = self._n
        matched, stored_at, self._n, self._sh_used = _query_insert(
            self._table,
            self._alive,
            self._n,
            keys,
            valid,
            self.threshold,
            insert,
            exact,
            self._sigs,
            signatures,
            self._sh,
            self._sh_off,
            self._sh_used,
            q_sh,
            q_off,
        )
        kept_rows = np.flatnonzero(stored_at >= 0)
        if len(kept_rows):
            self._keys[start : self._n] = keys[kept_rows]
            self._id_starts.append(start)
            self._ids.append(ids.take(pa.array(kept_rows)))
        matches = [None if m < 0 else self._match(int(m)) for m in matched.tolist()]
        return matches, stored_at

    def discard(self, stored: np.ndarray) -> None:
        """Take stored documents out of the index (their examples were dropped by another check)."""
        stored = np.asarray(stored, dtype=np.int64)
        self._alive[stored[stored >= 0]] = False

    def _match(self, index: int) -> Match:
        chunk = int(np.searchsorted(self._id_starts, index, side="right")) - 1
        doc_id = self._ids[chunk][index - self._id_starts[chunk]].as_py()
        source = ""
        if index < self._own_start:
            source = next(label for first, label in reversed(self._sources) if index >= first)
        return Match(doc_id, source)

    # --- persistence -----------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write this run's live documents (not those loaded from earlier releases) to ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        own = np.arange(self._own_start, self._n)
        own = own[self._alive[own]]
        np.save(path / "band_keys.npy", self._keys[own])
        if self.verify == "signature":
            np.save(path / "signatures.npy", self._sigs[own])
        else:
            lengths = self._sh_off[own + 1] - self._sh_off[own]
            offsets = np.zeros(len(own) + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
            take = (
                np.concatenate([np.arange(self._sh_off[i], self._sh_off[i + 1]) for i in own])
                if len(own)
                else []
            )
            np.save(path / "shingles.npy", self._sh[np.asarray(take, dtype=np.int64)])
            np.save(path / "shingle_offsets.npy", offsets)
        ids = [
            chunk for chunk, first in zip(self._ids, self._id_starts, strict=True) if first >= self._own_start
        ]
        all_ids = pa.concat_arrays(ids) if ids else pa.array([], pa.string())
        alive = self._alive[self._own_start : self._n]
        pq.write_table(pa.table({"id": all_ids.filter(pa.array(alive))}), path / "ids.parquet")
        meta = {**self.describe(), "count": len(own)}
        (path / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    def load(self, path: str | Path, label: str | None = None) -> int:
        """Add an index saved by an earlier release; later queries match against it.

        Raises:
            FileNotFoundError: when ``path`` holds no saved index.
            ConfigError: when it was built with other MinHash parameters.
        """
        path = Path(path)
        meta_file = path / "meta.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"no MinHash index at {path} (expected meta.json and band_keys.npy)")
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        mine = {**asdict(self.params), "bands": self.bands, "rows": self.rows, "verify": self.verify}
        diff = {k: (meta.get(k), v) for k, v in mine.items() if meta.get(k) != v}
        if diff:
            detail = ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in diff.items())
            raise ConfigError(
                f"MinHash index {path} was built with other parameters ({detail}): use the same "
                "quality.minhash settings as that release, or leave it out of the previous indexes"
            )
        if self.own_count:
            raise RuntimeError("load earlier indexes before adding this run's documents")
        keys = np.load(path / "band_keys.npy")
        ids = pq.read_table(path / "ids.parquet").column("id")
        count = len(keys)
        shingles = np.load(path / "shingles.npy") if self.verify == "exact" else np.zeros(0, np.uint32)
        self._reserve(count, len(shingles))
        start = self._n
        if self.verify == "exact":
            offsets = np.load(path / "shingle_offsets.npy")
            self._sh[self._sh_used : self._sh_used + len(shingles)] = shingles
            self._sh_off[start + 1 : start + count + 1] = offsets[1:] + self._sh_used
            self._sh_used += len(shingles)
        else:
            self._sigs[start : start + count] = np.load(path / "signatures.npy")
        self._keys[start : start + count] = keys
        self._alive[start : start + count] = True
        self._n += count
        _insert_all(self._table, keys, start)
        self._ids.append(as_string_array(ids))
        self._id_starts.append(start)
        self._sources.append((start, label or path.parent.parent.name or str(path)))
        self._own_start = self._n
        return count
