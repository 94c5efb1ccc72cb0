"""Tokens and shingles, hashed, for a whole Arrow string array at once (numba kernels).

A text is read as UTF-8 code points. Separators are ASCII non-alphanumerics, Latin-1 punctuation
and the Unicode punctuation blocks (general, CJK, full-width); everything else belongs to a token.

* word mode (languages written with spaces): a token is a run of non-separators, hashed with
  64-bit FNV-1a over its bytes;
* char mode (Chinese, Japanese, Thai, Lao, Khmer, Burmese): every non-separator code point is a
  token, so shingles are character n-grams that ignore spaces and punctuation.

A shingle is ``k`` consecutive tokens, hashed to 64 bits (FNV-style combination of the token hashes,
then the splitmix64 finaliser). A text with fewer than ``k`` tokens has one shingle: all of them.
Callers normalise first (:func:`synthembed.quality.text.normalize_for_matching`), or let
:func:`fold_tokenize` do it on the way: it reads each code point's normalised form from
:func:`fold_table` and gives the same tokens as normalising the whole text first, or gives up
on the text (returns -1) where the two could differ, and the caller normalises that text.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit, uint64

from synthembed.quality.text import SPACELESS_LANGUAGES, as_string_array, decode_utf8, utf8_buffers

WORD = 0
CHAR = 1

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)


@njit(inline="always")
def mix64(x):
    """splitmix64's finaliser: a bijection on 64 bits with full avalanche."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(inline="always")
def is_separator(cp):
    if cp < 0x80:
        return not ((48 <= cp <= 57) or (65 <= cp <= 90) or (97 <= cp <= 122))
    return (
        cp <= 0xBF
        or cp == 0xD7
        or cp == 0xF7
        or 0x2000 <= cp <= 0x206F  # general punctuation, spaces, dashes, quotes
        or 0x2E00 <= cp <= 0x2E7F  # supplemental punctuation
        or 0x3000 <= cp <= 0x3004  # ideographic space and CJK punctuation
        or 0x3008 <= cp <= 0x3020
        or 0xFE10 <= cp <= 0xFE6F  # vertical and small forms
        or 0xFF01 <= cp <= 0xFF0F  # full-width punctuation
        or 0xFF1A <= cp <= 0xFF20
        or 0xFF3B <= cp <= 0xFF40
        or 0xFF5B <= cp <= 0xFF65
        or cp in (0x55D, 0x589, 0x5BE, 0x5C0, 0x5C3, 0x60C, 0x61B, 0x61F, 0x6D4, 0x964, 0x965)
        or cp in (0xE5A, 0xE5B, 0x104A, 0x104B, 0x17D4, 0x17D5, 0x17D6, 0x1362, 0x1363, 0x1364)
    )


#: ASCII bytes that belong to tokens (digits and letters); every other ASCII byte separates.
_ASCII_WORD = np.zeros(128, dtype=np.bool_)
for _b in b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
    _ASCII_WORD[_b] = True


#: The ASCII bytes that belong to tokens in lower case, 0 for the others.
_ASCII_FOLD = np.zeros(128, dtype=np.uint8)
for _b in b"0123456789abcdefghijklmnopqrstuvwxyz":
    _ASCII_FOLD[_b] = _ASCII_FOLD[ord(chr(_b).upper())] = _b

#: Code points below this have an entry in :func:`fold_table`; above, only CJK ideographs pass.
FOLD_LIMIT = 0x20000


class FoldTable(NamedTuple):
    """What :func:`~synthembed.quality.text.normalize_for_matching` makes of each code point below
    ``FOLD_LIMIT`` (see :func:`fold_table`); numba kernels take it as a tuple of arrays."""

    off: np.ndarray  # int32, FOLD_LIMIT + 1: code point c becomes cps[off[c]:off[c + 1]] (empty: give up)
    cps: np.ndarray  # int32: lower case of NFKC
    lccc: np.ndarray  # uint8: combining class of the first code point of the canonical decomposition
    tccc: np.ndarray  # uint8: ... and of the last
    lead: np.ndarray  # int32: that first code point when it is a composition's second element, else -1
    tail: np.ndarray  # int32: last code point of NFKC (before lower case), -2 when it is a mark
    pairs: np.ndarray  # int64, sorted: (first << 21) | second for every canonical composition


def _compositions() -> tuple[set[int], list[int]]:
    """Second elements and ``(first << 21) | second`` keys of the pairs NFC composes."""
    seconds, pairs = set(), []
    for c in range(FOLD_LIMIT):
        d = unicodedata.decomposition(chr(c))
        if d and d[0] != "<" and len(parts := d.split()) == 2:
            first, second = int(parts[0], 16), int(parts[1], 16)
            if unicodedata.normalize("NFC", chr(first) + chr(second)) == chr(c):
                seconds.add(second)
                pairs.append((first << 21) | second)
    return seconds, sorted(pairs)


