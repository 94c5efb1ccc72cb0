"""Generation engine benchmarks against the fake provider server in a separate process.

    python bench/engine.py ratelimit   # 3,000 RPM enforced per second, 0.5 s latency, 3,000 requests
    python bench/engine.py faults      # the same with 5% injected 500s: every request must complete
    python bench/engine.py overhead    # no limit, 50 ms latency: completed requests per second
    python bench/engine.py memory      # 200,000 requests: peak RSS of the generating process
    python bench/engine.py batch       # 100,000 requests in batch mode: wall time and peak RSS
    python bench/engine.py all

The client is the real runner (official OpenAI SDK on aiohttp, SQLite store, budget, limiter); the
server runs in its own process on the same 2 cores, as in the issue's setting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synthembed.gen.batch import BatchRunner  # noqa: E402
from synthembed.gen.runner import Runner  # noqa: E402
from synthembed.recipe import parse_recipe  # noqa: E402


class Server:
    """The fake provider as a subprocess."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_provider", "--port", "0", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()  # "fake provider listening on URL"
        self.url = line.strip().rsplit(" ", 1)[-1]

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/_stats?timestamps=0") as r:
            return json.loads(r.read())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def run_once(
    url: str,
    n: int,
    concurrency: int,
    rpm: float | None = None,
    max_retries: int = 8,
    batch: dict | None = None,
) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix="synthembed-bench-"))
    recipe = parse_recipe(
        {
            "name": "bench",
            "version": "1.0.0",
            "provider": {
                "kind": "openai",
                "model": "gpt-4o-mini",
                "base_url": url + "/v1",
                "concurrency": concurrency,
                "requests_per_minute": rpm,
                "max_output_tokens": 1024,
                "timeout_s": 30,
                "max_retries": max_retries,
                **({"mode": "batch", "batch": batch} if batch else {}),
            },
            "examples": {"sts": n},
            "languages": {"scheme": "explicit", "weights": {"en": 1}},
        }
    )
    os.environ["OPENAI_API_KEY"] = "test-key"
    runner = (BatchRunner if batch else Runner)(recipe, run_dir)
    t0 = time.perf_counter()
    result = asyncio.run(runner.run())
    wall = time.perf_counter() - t0
    st = runner.stats
    # throughput over the sending window: first send to last completion (start-up excluded)
    window = (st.recent[-1] - st.first_sent) if st.recent and st.first_sent else wall
    shutil.rmtree(run_dir, ignore_errors=True)
    gen = result.stats.steps["generate"]
    return {
        "status": result.status,
        "wall_s": wall,
        "done": gen.done,
        "ok": gen.ok,
        "failed": gen.failed,
        "window_s": window,
        "sent": st.sent,
        "stats": result.stats,
    }


def bench_ratelimit(p_500: float = 0.0) -> None:
    rpm, n = 3000, 3000
    server = Server("--rpm", str(rpm), "--per-second", "--latency", "0.5", "--p-server-error", str(p_500))
    try:
        out = run_once(server.url, n, concurrency=64, rpm=rpm, max_retries=20)
        stats = server.stats()
    finally:
        server.stop()
    # sustained rate: requests the server accepted over the sending window (first send to last answer)
    accepted = stats["received"] - stats["rate_limited"]
    rate = accepted / out["window_s"] * 60
    label = "rate limit" if not p_500 else f"rate limit + {p_500:.0%} injected 500s"
    print(f"[{label}] {n} requests at a {rpm} RPM limit enforced per second, 0.5 s latency")
    print(
        f"  completed {out['done']}/{n} ({out['ok']} parsed), failed {out['failed']}, status {out['status']}"
    )
    print(
        f"  sending window {out['window_s']:.1f} s: sustained {rate:,.0f} accepted req/min = "
        f"{rate / rpm:.1%} of the limit"
    )
    print(
        f"  429s: {stats['rate_limited']} = {stats['rate_limited'] / stats['received']:.2%} of "
        f"{stats['received']} requests received; 500s injected: {stats['faults']['server_error']}"
    )


