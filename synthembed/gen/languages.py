"""The 93 XLM-R languages and the weighting schemes that decide how often each is asked for.

The table is package data (``synthembed/data/xlmr-cc100-languages.csv``): the 100 rows of the
XLM-R / CC-100 table. The five romanized rows are dropped and the two Chinese rows and the two
Burmese rows are merged (their CC-100 sizes added), which gives the 93 languages of the E5-mistral
paper. Sampling is vectorised with numpy so that planning 500k requests stays fast.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType

import numpy as np


@dataclass(frozen=True)
class Language:
    """One XLM-R language.

    Attributes:
        code: the XLM-R code (mostly ISO 639-1: ``en``, ``zh``, ``no``).
        iso639_3: the ISO 639-3 code (``eng``; ``fil`` for Filipino).
        name: English name.
        cc100_tokens_m: CC-100 size in millions of whitespace tokens.
        cc100_gib: CC-100 size in GiB.
        e5_share: the share the E5-mistral paper's Figure 2 shows, or None for "others".
    """

    code: str
    iso639_3: str
    name: str
    cc100_tokens_m: float
    cc100_gib: float
    e5_share: float | None


def _parse_share(text: str) -> float | None:
    text = text.strip()
    if not text[:1].isdigit():
        return None
    return float(text.split("%")[0]) / 100.0


def _clean_iso3(text: str) -> str:
    # "fil (tl=tgl)" -> "fil"; "zho (Hans)" -> "zho"
    return text.split(" ")[0]


def _clean_name(text: str) -> str:
    return text.split(" (")[0] if text.startswith(("Chinese", "Burmese")) else text


@cache
def _load() -> tuple[Language, ...]:
    path = resources.files("synthembed") / "data" / "xlmr-cc100-languages.csv"
    merged: dict[str, Language] = {}
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            code = row["xlmr_code"].strip()
            if code == "-":  # romanized variants are not separate languages here
                continue
            lang = Language(
                code=code,
                iso639_3=_clean_iso3(row["iso639_3"]),
                name=_clean_name(row["language"]),
                cc100_tokens_m=float(row["cc100_tokens_millions"]),
                cc100_gib=float(row["cc100_gib"]),
                e5_share=_parse_share(row["e5_figure2_share"]),
            )
            if code in merged:
                first = merged[code]
                lang = Language(
                    code=code,
                    iso639_3=first.iso639_3,
                    name=first.name,
                    cc100_tokens_m=first.cc100_tokens_m + lang.cc100_tokens_m,
                    cc100_gib=round(first.cc100_gib + lang.cc100_gib, 3),
                    e5_share=first.e5_share,
                )
            merged[code] = lang
    return tuple(merged.values())


#: The 93 languages, in the table's order (largest CC-100 share first).
LANGUAGES: tuple[Language, ...] = _load()
LANGUAGE_BY_CODE: Mapping[str, Language] = MappingProxyType({lang.code: lang for lang in LANGUAGES})
LANGUAGE_CODES: tuple[str, ...] = tuple(LANGUAGE_BY_CODE)

#: English's share in the paper's data, and the share all non-high-resource languages share.
E5_ENGLISH_SHARE = 0.431
E5_TAIL_SHARE = 0.198

SCHEMES = ("e5", "cc100", "explicit")


def get_language(code: str) -> Language:
    """Return the language with XLM-R code ``code``.

    Raises:
        KeyError: naming the code when it is not one of the 93.
    """
    try:
        return LANGUAGE_BY_CODE[code]
    except KeyError:
        raise KeyError(f"unknown language code {code!r}; use one of the 93 XLM-R codes") from None


def e5_weights(tail: str = "uniform") -> dict[str, float]:
    """The paper's observed mix: English 43.1%, 13 languages at their Figure 2 shares, the rest 19.8%.

    Args:
        tail: how the 19.8% is split among the other 79 languages: ``uniform`` (equal shares; the
            paper shows them only as one group) or ``cc100`` (in proportion to CC-100 size).
    """
    weights = {lang.code: lang.e5_share for lang in LANGUAGES if lang.e5_share is not None}
    rest = [lang for lang in LANGUAGES if lang.e5_share is None]
    if tail == "uniform":
        sizes = np.ones(len(rest))
    elif tail == "cc100":
        sizes = np.array([lang.cc100_tokens_m for lang in rest])
    else:
        raise ValueError(f"unknown tail weighting {tail!r}; allowed: uniform, cc100")
    sizes = sizes / sizes.sum() * E5_TAIL_SHARE
    weights.update({lang.code: float(s) for lang, s in zip(rest, sizes, strict=True)})
    return weights


def cc100_weights(alpha: float = 0.3) -> dict[str, float]:
    """Probability proportional to CC-100 size to the power ``alpha`` (XLM-R sampled with 0.3)."""
    sizes = np.array([lang.cc100_tokens_m for lang in LANGUAGES]) ** alpha
    sizes = sizes / sizes.sum()
    return {lang.code: float(s) for lang, s in zip(LANGUAGES, sizes, strict=True)}


def normalise(weights: Mapping[str, float], restrict_to: Sequence[str] | None = None) -> dict[str, float]:
    """Keep the codes in ``restrict_to`` (all when None) and scale the weights to sum to one."""
    if restrict_to:
        weights = {code: weights[code] for code in restrict_to}
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("language weights must sum to more than zero")
    return {code: w / total for code, w in weights.items()}


def sample_languages(weights: Mapping[str, float], n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` language indices into ``list(weights)`` with the given probabilities.

    Draws are prefix-stable: the first ``k`` of ``n`` draws equal a draw of ``k`` from the same
    generator state, so growing a recipe's counts keeps the earlier requests unchanged.
    """
    p = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
    cdf = np.cumsum(p / p.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int32)


def sample_pairs(
    weights: Mapping[str, float], n: int, rng: np.random.Generator, pairing: str = "independent"
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` (source, target) pairs of different languages for bitext.

    Args:
        pairing: ``independent`` draws both sides from ``weights`` and redraws the target while it
            equals the source; ``english_pivot`` puts English on one side (a coin flip decides
            which) and draws the other from ``weights`` without English.

    Raises:
        ValueError: when fewer than two languages are available, or English is missing for
            ``english_pivot``.
    """
    codes = list(weights)
    if len(codes) < 2:
        raise ValueError("bitext needs at least two languages in the recipe's language list")
    if pairing == "independent":
        src = sample_languages(weights, n, rng)
        tgt = sample_languages(weights, n, rng)
        same = np.flatnonzero(src == tgt)
        while same.size:
            tgt[same] = sample_languages(weights, same.size, rng)
            same = same[src[same] == tgt[same]]
        return src, tgt
    if pairing == "english_pivot":
        if "en" not in weights:
            raise ValueError("bitext pairing english_pivot needs 'en' among the recipe's languages")
        en = codes.index("en")
        others = {c: w for c, w in weights.items() if c != "en"}
        other_idx = np.array([codes.index(c) for c in others], dtype=np.int32)
        other = other_idx[sample_languages(others, n, rng)]
        english_first = rng.random(n) < 0.5
        src = np.where(english_first, en, other).astype(np.int32)
        tgt = np.where(english_first, other, en).astype(np.int32)
        return src, tgt
    raise ValueError(f"unknown bitext pairing {pairing!r}; allowed: independent, english_pivot")
