"""MinHash signatures, shingles and the LSH index."""

from __future__ import annotations

import math
import random

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthembed.errors import ConfigError
from synthembed.quality.minhash import (
    MinHasher,
    MinHashIndex,
    MinHashParams,
    candidate_probability,
    choose_banding,
    estimate_jaccard,
)
from synthembed.quality.shingles import CHAR, FOLD_LIMIT, WORD, shingle_hashes, shingle_modes
from synthembed.quality.text import normalize_for_matching

VOCAB = [f"w{i}" for i in range(5000)]


def word_shingles(text: str, k: int = 5) -> set[tuple[str, ...]]:
    words = text.split()
    if len(words) < k:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + k]) for i in range(len(words) - k + 1)}


def exact_jaccard(a: str, b: str, k: int = 5) -> float:
    sa, sb = word_shingles(a, k), word_shingles(b, k)
    return len(sa & sb) / len(sa | sb)


def edited(words: list[str], rate: float, rng: random.Random) -> list[str]:
    out = list(words)
    for i in range(len(out)):
        if rng.random() < rate:
            out[i] = rng.choice(VOCAB)
    return out


def test_shingles_words_and_characters() -> None:
    texts = normalize_for_matching(
        pa.array(["The quick, brown fox!", "the QUICK brown   fox", "", "你好，世界"])
    )
    hashes, offsets = shingle_hashes(texts, np.array([WORD, WORD, WORD, CHAR], np.int8), 2, 2)
    per_text = [hashes[offsets[i] : offsets[i + 1]].tolist() for i in range(4)]
    assert per_text[0] == per_text[1]  # case and punctuation do not matter
    assert len(per_text[0]) == 3  # "the quick", "quick brown", "brown fox"
    assert per_text[2] == []
    assert len(per_text[3]) == 3  # 你好 好世 世界: the full-width comma is a separator


def test_short_text_has_one_shingle() -> None:
    _, offsets = shingle_hashes(pa.array(["one two"]), np.array([WORD], np.int8), 5, 5)
    assert list(np.diff(offsets)) == [1]


def test_shingle_modes_from_languages() -> None:
    assert shingle_modes(["en", "zh", "ja", "th", "ko", "de"]).tolist() == [
        WORD,
        CHAR,
        CHAR,
        CHAR,
        WORD,
        WORD,
    ]


def test_estimates_agree_with_exact_jaccard() -> None:
    rng = random.Random(7)
    hasher = MinHasher(MinHashParams(num_perm=256))
    errors = []
    pairs_a, pairs_b, exact = [], [], []
    for rate in (0.0, 0.02, 0.05, 0.1, 0.2, 0.4):
        for _ in range(20):
            base = [rng.choice(VOCAB) for _ in range(200)]
            a, b = " ".join(base), " ".join(edited(base, rate, rng))
            pairs_a.append(a)
            pairs_b.append(b)
            exact.append(exact_jaccard(a, b))
    sa = hasher.signatures(pa.array(pairs_a), np.zeros(len(pairs_a), np.int8))
    sb = hasher.signatures(pa.array(pairs_b), np.zeros(len(pairs_b), np.int8))
    for i, j in enumerate(exact):
        est = estimate_jaccard(sa[i], sb[i])
        sigma = math.sqrt(max(j * (1 - j), 1e-9) / 256)
        errors.append((est - j) / max(sigma, 1 / 256))
    errors_arr = np.array(errors)
    assert np.abs(errors_arr).max() < 4.5  # no estimate beyond 4.5 standard errors
    assert abs(errors_arr.mean()) < 0.5  # and no bias


def test_agrees_with_datasketch() -> None:
    datasketch = pytest.importorskip("datasketch")
    rng = random.Random(3)
    hasher = MinHasher(MinHashParams(num_perm=128))
    diffs = []
    for rate in (0.01, 0.05, 0.1, 0.3):
        for _ in range(10):
            base = [rng.choice(VOCAB) for _ in range(150)]
            a, b = " ".join(base), " ".join(edited(base, rate, rng))
            ours = hasher.signatures(pa.array([a, b]), np.zeros(2, np.int8))
            ds = []
            for text in (a, b):
                m = datasketch.MinHash(num_perm=128, seed=1)
                for sh in word_shingles(text):
                    m.update(" ".join(sh).encode())
                ds.append(m)
            diffs.append(estimate_jaccard(ours[0], ours[1]) - ds[0].jaccard(ds[1]))
    # Two independent estimators of the same Jaccard: their difference has std <= sqrt(2) * 0.044.
    assert np.abs(diffs).max() < 0.2
    assert abs(np.mean(diffs)) < 0.03