def _per_line(function, texts: list[str], *args: object) -> list[str]:
    """An Arrow string function of each text, run once over all of them, one per line (a line
    break is a starter that nothing composes with): a call per character would take a second."""
    out = function(pa.array(["\n".join(texts)]), *args)[0].as_py().split("\n")
    if len(out) != len(texts):
        raise RuntimeError(f"{function.__name__} made or removed a line break")  # pragma: no cover
    return out


@functools.cache
def fold_table() -> FoldTable:
    """Each code point's part of :func:`~synthembed.quality.text.normalize_for_matching`, for
    :func:`fold_tokenize`: Arrow's lower case of Arrow's NFKC (the two steps it takes).

    NFKC of a whole text is the concatenation of its code points' NFKC when nothing reorders or
    composes across their boundaries. The tokenizer checks both with the combining classes and
    composition pairs here, and gives up on the text where they could: a mark after a mark of a
    higher class, a composition's second element after the first, a mark that composes after
    another mark. A code point gets an empty entry (give up) when Python's Unicode tables (which
    decide which texts ``text.nfkc`` converts, and give the classes here) and Arrow's disagree
    on it or Python does not know it, when it is a Hangul jamo or its NFKC starts with a Hangul
    vowel or final (composed by rule, not by table), when its NFKC is several code points of
    which the first is a mark, and when NFKC changes it but ``text.nfkc`` takes it as stable
    (enclosed alphanumerics beside the emoji), so that the result depends on the rest of the text.

    ``tests/quality/test_minhash.py`` checks every code point in several contexts, and random
    texts, against ``normalize_for_matching``. Built once per process (about 0.2 s).
    """
    combining = unicodedata.combining
    # ASCII never reaches the table, and Hangul jamo compose by rule, not by table.
    known = [
        c
        for c in range(0x80, FOLD_LIMIT)
        if not 0x1100 <= c < 0x1200 and unicodedata.category(chr(c)) not in ("Cn", "Cs")
    ]
    python_nfkc = [unicodedata.normalize("NFKC", chr(c)) for c in known]
    # The slow path runs Arrow's NFKC: ask it about the characters Python's changes (NFKC of an
    # assigned character is the same in every Unicode version, so Python's answer for the others
    # stands).
    changed = [i for i, (c, nf) in enumerate(zip(known, python_nfkc, strict=True)) if nf != chr(c)]
    arrow_nfkc = _per_line(pc.utf8_normalize, [chr(known[i]) for i in changed], "NFKC")
    arrow_nfkc = dict(zip(changed, arrow_nfkc, strict=True))
    pieces = [arrow_nfkc.get(i, nf) for i, nf in enumerate(python_nfkc)]
    folded = _per_line(pc.utf8_lower, pieces)
    seconds, pairs = _compositions()
    lengths = [0] * FOLD_LIMIT
    lccc = [0] * FOLD_LIMIT
    tccc = [0] * FOLD_LIMIT
    lead = [-1] * FOLD_LIMIT
    tail = [0] * FOLD_LIMIT
    cps: list[int] = []
    for c, py, nf, low in zip(known, python_nfkc, pieces, folded, strict=True):
        nfd = unicodedata.normalize("NFD", nf)
        first = ord(nfd[0])
        if nf != py or 0x1161 <= first < 0x11C3 or (len(nf) > 1 and combining(nfd[0])):
            continue
        if 0x1F000 <= c < 0x1FB00 and nf != chr(c):
            continue  # text.nfkc takes this block as stable: NFKC'd only beside other characters
        lengths[c] = len(low)
        cps.extend(map(ord, low))
        lccc[c], tccc[c] = combining(nfd[0]), combining(nfd[-1])
        lead[c] = first if first in seconds else -1
        tail[c] = -2 if combining(nf[-1]) else ord(nf[-1])
    off = np.zeros(FOLD_LIMIT + 1, dtype=np.int32)
    np.cumsum(lengths, out=off[1:])
    return FoldTable(
        off,
        np.array(cps, dtype=np.int32),
        np.array(lccc, dtype=np.uint8),
        np.array(tccc, dtype=np.uint8),
        np.array(lead, dtype=np.int32),
        np.array(tail, dtype=np.int32),
        np.array(pairs, dtype=np.int64),
    )


