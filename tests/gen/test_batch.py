"""Batch mode against the fake provider's batch endpoints, through the official SDKs."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from synthembed.gen.batch import BatchRunner
from synthembed.gen.pricing import MICRO, lookup_price
from synthembed.gen.progress import print_status
from synthembed.gen.providers import make_provider
from synthembed.gen.store import RunStore
from synthembed.recipe import parse_recipe
from tests.fake_provider import FakeProviderConfig, FakeProviderServer
from tests.gen.test_runner import recipe as online_recipe

EXAMPLES = {"retrieval": 12, "classification": 6, "sts": 8, "bitext": 6}


@pytest.fixture(autouse=True)
def _keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")


def recipe(server, kind="openai", examples=None, batch=None, **provider):
    """The online tests' recipe, in batch mode, polling fast."""
    batch = {"poll_interval_s": 0.05, **(batch or {})}
    return online_recipe(
        server, kind, examples or EXAMPLES, mode="batch", timeout_s=5, batch=batch, **provider
    )


def run(data, run_dir, budget=None, provider=None):
    if budget is not None:
        data = {**data, "budget": budget}
    parsed = parse_recipe(data)
    return asyncio.run(BatchRunner(parsed, run_dir, provider=provider).run())


def rows(run_dir, sql):
    with sqlite3.connect(run_dir / "store.sqlite") as c:
        return c.execute(sql).fetchall()


def example_ids(run_dir):
    return {r[0] for r in rows(run_dir, "SELECT id FROM examples")}


def submitted(server, api):
    return dict(server.stats.batch.submitted[api])


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_batch_run_completes_and_lands_in_the_same_store(tmp_path, kind):
    with FakeProviderServer(FakeProviderConfig(seed=3)) as server:
        result = run(recipe(server, kind), tmp_path / "run")
        counts = submitted(server, kind)
    assert result.status == "complete", result.message
    assert len(example_ids(tmp_path / "run")) == sum(EXAMPLES.values())
    # every attempt went in a batch; nothing was submitted twice
    assert rows(tmp_path / "run", "SELECT COUNT(*) FROM attempts WHERE batch_id IS NULL") == [(0,)]
    assert counts and set(counts.values()) == {1}
    statuses = dict(rows(tmp_path / "run", "SELECT status, COUNT(*) FROM batches GROUP BY status"))
    assert statuses == {"collected": statuses["collected"]} and statuses["collected"] >= 2
    # the store reads the same as an online run's: `status` and filter need nothing else
    with RunStore.open(tmp_path / "run", create=False) as store:
        assert store.counts()["generate"]["sts"] == {"ok": EXAMPLES["sts"]}
    out = io.StringIO()
    data = print_status(tmp_path / "run", Console(file=out, width=120))
    assert data["batches"] == statuses
    assert f"0 open at the provider, {statuses['collected']} collected" in out.getvalue()


def test_brainstorm_batches_end_before_dependent_generation_batches_are_submitted(tmp_path):
    with FakeProviderServer(FakeProviderConfig(seed=3, batch_item_s=0.005)) as server:
        assert run(recipe(server), tmp_path / "run").status == "complete"
    run_dir = tmp_path / "run"
    brainstorm_done = rows(
        run_dir, "SELECT task_type, MAX(finished_at) FROM attempts WHERE step='brainstorm' GROUP BY task_type"
    )
    for task_type, done_at in brainstorm_done:
        (first_submit,) = rows(
            run_dir,
            "SELECT MIN(b.created_at) FROM attempts a JOIN batches b ON a.batch_id=b.id"
            f" WHERE a.step='generate' AND a.task_type='{task_type}'",
        )[0]
        assert first_submit >= done_at
    # sts and bitext do not wait for the brainstorm: they go in the first batch
    first = rows(run_dir, "SELECT id FROM batches ORDER BY created_at LIMIT 1")[0][0]
    types = {r[0] for r in rows(run_dir, f"SELECT DISTINCT task_type FROM attempts WHERE batch_id='{first}'")}
    assert {"sts", "bitext"} <= types


def test_size_limit_splits_batches(tmp_path):
    with FakeProviderServer(FakeProviderConfig(seed=3)) as server:
        result = run(recipe(server, batch={"max_requests": 7}), tmp_path / "run")
    assert result.status == "complete"
    sizes = [r[0] for r in rows(tmp_path / "run", "SELECT requests FROM batches")]
    assert max(sizes) <= 7 and len(sizes) >= 5


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_failed_items_are_sent_again_alone(tmp_path, kind):
    with FakeProviderServer(FakeProviderConfig(seed=3, batch_p_item_error=0.25)) as server:
        result = run(recipe(server, kind), tmp_path / "run")
        counts = submitted(server, kind)
    assert result.status == "complete", result.message
    errors = rows(tmp_path / "run", "SELECT request_id FROM attempts WHERE status='error'")
    assert errors, "the fault injection should have failed some items"
    again = {rid for rid, n in counts.items() if n > 1}
    assert again == {r[0] for r in errors} | again  # only failed (or unparsed) items went again
    assert again >= {r[0] for r in errors}
    assert len(example_ids(tmp_path / "run")) == sum(EXAMPLES.values())


