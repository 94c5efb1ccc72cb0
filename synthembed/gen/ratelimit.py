"""Rate limits and adaptive concurrency, as objects requests ``await``. Nothing polls.

:class:`RateLimiter` keeps one token bucket per limit (requests, tokens, input tokens, output tokens
per minute). A bucket holds at most one second of its rate, because providers enforce a per-minute
limit over short windows (OpenAI: 3,000 RPM as 50 per second). Waiters queue in order and each
sleeps exactly until its bucket has room. Limits come from the recipe and are learnt and tightened
from the providers' rate-limit headers on every response; a 429 pauses everyone until its
Retry-After has passed.

:class:`AdaptiveConcurrency` is an AIMD limit on requests in flight: it halves on a 429 and grows by
one per window of successes, up to the recipe's ``concurrency``.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime

#: Share of a limit we aim at, so clock skew and latency jitter do not cause 429s.
HEADROOM = 0.98
#: Seconds of rate a bucket can hold.
BURST_SECONDS = 1.0


class TokenBucket:
    """A continuously refilled bucket of ``rate_per_s`` with capacity ``rate_per_s * burst_s``."""

    def __init__(self, per_minute: float, burst_s: float = BURST_SECONDS) -> None:
        self.set_rate(per_minute, burst_s)
        self.level = self.capacity
        self.stamp = time.monotonic()

    def set_rate(self, per_minute: float, burst_s: float = BURST_SECONDS) -> None:
        self.per_minute = per_minute
        self.rate = per_minute * HEADROOM / 60.0
        self.capacity = max(1.0, self.rate * burst_s)

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` is available (amounts above capacity wait for a full bucket)."""
        self._refill(now)
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, amount: float, now: float) -> None:
        self._refill(now)
        self.level -= amount  # may go negative for a large request: later waiters pay it back

    def clamp(self, remaining: float) -> None:
        """Lower the level to what the provider says is left (never raise it)."""
        self.level = min(self.level, remaining)


