"""A fake LLM provider server on 127.0.0.1 that speaks the real OpenAI and Anthropic wire formats.

Tests and benchmarks point the official ``openai`` and ``anthropic`` SDK clients at it, so the code under
test runs its real HTTP path: status codes, error bodies, rate-limit headers and connection failures
all look as they do in production, and the SDKs raise their own exception classes.

Routes::

    POST /v1/chat/completions   OpenAI chat completions
    POST /v1/messages           Anthropic messages
    GET  /_stats                the counters of :class:`FakeProviderStats` as JSON
    POST /_reset                clear the counters and the fault queue, refill the rate-limit buckets
    GET|POST /_control          read or change the config at runtime; ``{"faults": [...]}`` queues faults

and the two batch APIs (OpenAI Files + Batches, Anthropic Message Batches), described in
``tests/fake_batch.py`` with the ``batch_*`` settings that drive them.

What it does to a request, in order: parse it (400 when malformed), check the key (401), the model
(404), the billing switch (OpenAI 429 ``insufficient_quota``, Anthropic 400), the rate limits (429 with
``retry-after``), then takes the next fault (queued, else drawn from the seeded RNG), waits the
configured latency and answers. Faults (:data:`FAULTS`):

- ``server_error``: OpenAI 500 ``server_error``; Anthropic 529 ``overloaded_error``.
- ``unavailable``: 503 on both.
- ``timeout``: sleeps ``timeout_sleep_s`` (far past any client timeout), then answers normally.
- ``drop``: does the work and bills it, then closes the connection without a response.
- ``malformed``: a 200 whose content is broken, non-JSON text.
- ``truncated``: a 200 whose content is cut short, with ``finish_reason`` ``length`` / ``max_tokens``.
- ``refusal``: a 200 whose content is a refusal sentence.
- ``rate_limit``: a 429 as if a limit were hit, whatever the buckets say.
- ``ok``: no fault (useful in a queue).

Answers are deterministic for a given seed and request number, or for a given seed and
``X-Client-Request-Id`` header when the client sends one: a brainstorm prompt gets a JSON array of task
sentences, a generate prompt one JSON object with exactly the keys it lists, anything else a sentence.
Tokens are counted as characters / 4.

Example::

    with FakeProviderServer(FakeProviderConfig(rpm=60, latency_s=0.01)) as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="test-key")
        server.queue_faults("server_error")       # the next request gets a 500
        server.config.p_drop = 0.1                 # then 10% of requests lose their connection
        print(server.stats.completed)

Run it as a process (benchmarks do)::

    python -m tests.fake_provider --port 8765 --rpm 30000 --latency 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import dataclasses
import functools
import itertools
import json
import math
import random
import re
import signal
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from aiohttp import web

if TYPE_CHECKING:
    from tests.fake_batch import BatchStats

#: Fault names, in the order their probabilities are drawn.
FAULTS = (
    "server_error",
    "unavailable",
    "timeout",
    "drop",
    "malformed",
    "truncated",
    "refusal",
    "rate_limit",
)


def pick_fault(config: FakeProviderConfig, names: Iterable[str], u: float) -> str | None:
    """The fault of ``names`` that a uniform draw ``u`` falls on, by their ``p_`` settings; None: none."""
    for name in names:
        p = getattr(config, "p_" + name)
        if u < p:
            return name
        u -= p
    return None


#: The sentence a refusal answers with.
REFUSAL_TEXT = "I'm sorry, but I can't help with that."


@dataclass
class FakeProviderConfig:
    """Settings of a :class:`FakeProviderServer`; every field may be changed while it runs.

    Attributes:
        host, port: where to listen; port 0 picks a free one.
        api_key: the one valid key (OpenAI ``Authorization: Bearer``, Anthropic ``x-api-key``);
            None accepts any key.
        models: the known model names; None accepts any name.
        billing_exhausted: answer every request with the provider's out-of-credit error.
        rpm: requests per minute; None is unlimited.
        tpm: input plus max_tokens per minute in one bucket (OpenAI's TPM); None is unlimited.
        input_tpm, output_tpm: input tokens and max_tokens per minute in separate buckets
            (Anthropic's ITPM/OTPM); None is unlimited.
        per_second: a bucket holds a second's worth (limit/60), as OpenAI enforces large limits;
            otherwise it holds the full minute's limit. Both refill continuously at limit/60 a second.
        latency_s, jitter_s: each answer waits ``latency_s`` plus a uniform draw in ±``jitter_s``.
        p_server_error ... p_rate_limit: the probability of each fault in :data:`FAULTS`.
        timeout_sleep_s: how long a ``timeout`` fault sleeps.
        forced_retry_after_s: the ``retry-after`` of a ``rate_limit`` fault.
        default_max_tokens: the output cap of an OpenAI request that sets none.
        max_document_words: cap on the length of a generated document.
        cache_min_tokens: prompts at least this long report cached prefix tokens when their first
            ``cache_min_tokens`` were seen before (OpenAI), or when a block marked ``cache_control``
            ends a prefix seen before (Anthropic).
        seed: seeds the fault draws and the content.
        batch_validating_s ... anthropic_batch_max_bytes: how the batch APIs move and fail, and their
            size limits; see :mod:`tests.fake_batch`.
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_key: str | None = "test-key"
    models: frozenset[str] | None = None
    billing_exhausted: bool = False
    rpm: float | None = None
    tpm: float | None = None
    input_tpm: float | None = None
    output_tpm: float | None = None
    per_second: bool = False
    latency_s: float = 0.0
    jitter_s: float = 0.0
    p_server_error: float = 0.0
    p_unavailable: float = 0.0
    p_timeout: float = 0.0
    p_drop: float = 0.0
    p_malformed: float = 0.0
    p_truncated: float = 0.0
    p_refusal: float = 0.0
    p_rate_limit: float = 0.0
    timeout_sleep_s: float = 600.0
    forced_retry_after_s: float = 1.0
    default_max_tokens: int = 4096
    max_document_words: int = 600
    cache_min_tokens: int = 1024
    seed: int = 0
    batch_validating_s: float = 0.05
    batch_item_s: float = 0.001
    batch_finalizing_s: float = 0.02
    batch_cancelling_s: float = 0.02
    batch_window_s: float = 86_400.0
    batch_expire_after: int | None = None
    batch_p_item_error: float = 0.0
    openai_batch_max_requests: int = 50_000
    openai_batch_max_bytes: int = 200_000_000
    openai_batch_enqueued_tokens: int | None = None
    anthropic_batch_max_requests: int = 100_000
    anthropic_batch_max_bytes: int = 256_000_000

    def __post_init__(self) -> None:
        if self.models is not None:
            self.models = frozenset(self.models)
        for name in (*(f"p_{fault}" for fault in FAULTS), "batch_p_item_error"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p}")

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values (the key included: it is a test key)."""
        out = dataclasses.asdict(self)
        if self.models is not None:
            out["models"] = sorted(self.models)
        return out

    def update(self, changes: dict[str, Any]) -> None:
        """Set fields from ``changes`` (JSON values), checking names and probabilities.

        Raises:
            ValueError: naming an unknown field or a bad value.
        """
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown config fields {unknown}; known: {sorted(known)}")
        checked = dataclasses.replace(self, **changes)  # raises before any field is set
        for name in changes:
            setattr(self, name, getattr(checked, name))


@dataclass
class FakeProviderStats:
    """What the server saw and did. ``input_tokens``/``output_tokens`` sum the usage of every answer
    it produced, those whose connection it then dropped included. ``batch`` counts the batch APIs
    apart (:class:`tests.fake_batch.BatchStats`); nothing else here counts batch traffic."""

    received: int = 0
    completed: int = 0
    rate_limited: int = 0
    auth_errors: int = 0
    not_found: int = 0
    billing_errors: int = 0
    bad_requests: int = 0
    faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULTS, 0))
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    completion_times: list[float] = field(default_factory=list)
    batch: BatchStats = field(default_factory=lambda: _fake_batch().BatchStats())

    def to_dict(self, timestamps: bool = True) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if not timestamps:
            del out["completion_times"]
        return out


def _fake_batch() -> Any:
    # tests.fake_batch builds on this module, so it is imported when first needed, not at the top.
    import tests.fake_batch

    return tests.fake_batch


# --------------------------------------------------------------------------------------------------
# Rate limits


class TokenBucket:
    """A bucket refilled continuously at ``limit / 60`` a second, holding at most ``capacity``.

    A request larger than the capacity passes when the bucket is full and leaves it in debt, so a big
    request is slowed down rather than refused forever.
    """

    __slots__ = ("capacity", "level", "limit", "rate", "stamp")

    def __init__(self, limit_per_minute: float, per_second: bool, now: float) -> None:
        if limit_per_minute <= 0:
            raise ValueError(f"a rate limit must be positive, got {limit_per_minute}")
        self.limit = limit_per_minute
        self.rate = limit_per_minute / 60.0
        self.capacity = self.rate if per_second else float(limit_per_minute)
        self.level = self.capacity
        self.stamp = now

    def wait_for(self, amount: float, now: float) -> float:
        """Refill to ``now``; return 0 when ``amount`` can be taken now, else the seconds to wait."""
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def remaining(self) -> int:
        return max(0, int(self.level))

    def reset_after(self) -> float:
        """Seconds until the bucket is full again."""
        return max(0.0, (self.capacity - self.level) / self.rate)


class RateLimits:
    """The buckets of one API; a request takes from all of them or from none."""

    def __init__(self, config: FakeProviderConfig, now: float) -> None:
        def bucket(limit: float | None) -> TokenBucket | None:
            return TokenBucket(limit, config.per_second, now) if limit else None

        self.requests = bucket(config.rpm)
        self.tokens = bucket(config.tpm)
        self.input_tokens = bucket(config.input_tpm)
        self.output_tokens = bucket(config.output_tpm)

    def acquire(self, input_tokens: int, output_tokens: int, now: float) -> tuple[str, float] | None:
        """Take one request's worth; on refusal return (the limiting bucket's name, seconds to wait)."""
        wants = (
            ("requests", self.requests, 1),
            ("tokens", self.tokens, input_tokens + output_tokens),
            ("input_tokens", self.input_tokens, input_tokens),
            ("output_tokens", self.output_tokens, output_tokens),
        )
        worst: tuple[str, float] | None = None
        for name, b, amount in wants:
            if b is not None:
                wait = b.wait_for(amount, now)
                if wait > 0 and (worst is None or wait > worst[1]):
                    worst = (name, wait)
        if worst is None:
            for _, b, amount in wants:
                if b is not None:
                    b.level -= amount
        return worst


def go_duration(seconds: float) -> str:
    """Format like OpenAI's reset headers (Go durations): ``"20ms"``, ``"1s"``, ``"6m0s"``, ``"1.5s"``."""
    if seconds < 1.0:
        ms = math.ceil(seconds * 1000)
        return f"{ms}ms" if ms else "0s"
    minutes, secs = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    s = f"{secs:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{s}s"
    return f"{minutes}m{s}s" if minutes else f"{s}s"


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(t)))


