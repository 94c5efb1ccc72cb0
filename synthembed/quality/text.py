"""Text helpers the checks share: Arrow string buffers, normalisation, word counts, Unicode scripts.

The hot loops (tokenising, shingling, script counting) run in numba over a whole Arrow string
array at once: the array's UTF-8 data buffer and its offsets go to the kernel as they are, with no
per-string Python work.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit, prange

#: XLM-R languages written without spaces between words: character shingles, character counts.
SPACELESS_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my"})

#: Approximate characters per word in the spaceless languages, to compare lengths with word counts.
#: Rough figures (Chinese words average about 1.5 characters; Thai, Lao, Khmer and Burmese count
#: vowel signs as characters); they only serve the length rule, which has its own tolerance.
CHARS_PER_WORD = {"zh": 1.5, "ja": 2.0, "th": 4.5, "lo": 4.5, "km": 5.0, "my": 5.0}


def field_languages(language: str) -> tuple[str, str, str]:
    """The language of (query, positive, negative) for an example's ``language`` value.

    >>> field_languages("en-de")
    ('en', 'de', 'de')
    """
    src, sep, tgt = language.partition("-")
    return (src, tgt, tgt) if sep else (language, language, language)


def as_string_array(values: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> pa.Array:
    """One contiguous ``string`` array (nulls become empty strings)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    elif not isinstance(values, pa.Array):
        values = pa.array(list(values), type=pa.string())
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    if values.null_count:
        values = pc.fill_null(values, "")
    return values


