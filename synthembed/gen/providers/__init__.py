"""Providers, picked from a registry by the recipe's ``provider.kind``."""

from __future__ import annotations

from typing import Any

from synthembed.gen.providers.base import ChatRequest, ChatResponse, Provider

__all__ = ["ChatRequest", "ChatResponse", "Provider", "make_provider"]


def make_provider(config: Any) -> Provider:
    """Build the provider a recipe's ``provider`` section names.

    Raises:
        MissingKeyError: the provider needs a key that the environment lacks.
    """
    kind = config.kind
    if kind in ("openai", "openai-compatible"):
        from synthembed.gen.providers.remote import OpenAIChatProvider

        return OpenAIChatProvider(config)
    if kind == "anthropic":
        from synthembed.gen.providers.remote import AnthropicProvider

        return AnthropicProvider(config)
    if kind == "local":
        from synthembed.gen.providers.local import LocalProvider

        return LocalProvider.from_recipe(config)
    raise ValueError(f"unknown provider kind {kind!r}")