def _seconds(s: float) -> str:
    return f"{max(s, 0.001):.3f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------------------------------
# Content: small word lists combined into pools at import, so an answer is a few random picks.

_SUBJECTS = (
    "marine biology", "tax law", "medieval history", "kidney disease", "solar panels", "jazz theory",
    "supply chains", "child psychology", "volcanoes", "cryptography", "urban planning", "wine making",
    "football tactics", "climate policy", "quantum computing", "dog training", "real estate",
    "vaccines", "ancient Rome", "machine learning", "organic farming", "aviation safety",
    "copyright law", "astronomy", "nutrition", "railways", "modern poetry", "startup funding",
    "dental care", "chess openings", "beekeeping", "labour law", "wind turbines", "sleep research",
    "birdwatching", "mortgage rates", "3D printing", "public libraries", "coral reefs", "tea culture",
)  # fmt: skip
_USERS = (
    "a nurse", "a first-year student", "a lawyer", "a software engineer", "a farmer", "a journalist",
    "a teacher", "a tourist", "a researcher", "a shop owner", "a retiree", "a patient", "a hobbyist",
    "a policy analyst", "a parent", "an investor", "a librarian", "a customer support agent",
)  # fmt: skip
_KINDS = (
    "forum posts", "news articles", "product reviews", "scientific abstracts", "legal contracts",
    "recipes", "emails", "social media posts", "encyclopedia entries", "patents", "support tickets",
    "textbook chapters", "blog posts", "court rulings", "clinical notes", "meeting minutes", "job ads",
    "user manuals", "podcast transcripts", "government reports",
)  # fmt: skip
_DIMENSIONS = (
    "sentiment", "topic", "intent", "urgency", "factual accuracy", "tone", "reading level",
    "whether it is spam", "the emotion it expresses", "the department that should handle it",
)  # fmt: skip
_FACTORS = (
    "careful planning", "local regulations", "the quality of the data", "seasonal demand",
    "public funding", "training and experience", "the choice of materials", "long-term costs",
    "the weather", "consumer trust", "new technology", "the size of the team", "early testing",
    "clear communication", "the available budget", "international competition",
)  # fmt: skip
_CLAIMS = (
    "costs have fallen steadily over the last decade", "small changes can have large effects",
    "the evidence is still mixed", "beginners often underestimate the effort involved",
    "most problems can be traced to a few common causes", "results vary widely between regions",
    "the older methods still work surprisingly well", "demand keeps growing every year",
    "careful records make later decisions much easier", "the risks are often overstated",
)  # fmt: skip
_EFFECTS = (
    "slows progress for newcomers", "makes long-term forecasts difficult", "raises prices for everyone",
    "explains most of the differences between cases", "is often ignored in public debate",
    "can be reduced with simple precautions", "matters most in the first year",
)  # fmt: skip
_SENTENCES = (
    "Most people who work with {s} agree that {c}.",
    "In practice, {s} depends on {f} more than on {f2}.",
    "A recent report on {s} found that {c}.",
    "The main challenge in {s} is {f}, which {e}.",
    "Many {k} about {s} mention {f} and {f2}.",
    "Experts recommend checking {f} before making any decision about {s}.",
    "When it comes to {s}, {f} {e}.",
    "According to {u} with years of experience in {s}, {c}.",
    "Critics of current approaches to {s} argue that {f} {e}.",
    "One overlooked aspect of {s} is {f}.",
)  # fmt: skip
_QUERIES = (
    "how does {f} affect {s}", "{s} {f}", "best {k} about {s}", "why {s} matters for {u2}",
    "what is the role of {f} in {s} and how has it changed", "{s} basics", "is {s} worth it",
    "common mistakes in {s} related to {f}", "{s} explained for {u2}",
)  # fmt: skip
_LABELS = (
    "positive", "negative", "neutral", "sports", "politics", "health", "finance", "technology",
    "urgent", "not urgent", "spam", "question", "complaint", "praise", "refund request", "billing",
    "shipping", "education", "entertainment", "science", "travel", "legal", "fact", "opinion",
)  # fmt: skip
_TASKS = {
    "retrieval": (
        "Given a question from {u} about {s}, retrieve {k} that answer it.",
        "Retrieve {k} about {s} that support or refute a claim made by {u}.",
        "Find {k} on {s} that help {u} understand how {f} matters.",
    ),
    "classification": (
        "Classify {k} about {s} by {d}.",
        "Sort {k} written by {u} about {s} according to {d}.",
        "Decide the {d} of {k} that discuss {s}.",
    ),
    "short_short": (
        "Given the title of one of the {k} about {s}, find its matching one-line summary.",
        "Match a short question from {u} about {s} to a short answer.",
        "Given a keyword about {s}, find the headline of {k} that it best describes.",
    ),
    "long_long": (
        "Given one of the {k} about {s}, find other {k} that discuss the same issue for {u}.",
        "Given a long document on {s}, retrieve {k} that it cites or builds on.",
        "Given a question post from {u} about {s}, find long posts that duplicate it.",
    ),
}


