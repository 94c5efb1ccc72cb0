"""The providers' batch APIs behind one small interface: submit, look up, poll, read results.

- OpenAI: the requests go up as one JSONL file (Files API, ``purpose=batch``), then a batch is
  created on it (Batches API, ``/v1/chat/completions``, 24 h window). Results come back as an output
  file (answers) and an error file (failed items, and on expiry the unfinished ones).
- Anthropic: Message Batches take the requests inline; results are a JSONL stream with one result per
  item (succeeded, errored, canceled, expired).

Request bodies are built by the online provider (:meth:`body`) and answers read by its
:meth:`response`, so a batch answer is the same :class:`ChatResponse` an online one is. Every SDK
error maps to :mod:`synthembed.errors` as online (:func:`sdk_errors`), so a billing error on create
("credit balance too low") is a :class:`~synthembed.errors.BillingError` that stops the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from synthembed.errors import BadRequestError, BillingError, RetryableError
from synthembed.gen.providers.base import ChatRequest, ChatResponse
from synthembed.gen.providers.remote import (
    AnthropicProvider,
    OpenAIChatProvider,
    _map_status_error,
    sdk_errors,
)

#: What became of one item: answered; failed in a way a resend may fix; not run (expired, canceled);
#: failed in a way a resend will not fix (a bad request); or the account cannot pay.
ItemKind = Literal["ok", "error", "expired", "invalid", "billing"]


class BatchDeferred(RetryableError):
    """The provider refused a whole batch for now (its queue is full): nothing ran or was billed."""


@dataclass
class ItemResult:
    kind: ItemKind
    response: ChatResponse | None = None
    error: str | None = None


@dataclass
class BatchState:
    """A batch's state at the provider."""

    ended: bool
    status: str  # the provider's own word: in_progress, completed, expired, ended, ...
    done: int
    failed: int
    total: int


def _classify(provider: str, model: str, status: int, message: str) -> ItemResult:
    error = _map_status_error(provider, model, status, message, {})
    if isinstance(error, BillingError):
        return ItemResult("billing", error=str(error))
    if isinstance(error, RetryableError):
        return ItemResult("error", error=str(error))
    return ItemResult("invalid", error=str(error))


class OpenAIBatches:
    """OpenAI Files + Batches for a :class:`OpenAIChatProvider`."""

    api = "openai"
    max_requests = 50_000
    max_bytes = 190 * 1024 * 1024  # the limit is 200 MB; keep clear of it

    def __init__(self, provider: OpenAIChatProvider) -> None:
        self.provider = provider
        self.client = provider.client
        self._errors = (provider._openai, "openai", provider.model, provider.config.timeout_s)

    def line(self, request: ChatRequest) -> bytes:
        """One request as a line of the input file."""
        item = {
            "custom_id": request.id,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": self.provider.body(request),
        }
        return json.dumps(item, ensure_ascii=False).encode("utf-8") + b"\n"

    async def submit(self, local_id: str, lines: list[bytes]) -> tuple[str, str | None]:
        """Upload the file and create the batch: (batch id, input file id)."""
        with sdk_errors(*self._errors):
            uploaded = await self.client.files.create(
                file=(f"synthembed-{local_id}.jsonl", b"".join(lines), "application/jsonl"), purpose="batch"
            )
            batch = await self.client.batches.create(
                input_file_id=uploaded.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata={"synthembed_batch": local_id},
            )
        return batch.id, uploaded.id

    async def find(self, local_id: str, created_after: float, requests: int) -> str | None:
        """The batch an interrupted submit created, by the id it carries in its metadata."""
        with sdk_errors(*self._errors):
            async for batch in self.client.batches.list(limit=100):
                if (batch.metadata or {}).get("synthembed_batch") == local_id:
                    return batch.id
                if batch.created_at < created_after - 3600:
                    break
        return None

    async def state(self, batch_id: str) -> BatchState:
        with sdk_errors(*self._errors):
            b = await self.client.batches.retrieve(batch_id)
        counts = b.request_counts
        return BatchState(
            ended=b.status in ("completed", "failed", "expired", "cancelled"),
            status=b.status,
            done=counts.completed if counts else 0,
            failed=counts.failed if counts else 0,
            total=counts.total if counts else 0,
        )

    async def _file_lines(self, file_id: str | None) -> list[dict[str, Any]]:
        if not file_id:
            return []
        with sdk_errors(*self._errors):
            content = await self.client.files.content(file_id)
        return [json.loads(line) for line in content.text.splitlines() if line.strip()]

    async def results(self, batch_id: str) -> dict[str, ItemResult]:
        """custom id -> result, for the items the batch reports on (the rest did not run)."""
        with sdk_errors(*self._errors):
            b = await self.client.batches.retrieve(batch_id)
        out: dict[str, ItemResult] = {}
        if b.status == "failed" and b.errors and b.errors.data:
            if all(e.code == "token_limit_exceeded" for e in b.errors.data):
                # too many tokens queued for the model: nothing ran; the items go again later
                raise BatchDeferred(f"openai: batch {batch_id} refused: the model's batch queue is full")
            # the input file failed validation: nothing ran, and sending the same file again will not help
            why = "; ".join(
                f"line {e.line}: {e.message}" if e.line else str(e.message) for e in b.errors.data
            )
            raise BadRequestError(f"openai: batch {batch_id} failed validation: {why[:500]}")
        for row in await self._file_lines(b.output_file_id) + await self._file_lines(b.error_file_id):
            out[row["custom_id"]] = self._item(row)
        return out

    def _item(self, row: dict[str, Any]) -> ItemResult:
        response = row.get("response") or {}
        error = row.get("error") or {}
        code = response.get("status_code")
        if code == 200:
            try:
                return ItemResult("ok", self.provider.response(response["body"], 0.0, {}))
            except RetryableError as exc:
                return ItemResult("error", error=str(exc))
        if error.get("code") in ("batch_expired", "batch_cancelled"):
            return ItemResult("expired", error=f"openai: {error.get('code')}")
        body_error = (response.get("body") or {}).get("error") or {}
        message = body_error.get("message") or error.get("message") or "item failed"
        return _classify("openai", self.provider.model, int(code or 500), str(message))

    async def cancel(self, batch_id: str) -> None:
        with sdk_errors(*self._errors):
            await self.client.batches.cancel(batch_id)