@njit(inline="always")
def _push(c, char_mode, h, in_word, out, n):
    """Feed one normalised code point to the token state ``(h, in_word, n)``; return the new state."""
    word = _ASCII_WORD[c] if c < 0x80 else not is_separator(c)
    if word:
        if char_mode:
            out[n] = mix64(uint64(c))
            return h, in_word, n + 1
        if c < 0x80:
            h = (h ^ uint64(c)) * FNV_PRIME
        elif c < 0x800:
            h = (h ^ uint64(0xC0 | (c >> 6))) * FNV_PRIME
            h = (h ^ uint64(0x80 | (c & 0x3F))) * FNV_PRIME
        elif c < 0x10000:
            h = (h ^ uint64(0xE0 | (c >> 12))) * FNV_PRIME
            h = (h ^ uint64(0x80 | ((c >> 6) & 0x3F))) * FNV_PRIME
            h = (h ^ uint64(0x80 | (c & 0x3F))) * FNV_PRIME
        else:
            h = (h ^ uint64(0xF0 | (c >> 18))) * FNV_PRIME
            h = (h ^ uint64(0x80 | ((c >> 12) & 0x3F))) * FNV_PRIME
            h = (h ^ uint64(0x80 | ((c >> 6) & 0x3F))) * FNV_PRIME
            h = (h ^ uint64(0x80 | (c & 0x3F))) * FNV_PRIME
        return h, 1, n
    if in_word:
        out[n] = h
        return FNV_OFFSET, 0, n + 1
    return h, in_word, n


@njit(inline="always")
def _composes(pairs, first, second):
    key = (np.int64(first) << 21) | np.int64(second)
    i = np.searchsorted(pairs, key)
    return i < len(pairs) and pairs[i] == key


@njit(inline="always")
def fold_tokenize(data, start, end, char_mode, fold, out):  # pragma: no cover - numba
    """:func:`tokenize` of ``normalize_for_matching`` of ``data[start:end]``, each code point
    normalised on the way through ``fold`` (:func:`fold_table`); -1 when the text needs
    whole-text normalisation (or would not fit ``out``, which has room for a token per byte, plus
    one)."""
    off, cps, lccc, tccc, lead, tail, pairs = fold
    n = 0
    h = FNV_OFFSET
    in_word = 0
    last_cp = -1  # the last code point of NFKC so far (-1: none, -2: a mark)
    last_ccc = 0  # the combining class of the last code point of its canonical decomposition
    i = start
    while i < end:
        b = data[i]
        if b < 0x80:
            # Branch-free, with masks rather than conditionals (which numba leaves as branches):
            # a mispredicted word end costs more than the unconditional store.
            lb = _ASCII_FOLD[b]
            word = np.int64(lb != 0)
            if char_mode:
                out[n] = mix64(uint64(lb))
                n += word
            else:
                out[n] = h
                n += in_word & (word ^ 1)
                keep = uint64(0) - uint64(word)
                h = (((h ^ uint64(lb)) * FNV_PRIME) & keep) | (FNV_OFFSET & ~keep)
                in_word = word
            last_cp = b
            last_ccc = 0
            i += 1
            continue
        cp, ln = decode_utf8(data, i)
        i += ln
        if cp >= FOLD_LIMIT:
            # CJK extension ideographs have no case and no decomposition; text.nfkc passes them too
            if not (0x20000 <= cp < 0x2F800 or 0x30000 <= cp < 0x31350):
                return -1
            h, in_word, n = _push(cp, char_mode, h, in_word, out, n)
            last_cp = cp
            last_ccc = 0
            continue
        lo = off[cp]
        hi = off[cp + 1]
        if lo == hi or (lccc[cp] != 0 and last_ccc > lccc[cp]):
            return -1  # no table entry, or canonical reordering
        second = lead[cp]
        # a composition's second element may fuse with the last starter: directly after it, or,
        # a mark, after other marks
        if second >= 0 and (
            (last_cp >= 0 and _composes(pairs, last_cp, second)) or (last_cp == -2 and lccc[cp] != 0)
        ):
            return -1
        if hi - lo > ln and n + (hi - lo) + (end - i) + 1 > len(out):
            return -1
        last_cp = tail[cp]
        last_ccc = tccc[cp]
        for q in range(lo, hi):
            h, in_word, n = _push(cps[q], char_mode, h, in_word, out, n)
    if in_word:
        out[n] = h
        n += 1
    return n