def test_an_expired_batch_has_its_unfinished_items_resubmitted_once(tmp_path):
    config = FakeProviderConfig(seed=3, batch_item_s=0.002, batch_expire_after=4)
    with FakeProviderServer(config) as server:

        def lift_expiry() -> None:  # only the first batch expires
            while not server.stats.batch.outcomes["openai"].get("expired"):
                time.sleep(0.001)
            server.config.batch_expire_after = None

        threading.Thread(target=lift_expiry, daemon=True).start()
        result = run(recipe(server, examples={"sts": 10, "bitext": 6}), tmp_path / "run")
        counts = submitted(server, "openai")
    assert result.status == "complete", result.message
    expired = {r[0] for r in rows(tmp_path / "run", "SELECT request_id FROM attempts WHERE status='expired'")}
    assert len(expired) == 16 - 4
    assert {rid: counts[rid] for rid in expired} == dict.fromkeys(expired, 2)
    assert sum(counts.values()) == 16 + len(expired)
    assert len(example_ids(tmp_path / "run")) == 16


def test_spend_with_caching_and_batch_discount_matches_the_billed_usage(tmp_path):
    """Anthropic batch with a marked prefix: our spend equals the fake's billed usage, priced by hand."""
    config = FakeProviderConfig(seed=3, cache_min_tokens=32)
    with FakeProviderServer(config) as server:
        data = recipe(server, "anthropic", examples={"sts": 12, "bitext": 8})
        provider = make_provider(parse_recipe(data).provider)
        provider.cache_min_tokens = 32  # the E5 prefixes are short; let this model cache them
        result = run(data, tmp_path / "run", provider=provider)
        usage = dict(server.stats.batch.usage["anthropic"])
    assert result.status == "complete"
    assert usage["cache_creation_input_tokens"] > 0 and usage["cached_input_tokens"] > 0
    price = lookup_price("claude-3-5-haiku")
    assert price is not None
    # by hand: $0.80 / $0.08 / $1.00 / $4.00 per million (in, cache read, cache write, out), halved
    # the fake bills input_tokens with the cached and cache-written parts included
    uncached = usage["input_tokens"] - usage["cached_input_tokens"] - usage["cache_creation_input_tokens"]
    by_hand = (
        uncached * 0.80
        + usage["cached_input_tokens"] * 0.08
        + usage["cache_creation_input_tokens"] * 1.00
        + usage["output_tokens"] * 4.00
    ) * 0.5
    with RunStore.open(tmp_path / "run", create=False) as store:
        spend = store.spend()
    assert spend.cached_tokens == usage["cached_input_tokens"]
    assert spend.cache_write_tokens == usage["cache_creation_input_tokens"]
    # each request's cost is rounded up to a micro-dollar: at most one micro-dollar per request apart
    assert 0 <= spend.micros - by_hand < spend.attempts
    assert round(spend.micros / MICRO, 2) == round(by_hand / MICRO, 2)


@pytest.mark.parametrize(("cap", "p_error"), [(0.003, 0.0), (0.02, 0.0), (0.02, 0.3), (0.01, 0.1)])
def test_a_cap_that_cannot_cover_a_batch_submits_a_smaller_one(tmp_path, cap, p_error):
    """Spend, ours and the provider's billed usage priced by hand, never passes the cap."""
    with FakeProviderServer(FakeProviderConfig(seed=3, batch_p_item_error=p_error)) as server:
        data = recipe(server, examples={"sts": 40})
        result = run(data, tmp_path / "run", budget={"dollars": cap})
        usage = dict(server.stats.batch.usage["openai"])
    batches = rows(tmp_path / "run", "SELECT requests, reserved_micros FROM batches ORDER BY created_at")
    assert batches[0][0] < 40, "the first batch should have been cut to fit the cap"
    assert all(micros <= cap * MICRO for _, micros in batches)
    with RunStore.open(tmp_path / "run", create=False) as store:
        spend = store.spend()
    price = lookup_price("gpt-4o-mini")
    assert price is not None
    billed = price.cost_micros(
        usage["input_tokens"], usage["output_tokens"], usage["cached_input_tokens"], batch=True
    )
    assert billed <= spend.micros <= cap * MICRO
    assert result.status in ("budget", "complete")
    if result.status == "budget":
        assert "budget cap reached" in result.message
        # stopped with less than one request's worst case unused
        worst_one = min(m / n for n, m in batches)
        assert cap * MICRO - spend.micros < 2 * worst_one