async def _bare_loop(url: str, n: int, concurrency: int) -> float:
    """A plain AsyncOpenAI loop (typed create, aiohttp transport): the reference point."""
    import openai

    client = openai.AsyncOpenAI(
        api_key="test-key", base_url=url + "/v1", max_retries=0, http_client=openai.DefaultAioHttpClient()
    )
    gate = asyncio.Semaphore(concurrency)
    messages = [{"role": "user", "content": "Details for this example: S1 S2 S3 unit: sentence"}]

    async def one() -> None:
        async with gate:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=messages, max_completion_tokens=256
            )

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    rate = n / (time.perf_counter() - t0)
    await client.close()
    return rate


def bench_overhead(rounds: int = 3) -> None:
    """Runner vs a bare AsyncOpenAI loop, alternated ``rounds`` times on one server; medians and ratio."""
    n = 6000
    server = Server("--latency", "0.05")
    runner_rates, bare_rates = [], []
    try:
        for i in range(rounds):
            out = run_once(server.url, n, concurrency=256)
            assert out["done"] == n and out["failed"] == 0, out
            runner_rates.append(out["done"] / out["window_s"])
            bare_rates.append(asyncio.run(_bare_loop(server.url, 3000, 256)))
            print(
                f"  round {i + 1}: runner {runner_rates[-1]:,.0f} req/s ({out['done']} completed, "
                f"{out['window_s']:.1f} s sending window, {out['wall_s']:.1f} s wall with start-up); "
                f"bare loop {bare_rates[-1]:,.0f} req/s"
            )
    finally:
        server.stop()
    rate, bare = statistics.median(runner_rates), statistics.median(bare_rates)
    print(
        f"[overhead] {n} examples per round, no limit, 50 ms latency, concurrency 256, server on the same 2 cores"
    )
    print(f"  runner (store writes included): median {rate:,.0f} completed req/s over {rounds} rounds")
    print(
        f"  bare AsyncOpenAI loop in the same setting: median {bare:,.0f} req/s; runner / bare = {rate / bare:.2f}"
    )


def bench_memory(n: int = 200_000) -> None:
    server = Server()
    try:
        out = run_once(server.url, n, concurrency=128)
    finally:
        server.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"[memory] {n:,} requests: completed {out['done']:,} in {out['wall_s']:.0f} s "
        f"({out['sent'] / out['window_s']:,.0f} req/s); peak RSS {rss:.0f} MB"
    )


def bench_batch(n: int = 100_000) -> None:
    """Batch mode at scale: submit, poll and collect ``n`` requests in batches of 20,000."""
    server = Server()
    try:
        control = json.dumps({"batch_item_s": 0.0, "batch_validating_s": 0.01}).encode()
        urllib.request.urlopen(urllib.request.Request(server.url + "/_control", control, method="POST"))
        out = run_once(server.url, n, concurrency=1, batch={"max_requests": 20_000, "poll_interval_s": 0.5})
        stats = server.stats()
    finally:
        server.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    submitted = stats["batch"]["submitted"]["openai"]
    print(
        f"[batch] {n:,} requests through the Batches API (fake server, instant items): completed "
        f"{out['done']:,} in {out['wall_s']:.0f} s, {stats['batch']['created']['openai']} batches, "
        f"{max(submitted.values())} submission(s) per item at most; peak RSS {rss:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("which", choices=["ratelimit", "faults", "overhead", "memory", "batch", "all"])
    parser.add_argument("--memory-requests", type=int, default=200_000)
    args = parser.parse_args()
    if args.which in ("ratelimit", "all"):
        bench_ratelimit()
    if args.which in ("faults", "all"):
        bench_ratelimit(p_500=0.05)
    if args.which in ("overhead", "all"):
        bench_overhead()
    if args.which in ("memory", "all"):
        bench_memory(args.memory_requests)
    if args.which in ("batch", "all"):
        bench_batch()


if __name__ == "__main__":
    main()
