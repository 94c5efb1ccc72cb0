"""Model prices: a dated table in the package, which a recipe can override.

Money is counted in integer micro-dollars (1e-6 $) wherever it is added up, so that sums over
hundreds of thousands of requests are exact and a budget comparison is never off by a rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from synthembed.errors import RecipeError

MICRO = 1_000_000  # micro-dollars per dollar


@dataclass(frozen=True)
class ModelPrice:
    """Dollars per million tokens for one model.

    Attributes:
        model: the table key that matched (or ``"recipe override"``).
        input, output: dollars per 1M input / output tokens.
        cached_input: dollars per 1M cached input tokens.
        cache_write: dollars per 1M tokens written to the cache (Anthropic), else the input price.
        batch_discount: factor the batch APIs apply to every token price (0.5: half price).
        cache_min_tokens: shortest prompt prefix the provider caches (0 when it does not cache).
        source: where the price came from, with the table's date.
    """

    model: str
    input: float
    output: float
    cached_input: float
    cache_write: float
    batch_discount: float
    source: str
    cache_min_tokens: int = 0

    def cost_micros(
        self,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
        batch: bool = False,
    ) -> int:
        """Cost of one request in micro-dollars, rounded up (never under-counts spend).

        Args:
            input_tokens: all input tokens, cached and cache-written ones included.
            cached_input_tokens: of those, the ones read from the prompt cache.
            cache_write_tokens: of those, the ones written to the cache (Anthropic).
            batch: sent through a batch API: every price times :attr:`batch_discount` (the
                providers' cache prices stack with the batch discount).
        """
        uncached = max(0, input_tokens - cached_input_tokens - cache_write_tokens)
        # prices are $/1M tokens, so $/token * 1e6 micro$/$ = price micro$/token
        micros = (
            uncached * self.input
            + cached_input_tokens * self.cached_input
            + cache_write_tokens * self.cache_write
            + output_tokens * self.output
        )
        if batch:
            micros *= self.batch_discount
        return int(-(-round(micros, 6) // 1))  # ceil, after dropping float noise below 1e-6 micro$

    def worst_input_price(self, cache_marked: bool) -> float:
        """The most an input token can cost: a cache write where a prefix is marked for caching."""
        return max(self.input, self.cache_write) if cache_marked else self.input

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input_per_mtok": self.input,
            "output_per_mtok": self.output,
            "cached_input_per_mtok": self.cached_input,
            "cache_write_per_mtok": self.cache_write,
            "batch_discount": self.batch_discount,
            "cache_min_tokens": self.cache_min_tokens,
            "source": self.source,
        }


#: Shortest cacheable prefix when a recipe prices a model the table does not know.
_DEFAULT_CACHE_MIN = {"openai": 1024, "anthropic": 1024}


@cache
def price_table() -> dict[str, Any]:
    """The packaged table: ``{"as_of": date, "models": {name: {...}}}``."""
    path = resources.files("synthembed") / "data" / "prices.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def lookup_price(model: str) -> ModelPrice | None:
    """The table's price for ``model``, matching exactly or by the longest key that prefixes it."""
    table = price_table()
    models = table["models"]
    key = model if model in models else None
    if key is None:
        prefixes = [k for k in models if model.startswith(k)]
        key = max(prefixes, key=len) if prefixes else None
    if key is None:
        return None
    row = models[key]
    return ModelPrice(
        model=key,
        input=float(row["input"]),
        output=float(row["output"]),
        cached_input=float(row.get("cached_input", row["input"])),
        cache_write=float(row.get("cache_write", row["input"])),
        batch_discount=float(row.get("batch_discount", 1.0)),
        cache_min_tokens=int(row.get("cache_min_tokens", 0)),
        source=f"synthembed price table as of {table['as_of']}",
    )


def resolve_price(provider: Any) -> ModelPrice | None:
    """The price to use for a recipe's provider section: its override, else the table.

    Returns None when no price is known and none is needed (an OpenAI-compatible server or the
    local model, which cost nothing per token as far as synthembed can tell).

    Raises:
        RecipeError: a paid provider's model is not in the table and the recipe gives no price.
    """
    if provider.price is not None:
        p = provider.price
        cached = p.cached_input_per_mtok if p.cached_input_per_mtok is not None else p.input_per_mtok
        table = lookup_price(provider.model) if provider.kind in ("openai", "anthropic") else None
        return ModelPrice(
            model=provider.model,
            input=p.input_per_mtok,
            output=p.output_per_mtok,
            cached_input=cached,
            cache_write=p.cache_write_per_mtok if p.cache_write_per_mtok is not None else p.input_per_mtok,
            batch_discount=p.batch_discount
            if p.batch_discount is not None
            else (0.5 if provider.kind in ("openai", "anthropic") else 1.0),
            cache_min_tokens=table.cache_min_tokens if table else _DEFAULT_CACHE_MIN.get(provider.kind, 0),
            source="recipe override (provider.price)",
        )
    if provider.kind == "local":
        return lookup_price("SmolLM2-135M-Instruct")
    found = lookup_price(provider.model)
    if found is None and provider.kind in ("openai", "anthropic"):
        known = ", ".join(m for m, r in price_table()["models"].items() if r["provider"] == provider.kind)
        raise RecipeError(
            f"provider.model: no price known for {provider.kind} model {provider.model!r}; set "
            f"provider.price (input_per_mtok, output_per_mtok) in the recipe, or use one of: {known}"
        )
    return found
