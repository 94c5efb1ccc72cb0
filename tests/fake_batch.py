"""The batch APIs of the fake provider: OpenAI Files + Batches and Anthropic Message Batches.

:class:`tests.fake_provider.FakeProviderServer` serves these routes beside the online ones, in the real
wire formats, so the official SDKs work against it unchanged: ``openai`` (``files.create``,
``batches.create/retrieve/cancel/list``, ``files.content``) and ``anthropic``
(``messages.batches.create/retrieve/results/cancel/list/delete``)::

    POST   /v1/files                           upload a batch input file (multipart, purpose=batch)
    GET    /v1/files                           list, newest first (purpose, after, limit)
    GET    /v1/files/{id}                      a file object
    GET    /v1/files/{id}/content              an output or error file (an input file: 400, as for real)
    DELETE /v1/files/{id}
    POST   /v1/batches                         {"input_file_id", "endpoint", "completion_window", "metadata"}
    GET    /v1/batches                         list, newest first (after, limit)
    GET    /v1/batches/{id}
    POST   /v1/batches/{id}/cancel
    POST   /v1/messages/batches                {"requests": [{"custom_id", "params"}, ...]}
    GET    /v1/messages/batches                list, newest first (after_id, before_id, limit)
    GET    /v1/messages/batches/{id}
    POST   /v1/messages/batches/{id}/cancel
    GET    /v1/messages/batches/{id}/results   JSONL; the batch's ``results_url`` points here once it ended
    DELETE /v1/messages/batches/{id}           only once it ended

Lifecycle. A batch runs in the server's event loop from the moment it is created; a poll sees how far
it has got::

    OpenAI     validating ──▶ in_progress ──▶ finalizing ──▶ completed
                   │               │ └──────────────────────▶ expired    unfinished lines: batch_expired
                   │               └──▶ cancelling ──▶ cancelled          unfinished lines: batch_cancelled
                   └──▶ failed        errors.data: [{"code", "line", "message", "param"}]
    Anthropic  in_progress ──▶ ended      (canceling in between after a cancel)

A cancel is taken in any state before the end (OpenAI ``validating`` and ``finalizing`` included); a
cancel of an ended batch is a 400.

Items are worked on one at a time, in input order. An item's answer comes from the generator of the
online endpoints, with the same token counts and the same fake prompt caching (shared with online
traffic), and is the answer an online request with ``X-Client-Request-Id: <custom_id>`` gets. OpenAI's
output file holds ``{"id", "custom_id", "response": {"status_code": 200, "request_id", "body":
<chat.completion>}, "error": null}`` lines; its error file the failed items (``response.status_code``
4xx/5xx with the error body) and, after an expiry or a cancel, the items never run (``response``
null, ``error.code`` ``batch_expired`` / ``batch_cancelled``). ``request_counts`` grow as items finish;
``failed`` counts items that ran and failed, not those never run. Anthropic's counts stay at
``processing`` until the batch ends, as the real API's do; results are ``succeeded`` (the message,
with ``cache_read_input_tokens`` / ``cache_creation_input_tokens`` when params carry
``cache_control``), ``errored``, ``canceled`` or ``expired``.

What the OpenAI validation rejects (the batch becomes ``failed``; nothing runs, nothing is billed):
a line that is not a JSON object (``invalid_json_line``), a missing ``custom_id``/``method``/``url``/
``body`` (``missing_required_parameter``), a method other than POST (``invalid_method``), a ``url``
other than the batch's endpoint (``url_mismatch``), a repeated ``custom_id`` (``duplicate_custom_id``),
two models in one file (``model_mismatch``), no lines (``empty_file``), more lines than
``openai_batch_max_requests`` (``too_many_tasks``), more prompt tokens queued for the model than
``openai_batch_enqueued_tokens`` (``token_limit_exceeded``). A bad *body* (no messages, say) fails
only its item (400 in the error file). Anthropic checks at create (400): ``requests`` empty or over
the limit, a ``custom_id`` not matching ``^[a-zA-Z0-9_-]{1,64}$`` or repeated, ``params`` not an
object; bad params fail only their item (``errored``, ``invalid_request_error``), as the real API
checks them late.

Knobs: fields of :class:`tests.fake_provider.FakeProviderConfig`, live like the rest of the config::

    batch_validating_s    0.05     before the first item runs. OpenAI shows ``validating`` meanwhile
                                   (request_counts.total 0) and fails a bad file at its end; an
                                   Anthropic batch is ``in_progress`` from the start.
    batch_item_s          0.001    seconds per item (items run one after another).
    batch_finalizing_s    0.02     OpenAI's ``finalizing``, after the last item.
    batch_cancelling_s    0.02     from the cancel call to ``cancelled`` / ``ended``.
    batch_window_s        86400    expires_at = created_at + this; a batch still running then expires.
    batch_expire_after    None     a batch expires once this many of its items have run: an expiry
                                   with part of the work done, without waiting for the clock.
    batch_p_item_error    0.0      share of items that fail: OpenAI 500 ``server_error`` in the error
                                   file, Anthropic ``errored`` with ``api_error``. Drawn from the seed per
                                   batch and custom_id, so a failed item sent again in a new batch gets
                                   a new draw.
    openai_batch_max_requests     50_000        more lines: the batch fails (``too_many_tasks``).
    openai_batch_max_bytes        200_000_000   a larger file: ``files.create`` 400 "File is too large."
    openai_batch_enqueued_tokens  None          prompt tokens that the model's unfinished batches may
                                                hold, this one included; past it the new batch fails
                                                (``token_limit_exceeded``): a failed validation of a
                                                valid file, on demand.
    anthropic_batch_max_requests  100_000       more requests: 400 on create.
    anthropic_batch_max_bytes     256_000_000   a larger body: 413 ``request_too_large`` on create.

Settings shared with the online endpoints: ``api_key`` is checked on every batch route (401);
``billing_exhausted`` refuses batch creation (OpenAI 429 ``insufficient_quota``, Anthropic 400 "credit
balance is too low"; files still upload); ``models`` fails an item naming another model (404 body /
``not_found_error``); ``p_malformed``, ``p_truncated`` and ``p_refusal`` spoil item answers as they do
online answers; ``seed`` fixes the content and the draws. The rate limits and the fault queue are for
the online endpoints only: batch routes neither use nor consume them.

A test sets knobs in the config, on the live server, or from another process::

    config = FakeProviderConfig(batch_item_s=0.01, batch_p_item_error=0.2, openai_batch_max_requests=100)
    with FakeProviderServer(config) as server:
        server.config.batch_expire_after = 3          # batches expire after their third item
        ...                                           # or: POST /_control {"batch_expire_after": 3}

Stats: ``server.stats.batch`` (:class:`BatchStats`; ``"batch"`` in ``GET /_stats``), each keyed by
API (``"openai"``, ``"anthropic"``): ``created``, ``polls``, ``submitted`` (custom_id -> times),
``outcomes``, ``usage`` (billed tokens), and ``errors`` by kind. ``/_reset`` clears them like the rest;
batches themselves survive a reset. Billed batch tokens are counted there and nowhere else, so a test
prices them at the batch rate (half the online price at both providers)::

    assert all(n == 1 for n in server.stats.batch.submitted["openai"].values())  # nothing sent twice
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import functools
import itertools
import json
import random
import re
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from aiohttp import BodyPartReader, web

from tests.fake_provider import (
    _AnthropicWire,
    _BadRequest,
    _json_response,
    _masked,
    _OpenAIWire,
    pick_fault,
    tokens,
)

if TYPE_CHECKING:
    from tests.fake_provider import FakeProviderConfig, FakeProviderServer

APIS = ("openai", "anthropic")
#: What becomes of an item (Anthropic's result types; OpenAI's files say the same in their own way).
OUTCOMES = ("succeeded", "errored", "expired", "canceled")
#: The token counts of :attr:`BatchStats.usage`.
USAGE = ("input_tokens", "cached_input_tokens", "cache_creation_input_tokens", "output_tokens")
#: The faults that can spoil an item's answer; the others act on a connection, which an item has not.
_CONTENT_FAULTS = ("malformed", "truncated", "refusal")
#: OpenAI's error-file ``error`` for an item that never ran.
_NOT_RUN = {
    "expired": {
        "code": "batch_expired",
        "message": "This request could not be executed before the completion window expired.",
    },
    "canceled": {
        "code": "batch_cancelled",
        "message": "This request was not executed because the batch was cancelled.",
    },
}
_ANTHROPIC_CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
#: A failed OpenAI validation reports at most this many errors.
_MAX_ERRORS = 100


def _per_api(factory: Callable[[], Any]) -> Callable[[], dict[str, Any]]:
    return lambda: {api: factory() for api in APIS}


@dataclass
class BatchStats:
    """What the batch routes saw and did; each field but ``errors`` is keyed by API first.

    Attributes:
        created: batches that a create call accepted.
        polls: retrieve calls (``GET .../batches/{id}``); the anthropic SDK's ``results()`` makes one.
        submitted: custom_id -> how often it was taken up for processing: OpenAI once its batch passed
            validation, Anthropic at create. All values 1: nothing was sent twice.
        outcomes: items per outcome (:data:`OUTCOMES`).
        usage: tokens billed at the batch rate (:data:`USAGE`): ``input_tokens`` counts all of the
            prompt, the cached part included; errored items bill nothing.
        errors: error answers of the batch routes by kind (auth, billing, bad_request, not_found, ...).
    """

    created: dict[str, int] = field(default_factory=_per_api(int))
    polls: dict[str, int] = field(default_factory=_per_api(int))
    submitted: dict[str, dict[str, int]] = field(default_factory=_per_api(dict))
    outcomes: dict[str, dict[str, int]] = field(default_factory=_per_api(lambda: dict.fromkeys(OUTCOMES, 0)))
    usage: dict[str, dict[str, int]] = field(default_factory=_per_api(lambda: dict.fromkeys(USAGE, 0)))
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class _Item:
    custom_id: str
    body: dict[str, Any]  # OpenAI: the line's body; Anthropic: the request's params
    id: str = ""  # OpenAI's batch_req_ id
    outcome: str | None = None
    response: dict[str, Any] | None = None  # the completion, or the error body when errored
    status: int = 200
    request_id: str = ""


@dataclass
class _Batch:
    id: str
    api: str
    items: list[_Item]
    created_at: float
    expires_at: float
    fields: dict[str, Any]  # what the create call set, and OpenAI's output/error file ids
    errors: list[dict[str, Any]]  # a failed OpenAI validation's
    phase: str = "validating"  # validating, in_progress, finalizing, ended
    end: str | None = None  # completed, failed, expired, cancelled
    stamps: dict[str, float] = field(default_factory=dict)  # phase, end or "cancelling" -> when
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    usage: collections.Counter[str] = field(default_factory=collections.Counter)
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class _Refusal(Exception):
    """An error answer: the wire's error kind, its param and what its message needs."""

    def __init__(self, kind: str, param: str | None = None, **fill: Any) -> None:
        super().__init__(kind)
        self.kind, self.param, self.fill = kind, param, fill