def _fill(template: str, rng: random.Random) -> str:
    s, s2 = rng.sample(_SUBJECTS, 2)
    f, f2 = rng.sample(_FACTORS, 2)
    u = rng.choice(_USERS)
    return template.format(
        s=s, s2=s2, f=f, f2=f2, u=u, u2=u.split(" ", 1)[1] + "s", k=rng.choice(_KINDS),
        c=rng.choice(_CLAIMS), e=rng.choice(_EFFECTS), d=rng.choice(_DIMENSIONS),
    )  # fmt: skip


def _pool(templates: tuple[str, ...], size: int, seed: int) -> tuple[str, ...]:
    """``size`` distinct fillings of ``templates`` (fewer if the word lists run out)."""
    rng = random.Random(seed)
    out = dict.fromkeys(_fill(rng.choice(templates), rng) for _ in range(size))
    return tuple(out)


def _clip(words: list[str]) -> str:
    while words[-1] in ("and", "of", "in", "the", "for", "on", "to", "a", "is"):
        words = words[:-1]
    return " ".join(words)


_SENTENCE_POOL = tuple(s[0].upper() + s[1:] for s in _pool(_SENTENCES, 4000, 1))
# Documents are slices of one long text, so a document costs one slice whatever its length.
_TEXT = " ".join(_SENTENCE_POOL)
_STARTS = tuple(itertools.accumulate((len(s) + 1 for s in _SENTENCE_POOL), initial=0))
_CUM_WORDS = tuple(itertools.accumulate((len(s.split()) for s in _SENTENCE_POOL), initial=0))
_QUERY_POOL = _pool(_QUERIES, 2000, 2)
_QUERIES_BY_LENGTH = {  # the retrieval template's query_length values
    "less than 5 words": tuple(dict.fromkeys(_clip(q.split()[:4]) for q in _QUERY_POOL)),
    "5 to 15 words": _pool(_QUERIES[:1] + _QUERIES[4:5] + _QUERIES[7:8], 2000, 3),
    "at least 10 words": _pool(tuple(q + " for {u2} who care about {f2}" for q in _QUERIES), 2000, 4),
}


