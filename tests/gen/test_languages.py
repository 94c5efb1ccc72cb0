from __future__ import annotations

import numpy as np
import pytest

from synthembed.gen import languages as L
from synthembed.gen.plan import build_plan, language_weights
from synthembed.recipe import parse_recipe

HIGH = {"ru", "id", "fa", "de", "fr", "es", "pt", "pl", "nl", "it", "ar", "ja", "zh"}


def test_93_languages_from_the_table():
    assert len(L.LANGUAGES) == 93
    assert len(set(L.LANGUAGE_CODES)) == 93
    assert "-" not in L.LANGUAGE_CODES
    zh, my = L.get_language("zh"), L.get_language("my")
    assert zh.cc100_tokens_m == 259 + 176 and my.cc100_tokens_m == 56 + 15  # merged rows
    assert L.get_language("tl").iso639_3 == "fil"
    with pytest.raises(KeyError, match="93 XLM-R"):
        L.get_language("xx")


def test_e5_weights_match_the_paper():
    w = L.e5_weights()
    assert sum(w.values()) == pytest.approx(1.0)
    assert w["en"] == pytest.approx(0.431)
    assert {c for c, lang in L.LANGUAGE_BY_CODE.items() if lang.e5_share is not None} == HIGH | {"en"}
    assert w["pl"] == pytest.approx(0.030) and w["ar"] == pytest.approx(0.027)
    rest = [c for c in w if c not in HIGH | {"en"}]
    assert len(rest) == 79
    assert sum(w[c] for c in rest) == pytest.approx(0.198)
    assert len({round(w[c], 12) for c in rest}) == 1  # uniform tail by default
    tail = L.e5_weights("cc100")
    assert tail["vi"] > tail["as"]


def test_cc100_weights_follow_size_to_the_alpha():
    w = L.cc100_weights(0.3)
    en, sw = L.get_language("en").cc100_tokens_m, L.get_language("sw").cc100_tokens_m
    assert w["en"] / w["sw"] == pytest.approx((en / sw) ** 0.3)
    assert L.cc100_weights(1.0)["en"] > w["en"]  # a higher alpha favours big languages


def _shares(idx: np.ndarray, codes: list[str]) -> dict[str, float]:
    counts = np.bincount(idx, minlength=len(codes))
    return {c: counts[i] / idx.size for i, c in enumerate(codes)}


@pytest.mark.parametrize("scheme", ["e5", "cc100", "explicit"])
def test_100k_draws_match_the_scheme(scheme):
    rng = np.random.default_rng(0)
    weights = {
        "e5": L.e5_weights(),
        "cc100": L.cc100_weights(0.3),
        "explicit": L.normalise({"en": 2, "de": 1, "sw": 1}),
    }[scheme]
    n = 100_000
    shares = _shares(L.sample_languages(weights, n, rng), list(weights))
    for code, p in weights.items():
        sigma = (p * (1 - p) / n) ** 0.5
        assert abs(shares[code] - p) <= 5 * sigma + 1e-9, (code, shares[code], p)


def test_draws_are_prefix_stable():
    w = L.e5_weights()
    a = L.sample_languages(w, 1000, np.random.default_rng(5))
    b = L.sample_languages(w, 50, np.random.default_rng(5))
    assert (a[:50] == b).all()


@pytest.mark.parametrize("pairing", ["independent", "english_pivot"])
def test_bitext_pairs_are_two_different_languages(pairing):
    w = L.normalise({"en": 5, "de": 1, "fr": 1})
    src, tgt = L.sample_pairs(w, 20_000, np.random.default_rng(1), pairing)
    assert (src != tgt).all()
    if pairing == "english_pivot":
        en = list(w).index("en")
        assert ((src == en) | (tgt == en)).all()
        assert 0.45 < (src == en).mean() < 0.55


def test_bitext_needs_two_languages():
    with pytest.raises(ValueError, match="at least two"):
        L.sample_pairs({"en": 1.0}, 10, np.random.default_rng(0))


def test_recipe_include_restricts_and_renormalises():
    recipe = parse_recipe(
        {
            "name": "x",
            "version": "1.0.0",
            "provider": {"kind": "local"},
            "examples": {"sts": 10},
            "languages": {"scheme": "e5", "include": ["en", "de", "sw"]},
        }
    )
    w = language_weights(recipe)
    assert set(w) == {"en", "de", "sw"} and sum(w.values()) == pytest.approx(1.0)
    assert w["en"] / w["de"] == pytest.approx(0.431 / 0.029)
    plan = build_plan(recipe)
    assert {s.language for s in plan.specs()} <= {"en", "de", "sw"}
