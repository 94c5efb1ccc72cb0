"""Text helpers: normalisation, word counts, scripts."""

from __future__ import annotations

import unicodedata

import pyarrow as pa

from synthembed.quality.text import (
    collapse_whitespace,
    count_words,
    field_languages,
    nfkc,
    normalize_text,
    script_counts,
    script_of,
)

TRICKY = [
    "plain ascii",
    "cafe\u0301",  # decomposed: NFKC composes it
    "café",
    "Ｈｅｌｌｏ",  # full-width
    "ﬁne",  # ligature
    "한국어",
    "\u1100\u1161",  # conjoining jamo
    "नमस्ते",
    "ক\u09c7\u09be",  # Bengali two-part vowel composes
    "𝐀bc",  # mathematical bold
    "😀 ok",
    "中文字",
    "",
]


def test_nfkc_matches_unicodedata() -> None:
    assert nfkc(TRICKY).to_pylist() == [unicodedata.normalize("NFKC", t) for t in TRICKY]
    assert nfkc(pa.array(["a", None])).to_pylist() == ["a", ""]


def test_normalize_text_keeps_marks_and_drops_punctuation() -> None:
    assert normalize_text("  Ｈｅｌｌｏ,  WORLD!  नमस्ते  ") == "hello world नमस्ते"
    assert collapse_whitespace(pa.array(["  a \\n b ", ""])).to_pylist() == ["a \\n b", ""]
    assert collapse_whitespace(pa.array(["x\n\ty  z"])).to_pylist() == ["x y z"]


def test_word_counts_and_field_languages() -> None:
    assert count_words("one two  three", "en") == 3
    assert count_words("桥" * 30, "zh") == 20
    assert field_languages("en-de") == ("en", "de", "de")
    assert field_languages("fr") == ("fr", "fr", "fr")


def test_scripts() -> None:
    assert script_of("Добрый день") == "Cyrillic"
    assert script_of("こんにちは") == "Hiragana"
    assert script_of("123 !!") == "Common"
    counts = script_counts(["abc ЖЖ 中"])[0]
    assert counts[1:].sum() == 6