def utf8_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes and int64 offsets of a string array, without copying the text."""
    values = as_string_array(values)
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset : values.offset + n + 1]
    data_buf = values.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offsets.astype(np.int64)


@cache
def _nfkc_unstable_table() -> np.ndarray:
    """BMP code points that NFKC may change: those it maps elsewhere, combining marks (which may
    compose with what precedes them) and Hangul jamo. A text without any is already NFKC."""
    table = np.zeros(0x10000, dtype=np.bool_)
    for cp in range(0x80, 0x10000):
        ch = chr(cp)
        if unicodedata.category(ch)[0] == "M" or unicodedata.normalize("NFKC", ch) != ch:
            table[cp] = True
    table[0x1100:0x1200] = True
    table[0xD800:0xE000] = True  # lone surrogates: let the slow path deal with them
    return table


@njit(cache=True, parallel=True)
def _needs_nfkc(data, offsets, table):  # pragma: no cover - numba
    n = len(offsets) - 1
    out = np.zeros(n, dtype=np.bool_)
    for d in prange(n):
        i = offsets[d]
        end = offsets[d + 1]
        while i < end:
            if data[i] < 0x80:
                i += 1
                continue
            cp, ln = decode_utf8(data, i)
            if cp >= 0x10000:
                # astral: emoji and CJK extensions are stable; anything else takes the slow path
                if not (0x1F000 <= cp < 0x1FB00 or 0x20000 <= cp < 0x2F800 or 0x30000 <= cp < 0x31350):
                    out[d] = True
                    break
            elif table[cp]:
                out[d] = True
                break
            i += ln
    return out


def nfkc(values: pa.Array | Sequence[str]) -> pa.Array:
    """NFKC of every text; a vectorised scan picks the few texts that need converting."""
    arr = as_string_array(values)
    data, offsets = utf8_buffers(arr)
    todo = _needs_nfkc(data, offsets, _nfkc_unstable_table())
    if not todo.any():
        return arr
    mask = pa.array(todo)
    return pc.replace_with_mask(arr, mask, pc.utf8_normalize(arr.filter(mask), "NFKC"))


def normalize_for_matching(values: pa.Array | Sequence[str]) -> pa.Array:
    """NFKC and lower case, vectorised: the form dedup and decontamination compare."""
    return pc.utf8_lower(nfkc(values))


def collapse_whitespace(values: pa.Array) -> pa.Array:
    """Runs of white space as one space, no leading or trailing space."""
    return pc.binary_join(pc.utf8_split_whitespace(pc.utf8_trim_whitespace(values)), " ")


def normalize_column(values: pa.Array) -> pa.Array:
    """NFKC, lower case, punctuation and symbols as spaces, white space collapsed (vectorised).

    Letters, digits and combining marks stay, so Indic and South-East Asian words keep their vowel
    signs.
    """
    arr = normalize_for_matching(values)
    return collapse_whitespace(pc.replace_substring_regex(arr, r"[^\p{L}\p{N}\p{M}\s]+", " "))


def normalize_text(text: str) -> str:
    """:func:`normalize_column` for one text."""
    return normalize_column(pa.array([text], pa.string()))[0].as_py()


def count_words(text: str, language: str) -> float:
    """Words in ``text``: white-space separated tokens, or characters / CHARS_PER_WORD when spaceless."""
    if language in SPACELESS_LANGUAGES:
        letters = sum(1 for ch in text if not ch.isspace() and unicodedata.category(ch)[0] in "LMN")
        return letters / CHARS_PER_WORD[language]
    return float(len(text.split()))


# --- Unicode scripts -----------------------------------------------------------------------------

#: Script ids used by :func:`script_counts`; 0 is "not a letter" (digits, punctuation, space).
SCRIPTS: tuple[str, ...] = (
    "Common",
    "Latin",
    "Cyrillic",
    "Greek",
    "Armenian",
    "Hebrew",
    "Arabic",
    "Devanagari",
    "Bengali",
    "Gurmukhi",
    "Gujarati",
    "Oriya",
    "Tamil",
    "Telugu",
    "Kannada",
    "Malayalam",
    "Sinhala",
    "Thai",
    "Lao",
    "Myanmar",
    "Georgian",
    "Hangul",
    "Ethiopic",
    "Khmer",
    "Han",
    "Hiragana",
    "Katakana",
    "Other",
)
SCRIPT_ID = {name: i for i, name in enumerate(SCRIPTS)}

# Code point ranges of the letters of each script (Basic Multilingual Plane). Marks inside a
# script's block count for that script, which is what Indic and South-East Asian text needs.
_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "Latin": (
        (0x41, 0x5A),
        (0x61, 0x7A),
        (0xAA, 0xAA),
        (0xBA, 0xBA),
        (0xC0, 0xD6),
        (0xD8, 0xF6),
        (0xF8, 0x24F),
        (0x1E00, 0x1EFF),
        (0x2C60, 0x2C7F),
        (0xA720, 0xA7FF),
    ),
    "Cyrillic": ((0x400, 0x52F), (0x1C80, 0x1C8F), (0x2DE0, 0x2DFF), (0xA640, 0xA69F)),
    "Greek": ((0x370, 0x3FF), (0x1F00, 0x1FFF)),
    "Armenian": ((0x531, 0x588),),
    "Hebrew": ((0x591, 0x5F4), (0xFB1D, 0xFB4F)),
    "Arabic": ((0x600, 0x6FF), (0x750, 0x77F), (0x8A0, 0x8FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)),
    "Devanagari": ((0x900, 0x97F), (0xA8E0, 0xA8FF)),
    "Bengali": ((0x980, 0x9FF),),
    "Gurmukhi": ((0xA00, 0xA7F),),
    "Gujarati": ((0xA80, 0xAFF),),
    "Oriya": ((0xB00, 0xB7F),),
    "Tamil": ((0xB80, 0xBFF),),
    "Telugu": ((0xC00, 0xC7F),),
    "Kannada": ((0xC80, 0xCFF),),
    "Malayalam": ((0xD00, 0xD7F),),
    "Sinhala": ((0xD80, 0xDFF),),
    "Thai": ((0xE00, 0xE7F),),
    "Lao": ((0xE80, 0xEFF),),
    "Myanmar": ((0x1000, 0x109F), (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F)),
    "Georgian": ((0x10A0, 0x10FF), (0x1C90, 0x1CBF), (0x2D00, 0x2D2F)),
    "Hangul": ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7FF)),
    "Ethiopic": ((0x1200, 0x139F), (0x2D80, 0x2DDF)),
    "Khmer": ((0x1780, 0x17FF), (0x19E0, 0x19FF)),
    "Han": (
        (0x2E80, 0x2FDF),
        (0x3005, 0x3007),
        (0x3021, 0x3029),
        (0x3400, 0x4DBF),
        (0x4E00, 0x9FFF),
        (0xF900, 0xFAFF),
    ),
    "Hiragana": ((0x3041, 0x309F),),
    "Katakana": ((0x30A0, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9D)),
}


def _build_script_table() -> np.ndarray:
    table = np.zeros(0x10000, dtype=np.uint8)
    for name, ranges in _RANGES.items():
        for lo, hi in ranges:
            table[lo : hi + 1] = SCRIPT_ID[name]
    # Letters outside the listed blocks still count as letters, of an unlisted script.
    other = SCRIPT_ID["Other"]
    for cp in range(0x80, 0x10000):
        if table[cp] == 0 and unicodedata.category(chr(cp))[0] == "L":
            table[cp] = other
    for punct in (0x3000, 0x3001, 0x3002, 0x30FB, 0xD7, 0xF7):  # CJK punctuation, x and ÷ are no letters
        table[punct] = 0
    return table


_SCRIPT_TABLE = _build_script_table()
_HAN = SCRIPT_ID["Han"]
_OTHER = SCRIPT_ID["Other"]

#: The scripts each XLM-R language is written in (code → script names).
LANGUAGE_SCRIPTS: dict[str, tuple[str, ...]] = {
    **{
        code: ("Latin",)
        for code in (
            "af az br bs ca cs cy da de en eo es et eu fi fr fy ga gd gl ha hr hu id is it jv ku la "
            "lt lv mg ms nl no om pl pt ro sk sl so sq su sv sw tl tr vi xh"
        ).split()
    },
    **{code: ("Cyrillic",) for code in "be bg kk ky mk mn ru uk".split()},
    "sr": ("Cyrillic", "Latin"),
    "uz": ("Latin", "Cyrillic"),
    **{code: ("Arabic",) for code in "ar fa ps sd ug ur".split()},
    **{code: ("Hebrew",) for code in ("he", "yi")},
    **{code: ("Devanagari",) for code in ("hi", "mr", "ne", "sa")},
    **{code: ("Bengali",) for code in ("bn", "as")},
    "pa": ("Gurmukhi",),
    "gu": ("Gujarati",),
    "or": ("Oriya",),
    "ta": ("Tamil",),
    "te": ("Telugu",),
    "kn": ("Kannada",),
    "ml": ("Malayalam",),
    "si": ("Sinhala",),
    "th": ("Thai",),
    "lo": ("Lao",),
    "my": ("Myanmar",),
    "km": ("Khmer",),
    "ka": ("Georgian",),
    "hy": ("Armenian",),
    "el": ("Greek",),
    "am": ("Ethiopic",),
    "ko": ("Hangul", "Han"),
    "zh": ("Han",),
    "ja": ("Han", "Hiragana", "Katakana"),
}


@njit(inline="always")
def decode_utf8(data: np.ndarray, i: int) -> tuple[int, int]:
    """The code point starting at byte ``i`` and its length in bytes (invalid bytes read as 1)."""
    b0 = np.int64(data[i])
    if b0 < 0x80:
        return b0, 1
    n = len(data)
    if b0 < 0xE0 and i + 1 < n:
        return ((b0 & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F), 2
    if b0 < 0xF0 and i + 2 < n:
        return ((b0 & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (np.int64(data[i + 2]) & 0x3F), 3
    if i + 3 < n:
        return (
            ((b0 & 0x07) << 18)
            | ((np.int64(data[i + 1]) & 0x3F) << 12)
            | ((np.int64(data[i + 2]) & 0x3F) << 6)
            | (np.int64(data[i + 3]) & 0x3F),
            4,
        )
    return b0, 1


@njit(cache=True)
def _script_counts(data, offsets, table, n_scripts, han, other):  # pragma: no cover - numba
    n = len(offsets) - 1
    out = np.zeros((n, n_scripts), dtype=np.int32)
    for d in range(n):
        i = offsets[d]
        end = offsets[d + 1]
        while i < end:
            cp, ln = decode_utf8(data, i)
            if cp < 0x10000:
                s = table[cp]
            elif 0x20000 <= cp < 0x40000:
                s = han
            else:
                s = other
            out[d, s] += 1
            i += ln
    return out


def script_counts(values: pa.Array | Sequence[str]) -> np.ndarray:
    """Letters per script for each text: an ``(n, len(SCRIPTS))`` int32 array (column 0: non-letters)."""
    data, offsets = utf8_buffers(as_string_array(values))
    return _script_counts(data, offsets, _SCRIPT_TABLE, len(SCRIPTS), _HAN, _OTHER)


def script_of(text: str) -> str:
    """The script most of ``text``'s letters are in ("Common" when it has none)."""
    counts = script_counts([text])[0]
    counts[0] = 0
    return SCRIPTS[int(counts.argmax())] if counts.any() else "Common"


def join_nonempty(parts: Iterable[str], sep: str = "; ") -> str:
    return sep.join(p for p in parts if p)
