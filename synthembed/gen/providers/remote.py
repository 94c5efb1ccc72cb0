"""Providers over HTTP through the official SDKs: OpenAI, any OpenAI-compatible server, Anthropic.

Both SDKs run on their aiohttp transport (``DefaultAioHttpClient``) with their own retries off
(``max_retries=0``): retries, rate limits and the budget are the runner's. SDK exceptions are mapped
to :mod:`synthembed.errors` so the runner sees one vocabulary:

- 429 -> RateLimitError (with Retry-After), except quota/credit exhaustion -> BillingError
- 408, 409, 5xx, 529, timeouts, dropped connections -> RetryableError
- 401, 403 -> AuthenticationError; 404 -> BadRequestError (model not found); other 4xx -> BadRequestError

Requests go through the SDK client's own ``post`` (its transport, auth headers and status-error
mapping) with a plain JSON body and the endpoint's absolute URL, and the response is read as JSON:
the SDKs' typed parameter transforms and response models cost more CPU than the rest of a request
(measured with ``bench/engine.py``). Under the SDK is its aiohttp client with requests built in one
pass (:mod:`synthembed.gen.providers.http`).

Every request carries ``X-Client-Request-Id`` with the run's request id, which OpenAI records for
support requests and which lets a fake server answer a re-sent request the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

from synthembed.errors import (
    AuthenticationError,
    BadRequestError,
    BillingError,
    MissingKeyError,
    ProviderError,
    RateLimitError,
    RetryableError,
)
from synthembed.gen.pricing import resolve_price
from synthembed.gen.providers.base import ChatRequest, ChatResponse
from synthembed.gen.providers.http import aiohttp_client
from synthembed.gen.ratelimit import retry_after_seconds

_BILLING_WORDS = ("insufficient_quota", "credit balance", "billing", "quota", "spend limit", "payment")


def _api_key(env_var: str | None, provider: str, required: bool = True) -> str | None:
    if env_var is None:
        return None
    key = os.environ.get(env_var, "").strip()
    if not key and required:
        raise MissingKeyError(env_var, provider)
    return key or None


def _httpx_response() -> type:
    """The HTTP response class the SDKs return for ``cast_to`` when asked for the raw response."""
    import httpx2

    return httpx2.Response


def _headers_of(exc: Any) -> dict[str, str]:
    response = getattr(exc, "response", None)
    return dict(response.headers) if response is not None else {}


def _map_status_error(
    provider: str, model: str, status: int, message: str, headers: dict[str, str]
) -> ProviderError:
    lowered = message.lower()
    if status == 402 or (status in (400, 403, 429) and any(w in lowered for w in _BILLING_WORDS)):
        return BillingError(
            f"{provider}: the account cannot pay for more requests ({message}); "
            "add credit or raise the spend limit, then run the same command again",
            status=status,
        )
    if status == 429:
        return RateLimitError(
            f"{provider}: rate limited", retry_after=retry_after_seconds(headers), headers=headers
        )
    if status in (408, 409) or status >= 500:
        return RetryableError(
            f"{provider}: server error {status}: {message[:200]}",
            status=status,
            retry_after=retry_after_seconds(headers),
        )
    if status in (401, 403):
        return AuthenticationError(
            f"{provider}: the API key was refused ({status}): check the key and its permissions",
            status=status,
        )
    if status == 404:
        return BadRequestError(
            f"{provider}: model {model!r} not found (404): check provider.model in the recipe", status=status
        )
    return BadRequestError(f"{provider}: request rejected ({status}): {message[:300]}", status=status)


@contextlib.contextmanager
def sdk_errors(sdk: Any, name: str, model: str, timeout_s: float) -> Iterator[None]:
    """Map an SDK call's exceptions to our provider errors (shared by chat requests and batch calls).

    Both SDKs share the exception names this maps (``APITimeoutError``, ``APIConnectionError``,
    ``APIStatusError``), so OpenAI and Anthropic go through the same code.
    """
    try:
        yield
    except sdk.APITimeoutError as exc:
        raise RetryableError(f"{name}: timed out after {timeout_s}s", maybe_billed=True) from exc
    except sdk.APIConnectionError as exc:
        raise RetryableError(f"{name}: connection failed: {exc}", maybe_billed=True) from exc
    except sdk.APIStatusError as exc:
        raise _map_status_error(name, model, exc.status_code, str(exc.message), _headers_of(exc)) from exc
    except ValueError as exc:
        raise RetryableError(f"{name}: unreadable response: {exc}", maybe_billed=True) from exc


def endpoint(client: Any, path: str) -> str:
    """The absolute URL of ``path`` under the client's base URL, as the SDK joins them.

    Handing the SDK an absolute URL spares it parsing the base URL again for every request.
    """
    base = client.base_url
    return str(base.copy_with(raw_path=base.raw_path + path.lstrip("/").encode("ascii")))


async def _post(
    sdk: Any,
    client: Any,
    url: str,
    body: dict[str, Any],
    request_id: str,
    name: str,
    model: str,
    timeout_s: float,
) -> tuple[dict[str, Any], dict[str, str]]:
    """POST through an SDK client; return the JSON body and headers, or raise our provider errors.

    The body goes as ``content``: JSON bytes encoded as the SDKs encode a ``body``, which they send
    as they are, sparing them a deep copy and their own encoder for every request.
    """
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    with sdk_errors(sdk, name, model, timeout_s):
        raw = await client.post(
            url,
            content=content,
            cast_to=_httpx_response(),
            options={"headers": {"X-Client-Request-Id": request_id}},
        )
        return raw.json(), dict(raw.headers.multi_items())


class OpenAIChatProvider:
    """OpenAI chat completions, for ``openai`` and ``openai-compatible`` recipes.

    Args:
        config: the recipe's provider section.
    Raises:
        MissingKeyError: ``openai`` without its key in the environment.
    """

    def __init__(self, config: Any) -> None:
        import openai

        self.name = config.kind
        self.model = config.model
        self.config = config
        required = config.kind == "openai"
        key = _api_key(config.api_key_env, config.kind, required) or ("not-needed" if not required else None)
        self.client = openai.AsyncOpenAI(
            api_key=key,
            base_url=config.base_url,
            max_retries=0,
            timeout=config.timeout_s,
            http_client=aiohttp_client(openai, timeout=config.timeout_s),
        )
        self._url = endpoint(self.client, "/chat/completions")
        # OpenAI's own API wants max_completion_tokens; other servers widely accept only max_tokens.
        self._max_key = "max_completion_tokens" if config.kind == "openai" else "max_tokens"
        self._cache_key = config.kind == "openai" and config.prompt_cache
        self._openai = openai

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The chat-completions request body (online and in a batch file)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(request.messages),
            "temperature": request.temperature,
            "top_p": request.top_p,
            self._max_key: request.max_tokens,
        }
        if self._cache_key and request.cache_key:
            # OpenAI caches prefixes on its own; the key routes requests sharing one to the same cache.
            body["prompt_cache_key"] = request.cache_key
        return body

    async def complete(self, request: ChatRequest) -> ChatResponse:
        start = time.perf_counter()
        data, headers = await _post(
            self._openai,
            self.client,
            self._url,
            self.body(request),
            request.id,
            self.name,
            self.model,
            self.config.timeout_s,
        )
        return self.response(data, time.perf_counter() - start, headers)

    def response(self, data: dict[str, Any], latency: float, headers: dict[str, str]) -> ChatResponse:
        """A chat.completion body as a :class:`ChatResponse`."""
        try:
            choice = data["choices"][0]
            message = choice["message"]
        except (KeyError, IndexError, TypeError) as exc:
            raise RetryableError(f"{self.name}: response without choices", maybe_billed=True) from exc
        finish = choice.get("finish_reason") or "stop"
        text = message.get("content") or ""
        if message.get("refusal"):
            finish, text = "refusal", message["refusal"]
        usage = data.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        return ChatResponse(
            text=text,
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            cached_input_tokens=int(details.get("cached_tokens") or 0),
            finish_reason=finish,
            model=data.get("model") or self.model,
            latency_s=latency,
            headers=headers,
        )

    async def aclose(self) -> None:
        await self.client.close()

    def describe(self) -> dict[str, Any]:
        return {"kind": self.name, "model": self.model, "base_url": self.config.base_url or "default"}


class AnthropicProvider:
    """Anthropic messages API.

    Raises:
        MissingKeyError: no key in the environment.
    """

    def __init__(self, config: Any) -> None:
        import anthropic

        self.name = "anthropic"
        self.model = config.model
        self.config = config
        self.client = anthropic.AsyncAnthropic(
            api_key=_api_key(config.api_key_env, "anthropic"),
            base_url=config.base_url,
            max_retries=0,
            timeout=config.timeout_s,
            http_client=aiohttp_client(anthropic, timeout=config.timeout_s),
        )
        self._url = endpoint(self.client, "/v1/messages")
        self._anthropic = anthropic
        price = resolve_price(config)
        self.cache_min_tokens = price.cache_min_tokens if price else 0

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The messages request body (online and as a batch item's params).

        With prompt caching on, a fixed prefix at least the model's minimum cacheable length
        (estimated at 4 characters a token) is sent as its own text block marked ``cache_control``.
        """
        system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
        messages: list[dict[str, Any]] = [m for m in request.messages if m["role"] != "system"]
        if self.marks_cache(request):
            last = messages[-1]
            text = last["content"]
            blocks = [
                {
                    "type": "text",
                    "text": text[: request.cache_prefix],
                    "cache_control": {"type": "ephemeral"},
                },
                {"type": "text", "text": text[request.cache_prefix :]},
            ]
            messages = [*messages[:-1], {"role": last["role"], "content": blocks}]
        body: dict[str, Any] = {"model": self.model, "max_tokens": request.max_tokens, "messages": messages}
        if system:
            body["system"] = system
        # Recent models fix sampling parameters; 1.0 is the API's default for both, which is the
        # paper's setting, so they are only sent when they differ.
        for k, v in (("temperature", request.temperature), ("top_p", request.top_p)):
            if v != 1.0:
                body[k] = v
        return body

    def marks_cache(self, request: ChatRequest) -> bool:
        """Whether :meth:`body` marks the request's fixed prefix for caching."""
        return (
            self.config.prompt_cache
            and self.cache_min_tokens > 0
            and request.cache_prefix // 4 >= self.cache_min_tokens
            and request.cache_prefix < len(request.messages[-1]["content"])
        )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        start = time.perf_counter()
        data, headers = await _post(
            self._anthropic,
            self.client,
            self._url,
            self.body(request),
            request.id,
            "anthropic",
            self.model,
            self.config.timeout_s,
        )
        return self.response(data, time.perf_counter() - start, headers)

    def response(self, data: dict[str, Any], latency: float, headers: dict[str, str]) -> ChatResponse:
        """A message body as a :class:`ChatResponse` (input tokens include cache reads and writes)."""
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise RetryableError("anthropic: response without content", maybe_billed=True)
        text = "".join(b.get("text", "") for b in blocks if isinstance(b, dict))
        stop = data.get("stop_reason") or "end_turn"
        finish = {"max_tokens": "length", "end_turn": "stop", "stop_sequence": "stop"}.get(stop, stop)
        usage = data.get("usage") or {}
        cached = int(usage.get("cache_read_input_tokens") or 0)
        written = int(usage.get("cache_creation_input_tokens") or 0)
        return ChatResponse(
            text=text,
            input_tokens=int(usage.get("input_tokens") or 0) + cached + written,
            output_tokens=int(usage.get("output_tokens") or 0),
            cached_input_tokens=cached,
            cache_write_tokens=written,
            finish_reason=finish,
            model=data.get("model") or self.model,
            latency_s=latency,
            headers=headers,
        )

    async def aclose(self) -> None:
        await self.client.close()

    def describe(self) -> dict[str, Any]:
        return {"kind": "anthropic", "model": self.model, "base_url": self.config.base_url or "default"}
