"""Prices: cache reads, cache writes and batch discounts, checked against hand-computed cases."""

from __future__ import annotations

import pytest

from synthembed.gen.plan import build_plan
from synthembed.gen.pricing import MICRO, lookup_price, resolve_price
from synthembed.recipe import parse_recipe


def test_anthropic_online_with_cache_read_and_write_to_the_cent() -> None:
    price = lookup_price("claude-sonnet-4-20250514")
    assert price is not None and price.model == "claude-sonnet-4"
    # 10,000 input tokens of which 6,000 read from the cache and 2,000 written to it, 1,500 output:
    # 2,000 x $3 + 6,000 x $0.30 + 2,000 x $3.75 + 1,500 x $15 per million = $0.0378
    micros = price.cost_micros(10_000, 1_500, cached_input_tokens=6_000, cache_write_tokens=2_000)
    assert micros == 6_000 + 1_800 + 7_500 + 22_500
    assert round(micros / MICRO, 2) == 0.04


def test_batch_discount_stacks_with_cache_prices() -> None:
    price = lookup_price("claude-sonnet-4")
    assert price is not None
    online = price.cost_micros(10_000, 1_500, 6_000, 2_000)
    batch = price.cost_micros(10_000, 1_500, 6_000, 2_000, batch=True)
    assert batch == online // 2 == 18_900


def test_openai_batch_with_cached_input() -> None:
    price = lookup_price("gpt-4o-mini")
    assert price is not None
    # 4,000 in (1,024 cached) and 800 out at $0.15 / $0.075 / $0.60, halved:
    # (2,976 x 0.15 + 1,024 x 0.075 + 800 x 0.60) / 2 = (446.4 + 76.8 + 480) / 2 = 501.6 -> 502
    assert price.cost_micros(4_000, 800, cached_input_tokens=1_024, batch=True) == 502


def test_many_small_requests_sum_exactly() -> None:
    price = lookup_price("gpt-4o-mini")
    assert price is not None
    # 1 input token costs 0.15 micro-dollars: rounded up per request, never down
    assert price.cost_micros(1, 0) == 1
    assert sum(price.cost_micros(100, 10) for _ in range(1000)) == 1000 * 21


def test_recipe_price_override_keeps_the_table_cache_minimum() -> None:
    recipe = parse_recipe(
        {
            "name": "p",
            "version": "1.0.0",
            "provider": {
                "kind": "anthropic",
                "model": "claude-sonnet-4",
                "price": {"input_per_mtok": 1, "output_per_mtok": 2, "cache_write_per_mtok": 1.25},
            },
            "examples": {"sts": 1},
        }
    )
    price = resolve_price(recipe.provider)
    assert price is not None
    assert (price.input, price.cache_write, price.batch_discount, price.cache_min_tokens) == (
        1,
        1.25,
        0.5,
        1024,
    )


@pytest.mark.parametrize("mode", ["online", "batch"])
def test_plan_shows_online_and_batch_side_by_side(mode: str) -> None:
    recipe = parse_recipe(
        {
            "name": "p",
            "version": "1.0.0",
            "provider": {"kind": "openai", "model": "gpt-4o-mini", "mode": mode},
            "examples": {"retrieval": 40, "sts": 20},
            "languages": {"scheme": "explicit", "weights": {"en": 1}},
        }
    )
    cost = build_plan(recipe).summary()["cost"]
    by_mode = {m["mode"]: m for m in cost["modes"]}
    assert set(by_mode) == {"online", "batch"}
    assert by_mode["batch"]["estimate_dollars"] == pytest.approx(
        by_mode["online"]["estimate_dollars"] / 2, rel=1e-4
    )
    assert [m["mode"] for m in cost["modes"] if m["chosen"]] == [mode]
    assert cost["estimate_dollars"] == by_mode[mode]["estimate_with_caching_dollars"]
    # the E5 prompts' fixed text is far below OpenAI's 1,024-token minimum: caching saves nothing
    assert cost["caching"]["cacheable_requests"] == 0
    assert by_mode["online"]["estimate_with_caching_dollars"] == by_mode["online"]["estimate_dollars"]
    assert "below the 1,024-token minimum" in cost["caching"]["note"]


def test_a_long_shared_prefix_is_priced_as_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    from synthembed.gen import pricing

    recipe = parse_recipe(
        {
            "name": "p",
            "version": "1.0.0",
            "provider": {"kind": "anthropic", "model": "claude-sonnet-4"},
            "examples": {"sts": 30},
            "languages": {"scheme": "explicit", "weights": {"en": 1}},
        }
    )
    real = pricing.lookup_price("claude-sonnet-4")
    assert real is not None
    # pretend the model caches prefixes from 16 tokens on, so the short sts prefix qualifies
    monkeypatch.setattr(
        "synthembed.gen.plan.resolve_price",
        lambda provider: pricing.ModelPrice(**{**real.__dict__, "cache_min_tokens": 16}),
    )
    summary = build_plan(recipe).summary()
    caching = summary["cost"]["caching"]
    assert caching["cacheable_requests"] == 30
    prefix = sum(caching["prefix_tokens"].values())
    assert caching["est_cache_write_tokens"] == prefix
    assert caching["est_cached_input_tokens"] == prefix * 29
    online = next(m for m in summary["cost"]["modes"] if m["mode"] == "online")
    assert online["estimate_with_caching_dollars"] < online["estimate_dollars"]
    # the worst case prices every input token as a cache write
    assert online["worst_case_dollars"] > online["estimate_dollars"]
