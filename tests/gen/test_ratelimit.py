from __future__ import annotations

import asyncio
import time

import pytest

from synthembed.gen.ratelimit import (
    AdaptiveConcurrency,
    RateLimiter,
    parse_duration,
    parse_reset,
    retry_after_seconds,
)


@pytest.mark.parametrize(
    ("text", "seconds"), [("1s", 1), ("6m0s", 360), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("2.5", 2.5)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_reset_as_rfc3339():
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 30))
    assert parse_reset(stamp, now) == pytest.approx(30, abs=1.5)


def test_retry_after_headers():
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({}) is None


def test_limiter_paces_requests_without_busy_waiting():
    async def go():
        limiter = RateLimiter(requests_per_minute=600)  # 10/s, bucket of 1 s
        start = time.monotonic()
        for _ in range(25):
            await limiter.acquire(10, 10)
        return time.monotonic() - start

    t0 = time.process_time()
    elapsed = asyncio.run(go())
    cpu = time.process_time() - t0
    # 10 in the first burst, then 15 more at ~10.2/s
    assert 1.2 < elapsed < 2.5
    assert cpu < 0.5 * elapsed  # sleeping, not spinning


def test_limits_are_learnt_and_tightened_from_headers():
    limiter = RateLimiter()
    limiter.observe(
        {
            "x-ratelimit-limit-requests": "120",
            "x-ratelimit-remaining-requests": "50",
            "x-ratelimit-limit-tokens": "10000",
            "x-ratelimit-remaining-tokens": "9000",
        }
    )
    assert limiter.describe() == {"requests": 120.0, "tokens": 10000.0}
    limiter.observe({"x-ratelimit-limit-requests": "60"})
    assert limiter.describe()["requests"] == 60.0
    limiter.observe({"anthropic-ratelimit-input-tokens-limit": "4000"})
    assert limiter.describe()["input_tokens"] == 4000.0


def test_exhausted_window_pauses_until_reset():
    limiter = RateLimiter(requests_per_minute=6000)
    limiter.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "300ms"})
    assert limiter.paused_until - time.monotonic() == pytest.approx(0.3, abs=0.05)


def test_adaptive_concurrency_halves_and_grows():
    gate = AdaptiveConcurrency(maximum=16, initial=4)
    for _ in range(12):
        gate.on_success()  # slow start: +1 per success, doubling per window
    assert gate.limit == 16
    gate.on_rate_limited()
    gate.on_rate_limited()
    assert gate.limit == 4
    for _ in range(4):
        gate.on_success()  # then additive: +1 per window
    assert gate.limit == 5

    async def hold():
        gate2 = AdaptiveConcurrency(maximum=2, initial=2)
        active = peak = 0

        async def one():
            nonlocal active, peak
            async with gate2.slot():
                active += 1
                peak = max(peak, active)
                await asyncio.sleep(0.01)
                active -= 1

        await asyncio.gather(*(one() for _ in range(10)))
        return peak

    assert asyncio.run(hold()) == 2
