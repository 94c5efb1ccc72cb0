"""Tokens and shingles, hashed, for a whole Arrow string array at once (numba kernels).

A text is read as UTF-8 code points. Separators are ASCII non-alphanumerics, Latin-1 punctuation
and the Unicode punctuation blocks (general, CJK, full-width); everything else belongs to a token.

* word mode (languages written with spaces): a token is a run of non-separators, hashed with
  64-bit FNV-1a over its bytes;
* char mode (Chinese, Japanese, Thai, Lao, Khmer, Burmese): every non-separator code point is a
  token, so shingles are character n-grams that ignore spaces and punctuation.

A shingle is ``k`` consecutive tokens, hashed to 64 bits (FNV-style combination of the token hashes,
then the splitmix64 finaliser). A text with fewer than ``k`` tokens has one shingle: all of them.
Callers normalise first (:func:`synthembed.quality.text.normalize_for_matching`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from numba import njit

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