def test_billing_error_stops_before_any_batch_is_submitted(tmp_path):
    with FakeProviderServer(FakeProviderConfig(seed=3, billing_exhausted=True)) as server:
        result = run(recipe(server, "anthropic"), tmp_path / "run")
        created = server.stats.batch.created["anthropic"]
    assert result.status == "failed"
    assert "credit" in result.message or "pay" in result.message
    assert created == 0
    assert rows(tmp_path / "run", "SELECT status FROM batches") == [("lost",)]
    with RunStore.open(tmp_path / "run", create=False) as store:
        assert store.spend().micros == 0


def _batches(run_dir: Path, status: str) -> int:
    try:
        with sqlite3.connect(run_dir / "store.sqlite", timeout=1) as c:
            return c.execute("SELECT COUNT(*) FROM batches WHERE status=?", (status,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_killed_after_submission_a_restart_collects_without_submitting_twice(tmp_path, kind):
    config = FakeProviderConfig(seed=5, batch_item_s=0.03)
    with FakeProviderServer(config) as server:
        data = recipe(server, kind, examples={"sts": 20, "bitext": 10, "retrieval": 10})
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump(data))
        env = {**os.environ, "OPENAI_API_KEY": "test-key", "ANTHROPIC_API_KEY": "test-key"}
        cmd = [sys.executable, "-m", "synthembed.cli", "generate", str(path), "--quiet", "--run-dir"]

        subprocess.run(
            [*cmd, str(tmp_path / "straight")], env=env, check=True, timeout=300, capture_output=True
        )
        expected = example_ids(tmp_path / "straight")
        server.stats.batch.submitted[kind].clear()

        broken = tmp_path / "broken"
        kills = 0
        for _ in range(3):  # kill while a batch is running at the provider, then again on the next
            before = _batches(broken, "collected")
            proc = subprocess.Popen(
                [*cmd, str(broken)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if _batches(broken, "submitted") and _batches(broken, "collected") >= before:
                    break
                time.sleep(0.01)
            if proc.poll() is not None:
                break
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        done = subprocess.run([*cmd, str(broken)], env=env, timeout=300, capture_output=True, text=True)
        counts = submitted(server, kind)
    assert done.returncode == 0, done.stdout + done.stderr
    assert kills >= 1
    assert example_ids(broken) == expected
    assert set(counts.values()) == {1}, "an item was submitted twice"
    assert rows(broken, "SELECT COUNT(*) FROM attempts WHERE status='orphaned'") == [(0,)]


def test_an_old_store_gains_the_new_columns(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with sqlite3.connect(run_dir / "store.sqlite") as c:
        c.execute(
            "CREATE TABLE attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL,"
            " step TEXT NOT NULL, task_type TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL,"
            " status TEXT NOT NULL, reserved_micros INTEGER NOT NULL, reserved_tokens INTEGER NOT NULL,"
            " cost_micros INTEGER NOT NULL DEFAULT 0, billed_tokens INTEGER NOT NULL DEFAULT 0,"
            " input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,"
            " cached_tokens INTEGER NOT NULL DEFAULT 0, latency_s REAL, model TEXT, finish_reason TEXT,"
            " text TEXT, error TEXT, parse_error TEXT)"
        )
        c.execute(
            "INSERT INTO attempts (request_id, step, task_type, started_at, status, reserved_micros,"
            " reserved_tokens, cost_micros) VALUES ('r', 'generate', 'sts', 0, 'ok', 5, 5, 3)"
        )
    with RunStore.open(run_dir) as store:
        assert store.spend().micros == 3
        store.start_attempt("r2", "generate", "sts", 10, 10, batch_id="b")
        assert store.batch_attempts("b") == {"r2": (2, 10, 10)}


def test_a_batch_refused_for_queued_tokens_goes_again_later(tmp_path):
    """OpenAI fails a batch whose prompt tokens exceed the model's queue; its items wait and go again."""
    with FakeProviderServer(FakeProviderConfig(seed=3, openai_batch_enqueued_tokens=1)) as server:

        def lift_limit() -> None:
            while not server.stats.batch.created["openai"]:
                time.sleep(0.001)
            time.sleep(0.2)
            server.config.openai_batch_enqueued_tokens = None

        threading.Thread(target=lift_limit, daemon=True).start()
        result = run(recipe(server, examples={"sts": 6}), tmp_path / "run")
    assert result.status == "complete", result.message
    assert rows(tmp_path / "run", "SELECT COUNT(*) FROM attempts WHERE status='expired'")[0][0] >= 6
    assert len(example_ids(tmp_path / "run")) == 6
