"""Batch mode: the plan's requests go through the providers' batch APIs, at their discount.

:class:`BatchRunner` is the :class:`~synthembed.gen.runner.Runner` with another way of sending; the
store, budget, parsing, task pools and results are the same, so filter, release and validate do not
care how an answer was made. It loops until nothing is left to send:

1. **Ready requests**: unfinished brainstorm requests, and generate requests whose task pool exists
   (sts and bitext at once; the brainstormed types only once every brainstorm request of their type
   has an answer), less those waiting in an open batch or given up in this process.
2. **Submit** them in batches within the provider's size limits (requests and bytes) and the budget:
   a batch's worst case (every request at its reservation, at batch prices) is reserved before it is
   sent; when the cap cannot cover all of them, a smaller batch goes; when it cannot cover one
   request and no batch is open, the run stops at the cap. The batch and its attempts are written
   to the store (``preparing``) before the submit and marked ``submitted`` with the provider's id
   after, so a restart polls and collects instead of submitting again. A submit interrupted in
   between is found again by its metadata (OpenAI) or by its creation time and size (Anthropic).
3. **Poll** open batches every ``provider.batch.poll_interval_s``; an ended batch's results land in
   the store like online answers and its reservation is settled to the real, discounted usage.
   Items that failed in a way a resend may fix, and items of an expired or cancelled batch, are
   sent again in a later batch (counted against ``max_retries``); answers that do not parse are
   re-asked up to ``generation.max_reasks``. A billing error stops the run before more is submitted.

Ctrl-C stops polling; open batches go on at the provider and the same command collects them later.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

from synthembed.errors import FatalProviderError, ProviderError, RetryableError
from synthembed.gen.budget import Reservation
from synthembed.gen.plan import RequestSpec
from synthembed.gen.providers.base import ChatRequest
from synthembed.gen.providers.batch import BatchAPI, BatchDeferred, ItemResult, batch_api
from synthembed.gen.runner import Runner, _backoff


@dataclass
class _Item:
    spec: RequestSpec
    task: str | None
    request: ChatRequest
    micros: int
    tokens: int
    attempt_id: int = 0


@dataclass
class _OpenBatch:
    local_id: str
    provider_id: str | None
    reservation: Reservation
    items: dict[str, tuple[int, int, int]]  # request id -> (attempt id, reserved micros, tokens)
    created_at: float = field(default_factory=time.time)
    status: str = "submitted"


class BatchRunner(Runner):
    """Runs a recipe with ``provider.mode: batch`` (see the module docstring)."""

    async def _run_steps(self) -> None:
        self.api: BatchAPI = batch_api(self.provider)
        settings = self.cfg.batch
        self.max_requests = min(settings.max_requests or self.api.max_requests, self.api.max_requests)
        self.poll_s = settings.poll_interval_s
        self._open: dict[str, _OpenBatch] = {}
        self._counts = self.store.attempt_counts()  # request id -> (re-asks, errors) so far
        self._given_up: set[str] = set()
        self._wake = asyncio.Event()
        self._submit_failures = 0
        self.stats.phase = "batch"
        await self._recover()
        while self._stop is None:
            ready = await self._submit()
            if not self._open:
                if not ready or self._stop is not None:
                    break
                # a submit failed and created nothing: back off, then try again
                if self._submit_failures > self.cfg.max_retries:
                    self._halt("fatal", f"batch submits kept failing: {self._last_submit_error}")
                    self._fatal = RetryableError(self._last_submit_error)
                    break
                await asyncio.sleep(_backoff(self._submit_failures, None))
                continue
            await self._poll()
        if self._open and self._stop == "interrupted":
            self._stop_message = (
                f"{len(self._open)} batches are still running at the provider; "
                "run the same command again to collect them"
            )

    # -- what to send ----------------------------------------------------------------------------
    def _unfinished(self) -> Iterator[tuple[str, RequestSpec, str | None]]:
        """(request id, spec, task) of every request that can be sent now, in plan order.

        Walking it to the end recounts the finished requests for the display; it holds nothing
        in memory, so a plan of any size costs the same.
        """
        for step in self.stats.steps.values():
            step.done = step.ok = step.rejected = step.failed = 0
        for spec, task in itertools.chain(self._brainstorm_items(), self._generate_items()):
            rid = spec.request_id(task)
            if rid in self._given_up:
                self.stats.steps[spec.step].failed += 1
                continue
            yield rid, spec, task

    def _lookup(self, ids: Collection[str]) -> dict[str, tuple[RequestSpec, str | None]]:
        """The specs (and tasks) of these request ids, where the plan still has them."""
        return {rid: (spec, task) for rid, spec, task in self._unfinished() if rid in ids}

    async def _submit(self) -> bool:
        """Submit every ready request not in an open batch, in batches that fit the limits and
        the budget; whether any request was ready."""
        pending = {rid for b in self._open.values() for rid in b.items}
        ready = (item for item in self._unfinished() if item[0] not in pending)
        any_ready = False
        carry: tuple[str, RequestSpec, str | None] | None = None
        while self._stop is None:
            chunk: list[_Item] = []
            lines: list[bytes] = []
            size = micros = tokens = 0
            cut_by_budget = False
            for rid, spec, task in itertools.chain([carry] if carry else [], ready):
                any_ready = True
                carry = None
                request = self._request(spec, task)
                _, m, t = self._reservation(request, batch=True)
                line = self.api.line(request)
                full = len(chunk) >= self.max_requests or size + len(line) > self.api.max_bytes
                cut_by_budget = not full and not self.budget.fits_now(micros + m, tokens + t)
                if full or cut_by_budget:
                    carry = (rid, spec, task)
                    break
                chunk.append(_Item(spec, task, request, m, t))
                lines.append(line)
                size, micros, tokens = size + len(line), micros + m, tokens + t
            if not chunk:
                if carry is not None and not self._open:
                    self._halt("budget", self.budget.exhausted_message())
                break  # nothing left, or the open batches' settlements may make room
            await self._submit_one(chunk, lines, micros, tokens)
            if carry is None or cut_by_budget:
                break  # all submitted, or wait for the open batches to settle and free room
        for _ in ready:  # walk to the end so the display's counts are complete
            pass
        return any_ready

    async def _submit_one(self, chunk: list[_Item], lines: list[bytes], micros: int, tokens: int) -> None:
        local_id = f"sb-{int(time.time())}-{secrets.token_hex(4)}"
        reservation = await self.budget.reserve(micros, tokens)
        self.store.add_batch(local_id, self.api.api, len(chunk), micros, tokens)
        for item in chunk:
            item.attempt_id = self.store.start_attempt(
                item.request.id,
                item.spec.step,
                item.spec.task_type,
                item.micros,
                item.tokens,
                batch_id=local_id,
            )
        self.store.commit()  # the reservation is durable before anything leaves
        batch = _OpenBatch(
            local_id, None, reservation, {i.request.id: (i.attempt_id, i.micros, i.tokens) for i in chunk}
        )
        try:
            provider_id, file_id = await self.api.submit(local_id, lines)
        except FatalProviderError as exc:
            # refused outright (billing, auth, a bad request): nothing was created or billed
            await self._close_unsent(batch, f"submit refused: {exc}")
            self._fatal = exc
            self._halt("fatal", str(exc))
            return
        except RetryableError as exc:
            # the batch may or may not exist: look for it before anything is sent again
            await asyncio.sleep(min(self.poll_s, 5.0))
            found = await self._find(batch)
            if found is None:
                self._submit_failures += 1
                self._last_submit_error = str(exc)
                await self._close_unsent(batch, f"submit failed and no batch was created: {exc}")
                return
            provider_id, file_id = found, None
        self._submit_failures = 0
        batch.provider_id = provider_id
        self.store.update_batch(local_id, status="submitted", provider_id=provider_id, input_file_id=file_id)
        self.store.commit()
        self._open[local_id] = batch
        self.stats.sent += len(chunk)
        if self.stats.first_sent is None:
            self.stats.first_sent = time.monotonic()

    async def _find(self, batch: _OpenBatch) -> str | None:
        try:
            return await self.api.find(batch.local_id, batch.created_at, len(batch.items))
        except ProviderError:
            return None

    async def _close_unsent(self, batch: _OpenBatch, why: str) -> None:
        """A batch the provider never created: its attempts cost nothing and their requests stay unsent."""
        for attempt_id, _, _ in batch.items.values():
            self.store.finish_attempt(attempt_id, status="error", cost_micros=0, billed_tokens=0, error=why)
        self.store.update_batch(batch.local_id, status="lost", note=why[:500])
        self.store.commit()
        await self.budget.settle(batch.reservation, 0, 0)

    # -- after a restart -------------------------------------------------------------------------
    async def _recover(self) -> None:
        """Adopt the batches an earlier process left open: poll and collect them, never resubmit."""
        for row in self.store.open_batches():
            items = self.store.batch_attempts(row["id"])
            micros = sum(m for _, m, _ in items.values())
            tokens = sum(t for _, _, t in items.values())
            batch = _OpenBatch(
                row["id"],
                row["provider_id"],
                self.budget.adopt(micros, tokens),
                items,
                created_at=row["created_at"],
            )
            if batch.provider_id is None:
                found = await self._find(batch)
                if found is None:
                    # it may have been created and billed without our knowing: count it at worst case
                    await self._orphan(batch)
                    continue
                batch.provider_id = found
                self.store.update_batch(batch.local_id, status="submitted", provider_id=found)
                self.store.commit()
            self._open[batch.local_id] = batch

    async def _orphan(self, batch: _OpenBatch) -> None:
        why = "batch submit interrupted and the batch was not found; counted at its worst case"
        for attempt_id, m, t in batch.items.values():
            self.store.finish_attempt(
                attempt_id, status="orphaned", cost_micros=m, billed_tokens=t, error=why
            )
        self.store.update_batch(batch.local_id, status="lost", note=why)
        self.store.commit()
        await self.budget.settle(batch.reservation, batch.reservation.micros, batch.reservation.tokens)

    # -- polling and collecting ------------------------------------------------------------------
    async def _poll(self) -> None:
        self.stats.phase = f"batch: {len(self._open)} open, checked every {self.poll_s:g} s"
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.poll_s)
        if self._stop is not None:
            return
        for batch in list(self._open.values()):
            assert batch.provider_id is not None
            try:
                state = await self.api.state(batch.provider_id)
            except RetryableError:
                continue  # a hiccup: ask again next round
            except FatalProviderError as exc:
                self._fatal = exc
                self._halt("fatal", str(exc))
                return
            if state.status != batch.status:
                batch.status = state.status
                self.store.update_batch(batch.local_id, provider_status=state.status)
                self.store.commit()
            if not state.ended:
                continue
            try:
                results = await self.api.results(batch.provider_id)
            except BatchDeferred as exc:
                # nothing ran: its requests go again in a later batch without using up their retries
                await self._collect(batch, {}, not_run=str(exc))
                continue
            except RetryableError:
                continue
            except FatalProviderError as exc:
                results = {}
                self._fatal = exc
                self._halt("fatal", str(exc))
            await self._collect(batch, results)
            if self._fatal is not None:
                return

    async def _collect(
        self, batch: _OpenBatch, results: dict[str, ItemResult], not_run: str | None = None
    ) -> None:
        """Record an ended batch's results; ``not_run``: the provider refused it whole, for now."""
        s = self.stats
        spent_micros = spent_tokens = 0
        items = self._lookup(batch.items) if not_run is None else {}
        for rid, (attempt_id, _, _) in batch.items.items():
            if not_run is not None:
                self.store.finish_attempt(
                    attempt_id, status="expired", cost_micros=0, billed_tokens=0, error=not_run
                )
                continue
            result = results.get(rid) or ItemResult("expired", error="not run before the batch ended")
            reasks, errors = self._counts.get(rid, (0, 0))
            response = result.response
            if result.kind == "ok" and response is not None:
                cost = self._cost(response, batch=True)
                tokens = response.input_tokens + response.output_tokens
                spent_micros += cost
                spent_tokens += tokens
                self._record_attempt(attempt_id, "ok", cost, tokens, response, None)
                s.input_tokens += response.input_tokens
                s.output_tokens += response.output_tokens
                s.recent.append(time.monotonic())
                item = items.get(rid)
                if item is None:
                    continue  # no longer in the plan (recipe changed): usage recorded, nothing to parse
                spec, task = item
                if not self._handle_answer(spec, task, rid, response, attempt_id, reasks):
                    self._counts[rid] = (reasks + 1, errors)
                    s.reasks += 1
                continue
            status = "expired" if result.kind == "expired" else "error"
            self.store.finish_attempt(
                attempt_id, status=status, cost_micros=0, billed_tokens=0, error=result.error
            )
            if result.kind == "billing":
                self._halt("fatal", result.error or "billing error")
                self._fatal = FatalProviderError(result.error or "billing error")
                continue
            item = items.get(rid)
            if item is None:
                continue
            spec, task = item
            errors += 1
            self._counts[rid] = (reasks, errors)
            s.retries += 1
            if result.kind == "invalid" or errors > self.cfg.max_retries:
                self._finish(spec, task, rid, "failed", f"error: {(result.error or '')[:200]}", attempt_id)
                self._given_up.add(rid)
        self.store.update_batch(batch.local_id, status="collected")
        await self.budget.settle(batch.reservation, spent_micros, spent_tokens)
        s.spent_micros, s.spent_tokens = self.budget.spent_micros, self.budget.spent_tokens
        await self.store.sync()
        del self._open[batch.local_id]

    def _halt(self, why: str, message: str) -> None:
        super()._halt(why, message)
        wake = getattr(self, "_wake", None)
        if wake is not None:
            wake.set()