@functools.cache
def _task_pool(task_type: str) -> tuple[str, ...]:
    return _pool(_TASKS[task_type], 3000, 5)


_BRAINSTORM_N = re.compile(r"Number of tasks to write:\s*(\d+)\s*$")
# A literal start lets re skip ahead fast (a "^" with MULTILINE would not).
_JSON_KEY = re.compile(r'\n- "([^"]+)":')
_DETAIL = re.compile(r"\n- ([a-z ]+): ([^\n]+)")
_LENGTH = re.compile(r"(less than|at least|\d+ to) (\d+)")


def _sentence(rng: random.Random) -> str:
    return _SENTENCE_POOL[rng.randrange(len(_SENTENCE_POOL))]


def _words(rng: random.Random, low: int, high: int) -> str:
    """A text of about ``low`` to ``high`` words (whole sentences from ``low`` = 12 words up)."""
    target = rng.randint(low, max(low, high))
    if target < 12:
        return _clip(_sentence(rng).split()[:target]).rstrip(".,") + "."
    i = rng.randrange(len(_SENTENCE_POOL) // 2)
    j = bisect.bisect_left(_CUM_WORDS, _CUM_WORDS[i] + target, i)
    return _TEXT[_STARTS[i] : _STARTS[min(j, len(_SENTENCE_POOL))] - 1]


def _query(rng: random.Random, length: str) -> str:
    pool = _QUERIES_BY_LENGTH.get(length, _QUERY_POOL)
    return pool[rng.randrange(len(pool))]


def _task_type(prompt: str) -> str:
    head = prompt[:400]
    for name, marker in (
        ("classification", "classification"),
        ("short_short", "both sides are short"),
        ("long_long", "both sides are long"),
    ):
        if marker in head:
            return name
    return "retrieval"


def brainstorm_answer(prompt: str, rng: random.Random) -> list[str]:
    """N distinct one-sentence tasks, N read from the prompt's last line."""
    m = _BRAINSTORM_N.search(prompt)
    pool = _task_pool(_task_type(prompt))
    return rng.sample(pool, min(int(m.group(1)) if m else 20, len(pool)))


def generate_answer(prompt: str, keys: list[str], rng: random.Random, max_words: int) -> dict[str, str]:
    """One JSON object with exactly ``keys``, each filled to the lengths the prompt's details ask."""
    details = dict(_DETAIL.findall(prompt))
    brief = "brief" in prompt
    if "long document" in prompt[:200]:
        low = 300
    else:
        m = _LENGTH.search(details.get("document length") or details.get("text length") or "")
        if m is None:
            low = 40
        elif m.group(1) == "less than":
            low = -int(m.group(2))
        else:
            low = int(m.group(2))
    labels = iter(rng.sample(_LABELS, sum("label" in k for k in keys)))
    unit = details.get("unit", "sentence")
    out = {}
    for key in keys:
        if "label" in key:
            value = next(labels)
        elif key in ("S1", "S2", "S3"):
            if unit == "phrase":
                value = _query(rng, "")
            elif unit == "passage":
                value = _words(rng, 40, 90)
            else:
                value = _sentence(rng)
        elif "query" in key or (brief and key == "input"):
            value = _query(rng, details.get("query length", ""))
        elif brief:
            value = _sentence(rng)
        elif "document" in key or "text" in key or key == "input":
            if low < 0:
                value = _words(rng, 3, -low - 1)
            else:
                value = _words(rng, min(low, max_words), min(int(low * 1.25) + 10, max_words))
        else:
            value = _sentence(rng)
        out[key] = value
    return out


def compose_answer(prompt: str, rng: random.Random, max_words: int = 600) -> tuple[str, bool]:
    """The model's answer to ``prompt`` and whether it is JSON."""
    if "Brainstorm" in prompt:
        return json.dumps(brainstorm_answer(prompt, rng)), True
    keys = _JSON_KEY.findall(prompt)
    if keys:
        return json.dumps(generate_answer(prompt, keys, rng, max_words)), True
    return _sentence(rng), False


def break_answer(text: str, is_json: bool, rng: random.Random) -> str:
    """Make ``text`` unparseable as JSON, the ways models do: chatter and a lost bracket, unquoted
    keys, or single quotes."""
    if not is_json:
        return "{" + text[: len(text) // 2]
    way = rng.randrange(3 if text.startswith("{") else 2)
    if way == 0:
        return "Sure! Here is the JSON you asked for:\n" + text[:-1]
    if way == 1:
        return text.replace('"', "'")
    return re.sub(r'"([A-Za-z0-9_]+)":', r"\1:", text)


def tokens(chars: int) -> int:
    """The server's token count: characters / 4, at least 1."""
    return max(1, (chars + 3) // 4)


# --------------------------------------------------------------------------------------------------
# Wire formats: what differs between the two APIs. The flow is FakeProviderServer._handle's.


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class _Parsed:
    model: str
    prompt: str  # the last user message
    input_chars: int
    max_tokens: int
    cache_key: str | None = None  # Anthropic: the text up to the last cache_control block


@dataclass
class _Answer:
    text: str
    stop: bool  # False: cut at max_tokens
    input_tokens: int  # all of the prompt, cached part included
    output_tokens: int
    cache_read: int = 0
    cache_created: int = 0


def _content_text(content: Any) -> tuple[str, bool]:
    """Text of a message content (a string or a list of blocks) and whether it has cache_control."""
    if isinstance(content, str):
        return content, False
    if isinstance(content, list):
        blocks = [b for b in content if isinstance(b, dict)]
        return "".join(b.get("text") or "" for b in blocks), any("cache_control" in b for b in blocks)
    return "", False


def _masked(key: str | None) -> str:
    """A key as error messages show it: ``tes***ey``."""
    return f"{key[:3]}***{key[-2:]}" if key else "(none)"


def _marked_prefix(content: Any) -> str:
    """A content's text up to and including its last block marked ``cache_control``."""
    if not isinstance(content, list):
        return content if isinstance(content, str) else ""
    blocks = [b for b in content if isinstance(b, dict)]
    last = max((i for i, b in enumerate(blocks) if "cache_control" in b), default=len(blocks) - 1)
    return "".join(b.get("text") or "" for b in blocks[: last + 1])


def _bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    return auth[7:] if auth.startswith("Bearer ") else None


def _json_response(body: dict[str, Any], status: int, headers: dict[str, str]) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers=headers, content_type="application/json"
    )


class _OpenAIWire:
    name = "openai"
    #: error kind -> (status, type, code, message); the strings are filled with str.format.
    ERRORS: ClassVar[dict[str, tuple[int, str, str | None, str]]] = {
        "bad_request": (400, "invalid_request_error", None, "{detail}"),
        "auth": (
            401, "invalid_request_error", "invalid_api_key",
            "Incorrect API key provided: {key}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
        ),
        "model": (
            404, "invalid_request_error", "model_not_found",
            "The model `{model}` does not exist or you do not have access to it.",
        ),
        "billing": (
            429, "insufficient_quota", "insufficient_quota",
            "You exceeded your current quota, please check your plan and billing details. For more "
            "information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors.",
        ),
        "rate_limit": (
            429, "{what}", "rate_limit_exceeded",
            "Rate limit reached for {model} in organization org-fake on {what} per min: Limit {limit}, "
            "Used {used}, Requested {requested}. Please try again in {wait}. "
            "Visit https://platform.openai.com/account/rate-limits to learn more.",
        ),
        "server_error": (
            500, "server_error", None,
            "The server had an error while processing your request. Sorry about that!",
        ),
        "unavailable": (503, "server_error", None, "The server is overloaded or not ready yet."),
    }  # fmt: skip

    @staticmethod
    def request_headers(n: int) -> dict[str, str]:
        return {"x-request-id": f"req_fake{n:08d}", "openai-processing-ms": "1"}

    key = staticmethod(_bearer)

    @staticmethod
    def parse(body: dict[str, Any], config: FakeProviderConfig) -> _Parsed:
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not model:
            raise _BadRequest("you must provide a model parameter", "model")
        if not isinstance(messages, list) or not messages:
            raise _BadRequest("'messages' must be a non-empty array", "messages")
        if body.get("stream"):
            raise _BadRequest("the fake provider does not stream", "stream")
        chars, prompt = 0, ""
        for m in messages:
            if not isinstance(m, dict):
                raise _BadRequest("each message must be an object", "messages")
            text, _ = _content_text(m.get("content"))
            chars += len(text)
            if m.get("role") == "user":
                prompt = text
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or config.default_max_tokens
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise _BadRequest("max_tokens must be a positive integer", "max_tokens")
        return _Parsed(model, prompt, chars, max_tokens)

    def error(
        self, kind: str, headers: dict[str, str], param: str | None = None, **fill: Any
    ) -> web.Response:
        return _json_response(*self.error_body(kind, param, **fill), headers)

    def error_body(
        self, kind: str, param: str | None = None, request_id: str | None = None, **fill: Any
    ) -> tuple[dict[str, Any], int]:
        """The error's JSON body and status (a batch's error file carries the body)."""
        status, type_, code, message = self.ERRORS[kind]
        body = {"message": message.format(**fill), "type": type_.format(**fill), "param": param, "code": code}
        return {"error": body}, status

    def rate_limit_error(
        self, headers: dict[str, str], wait: float, bucket: str, **fill: Any
    ) -> web.Response:
        headers["retry-after"] = _seconds(wait)
        headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
        kind = "requests" if bucket == "requests" else "tokens"
        return self.error("rate_limit", headers, what=kind, wait=go_duration(wait), **fill)

    @staticmethod
    def limit_headers(limits: RateLimits, headers: dict[str, str]) -> None:
        # OpenAI has one token limit; the combined bucket stands for it, else the input bucket.
        for suffix, b in (("requests", limits.requests), ("tokens", limits.tokens or limits.input_tokens)):
            if b is not None:
                headers[f"x-ratelimit-limit-{suffix}"] = str(int(b.limit))
                headers[f"x-ratelimit-remaining-{suffix}"] = str(b.remaining())
                headers[f"x-ratelimit-reset-{suffix}"] = go_duration(b.reset_after())

    @staticmethod
    def cache(parsed: _Parsed, input_tokens: int, seen: set[int], min_tokens: int) -> tuple[int, int]:
        """OpenAI caches on its own: a prompt whose first ``min_tokens`` were seen reads them cached."""
        if input_tokens < min_tokens:
            return 0, 0
        key = hash(parsed.prompt[: min_tokens * 4])
        if key in seen:
            return min_tokens, 0
        seen.add(key)
        return 0, 0

    @classmethod
    def completion(cls, n: int, model: str, a: _Answer, headers: dict[str, str]) -> web.Response:
        return _json_response(cls.completion_body(n, model, a), 200, headers)

    @staticmethod
    def completion_body(n: int, model: str, a: _Answer) -> dict[str, Any]:
        message = {"role": "assistant", "content": a.text, "refusal": None, "annotations": []}
        return {
            "id": f"chatcmpl-fake{n:08d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "stop" if a.stop else "length",
                }
            ],
            "usage": {
                "prompt_tokens": a.input_tokens,
                "completion_tokens": a.output_tokens,
                "total_tokens": a.input_tokens + a.output_tokens,
                "prompt_tokens_details": {"cached_tokens": a.cache_read, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }


class _AnthropicWire:
    name = "anthropic"
    #: error kind -> (status, type, code, message); Anthropic errors have no code.
    ERRORS: ClassVar[dict[str, tuple[int, str, str | None, str]]] = {
        "bad_request": (400, "invalid_request_error", None, "{detail}"),
        "auth": (401, "authentication_error", None, "invalid x-api-key"),
        "model": (404, "not_found_error", None, "model: {model}"),
        "billing": (
            400, "invalid_request_error", None,
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing "
            "to upgrade or purchase credits.",
        ),
        "rate_limit": (
            429, "rate_limit_error", None,
            "This request would exceed the rate limit for your organization (org-fake) of {limit} "
            "{what} per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. "
            "You can see the response headers for current usage. Please reduce the prompt length or "
            "the maximum tokens requested, or try again later.",
        ),
        "server_error": (529, "overloaded_error", None, "Overloaded"),
        "unavailable": (503, "api_error", None, "Service temporarily unavailable"),
    }  # fmt: skip

    @staticmethod
    def request_headers(n: int) -> dict[str, str]:
        return {"request-id": f"req_fake{n:08d}"}

    @staticmethod
    def key(request: web.Request) -> str | None:
        # The API takes x-api-key; recent SDKs send the key as a bearer token instead.
        return request.headers.get("x-api-key") or _bearer(request)

    @staticmethod
    def parse(body: dict[str, Any], config: FakeProviderConfig) -> _Parsed:
        model, messages, max_tokens = body.get("model"), body.get("messages"), body.get("max_tokens")
        if not isinstance(model, str) or not model:
            raise _BadRequest("model: Field required")
        if not isinstance(messages, list) or not messages:
            raise _BadRequest("messages: at least one message is required")
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise _BadRequest("max_tokens: Field required and must be a positive integer")
        if body.get("stream"):
            raise _BadRequest("stream: the fake provider does not stream")
        system, marked = _content_text(body.get("system"))
        parts, prompt, cache_key = [system], "", system if marked else None
        for m in messages:
            if not isinstance(m, dict):
                raise _BadRequest("messages: each message must be an object")
            text, marked = _content_text(m.get("content"))
            parts.append(text)
            if marked:
                # the cached prefix ends with the last block marked cache_control, not with its message
                cache_key = "\x00".join([*parts[:-1], _marked_prefix(m.get("content"))])
            if m.get("role") == "user":
                prompt = text
        return _Parsed(model, prompt, sum(map(len, parts)), max_tokens, cache_key)

    def error(
        self, kind: str, headers: dict[str, str], param: str | None = None, **fill: Any
    ) -> web.Response:
        return _json_response(*self.error_body(kind, param, headers.get("request-id"), **fill), headers)

    def error_body(
        self, kind: str, param: str | None = None, request_id: str | None = None, **fill: Any
    ) -> tuple[dict[str, Any], int]:
        """The error's JSON body and status (an errored batch result carries the body)."""
        status, type_, _, message = self.ERRORS[kind]
        body = {
            "type": "error",
            "error": {"type": type_, "message": message.format(**fill)},
            "request_id": request_id,
        }
        return body, status

    def rate_limit_error(
        self, headers: dict[str, str], wait: float, bucket: str, **fill: Any
    ) -> web.Response:
        headers["retry-after"] = _seconds(wait)
        kind = bucket.replace("_", " ") if bucket != "tokens" else "input and output tokens"
        return self.error("rate_limit", headers, what=kind, **fill)

    @staticmethod
    def limit_headers(limits: RateLimits, headers: dict[str, str]) -> None:
        now = time.time()
        for name in ("requests", "tokens", "input_tokens", "output_tokens"):
            b = getattr(limits, name)
            if b is not None:
                prefix = "anthropic-ratelimit-" + name.replace("_", "-")
                headers[prefix + "-limit"] = str(int(b.limit))
                headers[prefix + "-remaining"] = str(b.remaining())
                headers[prefix + "-reset"] = _rfc3339(now + b.reset_after())

    @staticmethod
    def cache(parsed: _Parsed, input_tokens: int, seen: set[int], min_tokens: int) -> tuple[int, int]:
        """Anthropic caches only up to a block marked ``cache_control``: (read, created) tokens."""
        if parsed.cache_key is None:
            return 0, 0
        size = min(tokens(len(parsed.cache_key)), input_tokens)
        if size < min_tokens:
            return 0, 0
        key = hash(parsed.cache_key)
        if key in seen:
            return size, 0
        seen.add(key)
        return 0, size

    @classmethod
    def completion(cls, n: int, model: str, a: _Answer, headers: dict[str, str]) -> web.Response:
        return _json_response(cls.completion_body(n, model, a), 200, headers)

    @staticmethod
    def completion_body(n: int, model: str, a: _Answer) -> dict[str, Any]:
        return {
            "id": f"msg_fake{n:08d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": a.text}],
            "stop_reason": "end_turn" if a.stop else "max_tokens",
            "stop_sequence": None,
            "usage": {
                # Anthropic's input_tokens leaves out the cached part; the other two count it.
                "input_tokens": a.input_tokens - a.cache_read - a.cache_created,
                "output_tokens": a.output_tokens,
                "cache_read_input_tokens": a.cache_read,
                "cache_creation_input_tokens": a.cache_created,
            },
        }