class FakeBatches:
    """The batches of one :class:`FakeProviderServer` and the lifecycle that moves each of them."""

    def __init__(self, server: FakeProviderServer) -> None:
        self.server = server
        self.batches: dict[str, _Batch] = {}  # in creation order
        self._ids = itertools.count(1)
        self._apis = {"openai": _OpenAIBatches(self), "anthropic": _AnthropicBatches(self)}

    @property
    def config(self) -> FakeProviderConfig:
        return self.server.config

    @property
    def stats(self) -> BatchStats:
        return self.server.stats.batch  # read each time: a reset replaces it

    def add_routes(self, app: web.Application) -> None:
        for api in self._apis.values():
            api.add_routes(app)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def route(
        self, api: _OpenAIBatches | _AnthropicBatches, handler: Callable[[web.Request], Awaitable[Any]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Wrap a handler: check the key, turn a :class:`_Refusal` into the API's error, count it."""

        async def serve(request: web.Request) -> web.StreamResponse:
            headers = api.wire.request_headers(next(self._ids))
            key = api.wire.key(request)
            try:
                if self.config.api_key is not None and key != self.config.api_key:
                    raise _Refusal("auth", key=_masked(key))
                out = await handler(request)
            except _Refusal as refusal:
                errors = self.stats.errors
                errors[refusal.kind] = errors.get(refusal.kind, 0) + 1
                return api.wire.error(refusal.kind, headers, refusal.param, **refusal.fill)
            if isinstance(out, web.StreamResponse):
                out.headers.update(headers)
                return out
            return _json_response(out, 200, headers)

        return serve

    # ---- what the handlers share

    def create(
        self,
        api: _OpenAIBatches | _AnthropicBatches,
        items: list[_Item],
        fields: dict[str, Any] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> _Batch:
        now = time.time()
        batch = _Batch(
            self.new_id(api.batch_id_prefix),
            api.name,
            items,
            created_at=now,
            expires_at=now + self.config.batch_window_s,
            fields=fields or {},
            errors=errors or [],
        )
        self.batches[batch.id] = batch
        self.stats.created[api.name] += 1
        if not api.validates:
            self._begin(batch)
        batch.task = asyncio.get_running_loop().create_task(self._run(batch))
        batch.task.add_done_callback(_surface_failure)
        return batch

    def find(self, api: _OpenAIBatches | _AnthropicBatches, batch_id: str, poll: bool = False) -> _Batch:
        batch = self.batches.get(batch_id)
        if batch is None or batch.api != api.name:
            raise _Refusal("not_found", "id", detail=api.missing_batch.format(id=batch_id))
        if poll:
            self.stats.polls[api.name] += 1
        return batch

    def request_cancel(self, api: _OpenAIBatches | _AnthropicBatches, batch: _Batch) -> None:
        if batch.end is not None:
            detail = f"Batch {batch.id} has already ended ({api.status(batch)}); it cannot be cancelled."
            raise _Refusal("bad_request", detail=detail)
        if not batch.cancel.is_set():
            batch.cancel.set()
            batch.stamps["cancelling"] = time.time()

    def listed(self, api_name: str) -> list[_Batch]:
        """The API's batches, newest first."""
        return [b for b in reversed(self.batches.values()) if b.api == api_name]

    # ---- lifecycle

    async def _run(self, batch: _Batch) -> None:
        if await self._pause(batch, self.config.batch_validating_s):
            return await self._cancelled(batch)
        if batch.errors:
            return self._end(batch, "failed")
        if batch.phase == "validating":
            self._begin(batch)
        loop = asyncio.get_running_loop()
        due = loop.time()
        for item in batch.items:
            if self._expired(batch):
                return self._end(batch, "expired")
            due += self.config.batch_item_s  # a schedule, so slow sleeps do not slow the batch down
            if await self._pause(batch, due - loop.time()):
                return await self._cancelled(batch)
            self._execute(batch, item)
        if self._apis[batch.api].finalizes:
            self._stamp(batch, "finalizing")
            if await self._pause(batch, self.config.batch_finalizing_s):
                return await self._cancelled(batch)
        self._end(batch, "completed")

    @staticmethod
    async def _pause(batch: _Batch, seconds: float) -> bool:
        """Wait ``seconds`` or until a cancel, yielding at least once; True when cancelled."""
        if seconds > 0 and not batch.cancel.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(batch.cancel.wait(), seconds)
        else:
            await asyncio.sleep(0)  # let the server answer polls between items
        return batch.cancel.is_set()

    async def _cancelled(self, batch: _Batch) -> None:
        await asyncio.sleep(self.config.batch_cancelling_s)
        self._end(batch, "cancelled")

    def _expired(self, batch: _Batch) -> bool:
        limit = self.config.batch_expire_after
        return time.time() >= batch.expires_at or (limit is not None and batch.counts.total() >= limit)

    def _stamp(self, batch: _Batch, phase: str) -> None:
        batch.phase = phase
        batch.stamps[phase] = time.time()

    def _begin(self, batch: _Batch) -> None:
        self._stamp(batch, "in_progress")
        submitted = self.stats.submitted[batch.api]
        for item in batch.items:
            submitted[item.custom_id] = submitted.get(item.custom_id, 0) + 1

    def _execute(self, batch: _Batch, item: _Item) -> None:
        cfg, api = self.config, self._apis[batch.api]
        item.request_id = self.new_id("req_batch")
        rng = random.Random(f"{cfg.seed}:{batch.id}:{item.custom_id}")
        try:
            parsed = api.wire.parse(item.body, cfg)
        except _BadRequest as exc:
            return self._fail(
                batch, item, "bad_request", exc.param, detail=f"could not read the request: {exc}"
            )
        if cfg.models is not None and parsed.model not in cfg.models:
            return self._fail(batch, item, "model", model=parsed.model)
        if rng.random() < cfg.batch_p_item_error:
            return self._fail(batch, item, api.item_error)
        fault = pick_fault(cfg, _CONTENT_FAULTS, rng.random())
        # The custom_id keys the content, as X-Client-Request-Id does online: a resent item reads the same.
        key = zlib.crc32(item.custom_id.encode())
        answer = self.server._answer(key, parsed, tokens(parsed.input_chars), fault, api.wire)
        item.response = api.wire.completion_body(next(self._ids), parsed.model, answer)
        usage = (answer.input_tokens, answer.cache_read, answer.cache_created, answer.output_tokens)
        billed = self.stats.usage[batch.api]
        for name, n in zip(USAGE, usage, strict=True):
            batch.usage[name] += n
            billed[name] += n
        self._settle(batch, item, "succeeded")

    def _fail(self, batch: _Batch, item: _Item, kind: str, param: str | None = None, **fill: Any) -> None:
        wire = self._apis[batch.api].wire
        item.response, item.status = wire.error_body(kind, param, item.request_id, **fill)
        self._settle(batch, item, "errored")

    def _settle(self, batch: _Batch, item: _Item, outcome: str) -> None:
        item.outcome = outcome
        batch.counts[outcome] += 1
        self.stats.outcomes[batch.api][outcome] += 1

    def _end(self, batch: _Batch, how: str) -> None:
        left = {"expired": "expired", "cancelled": "canceled"}.get(how)
        if left:
            for item in batch.items:
                if item.outcome is None:
                    self._settle(batch, item, left)
        self._stamp(batch, "ended")
        batch.end = how
        batch.stamps[how] = batch.stamps["ended"]
        self._apis[batch.api].finish(batch)


def _surface_failure(task: asyncio.Task[None]) -> None:
    # A bug in the runner would leave its batch stuck for ever; say so where the server logs.
    if not task.cancelled() and task.exception() is not None:
        task.get_loop().call_exception_handler(
            {"message": "a fake batch runner failed", "exception": task.exception(), "task": task}
        )


# --------------------------------------------------------------------------------------------------
# Request helpers


async def _json_object(request: web.Request, raw: bytes | None = None) -> dict[str, Any]:
    try:
        body = json.loads(raw if raw is not None else await request.read())
    except ValueError as exc:
        raise _Refusal("bad_request", detail=f"could not read the request: {exc}") from None
    if not isinstance(body, dict):
        raise _Refusal("bad_request", detail="the request body must be a JSON object")
    return body


def _limit(request: web.Request, default: int, most: int) -> int:
    raw = request.query.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise _Refusal(
            "bad_request", "limit", detail=f"limit must be an integer from 1 to {most}, got {raw!r}"
        )
    return int(raw)


def _page(records: list[Any], after: str | None, before: str | None, limit: int) -> tuple[list[Any], bool]:
    """A page of ``records`` (each with an ``id``) and whether more lie beyond it."""
    ids = [r.id for r in records]
    if after:
        start = ids.index(after) + 1 if after in ids else len(ids)
        return records[start : start + limit], start + limit < len(records)
    if before:
        stop = ids.index(before) if before in ids else 0
        return records[max(0, stop - limit) : stop], stop > limit
    return records[:limit], limit < len(records)


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


# --------------------------------------------------------------------------------------------------
# OpenAI: Files + Batches


class _OpenAIBatchWire(_OpenAIWire):
    ERRORS: ClassVar[dict[str, tuple[int, str, str | None, str]]] = {
        **_OpenAIWire.ERRORS,
        "not_found": (404, "invalid_request_error", None, "{detail}"),
    }


@dataclass
class _File:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def render(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


class _OpenAIBatches:
    name = "openai"
    wire = _OpenAIBatchWire()
    batch_id_prefix = "batch_fake"
    missing_batch = "No batch found with id '{id}'."
    validates = finalizes = True
    item_error = "server_error"
    endpoint = "/v1/chat/completions"

    def __init__(self, batches: FakeBatches) -> None:
        self.batches = batches
        self.files: dict[str, _File] = {}

    def add_routes(self, app: web.Application) -> None:
        route, router = functools.partial(self.batches.route, self), app.router
        router.add_post("/v1/files", route(self.upload))
        router.add_get("/v1/files", route(self.list_files))
        router.add_get("/v1/files/{id}", route(self.get_file))
        router.add_delete("/v1/files/{id}", route(self.delete_file))
        router.add_get("/v1/files/{id}/content", route(self.file_content))
        router.add_post("/v1/batches", route(self.create))
        router.add_get("/v1/batches", route(self.list))
        router.add_get("/v1/batches/{id}", route(self.retrieve))
        router.add_post("/v1/batches/{id}/cancel", route(self.cancel))

    # ---- files

    def store(self, filename: str, purpose: str, content: bytes) -> _File:
        f = _File(self.batches.new_id("file-fake"), filename, purpose, content, int(time.time()))
        self.files[f.id] = f
        return f

    def find_file(self, file_id: str) -> _File:
        if file_id not in self.files:
            raise _Refusal("not_found", "id", detail=f"No such File object: {file_id}")
        return self.files[file_id]

    async def upload(self, request: web.Request) -> dict[str, Any]:
        purpose = content = None
        filename = "upload"
        try:
            async for part in await request.multipart():
                if isinstance(part, BodyPartReader) and part.name == "purpose":
                    purpose = await part.text()
                elif isinstance(part, BodyPartReader) and part.name == "file":
                    filename, content = part.filename or filename, bytes(await part.read())
        except (AssertionError, ValueError) as exc:  # aiohttp asserts on a non-multipart body
            raise _Refusal("bad_request", detail=f"the body must be multipart/form-data: {exc}") from None
        for name, value in (("file", content), ("purpose", purpose)):
            if value is None:
                raise _Refusal("bad_request", name, detail=f"Missing required parameter: '{name}'.")
        if purpose != "batch":
            raise _Refusal(
                "bad_request", "purpose", detail=f"The fake stores batch files only, not {purpose!r}."
            )
        assert content is not None
        if len(content) > self.batches.config.openai_batch_max_bytes:
            raise _Refusal("bad_request", detail="File is too large.")
        return self.store(filename, purpose, content).render()

    async def list_files(self, request: web.Request) -> dict[str, Any]:
        purpose = request.query.get("purpose")
        files = [f for f in reversed(self.files.values()) if purpose in (None, f.purpose)]
        page, more = _page(files, request.query.get("after"), None, _limit(request, 10_000, 10_000))
        return _openai_list([f.render() for f in page], more)

    async def get_file(self, request: web.Request) -> dict[str, Any]:
        return self.find_file(request.match_info["id"]).render()

    async def delete_file(self, request: web.Request) -> dict[str, Any]:
        f = self.files.pop(self.find_file(request.match_info["id"]).id)
        return {"id": f.id, "object": "file", "deleted": True}

    async def file_content(self, request: web.Request) -> web.Response:
        f = self.find_file(request.match_info["id"])
        if f.purpose == "batch":
            raise _Refusal("bad_request", detail="Not allowed to download files of purpose: batch.")
        return web.Response(body=f.content, content_type="application/octet-stream")

    # ---- batches

    async def create(self, request: web.Request) -> dict[str, Any]:
        body = await _json_object(request)
        if self.batches.config.billing_exhausted:
            raise _Refusal("billing")
        file_id, endpoint, window = (
            body.get("input_file_id"),
            body.get("endpoint"),
            body.get("completion_window"),
        )
        f = self.files.get(file_id) if isinstance(file_id, str) else None
        if f is None or f.purpose != "batch":
            detail = f"Cannot find file {file_id}, or project proj_fake does not have access to it."
            raise _Refusal("bad_request", "input_file_id", detail=detail)
        if endpoint != self.endpoint:
            detail = f"The fake batches {self.endpoint} only, not {endpoint!r}."
            raise _Refusal("bad_request", "endpoint", detail=detail)
        if window != "24h":
            detail = f"Invalid value for 'completion_window': {window!r}. Supported values are: '24h'."
            raise _Refusal("bad_request", "completion_window", detail=detail)
        metadata = body.get("metadata")
        if metadata is not None and not _valid_metadata(metadata):
            detail = "metadata holds at most 16 string pairs, keys up to 64 and values up to 512 characters."
            raise _Refusal("bad_request", "metadata", detail=detail)
        items, errors, model = self.read_input(f.content)
        fields = {"endpoint": endpoint, "input_file_id": f.id, "metadata": metadata, "model": model}
        fields["enqueued_tokens"] = self.enqueued_tokens(items)
        limit = self.batches.config.openai_batch_enqueued_tokens
        if not errors and limit is not None:
            queued = sum(
                b.fields["enqueued_tokens"]
                for b in self.batches.listed(self.name)
                if b.end is None and not b.errors and b.fields["model"] == model
            )
            if queued + fields["enqueued_tokens"] > limit:
                message = (
                    f"Enqueued token limit reached for {model} in organization org-fake. Limit: {limit:,} "
                    "enqueued tokens. Please try again once some in_progress batches have been completed."
                )
                errors.append(
                    {"code": "token_limit_exceeded", "line": None, "message": message, "param": None}
                )
        return self.render(self.batches.create(self, items, fields, errors))

    def enqueued_tokens(self, items: list[_Item]) -> int:
        """The prompt tokens of ``items``, as the enqueued-token limit counts them."""
        total = 0
        for item in items:
            with contextlib.suppress(_BadRequest):
                total += tokens(self.wire.parse(item.body, self.batches.config).input_chars)
        return total

    async def retrieve(self, request: web.Request) -> dict[str, Any]:
        return self.render(self.batches.find(self, request.match_info["id"], poll=True))

    async def cancel(self, request: web.Request) -> dict[str, Any]:
        batch = self.batches.find(self, request.match_info["id"])
        self.batches.request_cancel(self, batch)
        return self.render(batch)

    async def list(self, request: web.Request) -> dict[str, Any]:
        limit = _limit(request, 20, 100)
        page, more = _page(self.batches.listed(self.name), request.query.get("after"), None, limit)
        return _openai_list([self.render(b) for b in page], more)

    def read_input(self, content: bytes) -> tuple[list[_Item], list[dict[str, Any]], str | None]:
        """The items of an input file, the validation errors, and the model the lines name."""
        items: list[_Item] = []
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()
        models: dict[str, int] = {}

        def error(code: str, line: int | None, message: str, param: str | None = None) -> None:
            errors.append({"code": code, "line": line, "message": message, "param": param})

        for no, text in enumerate(content.decode("utf-8", errors="replace").splitlines(), 1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except ValueError:
                line = None
            if not isinstance(line, dict):
                error("invalid_json_line", no, "This line is not parseable as valid JSON.")
                continue
            missing = [name for name in ("custom_id", "method", "url", "body") if name not in line]
            for name in missing:
                error("missing_required_parameter", no, f"Missing required parameter: '{name}'.", name)
            cid, body = line.get("custom_id"), line.get("body")
            if "method" in line and line["method"] != "POST":
                error("invalid_method", no, "Only POST requests can be batched.", "method")
            if "url" in line and line["url"] != self.endpoint:
                message = "The URL provided for this request does not match the batch endpoint."
                error("url_mismatch", no, message, "url")
            if "body" in line and not isinstance(body, dict):
                error("invalid_request", no, "The body of each request must be a JSON object.", "body")
            if "custom_id" in line and not isinstance(cid, str):
                error("invalid_request", no, "custom_id must be a string.", "custom_id")
            elif isinstance(cid, str) and cid in seen:
                message = (
                    "The custom_id for this request is a duplicate of another request. "
                    "The custom_id parameter must be unique for each request in a batch."
                )
                error("duplicate_custom_id", no, message, "custom_id")
            if missing or not isinstance(cid, str) or cid in seen or not isinstance(body, dict):
                continue
            seen.add(cid)
            if isinstance(body.get("model"), str):
                models.setdefault(body["model"], no)
            items.append(_Item(cid, body, id=self.batches.new_id("batch_req_fake")))
        if not items and not errors:
            error(
                "empty_file", None, "The input file is empty. Please upload a file with at least one request."
            )
        if len(models) > 1:
            second = sorted(models.values())[1]
            message = "The model in this request does not match the model of the other requests in the file."
            error("model_mismatch", second, message, "body.model")
        most = self.batches.config.openai_batch_max_requests
        if len(items) > most:
            message = f"The input file has {len(items)} requests; a batch holds at most {most}."
            error("too_many_tasks", None, message)
        return items, errors[:_MAX_ERRORS], next(iter(models), None)

    def finish(self, batch: _Batch) -> None:
        """Write the output and error files of an ended batch."""
        if batch.end == "failed":
            return
        out: list[dict[str, Any]] = []
        err: list[dict[str, Any]] = []
        for item in batch.items:
            line: dict[str, Any] = {
                "id": item.id,
                "custom_id": item.custom_id,
                "response": None,
                "error": None,
            }
            if item.outcome in ("succeeded", "errored"):
                line["response"] = {
                    "status_code": item.status,
                    "request_id": item.request_id,
                    "body": item.response,
                }
            else:
                line["error"] = _NOT_RUN.get(item.outcome or "")
            (out if item.outcome == "succeeded" else err).append(line)
        for kind, lines in (("output", out), ("error", err)):
            if lines:
                f = self.store(f"batch_{batch.id}_{kind}.jsonl", "batch_output", _jsonl(lines))
                batch.fields[f"{kind}_file_id"] = f.id

    @staticmethod
    def status(batch: _Batch) -> str:
        return batch.end or ("cancelling" if batch.cancel.is_set() else batch.phase)

    def render(self, batch: _Batch) -> dict[str, Any]:
        def at(name: str) -> int | None:
            return int(batch.stamps[name]) if name in batch.stamps else None

        checked = "in_progress" in batch.stamps
        u = batch.usage
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.fields["endpoint"],
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "input_file_id": batch.fields["input_file_id"],
            "completion_window": "24h",
            "status": self.status(batch),
            "output_file_id": batch.fields.get("output_file_id"),
            "error_file_id": batch.fields.get("error_file_id"),
            "created_at": int(batch.created_at),
            "in_progress_at": at("in_progress"),
            "expires_at": int(batch.expires_at),
            "finalizing_at": at("finalizing"),
            "completed_at": at("completed"),
            "failed_at": at("failed"),
            "expired_at": at("expired"),
            "cancelling_at": at("cancelling"),
            "cancelled_at": at("cancelled"),
            "request_counts": {
                "total": len(batch.items) if checked else 0,
                "completed": batch.counts["succeeded"],
                "failed": batch.counts["errored"],
            },
            "metadata": batch.fields["metadata"],
            "model": batch.fields["model"],
            "usage": {
                "input_tokens": u["input_tokens"],
                "input_tokens_details": {"cached_tokens": u["cached_input_tokens"]},
                "output_tokens": u["output_tokens"],
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": u["input_tokens"] + u["output_tokens"],
            },
        }


def _valid_metadata(metadata: Any) -> bool:
    return (
        isinstance(metadata, dict)
        and len(metadata) <= 16
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
        and all(len(k) <= 64 and len(v) <= 512 for k, v in metadata.items())
    )


def _openai_list(data: list[dict[str, Any]], more: bool) -> dict[str, Any]:
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": more}


# --------------------------------------------------------------------------------------------------
# Anthropic: Message Batches


class _AnthropicBatchWire(_AnthropicWire):
    ERRORS: ClassVar[dict[str, tuple[int, str, str | None, str]]] = {
        **_AnthropicWire.ERRORS,
        "not_found": (404, "not_found_error", None, "{detail}"),
        "too_large": (413, "request_too_large", None, "Request exceeds the maximum allowed number of bytes."),
        "api_error": (500, "api_error", None, "Internal server error"),
    }


class _AnthropicBatches:
    name = "anthropic"
    wire = _AnthropicBatchWire()
    batch_id_prefix = "msgbatch_fake"
    missing_batch = "message_batch {id} not found"
    validates = finalizes = False
    item_error = "api_error"

    def __init__(self, batches: FakeBatches) -> None:
        self.batches = batches

    def add_routes(self, app: web.Application) -> None:
        route, router = functools.partial(self.batches.route, self), app.router
        router.add_post("/v1/messages/batches", route(self.create))
        router.add_get("/v1/messages/batches", route(self.list))
        router.add_get("/v1/messages/batches/{id}", route(self.retrieve))
        router.add_delete("/v1/messages/batches/{id}", route(self.delete))
        router.add_post("/v1/messages/batches/{id}/cancel", route(self.cancel))
        router.add_get("/v1/messages/batches/{id}/results", route(self.results))

    async def create(self, request: web.Request) -> dict[str, Any]:
        cfg = self.batches.config
        raw = await request.content.read()  # not request.read(): the app caps bodies below 256 MB
        if len(raw) > cfg.anthropic_batch_max_bytes:
            raise _Refusal("too_large")
        if cfg.billing_exhausted:
            raise _Refusal("billing")
        requests = (await _json_object(request, raw)).get("requests")
        if not isinstance(requests, list) or not requests:
            raise _Refusal("bad_request", detail="requests: List should have at least 1 item")
        if len(requests) > cfg.anthropic_batch_max_requests:
            most = cfg.anthropic_batch_max_requests
            detail = f"requests: a batch holds at most {most} requests, got {len(requests)}"
            raise _Refusal("bad_request", detail=detail)
        items: list[_Item] = []
        seen: set[str] = set()
        for i, req in enumerate(requests):
            cid = req.get("custom_id") if isinstance(req, dict) else None
            if not isinstance(cid, str) or not _ANTHROPIC_CUSTOM_ID.fullmatch(cid):
                detail = f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
                raise _Refusal("bad_request", detail=detail)
            if cid in seen:
                detail = (
                    f"requests.{i}.custom_id: {cid!r} is used twice; each custom_id must be unique in a batch"
                )
                raise _Refusal("bad_request", detail=detail)
            if not isinstance(req.get("params"), dict):
                raise _Refusal("bad_request", detail=f"requests.{i}.params: Input should be an object")
            seen.add(cid)
            items.append(_Item(cid, req["params"]))
        return self.render(self.batches.create(self, items), request)

    async def retrieve(self, request: web.Request) -> dict[str, Any]:
        return self.render(self.batches.find(self, request.match_info["id"], poll=True), request)

    async def cancel(self, request: web.Request) -> dict[str, Any]:
        batch = self.batches.find(self, request.match_info["id"])
        self.batches.request_cancel(self, batch)
        return self.render(batch, request)

    async def list(self, request: web.Request) -> dict[str, Any]:
        q = request.query
        page, more = _page(
            self.batches.listed(self.name), q.get("after_id"), q.get("before_id"), _limit(request, 20, 1000)
        )
        first, last = (page[0].id, page[-1].id) if page else (None, None)
        return {
            "data": [self.render(b, request) for b in page],
            "has_more": more,
            "first_id": first,
            "last_id": last,
        }

    async def delete(self, request: web.Request) -> dict[str, Any]:
        batch = self.batches.find(self, request.match_info["id"])
        if batch.end is None:
            detail = (
                f"Batch {batch.id} is still in progress: cancel it and wait until it has ended to delete it."
            )
            raise _Refusal("bad_request", detail=detail)
        del self.batches.batches[batch.id]
        return {"id": batch.id, "type": "message_batch_deleted"}

    async def results(self, request: web.Request) -> web.Response:
        batch = self.batches.find(self, request.match_info["id"])
        if batch.end is None:
            detail = f"Batch {batch.id} is still in progress; its results are ready once it has ended."
            raise _Refusal("bad_request", detail=detail)
        rows = [{"custom_id": item.custom_id, "result": self.result(item)} for item in batch.items]
        return web.Response(body=_jsonl(rows), content_type="application/binary")

    @staticmethod
    def result(item: _Item) -> dict[str, Any]:
        if item.outcome == "succeeded":
            return {"type": "succeeded", "message": item.response}
        if item.outcome == "errored":
            return {"type": "errored", "error": item.response}
        return {"type": item.outcome}

    def finish(self, batch: _Batch) -> None:
        """Nothing to write: results are read from the items."""

    @staticmethod
    def status(batch: _Batch) -> str:
        if batch.end is not None:
            return "ended"
        return "canceling" if batch.cancel.is_set() else "in_progress"

    def render(self, batch: _Batch, request: web.Request) -> dict[str, Any]:
        ended = batch.end is not None
        counts = {name: batch.counts[name] if ended else 0 for name in OUTCOMES}
        results_url = f"{request.url.origin()}/v1/messages/batches/{batch.id}/results" if ended else None
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": self.status(batch),
            "request_counts": {"processing": 0 if ended else len(batch.items), **counts},
            "ended_at": _iso(batch.stamps.get("ended")),
            "created_at": _iso(batch.created_at),
            "expires_at": _iso(batch.expires_at),
            "archived_at": None,
            "cancel_initiated_at": _iso(batch.stamps.get("cancelling")),
            "results_url": results_url,
        }