def test_choose_banding() -> None:
    bands, rows = choose_banding(128, 0.85)
    assert (bands, rows) == (18, 7)
    assert candidate_probability(0.85, bands, rows) >= 0.995
    assert candidate_probability(0.5, bands, rows) < 0.2


def make_docs(n: int, rng: random.Random, length: int = 60) -> list[str]:
    return [" ".join(rng.choice(VOCAB) for _ in range(length)) for _ in range(n)]


def index_batch(index: MinHashIndex, hasher: MinHasher, ids: list[str], texts: list[str]):
    sigs, shingles, offsets = hasher.signatures_and_shingles(pa.array(texts), np.zeros(len(texts), np.int8))
    return index.add_batch(pa.array(ids), sigs, shingles=(shingles, offsets))


def test_fused_shingles_match_the_shingle_kernel() -> None:
    texts = ["one two three four five six seven one two three four five", "", "a b"]
    _, shingles, offsets = MinHasher().signatures_and_shingles(pa.array(texts), np.zeros(3, np.int8))
    ref, ref_off = shingle_hashes(pa.array(texts), np.zeros(3, np.int8), 5, 5)
    for i in range(3):
        expected = (ref[ref_off[i] : ref_off[i + 1]] >> np.uint64(32)).astype(np.uint32)
        assert shingles[offsets[i] : offsets[i + 1]].tolist() == expected.tolist()


# --- normalisation inside the kernel --------------------------------------------------------------


def assert_same_as_normalising_first(texts: list[str] | pa.Array, mode: int, hasher: MinHasher) -> None:
    texts = pa.array(texts, pa.string()) if isinstance(texts, list) else texts
    modes = np.full(len(texts), mode, np.int8)
    expected = hasher.signatures_and_shingles(normalize_for_matching(texts), modes)
    fused = hasher.signatures_and_shingles(texts, modes, normalize=True)
    for name, a, b in zip(("signatures", "shingles", "offsets"), expected, fused, strict=True):
        assert a.shape == b.shape and (a == b).all(), name


def test_raw_texts_hash_as_normalised_ones() -> None:
    # Arrow's lower case maps one code point to one: İ becomes i, a final Σ becomes σ.
    texts = ["The ﬁne Ｃａｔ… costs ½ €, İstanbul ΣΟΦΙΑΣ", "the fine cat... costs 1⁄2 €, istanbul σοφιασ"]
    sigs = MinHasher().signatures(texts, np.zeros(2, np.int8), normalize=True)
    assert (sigs[0] == sigs[1]).all()
    assert_same_as_normalising_first(texts, WORD, MinHasher())


@pytest.mark.parametrize("mode", [WORD, CHAR])
def test_kernel_normalisation_agrees_on_every_code_point(mode: int) -> None:
    # Each code point after letters, twice, after a precomposed letter, after a mark, before a
    # mark: where normalising it alone would differ from normalising the text, the kernel must
    # give up and leave the text to normalize_for_matching.
    astral = [0x10400, 0x1D400, 0x20000, 0x2A6DF, 0x30000, 0x3134A, 0x31350, 0xE0041, 0x10FFFF]
    points = [c for c in range(0x80, FOLD_LIMIT) if not 0xD800 <= c < 0xE000] + astral
    contexts = ("x{c}y", "A{c}{c}", "É{c}", "e\u0301{c}", "\u0915{c}\u0301")
    texts = pa.array([ctx.format(c=chr(c)) for c in points for ctx in contexts])
    assert_same_as_normalising_first(texts, mode, MinHasher(MinHashParams(num_perm=8)))


# Letters that compose or change case, marks of several combining classes (some of them second
# elements of compositions), compatibility characters, Hangul jamo and syllables, astral letters.
TRICKY = list(
    "aAeEkz09 .,-'\t\néÉèñüßẞİıΣσςﬁ½²™…ÅǅK"
    "\u0300\u0301\u0308\u0316\u0323\u0327\u0344\u0345\u05b0\u05bc\u064e\u0651\u0654\u0655"
    "\u093c\u094d\u09be\u09c7\u09d7\u0bbe\u0bc6\u0bd7\u0e38\u0e48\u0f73\u3099\u309a"
    "\u0915\u0928\u0995\u0b92\u0e01\u304b\u30ab\u3131\u314f\u3133\u1100\u1161\u11a8\uac00\uac01"
    "\uff21\uff41\u00a0\u3000\U00010400\U0001d400\U0001f130\U0001f600\U00020000\U0002f800"
)
tricky_text = st.lists(st.sampled_from(TRICKY) | st.characters(codec="utf-8"), max_size=24).map("".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(tricky_text, min_size=1, max_size=12), st.sampled_from([WORD, CHAR]))
def test_kernel_normalisation_agrees_on_any_text(texts: list[str], mode: int) -> None:
    assert_same_as_normalising_first(texts, mode, MinHasher(MinHashParams(num_perm=8)))


