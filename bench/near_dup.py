"""Near-duplicate detection: precision and recall at the default threshold, throughput, index memory.

Benchmark set, built from real sentences (/work/shared/data/langid-sentences, Latin-script languages
written with spaces): base documents of 200 words made of random sentences of one language, and
edited copies of some of them with known word edit rates (substitutions, insertions and
deletions with words of the same language) from 0 to 30%. Ground truth is the exact Jaccard
similarity of word 5-gram sets (an independent Python implementation: ``\\w+`` words, lower
case), computed for every pair that shares at least one 5-gram; a pair is a duplicate when it
reaches 0.85. Detection is what MinHashDeduplicator does: LSH bands of the 128-permutation
signatures give candidates, and a candidate is a duplicate when the exact Jaccard of the two
documents' 32-bit shingle hashes reaches the threshold (the default; the signatures' estimate,
``verify="signature"``, is shown too).

Throughput is the end-to-end path of MinHashDeduplicator on raw text: normalisation (in the
hashing kernel), shingling, signatures, LSH query, verification and insert, in batches of 4096
(median of ``--repeat`` runs), on one thread and on ``NUMBA_NUM_THREADS``; docs per CPU-second
is the same count over the process's CPU time (all threads), the figure to watch on a busy
machine.

    python bench/near_dup.py [--docs 50000] [--repeat 5] [--datasketch]
"""

from __future__ import annotations

import argparse
import math
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import load_sentences

from synthembed.quality.minhash import (
    SLOT_BYTES,
    MinHasher,
    MinHashIndex,
    MinHashParams,
    _band_keys,
    candidate_probability,
    exact_jaccard,
)

LANGS = ("en", "de", "fr", "es", "it", "pt", "nl", "sv", "pl", "cs", "tr", "id", "fi", "hu", "ro")
RATES = (0.0, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.3)
WORD = re.compile(r"\w+")


def documents(pool: dict[str, list[str]], n: int, words: int, rng: random.Random) -> list[tuple[str, str]]:
    """(language, text) documents of ``words`` words made of random sentences of one language."""
    out = []
    for _ in range(n):
        lang = rng.choice(LANGS)
        chosen: list[str] = []
        while len(chosen) < words:
            chosen.extend(rng.choice(pool[lang]).split())
        out.append((lang, " ".join(chosen[:words])))
    return out


def edit(text: str, rate: float, vocab: list[str], rng: random.Random) -> str:
    out = []
    for w in text.split():
        r = rng.random()
        if r < rate * 0.6:
            out.append(rng.choice(vocab))
        elif r < rate * 0.8:
            continue
        elif r < rate:
            out.extend((w, rng.choice(vocab)))
        else:
            out.append(w)
    return " ".join(out)


def shingle_set(text: str, k: int = 5) -> set[int]:
    w = WORD.findall(text.lower())
    if len(w) < k:
        return {hash(tuple(w))}
    return {hash(tuple(w[i : i + k])) for i in range(len(w) - k + 1)}


def exact_pairs(texts: list[str], floor: float = 0.7) -> dict[tuple[int, int], float]:
    """Exact Jaccard of every pair at or above ``floor``, found by prefix filtering.

    A pair with Jaccard >= t must share a shingle among the first ``|x| - ceil(t |x|) + 1`` of each
    set when shingles are ordered by document frequency (the classic set-similarity-join bound), so
    indexing those prefixes finds every such pair without comparing all pairs.
    """
    sets = [shingle_set(t) for t in texts]
    df: Counter[int] = Counter(h for s in sets for h in s)
    postings: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        ordered = sorted(s, key=lambda h: (df[h], h))
        for h in ordered[: len(s) - math.ceil(floor * len(s)) + 1]:
            postings[h].append(i)
    pairs = {p for docs in postings.values() for p in combinations(docs, 2)}
    sims = {}
    for i, j in pairs:
        a, b = sets[i], sets[j]
        sim = len(a & b) / len(a | b)
        if sim >= floor:
            sims[(i, j)] = sim
    return sims