@njit
def tokenize(data, start, end, char_mode, out):  # pragma: no cover - numba
    """Write the token hashes of ``data[start:end]`` into ``out``; return how many."""
    n = 0
    h = FNV_OFFSET
    in_word = False
    i = start
    while i < end:
        b = data[i]
        if b < 0x80:  # ASCII fast path: no decoding, one table lookup
            if _ASCII_WORD[b]:
                if char_mode:
                    out[n] = mix64(np.uint64(b))
                    n += 1
                else:
                    h = (h ^ np.uint64(b)) * FNV_PRIME
                    in_word = True
            elif in_word:
                out[n] = h
                n += 1
                in_word = False
                h = FNV_OFFSET
            i += 1
            continue
        cp, ln = decode_utf8(data, i)
        if is_separator(cp):
            if in_word:
                out[n] = h
                n += 1
                in_word = False
                h = FNV_OFFSET
        elif char_mode:
            out[n] = mix64(np.uint64(cp))
            n += 1
        else:
            for j in range(ln):
                h = (h ^ np.uint64(data[i + j])) * FNV_PRIME
            in_word = True
        i += ln
    if in_word:
        out[n] = h
        n += 1
    return n


@njit(inline="always")
def shingle_hash(tokens, i, k):
    h = FNV_OFFSET
    for t in range(k):
        h = (h ^ tokens[i + t]) * FNV_PRIME
    return mix64(h)


@njit(cache=True)
def _count_tokens(data, offsets, modes):  # pragma: no cover - numba
    n = len(offsets) - 1
    counts = np.zeros(n, dtype=np.int64)
    for d in range(n):
        scratch = np.empty(offsets[d + 1] - offsets[d] + 1, dtype=np.uint64)
        counts[d] = tokenize(data, offsets[d], offsets[d + 1], modes[d] == CHAR, scratch)
    return counts


@njit(cache=True)
def _fill_shingles(data, offsets, modes, k_word, k_char, out_offsets, out):  # pragma: no cover - numba
    n = len(offsets) - 1
    for d in range(n):
        scratch = np.empty(offsets[d + 1] - offsets[d] + 1, dtype=np.uint64)
        nt = tokenize(data, offsets[d], offsets[d + 1], modes[d] == CHAR, scratch)
        k = k_char if modes[d] == CHAR else k_word
        base = out_offsets[d]
        if nt == 0:
            continue
        if nt < k:
            out[base] = shingle_hash(scratch, 0, nt)
            continue
        for i in range(nt - k + 1):
            out[base + i] = shingle_hash(scratch, i, k)


def shingle_modes(languages: Sequence[str] | str, n: int | None = None) -> np.ndarray:
    """Per-text shingle mode (WORD or CHAR) from language codes; a single code applies to all ``n``."""
    if isinstance(languages, str):
        mode = CHAR if languages in SPACELESS_LANGUAGES else WORD
        return np.full(n or 0, mode, dtype=np.int8)
    return np.fromiter(
        (CHAR if c in SPACELESS_LANGUAGES else WORD for c in languages), np.int8, len(languages)
    )


def shingle_hashes(
    texts: pa.Array | Sequence[str], modes: np.ndarray, k_word: int, k_char: int
) -> tuple[np.ndarray, np.ndarray]:
    """The 64-bit shingle hashes of each text (texts already normalised).

    Returns:
        ``(hashes, offsets)``: text ``i``'s shingles are ``hashes[offsets[i]:offsets[i + 1]]``, in
        text order, repeats included.
    """
    data, offsets = utf8_buffers(as_string_array(texts))
    modes = np.asarray(modes, dtype=np.int8)
    counts = _count_tokens(data, offsets, modes)
    k = np.where(modes == CHAR, k_char, k_word)
    per_text = np.where(counts == 0, 0, np.maximum(counts - k + 1, 1))
    out_offsets = np.zeros(len(per_text) + 1, dtype=np.int64)
    np.cumsum(per_text, out=out_offsets[1:])
    out = np.empty(int(out_offsets[-1]), dtype=np.uint64)
    _fill_shingles(data, offsets, modes, k_word, k_char, out_offsets, out)
    return out, out_offsets


def token_counts(texts: pa.Array | Sequence[str], modes: np.ndarray) -> np.ndarray:
    """Tokens per text (words, or characters in char mode); texts already normalised."""
    data, offsets = utf8_buffers(as_string_array(texts))
    return _count_tokens(data, offsets, np.asarray(modes, dtype=np.int8))


#: A shingle size no text reaches: ``shingle_hashes`` then gives one hash of each whole text.
WHOLE_TEXT = 1 << 40


def whole_text_hashes(texts: pa.Array | Sequence[str], modes: np.ndarray) -> np.ndarray:
    """One hash per text of all its tokens (0 for a text without tokens)."""
    hashes, offsets = shingle_hashes(texts, modes, WHOLE_TEXT, WHOLE_TEXT)
    out = np.zeros(len(offsets) - 1, dtype=np.uint64)
    out[np.diff(offsets) > 0] = hashes
    return out