def test_threads_do_not_change_the_results() -> None:
    rng = random.Random(9)
    texts = [t if i % 7 else t.upper() + " Ǆ\u0323\u0301" for i, t in enumerate(make_docs(1200, rng, 30))]
    modes = np.array([WORD, CHAR] * 600, np.int8)
    one = MinHasher(threads=1).signatures_and_shingles(texts, modes, normalize=True)
    three = MinHasher(threads=3).signatures_and_shingles(texts, modes, normalize=True)
    for a, b in zip(one, three, strict=True):
        assert (a == b).all()


@pytest.mark.parametrize("verify", ["exact", "signature"])
def test_index_finds_near_duplicates_and_keeps_the_rest(verify: str) -> None:
    rng = random.Random(11)
    docs = make_docs(300, rng)
    near = [" ".join(edited(d.split(), 0.005, rng)) for d in docs[:50]]
    hasher = MinHasher()
    index = MinHashIndex(hasher.params, threshold=0.85, verify=verify)
    matches, _ = index_batch(index, hasher, [f"d{i}" for i in range(len(docs))], docs)
    assert all(m is None for m in matches)
    matches2, stored = index_batch(index, hasher, [f"n{i}" for i in range(len(near))], near)
    found = [m.id if m else None for m in matches2]
    for i, m in enumerate(found):
        j = exact_jaccard(near[i], docs[i])
        if j >= 0.9 or (verify == "exact" and j >= 0.85):
            assert m == f"d{i}"
        if verify == "exact" and j < 0.85:
            assert m is None
    assert len(index) == 300 + sum(m is None for m in found)
    assert (stored >= 0).sum() == sum(m is None for m in found)


def test_exact_verification_is_exact_at_the_threshold() -> None:
    # 20 distinct 5-gram shingles each; the copy shares 16: Jaccard 16/24 = 0.667.
    base = [f"w{i}" for i in range(24)]
    copy = [*base[:20], "x1", "x2", "x3", "x4"]
    hasher = MinHasher()
    for threshold, expect_match in ((0.66, True), (0.67, False)):
        index = MinHashIndex(hasher.params, threshold=threshold, bands=32, rows=4)
        index_batch(index, hasher, ["a"], [" ".join(base)])
        matches, _ = index_batch(index, hasher, ["b"], [" ".join(copy)])
        assert (matches[0] is not None) == expect_match


def test_empty_texts_are_never_duplicates() -> None:
    hasher = MinHasher()
    index = MinHashIndex(hasher.params)
    matches, _ = index_batch(index, hasher, ["a", "b", "c"], ["", "", "!!!"])
    assert matches == [None, None, None]
    assert len(index) == 0


@pytest.mark.parametrize("verify", ["exact", "signature"])
def test_save_load_and_parameter_mismatch(tmp_path, verify: str) -> None:
    rng = random.Random(5)
    docs = make_docs(100, rng)
    hasher = MinHasher()
    index = MinHashIndex(hasher.params, verify=verify)
    index_batch(index, hasher, [f"d{i}" for i in range(100)], docs)
    index.discard(np.array([0, 1]))  # dropped by another field: not saved
    index.save(tmp_path / "v1" / "minhash_index" / "query")

    later = MinHashIndex(hasher.params, verify=verify)
    assert later.load(tmp_path / "v1" / "minhash_index" / "query") == 98
    matches, _ = index_batch(later, hasher, ["x", "y", "z"], [docs[1], docs[2], docs[99]])
    assert matches[0] is None  # d1 was discarded
    assert matches[1] is not None and matches[1].id == "d2" and matches[1].source == "v1"
    assert matches[2] is not None and matches[2].id == "d99"

    other = MinHashIndex(MinHashParams(num_perm=64), verify=verify)
    with pytest.raises(ConfigError, match="num_perm"):
        other.load(tmp_path / "v1" / "minhash_index" / "query")
    with pytest.raises(FileNotFoundError):
        other.load(tmp_path / "nowhere")