class AnthropicBatches:
    """Anthropic Message Batches for an :class:`AnthropicProvider`."""

    api = "anthropic"
    max_requests = 100_000
    max_bytes = 240 * 1024 * 1024  # the limit is 256 MB

    def __init__(self, provider: AnthropicProvider) -> None:
        self.provider = provider
        self.client = provider.client
        self._errors = (provider._anthropic, "anthropic", provider.model, provider.config.timeout_s)

    def line(self, request: ChatRequest) -> bytes:
        item = {"custom_id": request.id, "params": self.provider.body(request)}
        return json.dumps(item, ensure_ascii=False).encode("utf-8") + b"\n"

    async def submit(self, local_id: str, lines: list[bytes]) -> tuple[str, str | None]:
        requests = [json.loads(line) for line in lines]
        with sdk_errors(*self._errors):
            batch = await self.client.messages.batches.create(requests=requests)
        return batch.id, None

    async def find(self, local_id: str, created_after: float, requests: int) -> str | None:
        """A batch an interrupted submit may have created: Message Batches carry no metadata, so
        the newest one created since the submit began with the same number of requests."""
        with sdk_errors(*self._errors):
            async for batch in self.client.messages.batches.list(limit=100):
                created = batch.created_at.timestamp()
                if created < created_after - 60:
                    break
                counts = batch.request_counts
                total = (
                    counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
                )
                if total == requests:
                    return batch.id
        return None

    async def state(self, batch_id: str) -> BatchState:
        with sdk_errors(*self._errors):
            b = await self.client.messages.batches.retrieve(batch_id)
        c = b.request_counts
        total = c.processing + c.succeeded + c.errored + c.canceled + c.expired
        return BatchState(
            ended=b.processing_status == "ended",
            status=b.processing_status,
            done=c.succeeded,
            failed=c.errored + c.canceled + c.expired,
            total=total,
        )

    async def results(self, batch_id: str) -> dict[str, ItemResult]:
        out: dict[str, ItemResult] = {}
        with sdk_errors(*self._errors):
            stream = await self.client.messages.batches.results(batch_id)
            async for row in stream:
                out[row.custom_id] = self._item(row.result)
        return out

    def _item(self, result: Any) -> ItemResult:
        kind = result.type
        if kind == "succeeded":
            try:
                return ItemResult("ok", self.provider.response(result.message.model_dump(), 0.0, {}))
            except RetryableError as exc:
                return ItemResult("error", error=str(exc))
        if kind in ("expired", "canceled"):
            return ItemResult("expired", error=f"anthropic: item {kind}")
        inner = getattr(getattr(result, "error", None), "error", None)
        etype = getattr(inner, "type", "api_error")
        message = str(getattr(inner, "message", "item failed"))
        status = {
            "invalid_request_error": 400,
            "authentication_error": 401,
            "permission_error": 403,
            "not_found_error": 404,
            "rate_limit_error": 429,
            "overloaded_error": 529,
        }.get(etype, 500)
        return _classify("anthropic", self.provider.model, status, message)

    async def cancel(self, batch_id: str) -> None:
        with sdk_errors(*self._errors):
            await self.client.messages.batches.cancel(batch_id)


BatchAPI = OpenAIBatches | AnthropicBatches


def batch_api(provider: Any) -> BatchAPI:
    """The batch API of an online provider (OpenAI or Anthropic)."""
    if isinstance(provider, AnthropicProvider):
        return AnthropicBatches(provider)
    if isinstance(provider, OpenAIChatProvider) and provider.name == "openai":
        return OpenAIBatches(provider)
    raise BadRequestError(f"provider {getattr(provider, 'name', provider)!r} has no batch API")