def parse_duration(text: str) -> float | None:
    """OpenAI reset durations: ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"1h2m3.5s"`` -> seconds."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    total, matched = 0.0, False
    for value, unit in re.findall(r"([\d.]+)(ms|h|m|s)", text):
        matched = True
        total += float(value) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
    return total if matched else None


def parse_reset(text: str, now_wall: float) -> float | None:
    """A reset given as a duration (OpenAI) or an RFC 3339 time (Anthropic) -> seconds from now."""
    seconds = parse_duration(text)
    if seconds is not None:
        return seconds
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return max(0.0, when - now_wall)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Retry-After from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    lower = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lower:
        try:
            return float(lower["retry-after-ms"]) / 1000.0
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


# header prefix -> bucket name; OpenAI counts input+output together as "tokens"
_HEADER_BUCKETS = {
    "x-ratelimit-{}-requests": "requests",
    "x-ratelimit-{}-tokens": "tokens",
    "anthropic-ratelimit-requests-{}": "requests",
    "anthropic-ratelimit-tokens-{}": "tokens",
    "anthropic-ratelimit-input-tokens-{}": "input_tokens",
    "anthropic-ratelimit-output-tokens-{}": "output_tokens",
}
#: (limit header, remaining header, reset header, bucket), spelled out once.
_HEADER_NAMES = tuple(
    (pattern.format("limit"), pattern.format("remaining"), pattern.format("reset"), name)
    for pattern, name in _HEADER_BUCKETS.items()
)


class RateLimiter:
    """Request and token rate limits shared by every request of a run.

    Args:
        requests_per_minute, tokens_per_minute, input_tokens_per_minute, output_tokens_per_minute:
            limits from the recipe; None means "learn it from the headers, if any".
        learn_from_headers: adopt limits the provider announces when they are tighter.

    Example::

        limiter = RateLimiter(requests_per_minute=3000)
        await limiter.acquire(input_tokens=400, output_tokens=1024)
    """

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        input_tokens_per_minute: float | None = None,
        output_tokens_per_minute: float | None = None,
        learn_from_headers: bool = True,
    ) -> None:
        self.buckets: dict[str, TokenBucket] = {}
        for name, limit in (
            ("requests", requests_per_minute),
            ("tokens", tokens_per_minute),
            ("input_tokens", input_tokens_per_minute),
            ("output_tokens", output_tokens_per_minute),
        ):
            if limit:
                self.buckets[name] = TokenBucket(limit)
        self.learn = learn_from_headers
        self.paused_until = 0.0
        self.rate_limited = 0
        self._lock = asyncio.Lock()

    async def acquire(self, input_tokens: int, output_tokens: int) -> None:
        """Wait until every bucket has room for this request, then take it. FIFO among waiters."""
        amounts = {
            "requests": 1.0,
            "tokens": float(input_tokens + output_tokens),
            "input_tokens": float(input_tokens),
            "output_tokens": float(output_tokens),
        }
        async with self._lock:
            while True:
                now = time.monotonic()
                wait = max(self.paused_until - now, 0.0)
                for name, bucket in self.buckets.items():
                    wait = max(wait, bucket.wait_time(amounts[name], now))
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            for name, bucket in self.buckets.items():
                bucket.take(amounts[name], now)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Update limits and levels from a response's rate-limit headers."""
        if not headers:
            return
        lower = {k.lower(): v for k, v in headers.items()}
        now_wall = time.time()
        for limit_key, remaining_key, reset_key, name in _HEADER_NAMES:
            limit = _num(lower.get(limit_key))
            remaining = _num(lower.get(remaining_key))
            if limit is None and remaining is None:
                continue
            bucket = self.buckets.get(name)
            if limit and self.learn and (bucket is None or limit < bucket.per_minute):
                if bucket is None:
                    bucket = self.buckets[name] = TokenBucket(limit)
                else:
                    bucket.set_rate(limit)
            if bucket is not None and remaining is not None:
                bucket.clamp(remaining)
                if remaining <= 0:
                    reset = parse_reset(lower.get(reset_key, ""), now_wall)
                    if reset:
                        self.pause(reset)

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (a 429's Retry-After, an exhausted window)."""
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    def on_rate_limited(self, retry_after: float | None, headers: Mapping[str, str] | None = None) -> None:
        self.rate_limited += 1
        if headers:
            self.observe(headers)
        self.pause(retry_after if retry_after is not None else 1.0)

    def describe(self) -> dict[str, float]:
        return {name: b.per_minute for name, b in self.buckets.items()}


def _num(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


class AdaptiveConcurrency:
    """A limit on requests in flight, grown like TCP's congestion window.

    It starts small (``initial``) so a provider whose limits we do not know yet is not hit by a
    burst before its rate-limit headers have been read; it doubles per window of successes (slow
    start) until the first 429, then halves on each 429 and grows by one per window of successes.

    Example::

        gate = AdaptiveConcurrency(maximum=64)
        async with gate.slot():
            ...
    """

    def __init__(self, maximum: int, initial: int = 4) -> None:
        self.maximum = maximum
        self.limit = float(min(maximum, initial))
        self.in_flight = 0
        self.slow_start = True
        self._successes = 0
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._changed:
            while self.in_flight >= int(self.limit):
                await self._changed.wait()
            self.in_flight += 1
        try:
            yield
        finally:
            async with self._changed:
                self.in_flight -= 1
                self._changed.notify_all()

    def on_success(self) -> None:
        if self.limit >= self.maximum:
            return
        if self.slow_start:
            self.limit = min(self.maximum, self.limit + 1)
            return
        self._successes += 1
        if self._successes >= int(self.limit):
            self._successes = 0
            self.limit = min(self.maximum, self.limit + 1)

    def on_rate_limited(self) -> None:
        self.slow_start = False
        self._successes = 0
        self.limit = max(1.0, self.limit / 2)