# --------------------------------------------------------------------------------------------------
# The server


class FakeProviderServer:
    """The fake provider, served by aiohttp from a background thread with its own event loop.

    Works from sync tests and from async code alike (the loop is not the caller's). ``config`` is live:
    assigning to its fields changes the behaviour of the next request; ``stats`` is live too.
    ``batches`` holds the batch APIs' state (:class:`tests.fake_batch.FakeBatches`).

    Raises:
        OSError: from :meth:`start` when the port cannot be bound.
    """

    def __init__(self, config: FakeProviderConfig | None = None) -> None:
        self.config = config or FakeProviderConfig()
        self.stats = FakeProviderStats()
        self.port: int | None = None
        self._queue: collections.deque[str] = collections.deque()
        self._counter = itertools.count()
        self._fault_rng = random.Random(self.config.seed)
        self._limits: dict[str, RateLimits] = {}
        self._limits_key: tuple | None = None
        self._cache_seen: set[int] = set()
        self.batches = _fake_batch().FakeBatches(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # ---- public API

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise RuntimeError("the fake provider is not started: call start() or use it in a with block")
        return f"http://{self.config.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The ``base_url`` for ``openai.OpenAI``: ``http://127.0.0.1:PORT/v1``."""
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The ``base_url`` for ``anthropic.Anthropic``: ``http://127.0.0.1:PORT``."""
        return self.base_url

    def queue_faults(self, *names: str) -> None:
        """Give the next requests that pass the rate limiter these faults, in order (``"ok"``: none)."""
        unknown = [n for n in names if n not in FAULTS and n != "ok"]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: ok, {', '.join(FAULTS)}")
        self._queue.extend(names)

    def reset(self) -> None:
        """Clear the stats and the fault queue and refill the rate-limit buckets (batches stay)."""
        self.stats = FakeProviderStats()
        self._queue.clear()
        self._limits_key = None
        self._cache_seen.clear()

    def start(self) -> FakeProviderServer:
        """Start serving in a background thread; returns when the port is bound."""
        if self._thread is not None:
            raise RuntimeError("the fake provider is already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve, args=(ready, failure), name="fake-provider", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving; requests still in flight are cancelled."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None
        self.port = None

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeProviderServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def make_app(self) -> web.Application:
        """The aiohttp application (also usable with aiohttp's own test tools)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        openai_wire, anthropic_wire = _OpenAIWire(), _AnthropicWire()

        async def chat(request: web.Request) -> web.StreamResponse:
            return await self._handle(request, openai_wire)

        async def messages(request: web.Request) -> web.StreamResponse:
            return await self._handle(request, anthropic_wire)

        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_post("/v1/messages", messages)
        self.batches.add_routes(app)
        app.router.add_get("/_stats", self._stats_endpoint)
        app.router.add_post("/_reset", self._reset_endpoint)
        app.router.add_route("*", "/_control", self._control_endpoint)
        return app

    # ---- serving

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(self._open())
            except BaseException as exc:
                failure.append(exc)
                return
            finally:
                ready.set()
            loop.run_forever()
            assert self._runner is not None
            loop.run_until_complete(self._runner.cleanup())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            loop.close()
            self._loop = None

    async def _open(self) -> None:
        runner = web.AppRunner(
            self.make_app(), access_log=None, handler_cancellation=True, shutdown_timeout=0.25
        )
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port, backlog=2048)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]

    # ---- per request

    def _rate_limits(self, api: str) -> RateLimits:
        cfg = self.config
        key = (cfg.rpm, cfg.tpm, cfg.input_tpm, cfg.output_tpm, cfg.per_second)
        if key != self._limits_key:
            now = time.monotonic()
            self._limits = {name: RateLimits(cfg, now) for name in ("openai", "anthropic")}
            self._limits_key = key
        return self._limits[api]

    def _next_fault(self) -> str | None:
        if self._queue:
            fault = self._queue.popleft()
            return None if fault == "ok" else fault
        if not any(getattr(self.config, "p_" + name) for name in FAULTS):
            return None  # no draw: the sequence of draws only moves while faults are switched on
        return pick_fault(self.config, FAULTS, self._fault_rng.random())

    async def _handle(self, request: web.Request, wire: _OpenAIWire | _AnthropicWire) -> web.StreamResponse:
        self.stats.received += 1
        n = next(self._counter)
        cfg = self.config
        headers = wire.request_headers(n)
        try:
            body = json.loads(await request.read())
            if not isinstance(body, dict):
                raise _BadRequest("the request body must be a JSON object")
            parsed = wire.parse(body, cfg)
        except (ValueError, _BadRequest) as exc:
            self.stats.bad_requests += 1
            param = exc.param if isinstance(exc, _BadRequest) else None
            return wire.error("bad_request", headers, param, detail=f"could not read the request: {exc}")
        if cfg.api_key is not None:
            key = wire.key(request)
            if key != cfg.api_key:
                self.stats.auth_errors += 1
                return wire.error("auth", headers, key=_masked(key))
        if cfg.models is not None and parsed.model not in cfg.models:
            self.stats.not_found += 1
            return wire.error("model", headers, model=parsed.model)
        if cfg.billing_exhausted:
            self.stats.billing_errors += 1
            return wire.error("billing", headers)

        input_tokens = tokens(parsed.input_chars)
        limits = self._rate_limits(wire.name)
        denied = limits.acquire(input_tokens, parsed.max_tokens, time.monotonic())
        wire.limit_headers(limits, headers)
        fault = None if denied else self._next_fault()
        if fault:
            self.stats.faults[fault] += 1
        if fault == "rate_limit":
            denied = ("requests", cfg.forced_retry_after_s)
        if denied is not None:
            self.stats.rate_limited += 1
            name, wait = denied
            bucket = getattr(limits, name)
            limit = int(bucket.limit) if bucket else 0
            used = limit - bucket.remaining() if bucket else 0
            requested = {"requests": 1, "input_tokens": input_tokens, "output_tokens": parsed.max_tokens}
            return wire.rate_limit_error(
                headers, wait, name, model=parsed.model, limit=limit, used=used,
                requested=requested.get(name, input_tokens + parsed.max_tokens),
            )  # fmt: skip

        delay = cfg.latency_s + (
            self._fault_rng.uniform(-cfg.jitter_s, cfg.jitter_s) if cfg.jitter_s else 0.0
        )
        if fault == "timeout":
            delay += cfg.timeout_sleep_s
        if delay > 0:
            await asyncio.sleep(delay)
        if fault in ("server_error", "unavailable"):
            return wire.error(fault, headers)

        # A client request id makes the answer a function of the request, not of arrival order, so a
        # request re-sent after a crash gets the same answer (as resume tests need).
        client_id = request.headers.get("X-Client-Request-Id")
        content_key = zlib.crc32(client_id.encode()) if client_id else n
        answer = self._answer(content_key, parsed, input_tokens, fault, wire)
        stats = self.stats  # read again: a reset during the wait starts a new count
        stats.input_tokens += answer.input_tokens
        stats.cached_input_tokens += answer.cache_read
        stats.output_tokens += answer.output_tokens
        if fault == "drop":
            # Close the connection with no response; aiohttp then skips writing the one returned.
            request.protocol.force_close()
            return web.Response()
        response = wire.completion(n, parsed.model, answer, headers)
        stats.completed += 1
        stats.completion_times.append(time.time())
        return response

    def _answer(
        self,
        n: int,
        parsed: _Parsed,
        input_tokens: int,
        fault: str | None,
        wire: _OpenAIWire | _AnthropicWire,
    ) -> _Answer:
        cfg = self.config
        rng = random.Random(cfg.seed * 1_000_003 + n)
        stop = True
        if fault == "refusal":
            text = REFUSAL_TEXT
        else:
            text, is_json = compose_answer(parsed.prompt, rng, cfg.max_document_words)
            if fault == "malformed":
                text = break_answer(text, is_json, rng)
            elif fault == "truncated":
                text, stop = text[: max(1, int(len(text) * rng.uniform(0.3, 0.8)))], False
        if tokens(len(text)) > parsed.max_tokens:
            text, stop = text[: parsed.max_tokens * 4], False
        if len(self._cache_seen) > 100_000:
            self._cache_seen.clear()
        read, created = wire.cache(parsed, input_tokens, self._cache_seen, cfg.cache_min_tokens)
        return _Answer(text, stop, input_tokens, tokens(len(text)), read, created)

    # ---- control endpoints

    async def _stats_endpoint(self, request: web.Request) -> web.Response:
        timestamps = request.query.get("timestamps", "1") not in ("0", "false", "no")
        return web.json_response(self.stats.to_dict(timestamps))

    async def _reset_endpoint(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"reset": True})

    async def _control_endpoint(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                changes = await request.json()
                if not isinstance(changes, dict):
                    raise ValueError("the body must be a JSON object")
                faults = changes.pop("faults", None) or []
                if changes.pop("clear_faults", False):
                    self._queue.clear()
                self.queue_faults(*faults)
                self.config.update(changes)
            except ValueError as exc:
                return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"config": self.config.to_dict(), "queued_faults": list(self._queue)})


# --------------------------------------------------------------------------------------------------
# Command line


def _parse_args(argv: Iterable[str] | None) -> FakeProviderConfig:
    p = argparse.ArgumentParser(prog="python -m tests.fake_provider", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--api-key", default="test-key", help="the valid key; 'any' accepts every key")
    p.add_argument("--models", help="comma-separated known model names (default: accept any)")
    p.add_argument("--billing-exhausted", action="store_true")
    p.add_argument("--rpm", type=float)
    p.add_argument("--tpm", type=float)
    p.add_argument("--input-tpm", type=float)
    p.add_argument("--output-tpm", type=float)
    p.add_argument("--per-second", action="store_true", help="buckets hold limit/60 (OpenAI-style)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    p.add_argument("--jitter", type=float, default=0.0, help="± seconds around --latency")
    for name in FAULTS:
        p.add_argument(
            f"--p-{name.replace('_', '-')}", type=float, default=0.0, help=f"probability of {name}"
        )
    p.add_argument("--timeout-sleep", type=float, default=600.0)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(list(argv) if argv is not None else None)
    return FakeProviderConfig(
        host=a.host,
        port=a.port,
        api_key=None if a.api_key == "any" else a.api_key,
        models=frozenset(a.models.split(",")) if a.models else None,
        billing_exhausted=a.billing_exhausted,
        rpm=a.rpm,
        tpm=a.tpm,
        input_tpm=a.input_tpm,
        output_tpm=a.output_tpm,
        per_second=a.per_second,
        latency_s=a.latency,
        jitter_s=a.jitter,
        timeout_sleep_s=a.timeout_sleep,
        seed=a.seed,
        **{f"p_{name}": getattr(a, f"p_{name}") for name in FAULTS},
    )


def main(argv: Iterable[str] | None = None) -> None:
    """Serve until SIGINT or SIGTERM; prints ``fake provider listening on URL`` once bound."""
    config = _parse_args(argv)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before the URL is printed: a caller may stop us at once
        signal.signal(sig, lambda *_: done.set())
    server = FakeProviderServer(config).start()
    print(f"fake provider listening on {server.base_url}", flush=True)
    while not done.wait(0.2):
        pass
    server.stop()


if __name__ == "__main__":
    main()
