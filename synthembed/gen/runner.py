"""The generation runner: sends a plan's requests, brainstorm first, within rate limits and budget.

It knows nothing of task types beyond what the plan and the parsers tell it. For each request:

1. wait for a concurrency slot (adaptive), reserve the worst case in the budget, record the attempt
   as ``inflight`` in the store, wait for the rate limiter, then send;
2. settle the budget to the real usage (or to the worst case when the provider may have billed an
   answer we never got), record the answer, and parse it;
3. retry what can succeed on retry (backoff with jitter; 429s pause everyone for Retry-After),
   re-ask a bounded number of times when the answer does not parse, stop the run on errors that
   sending again will not fix.

Brainstormed tasks are pooled per task type in plan order once every brainstorm request of that
type has an answer, so the pool, and with it every generate request id, is the same however the
run was interrupted and resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from synthembed.errors import (
    BudgetExhausted,
    FatalProviderError,
    RateLimitError,
    RetryableError,
    RunStoreError,
)
from synthembed.gen.budget import Budget
from synthembed.gen.parse import ParseFailure, clean_tasks, parse_example, parse_task_list, task_key
from synthembed.gen.plan import Plan, RequestSpec, build_plan
from synthembed.gen.pricing import MICRO
from synthembed.gen.providers.base import ChatRequest, ChatResponse, Provider
from synthembed.gen.ratelimit import AdaptiveConcurrency, RateLimiter
from synthembed.gen.store import RunStore
from synthembed.gen.taxonomy import TASK_TYPES
from synthembed.recipe import Recipe

#: 429s a single request may meet before it is given up for this run (they do not use up retries).
MAX_RATE_LIMITED = 200
#: Tokens a chat format may add per message (role markers) and per request, bounded generously.
MESSAGE_OVERHEAD = 16


def default_run_dir(recipe: Recipe, recipe_path: str | Path) -> Path:
    """``datasets/<name>/runs/<version>/`` beside the recipe."""
    path = Path(recipe_path)
    folder = path if path.is_dir() else path.parent
    return folder / "runs" / recipe.version


@dataclass
class StepStats:
    total: int = 0
    done: int = 0  # finished before this process started, or by it
    ok: int = 0
    rejected: int = 0
    failed: int = 0


@dataclass
class RunStats:
    """Live counters, changed only by the runner, read by the progress display."""

    steps: dict[str, StepStats] = field(
        default_factory=lambda: {"brainstorm": StepStats(), "generate": StepStats()}
    )
    sent: int = 0
    retries: int = 0
    rate_limited: int = 0
    reasks: int = 0
    in_flight: int = 0
    spent_micros: int = 0
    spent_tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cap_micros: int | None = None
    cap_tokens: int | None = None
    started: float = field(default_factory=time.monotonic)
    first_sent: float | None = None
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    phase: str = "starting"
    concurrency: float = 0.0

    def rate_per_s(self, window: float = 10.0) -> float:
        now = time.monotonic()
        n = sum(1 for t in self.recent if now - t <= window)
        span = min(window, max(now - self.started, 1e-6))
        return n / span


@dataclass
class RunResult:
    """How a generate run ended: ``complete``, ``budget``, ``interrupted`` or ``failed``."""

    run_dir: Path
    status: str
    message: str
    stats: RunStats


_collector_users = 0
_collector_saved: tuple[tuple[int, int, int], bool] | None = None


@contextlib.contextmanager
def _collector_off_long_lived() -> Iterator[None]:
    """Keep Python's cycle collector off the objects that live through a run.

    Each request allocates many short-lived objects, and every full collection would also walk all
    that exists at the start (the plan holds hundreds of thousands at the paper's scale, plus the
    SDKs' modules). Freezing those moves them out of the collector's view, and a larger
    first-generation threshold lets most request objects go by reference counting before a
    collection looks at them: about 10% more requests a second in ``bench/engine.py overhead``.
    The first run to start saves the settings and the last to end restores them, so overlapping
    runs leave the collector as it was; a program that froze objects itself keeps its freeze.
    """
    global _collector_users, _collector_saved
    if _collector_users == 0:
        threshold = gc.get_threshold()
        freeze = gc.get_freeze_count() == 0
        if freeze:
            gc.freeze()
        gc.set_threshold(max(threshold[0], 20_000), 10, 10)
        _collector_saved = (threshold, freeze)
    _collector_users += 1
    try:
        yield
    finally:
        _collector_users -= 1
        if _collector_users == 0 and _collector_saved is not None:
            threshold, freeze = _collector_saved
            _collector_saved = None
            gc.set_threshold(*threshold)
            if freeze:
                gc.unfreeze()


class Runner:
    """Runs a recipe's plan into a run store.

    Args:
        recipe: the validated recipe.
        run_dir: the run folder (created if missing).
        provider: the provider to send to (built from the recipe when None).
        on_update: called with the live :class:`RunStats` about four times a second.
    """

    def __init__(
        self,
        recipe: Recipe,
        run_dir: str | Path,
        provider: Provider | None = None,
        plan: Plan | None = None,
        on_update: Callable[[RunStats], None] | None = None,
        allow_changed_recipe: bool = False,
    ) -> None:
        self.allow_changed_recipe = allow_changed_recipe
        self.recipe = recipe
        self.run_dir = Path(run_dir)
        self.plan = plan or build_plan(recipe, count_tokens=False)
        self.provider = provider
        self.on_update = on_update
        self.stats = RunStats()
        self.cfg = recipe.provider
        self.price = self.plan.price
        self._stop: str | None = None
        self._stop_message = ""
        self._fatal: BaseException | None = None
        # brainstorm requests in flight; the event is set whenever there are none (or the run stops)
        self._brainstorming = 0
        self._brainstorms_settled = asyncio.Event()
        self._brainstorms_settled.set()

    # -- entry point ------------------------------------------------------------------------------
    async def run(self) -> RunResult:
        with RunStore.open(self.run_dir, lock=True) as store:
            self.store = store
            self._check_recipe(store)
            orphaned = store.orphan_inflight()
            self._record_recipe(store)
            spend = store.spend()
            cap_micros = (
                None if self.recipe.budget.dollars is None else int(self.recipe.budget.dollars * MICRO)
            )
            self.budget = Budget(cap_micros, self.recipe.budget.tokens, spend.micros, spend.tokens)
            self.limiter = RateLimiter(
                self.cfg.requests_per_minute,
                self.cfg.tokens_per_minute,
                self.cfg.input_tokens_per_minute,
                self.cfg.output_tokens_per_minute,
            )
            self.gate = AdaptiveConcurrency(self.cfg.concurrency)
            s = self.stats
            s.cap_micros, s.cap_tokens = cap_micros, self.recipe.budget.tokens
            s.spent_micros, s.spent_tokens = spend.micros, spend.tokens
            s.input_tokens, s.output_tokens = spend.input_tokens, spend.output_tokens
            self._count_existing(store)
            if self.provider is None:
                from synthembed.gen.providers import make_provider

                self.provider = make_provider(self.cfg)
            ticker = asyncio.create_task(self._tick())
            self._install_signal_handlers()
            try:
                with _collector_off_long_lived():
                    await self._run_steps()
            finally:
                self._remove_signal_handlers()
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
                await self.provider.aclose()
                self._emit()
            return self._result(orphaned)

    async def _run_steps(self) -> None:
        """Send every unfinished request: the brainstorm step, then the generate step.

        Task types without a brainstorm (sts, bitext) are generated alongside the brainstorm, so
        no slot idles while the last task lists are written; the others start once every
        brainstorm request has finished and their task pools are known.
        """
        self.stats.phase = "brainstorm"
        await self._run_specs(self._items())

    def _items(self) -> Iterator[tuple[RequestSpec, str | None] | None]:
        """Every unfinished request in sending order; None means: wait for the brainstorms in flight.

        One-step requests fill the slots only while brainstorm requests are out; the rest follow
        the plan's order (pooled types first), so a budget cap that stops a run part-way leaves
        much the same mix as before the one-step types went early.
        """
        yield from self._brainstorm_items()
        one_step = self._generate_items(pooled=False)
        while self._brainstorming and self._stop is None:
            item = next(one_step, None)
            if item is None:
                break
            self.stats.phase = "brainstorm, with sts/bitext alongside"
            yield item
        while self._brainstorming and self._stop is None:
            yield None
        if self._stop is None:
            self.stats.phase = "generate"
            yield from self._generate_items(pooled=True)
            yield from one_step

    def _result(self, orphaned: int) -> RunResult:
        s = self.stats
        if self._fatal is not None:
            status, message = "failed", str(self._fatal)
        elif self._stop == "budget":
            status, message = "budget", self._stop_message
        elif self._stop == "interrupted":
            status, message = "interrupted", "stopped by Ctrl-C; run the same command again to continue"
        else:
            gen, brain = s.steps["generate"], s.steps["brainstorm"]
            unfinished = gen.total - gen.done + brain.total - brain.done
            if unfinished:
                status = "incomplete"
                message = (
                    f"{unfinished} requests did not finish (errors or missing task pools); "
                    "run the same command again to retry them"
                )
            else:
                status, message = "complete", "every planned request has an answer"
        if orphaned:
            message += (
                f" ({orphaned} requests left in flight by an earlier process were counted at worst case)"
            )
        return RunResult(self.run_dir, status, message, s)

    def _check_recipe(self, store: RunStore) -> None:
        """Refuse to mix a changed recipe into a run unless asked to (nothing in the store is lost)."""
        old_hash = store.get_meta("recipe_hash")
        if old_hash is None or old_hash == self.recipe.content_hash() or self.allow_changed_recipe:
            return
        changed = "the recipe"
        old_path = self.run_dir / "recipe.yaml"
        if old_path.exists():
            old = yaml.safe_load(old_path.read_text(encoding="utf-8")) or {}
            new = self.recipe.model_dump(mode="json")
            keys = ["seed", "examples", "brainstorm", "generation", "languages", "provider"]
            diff = [k for k in keys if old.get(k) != new.get(k)]
            changed = ", ".join(diff) or changed
        raise RunStoreError(
            f"{self.run_dir} was started from a different recipe (changed: {changed}); its answers stay in "
            "the store. Bump `version` in the recipe for a new run, or pass --allow-changed-recipe to continue "
            "this run (unchanged requests are reused, changed ones become new requests)"
        )

    def _record_recipe(self, store: RunStore) -> None:
        (self.run_dir / "recipe.yaml").write_text(
            yaml.safe_dump(self.recipe.model_dump(mode="json"), sort_keys=False, allow_unicode=True),
            encoding="utf-8",
        )
        summary = self.plan.summary()
        store.set_meta("recipe_hash", self.recipe.content_hash())
        store.set_meta("recipe_name", self.recipe.name)
        store.set_meta(
            "plan",
            {
                "requests": summary["requests"],
                "examples": summary["examples"],
                "brainstorm": sum(g["requests"] for g in summary["groups"] if g["step"] == "brainstorm"),
                "generate": summary["examples"],
                "provider": summary["provider"],
                "cap_dollars": self.recipe.budget.dollars,
                "cap_tokens": self.recipe.budget.tokens,
            },
        )

    def _count_existing(self, store: RunStore) -> None:
        self._finished = {
            r[0]: r[1]
            for r in store.conn.execute("SELECT request_id, status FROM results WHERE status != 'failed'")
        }
        for g in self.plan.groups:
            self.stats.steps[g.step].total += g.count

    # -- specs ------------------------------------------------------------------------------------
    def _brainstorm_items(self) -> Iterator[tuple[RequestSpec, str | None]]:
        step = self.stats.steps["brainstorm"]
        for spec in self.plan.specs("brainstorm"):
            status = self._finished.get(spec.id)
            if status is not None:
                step.done += 1
                setattr(step, status, getattr(step, status) + 1)
                continue
            yield spec, None

    def _task_pool(self, task_type: str) -> list[str] | None:
        """The kept tasks of ``task_type`` in plan order, or None while its brainstorm is unfinished."""
        group = self.plan.group(task_type, "brainstorm")
        assert group is not None
        ids = [s.id for s in group]
        if any(i not in self._finished for i in ids):
            return None
        seen: set[str] = set()
        pool = []
        dropped = []
        for request_id, text, position, kept in self.store.brainstorm_tasks(task_type):
            if not kept:
                continue
            key = task_key(text)
            if key in seen:
                dropped.append((request_id, position))
                continue
            seen.add(key)
            pool.append(text)
        if dropped:
            for request_id, position in dropped:
                self.store.mark_task(request_id, position, "near_duplicate")
            self.store.commit()
        return pool

    def _generate_items(self, pooled: bool | None = None) -> Iterator[tuple[RequestSpec, str | None]]:
        """Unfinished generate requests whose task pool is ready.

        ``pooled`` picks the task types: True those drawing tasks from a brainstorm, False those
        without one (sts, bitext), None all.
        """
        step = self.stats.steps["generate"]
        for group in self.plan.groups:
            has_brainstorm = TASK_TYPES[group.task_type].has_brainstorm
            if group.step != "generate" or pooled not in (None, has_brainstorm):
                continue
            pool: list[str] | None = []
            if has_brainstorm:
                pool = self._task_pool(group.task_type)
                if not pool:
                    # brainstorm unfinished or empty: these requests wait for a later run
                    continue
            for spec in group:
                task = pool[spec.index % len(pool)] if spec.needs_task and pool else None
                status = self._finished.get(spec.request_id(task))
                if status is not None:
                    step.done += 1
                    setattr(step, status, getattr(step, status) + 1)
                    continue
                yield spec, task

    # -- workers ----------------------------------------------------------------------------------
    async def _run_specs(self, items: Iterator[tuple[RequestSpec, str | None] | None]) -> None:
        """Send ``items`` with ``concurrency`` workers; a None item makes a worker wait until no
        brainstorm request is in flight, then ask again."""
        end = object()
        settled = self._brainstorms_settled

        async def worker() -> None:
            while self._stop is None:
                item = next(items, end)
                if item is end:
                    return
                if item is None:
                    await settled.wait()
                    continue
                spec, task = item
                brainstorm = spec.step == "brainstorm"
                if brainstorm:
                    self._brainstorming += 1
                    settled.clear()
                try:
                    await self._process(spec, task)
                    await self.store.sync()
                finally:
                    if brainstorm:
                        self._brainstorming -= 1
                        if not self._brainstorming:
                            settled.set()

        workers = [asyncio.create_task(worker()) for _ in range(self.cfg.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    def _request(self, spec: RequestSpec, task: str | None) -> ChatRequest:
        messages = spec.render(task)
        prefix = spec.template.fixed_prefix
        return ChatRequest(
            id=spec.request_id(task),
            messages=messages,
            max_tokens=spec.max_tokens,
            temperature=self.cfg.temperature,
            top_p=self.cfg.top_p,
            response_kind="list" if spec.step == "brainstorm" else "object",
            json_keys=() if spec.step == "brainstorm" else _keys(spec),
            cache_prefix=len(prefix) if messages[-1]["content"].startswith(prefix) else 0,
            cache_key=spec.template.id,
        )

    def _cost(self, response: ChatResponse, batch: bool = False) -> int:
        if self.price is None:
            return 0
        return self.price.cost_micros(
            response.input_tokens,
            response.output_tokens,
            response.cached_input_tokens,
            response.cache_write_tokens,
            batch=batch,
        )

    def _reservation(self, request: ChatRequest, batch: bool = False) -> tuple[int, int, int]:
        """(input tokens, micro-dollars, tokens) to reserve: the request's worst case.

        The input side is bounded by the prompt's UTF-8 bytes: byte-level BPE (OpenAI, Anthropic,
        Llama-style and SentencePiece-with-byte-fallback tokenizers) never makes more tokens than
        bytes. It is a guarantee rather than an estimate, needs no tokenizer in memory, and
        costs little: the output cap dominates a worst case.

        Where the provider marks a prefix for caching, every input token is reserved at the
        cache-write price (Anthropic's is above the input price).
        """
        input_tokens = (
            sum(len(m["content"].encode("utf-8")) + MESSAGE_OVERHEAD for m in request.messages)
            + MESSAGE_OVERHEAD
        )
        micros = 0
        if self.price:
            marks = getattr(self.provider, "marks_cache", None)
            written = input_tokens if marks is not None and marks(request) else 0
            micros = self.price.cost_micros(input_tokens, request.max_tokens, 0, written, batch=batch)
        return input_tokens, micros, input_tokens + request.max_tokens

    async def _process(self, spec: RequestSpec, task: str | None) -> None:
        request = self._request(spec, task)
        request_id = request.id
        in_tokens, res_micros, res_tokens = self._reservation(request)
        retries = rate_limited = reasks = 0
        last_error = ""
        attempt_id = None
        s = self.stats
        while self._stop is None:
            response = None
            delay = 0.0
            async with self.gate.slot():
                try:
                    reservation = await self.budget.reserve(res_micros, res_tokens)
                except BudgetExhausted as exc:
                    self._halt("budget", str(exc))
                    return
                billed_micros = billed_tokens = 0
                attempt_id = self.store.start_attempt(
                    request_id, spec.step, spec.task_type, res_micros, res_tokens
                )
                s.in_flight += 1
                status, error = "error", None
                try:
                    await self.limiter.acquire(in_tokens, spec.max_tokens)
                    # the attempt and its reservation are on disk before the request can leave
                    await self.store.sync()
                    s.sent += 1
                    if s.first_sent is None:
                        s.first_sent = time.monotonic()
                    response = await self.provider.complete(request)
                    status = "ok"
                    billed_micros = self._cost(response)
                    billed_tokens = response.input_tokens + response.output_tokens
                    self.limiter.observe(response.headers)
                    self.gate.on_success()
                except RateLimitError as exc:
                    error = str(exc)
                    rate_limited += 1
                    s.rate_limited += 1
                    self.limiter.on_rate_limited(exc.retry_after, exc.headers)
                    self.gate.on_rate_limited()
                except RetryableError as exc:
                    error = str(exc)
                    retries += 1
                    s.retries += 1
                    if exc.maybe_billed:
                        billed_micros, billed_tokens = res_micros, res_tokens
                    delay = _backoff(retries, exc.retry_after)
                except FatalProviderError as exc:
                    error = str(exc)
                    self._fatal = exc
                    self._halt("fatal", str(exc))
                except asyncio.CancelledError:
                    status, error = "orphaned", "cancelled while in flight; counted at its worst case"
                    billed_micros, billed_tokens = res_micros, res_tokens
                    raise
                finally:
                    s.in_flight -= 1
                    await self.budget.settle(reservation, billed_micros, billed_tokens)
                    s.spent_micros, s.spent_tokens = self.budget.spent_micros, self.budget.spent_tokens
                    if attempt_id is not None:
                        self._record_attempt(
                            attempt_id, status, billed_micros, billed_tokens, response, error
                        )
            if response is None:
                last_error = error or last_error
                if self._stop is not None:
                    return
                if retries > self.cfg.max_retries or rate_limited > MAX_RATE_LIMITED:
                    self._finish(spec, task, request_id, "failed", f"error: {last_error[:200]}", attempt_id)
                    return
                if delay:
                    await asyncio.sleep(delay)
                continue
            s.input_tokens += response.input_tokens
            s.output_tokens += response.output_tokens
            s.recent.append(time.monotonic())
            if self._handle_answer(spec, task, request_id, response, attempt_id, reasks):
                return
            reasks += 1
            s.reasks += 1

    def _record_attempt(
        self, attempt_id: int, status: str, micros: int, tokens: int, response: Any, error: str | None
    ) -> None:
        if response is None:
            self.store.finish_attempt(
                attempt_id, status=status, cost_micros=micros, billed_tokens=tokens, error=error
            )
            return
        self.store.finish_attempt(
            attempt_id,
            status=status,
            cost_micros=micros,
            billed_tokens=tokens,
            input_tokens=response.input_tokens,
            output_tokens=response.output_tokens,
            cached_tokens=response.cached_input_tokens,
            cache_write_tokens=response.cache_write_tokens,
            latency_s=response.latency_s,
            model=response.model,
            finish_reason=response.finish_reason,
            text=response.text,
            error=error,
        )

    def _handle_answer(
        self,
        spec: RequestSpec,
        task: str | None,
        request_id: str,
        response: Any,
        attempt_id: int,
        reasks: int,
    ) -> bool:
        """Parse and record an answer; False when it failed to parse and may be asked again."""
        meta = {
            "model": response.model,
            "usage": {"input_tokens": response.input_tokens, "output_tokens": response.output_tokens},
            "finish_reason": response.finish_reason,
        }
        if spec.step == "brainstorm":
            parsed = parse_task_list(response.text, response.finish_reason)
            if not isinstance(parsed, ParseFailure):
                tasks = clean_tasks(parsed, set(), self.recipe.brainstorm.max_task_words)
                self._finish(spec, task, request_id, "ok", None, attempt_id, tasks=tasks)
                return True
        else:
            parsed = parse_example(spec, task, response.text, response.finish_reason, meta)
            if not isinstance(parsed, ParseFailure):
                self._finish(spec, task, request_id, "ok", None, attempt_id, example=parsed.to_dict())
                return True
        self.store.set_parse_error(attempt_id, str(parsed))
        if reasks < self.recipe.generation.max_reasks and self._stop is None:
            return False
        self._finish(spec, task, request_id, "rejected", parsed.reason, attempt_id)
        return True

    def _finish(
        self,
        spec: RequestSpec,
        task: str | None,
        request_id: str,
        status: str,
        reason: str | None,
        attempt_id: int | None,
        example: dict[str, Any] | None = None,
        tasks: list[tuple[str, bool, str | None]] | None = None,
    ) -> None:
        self.store.record_result(
            request_id=request_id,
            spec_id=spec.id,
            step=spec.step,
            task_type=spec.task_type,
            idx=spec.index,
            language=spec.language,
            template_id=spec.template.id,
            task=task,
            status=status,
            reason=reason,
            attempt_id=attempt_id,
            example=example,
            tasks=tasks,
        )
        step = self.stats.steps[spec.step]
        setattr(step, status, getattr(step, status) + 1)
        if status != "failed":
            step.done += 1
            self._finished[request_id] = status

    # -- stopping ---------------------------------------------------------------------------------
    def _halt(self, why: str, message: str) -> None:
        if self._stop is None:
            self._stop = why
            self._stop_message = message
        self._brainstorms_settled.set()  # workers waiting for the brainstorm go and see the stop

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        self._interrupts = 0

        def on_sigint() -> None:
            self._interrupts += 1
            self._halt("interrupted", "stopped by Ctrl-C")
            if self._interrupts > 1:
                for task in asyncio.all_tasks(loop):
                    if task is not asyncio.current_task(loop):
                        task.cancel()

        try:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
            loop.add_signal_handler(signal.SIGTERM, on_sigint)
            self._signals = True
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            self._signals = False

    def _remove_signal_handlers(self) -> None:
        if getattr(self, "_signals", False):
            loop = asyncio.get_running_loop()
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)

    async def _tick(self) -> None:
        while True:
            self._emit()
            await asyncio.sleep(0.25)

    def _emit(self) -> None:
        self.stats.concurrency = self.gate.limit
        if self.on_update is not None:
            self.on_update(self.stats)


def _keys(spec: RequestSpec) -> tuple[str, ...]:
    return TASK_TYPES[spec.task_type].fields


def _backoff(retries: int, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, capped at 60 s; at least the server's Retry-After."""
    delay = random.uniform(0, min(60.0, 0.25 * 2**retries))
    return max(delay, retry_after or 0.0)


def generate(
    recipe_path: str | Path,
    run_dir: str | Path | None = None,
    *,
    provider: Provider | None = None,
    on_update: Callable[[RunStats], None] | None = None,
    allow_changed_recipe: bool = False,
) -> RunResult:
    """Load a recipe and run its plan into ``run_dir`` (default ``datasets/<name>/runs/<version>``).

    Running it again continues where the last run stopped; nothing finished is sent again.

    Raises:
        RecipeError, MissingKeyError, RunStoreError: before anything is sent.
    """
    from synthembed.recipe import load_recipe

    recipe = load_recipe(recipe_path)
    folder = Path(run_dir) if run_dir is not None else default_run_dir(recipe, recipe_path)
    cls = Runner
    if getattr(recipe.provider, "mode", "online") == "batch":
        from synthembed.gen.batch import BatchRunner

        cls = BatchRunner
    runner = cls(
        recipe, folder, provider=provider, on_update=on_update, allow_changed_recipe=allow_changed_recipe
    )
    if provider is None:
        from synthembed.gen.providers import make_provider

        runner.provider = make_provider(recipe.provider)  # a missing key fails before the store opens
    return asyncio.run(runner.run())