def lsh_pairs(
    sigs: np.ndarray, shingles: np.ndarray, offsets: np.ndarray, bands: int, rows: int, threshold: float
) -> tuple[set[tuple[int, int]], set[tuple[int, int]], int]:
    """Candidate pairs from shared band keys, verified as MinHashIndex does: on the exact Jaccard
    of the 32-bit shingle sets (the default), and on the signature estimate."""
    keys = _band_keys(sigs, bands, rows)
    candidates: set[tuple[int, int]] = set()
    for b in range(bands):
        groups: dict[int, list[int]] = defaultdict(list)
        for i, k in enumerate(keys[:, b].tolist()):
            groups[k].append(i)
        for docs in groups.values():
            if len(docs) > 1:
                candidates.update(combinations(docs, 2))
    need = math.ceil(threshold * sigs.shape[1] - 1e-9)
    by_signature = {(i, j) for i, j in candidates if int((sigs[i] == sigs[j]).sum()) >= need}
    by_exact = {
        (i, j)
        for i, j in candidates
        if exact_jaccard(shingles[offsets[i] : offsets[i + 1]], shingles[offsets[j] : offsets[j + 1]])
        >= threshold
    }
    return by_exact, by_signature, len(candidates)


def quality(pool: dict[str, list[str]], rng: random.Random, n_base: int, threshold: float) -> None:
    base = documents(pool, n_base, 200, rng)
    vocab = {lang: [w for s in pool[lang] for w in s.split()] for lang in LANGS}
    docs = list(base)
    for lang, text in base[: n_base // 2]:
        for _ in range(rng.choice((1, 2))):
            docs.append((lang, edit(text, rng.choice(RATES), vocab[lang], rng)))
    texts = [t for _, t in docs]
    t0 = time.perf_counter()
    truth = exact_pairs(texts)
    positives = {p for p, s in truth.items() if s >= threshold}
    index = MinHashIndex(MinHashParams(), threshold)
    sigs, shingles, offsets = MinHasher().signatures_and_shingles(
        pa.array(texts), np.zeros(len(texts), np.int8), normalize=True
    )
    by_exact, by_signature, n_candidates = lsh_pairs(
        sigs, shingles, offsets, index.bands, index.rows, threshold
    )
    print(
        f"benchmark: {len(texts):,} documents of about 200 words ({n_base:,} bases, {len(texts) - n_base:,} "
        f"edited copies at word edit rates {', '.join(f'{r:.1%}' for r in RATES)})"
    )
    print(
        f"  {len(positives):,} pairs have exact word-5-gram Jaccard >= {threshold}, {len(truth):,} >= 0.7 "
        f"(ground truth by prefix filtering, {time.perf_counter() - t0:.1f}s)"
    )
    print(
        f"  banding {index.bands} bands x {index.rows} rows: P(candidate | J={threshold}) = "
        f"{candidate_probability(threshold, index.bands, index.rows):.4f}; {n_candidates:,} candidate pairs"
    )
    for name, predicted in (("exact Jaccard (default)", by_exact), ("signature estimate", by_signature)):
        tp = len(predicted & positives)
        precision = tp / len(predicted) if predicted else 1.0
        recall = tp / len(positives) if positives else 1.0
        print(
            f"  verified on {name:24s}: precision {precision:.4f}, recall {recall:.4f} "
            f"({tp:,} found, {len(predicted) - tp:,} false, {len(positives) - tp:,} missed)"
        )
    print("  by exact Jaccard:   bin           pairs   flagged(exact)  flagged(signature)")
    for lo, hi in ((0.7, 0.8), (0.8, 0.85), (0.85, 0.9), (0.9, 0.95), (0.95, 1.01)):
        in_bin = [p for p, s in truth.items() if lo <= s < hi]
        fe = sum(1 for p in in_bin if p in by_exact)
        fs = sum(1 for p in in_bin if p in by_signature)
        print(f"                     [{lo:.2f},{min(hi, 1):.2f})  {len(in_bin):7,}  {fe:14,}  {fs:18,}")


def throughput(pool: dict[str, list[str]], rng: random.Random, n_docs: int, repeat: int) -> None:
    texts = [t for _, t in documents(pool, n_docs, 200, rng)]
    ids = [f"doc-{i}" for i in range(n_docs)]
    batches = [(pa.array(texts[i : i + 4096]), pa.array(ids[i : i + 4096])) for i in range(0, n_docs, 4096)]
    hasher = MinHasher(MinHashParams())

    def run() -> MinHashIndex:
        index = MinHashIndex(hasher.params, 0.85)
        for text, id_ in batches:
            sigs, shingles, offsets = hasher.signatures_and_shingles(
                text, np.zeros(len(text), np.int8), normalize=True
            )
            index.add_batch(id_, sigs, shingles=(shingles, offsets))
        return index

    run()  # compile
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        numba.set_num_threads(threads)
        times, cpu = [], []
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            index = run()
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        print(
            f"throughput, raw text to kept/dropped, {threads} thread(s): {n_docs / statistics.median(times):,.0f} "
            f"docs/s wall (median of {repeat}; min {n_docs / max(times):,.0f}, max {n_docs / min(times):,.0f}); "
            f"{n_docs / statistics.median(cpu):,.0f} docs per CPU-second"
        )
    per_doc_shingles = index._sh_used / len(index)
    slots = index.bands * SLOT_BYTES * 2  # the table is at most half full
    steady = 4 * per_doc_shingles + 1 + 8 + index.bands * 8 + slots
    signature_mode = 4 * index.params.num_perm + 1 + 8 + index.bands * 8 + slots
    print(
        f"index memory per million documents: {index.memory_bytes() / len(index) * 1e6 / 2**30:.2f} GiB as "
        f"allocated ({len(index):,} documents, growth slack included), {steady * 1e6 / 2**30:.2f} GiB at steady "
        f"state ({per_doc_shingles:.0f} shingles x 4 B + {index.bands} band keys x 8 B + table slots "
        f"{index.bands} x {SLOT_BYTES} B x 2); verify=signature: {signature_mode * 1e6 / 2**30:.2f} GiB"
    )


def datasketch_reference(pool: dict[str, list[str]], rng: random.Random, n_docs: int) -> None:
    try:
        from datasketch import MinHash, MinHashLSH
    except ImportError:
        print("datasketch not installed: reference skipped")
        return
    texts = [t for _, t in documents(pool, n_docs, 200, rng)]
    first = MinHash(num_perm=128, seed=1)
    permutations, scheme = first.permutations, first.scheme  # generated once, as one should
    t = time.perf_counter()
    lsh = MinHashLSH(threshold=0.85, num_perm=128)
    for i, text in enumerate(texts):
        w = WORD.findall(text.lower())
        m = MinHash(num_perm=128, permutations=permutations, scheme=scheme)
        m.update_batch([" ".join(w[j : j + 5]).encode() for j in range(len(w) - 4)])
        if not lsh.query(m):
            lsh.insert(str(i), m)
    print(
        f"datasketch reference (same path, pure Python shingling): {n_docs / (time.perf_counter() - t):,.0f} docs/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--bases", type=int, default=6_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--datasketch", action="store_true", help="also time datasketch on 3,000 documents")
    args = parser.parse_args()
    pool = load_sentences()
    rng = random.Random(0)
    quality(pool, rng, args.bases, 0.85)
    throughput(pool, rng, args.docs, args.repeat)
    if args.datasketch:
        datasketch_reference(pool, rng, 3_000)


if __name__ == "__main__":
    main()
