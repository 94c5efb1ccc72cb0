"""The one small interface every provider implements.

A provider turns a :class:`ChatRequest` into a :class:`ChatResponse` or raises one of the
:mod:`synthembed.errors` provider errors. It knows nothing of budgets, retries or rate limits: those
are the runner's, in one place. Providers must not retry on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

ResponseKind = Literal["object", "list"]


@dataclass(frozen=True)
class ChatRequest:
    """One chat request.

    Attributes:
        id: stable request id (from the plan); providers may echo it in logs, never depend on it.
        messages: OpenAI-style ``[{"role": "system"|"user", "content": str}]``.
        max_tokens: output cap.
        temperature, top_p: sampling.
        response_kind: ``"object"`` when the answer must be one JSON object with ``json_keys``;
            ``"list"`` when it must be a JSON array of strings (brainstorm); None for free text.
        json_keys: the keys the JSON object must have (only for ``response_kind="object"``).
        cache_prefix: characters at the start of the last user message that every request of its
            template shares (the template's fixed text); providers with prompt caching may mark it.
        cache_key: a name for that shared prefix (the template id), 0/None when there is none.
    """

    id: str
    messages: tuple[dict[str, str], ...]
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    response_kind: ResponseKind | None = None
    json_keys: tuple[str, ...] = ()
    cache_prefix: int = 0
    cache_key: str | None = None


@dataclass
class ChatResponse:
    """What came back: text, usage and the metadata the store records."""

    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str  # normalised: "stop", "length", "refusal", "content_filter", or the raw value
    model: str
    cached_input_tokens: int = 0  # of input_tokens, read from the prompt cache
    cache_write_tokens: int = 0  # of input_tokens, written to the prompt cache (Anthropic)
    latency_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    """Interface of a provider: ``await complete(request)`` and ``await aclose()``."""

    name: str
    model: str

    async def complete(self, request: ChatRequest) -> ChatResponse: ...

    async def aclose(self) -> None: ...

    def describe(self) -> dict[str, Any]:
        """The provider's own settings, for provenance (no secrets)."""
        ...
