"""The generation runner against the fake provider server, through the real SDKs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthembed.errors import MissingKeyError
from synthembed.gen.pricing import MICRO, lookup_price
from synthembed.gen.runner import Runner
from synthembed.recipe import parse_recipe
from tests.fake_provider import FakeProviderConfig, FakeProviderServer

ROOT = Path(__file__).resolve().parents[2]
PRICE = lookup_price("gpt-4o-mini")


@pytest.fixture(autouse=True)
def _keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")


@pytest.fixture
def server():
    with FakeProviderServer(FakeProviderConfig(seed=3)) as srv:
        yield srv


def recipe(server, kind="openai", examples=None, **provider):
    base_url = server.openai_base_url if kind == "openai" else server.anthropic_base_url
    model = "gpt-4o-mini" if kind == "openai" else "claude-3-5-haiku-latest"
    data = {
        "name": "t",
        "version": "1.0.0",
        "seed": 11,
        "provider": {
            "kind": kind,
            "model": model,
            "base_url": base_url,
            "concurrency": 8,
            "timeout_s": 2,
            "max_output_tokens": 2048,
            **provider,
        },
        "examples": examples or {"retrieval": 12, "classification": 6, "sts": 6, "bitext": 6},
        "brainstorm": {"tasks_per_request": 6},
        "generation": {"max_reasks": 2},
    }
    return data


def run(data, run_dir, budget=None, allow_changed_recipe=False):
    if budget is not None:
        data = {**data, "budget": budget}
    return asyncio.run(Runner(parse_recipe(data), run_dir, allow_changed_recipe=allow_changed_recipe).run())


def example_ids(run_dir):
    with sqlite3.connect(run_dir / "store.sqlite") as c:
        return {r[0] for r in c.execute("SELECT id FROM examples")}


def billed_micros(server):
    s = server.stats
    return PRICE.cost_micros(s.input_tokens, s.output_tokens, s.cached_input_tokens)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_clean_run_completes(server, tmp_path, kind):
    result = run(recipe(server, kind), tmp_path / "run")
    assert result.status == "complete", result.message
    gen = result.stats.steps["generate"]
    assert gen.total == 30 and gen.ok == 30
    assert len(example_ids(tmp_path / "run")) == 30
    # nothing is sent again on a second run
    before = server.stats.received
    again = run(recipe(server, kind), tmp_path / "run")
    assert again.status == "complete" and server.stats.received == before


def test_faults_still_end_in_a_complete_run(server, tmp_path):
    c = server.config
    c.p_server_error, c.p_unavailable, c.p_timeout, c.p_drop = 0.08, 0.04, 0.03, 0.03
    c.p_malformed, c.p_rate_limit, c.forced_retry_after_s, c.timeout_sleep_s = 0.05, 0.1, 0.05, 5
    server.queue_faults(*["rate_limit"] * 10, *["server_error"] * 5)  # a 429 storm, then a 5xx burst
    data = recipe(server, timeout_s=0.5, max_retries=30)
    result = run(data, tmp_path / "run")
    counts = result.stats.steps["generate"]
    # every request ends with an example, except answers that stay malformed after the re-asks
    assert result.status == "complete", result.message
    assert counts.failed == 0 and counts.ok + counts.rejected == counts.total
    assert counts.ok >= 0.9 * counts.total
    assert result.stats.rate_limited >= 10 and result.stats.retries >= 5


def test_rate_limit_headers_keep_429s_rare(server, tmp_path):
    server.config.rpm = 600  # 10 per second, enforced per second
    server.config.per_second = True
    server.config.latency_s = 0.05
    data = recipe(server, examples={"sts": 40}, concurrency=32)  # no limit in the recipe: learnt from headers
    result = run(data, tmp_path / "run")
    assert result.status == "complete"
    assert server.stats.rate_limited <= 3


def test_authentication_error_stops_the_run(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    result = run(recipe(server), tmp_path / "run")
    assert result.status == "failed" and "API key was refused" in result.message
    assert server.stats.received <= 8  # one wave at most, then it stops


def test_unknown_model_stops_the_run(tmp_path):
    with FakeProviderServer(FakeProviderConfig(models=frozenset({"gpt-4o-mini"}))) as srv:
        data = recipe(srv)
        data["provider"]["model"] = "gpt-4o-minii"
        data["provider"]["price"] = {"input_per_mtok": 1, "output_per_mtok": 1}
        result = run(data, tmp_path / "run")
    assert result.status == "failed" and "not found" in result.message and "provider.model" in result.message


def test_missing_key_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY")
    data = {
        "name": "t",
        "version": "1.0.0",
        "provider": {"kind": "openai", "model": "gpt-4o-mini"},
        "examples": {"sts": 1},
    }
    path = tmp_path / "recipe.yaml"
    import yaml

    path.write_text(yaml.safe_dump(data))
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "synthembed.cli", "generate", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "No OPENAI_API_KEY set" in proc.stderr and "provider: {kind: local}" in proc.stderr
    assert "Traceback" not in proc.stderr
    with pytest.raises(MissingKeyError):
        from synthembed.gen.providers import make_provider

        make_provider(parse_recipe(data).provider)


def test_billing_error_stops_the_run(server, tmp_path):
    server.config.billing_exhausted = True
    result = run(recipe(server), tmp_path / "run")
    assert result.status == "failed" and "cannot pay" in result.message


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cap_cents=st.integers(min_value=1, max_value=6),
    concurrency=st.sampled_from([1, 4, 16]),
    faults=st.fixed_dictionaries(
        {
            "p_server_error": st.sampled_from([0, 0.1]),
            "p_drop": st.sampled_from([0, 0.05]),
            "p_timeout": st.sampled_from([0, 0.05]),
            "p_rate_limit": st.sampled_from([0, 0.1]),
        }
    ),
)
def test_spend_never_passes_the_cap(tmp_path_factory, cap_cents, concurrency, faults):
    with FakeProviderServer(
        FakeProviderConfig(seed=cap_cents, timeout_sleep_s=3, forced_retry_after_s=0.02)
    ) as srv:
        for k, v in faults.items():
            setattr(srv.config, k, v)
        run_dir = tmp_path_factory.mktemp("cap")
        cap = cap_cents / 100
        data = recipe(
            srv, examples={"retrieval": 40, "sts": 40}, concurrency=concurrency, timeout_s=0.5, max_retries=20
        )
        result = run(data, run_dir, budget={"dollars": cap})
        time.sleep(0.05)
        billed = billed_micros(srv)
    cap_micros = int(cap * MICRO)
    assert billed <= cap_micros, (billed, cap_micros)  # what the provider charged
    assert result.stats.spent_micros <= cap_micros  # what we counted (worst case for lost answers)
    if result.status == "budget":
        worst = PRICE.cost_micros(2500, 2048)  # a request's worst case here (prompts are < 2,500 bytes)
        assert cap_micros - result.stats.spent_micros < worst


def test_a_raised_cap_goes_on(server, tmp_path):
    data = recipe(server, examples={"sts": 30})
    first = run(data, tmp_path / "run", budget={"dollars": 0.003})
    assert first.status == "budget" and "Raise budget" in first.message
    done = len(example_ids(tmp_path / "run"))
    assert 0 < done < 30
    second = run(data, tmp_path / "run", budget={"dollars": 1})
    assert second.status == "complete" and len(example_ids(tmp_path / "run")) == 30


def test_one_step_types_go_alongside_the_brainstorm(server, tmp_path):
    """sts and bitext do not wait for the task lists; the pooled types wait for all of them."""
    server.config.latency_s = 0.05
    runner = Runner(parse_recipe(recipe(server, concurrency=4)), tmp_path / "run")
    events = []
    process = runner._process

    async def logged(spec, task):
        events.append(("start", spec.step, spec.task_type))
        await process(spec, task)
        events.append(("end", spec.step, spec.task_type))

    runner._process = logged
    result = asyncio.run(runner.run())
    assert result.status == "complete", result.message
    last_brainstorm = max(i for i, e in enumerate(events) if e[:2] == ("end", "brainstorm"))
    starts = [(i, e[2]) for i, e in enumerate(events) if e[:2] == ("start", "generate")]
    assert any(i < last_brainstorm for i, t in starts if t in ("sts", "bitext"))
    assert all(i > last_brainstorm for i, t in starts if t not in ("sts", "bitext"))
    assert result.stats.steps["generate"].ok == result.stats.steps["generate"].total == 30


def test_the_collector_is_left_as_it_was(server, tmp_path):
    import gc

    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    assert run(recipe(server, examples={"sts": 3}), tmp_path / "run").status == "complete"
    assert gc.get_threshold() == threshold and gc.get_freeze_count() == frozen

    async def overlapping() -> None:  # the first run to start ends while the second still goes
        server.config.latency_s = 0.1
        quick = Runner(parse_recipe(recipe(server, examples={"sts": 1})), tmp_path / "a")
        slow = Runner(parse_recipe(recipe(server, examples={"sts": 12}, concurrency=1)), tmp_path / "b")
        first = asyncio.create_task(quick.run())
        await asyncio.sleep(0)  # the first run has started
        second = asyncio.create_task(slow.run())
        assert (await first).status == "complete" and not second.done()
        assert gc.get_threshold() != threshold  # still the second run's settings
        assert (await second).status == "complete"

    asyncio.run(overlapping())
    assert gc.get_threshold() == threshold and gc.get_freeze_count() == frozen


def test_an_attempt_is_on_disk_before_its_request_leaves(server, tmp_path):
    """A process killed while a request is out finds it in the store, counted at its worst case."""
    from synthembed.gen.providers import make_provider

    server.config.p_malformed = 0.2  # re-asks send the same request id again
    runner = Runner(parse_recipe(recipe(server, concurrency=16)), tmp_path / "run")
    provider = make_provider(runner.cfg)
    complete, seen = provider.complete, []

    async def checked(request):
        # another connection sees only what has been committed
        with contextlib.closing(sqlite3.connect(tmp_path / "run" / "store.sqlite")) as other:
            seen.append(
                other.execute(
                    "SELECT status, reserved_micros FROM attempts WHERE request_id=? ORDER BY id DESC LIMIT 1",
                    (request.id,),
                ).fetchone()
            )
        return await complete(request)

    provider.complete = checked
    runner.provider = provider
    result = asyncio.run(runner.run())
    assert result.status == "complete", result.message
    assert len(seen) > result.stats.steps["generate"].total
    assert all(row is not None and row[0] == "inflight" and row[1] > 0 for row in seen), seen


def test_changed_template_makes_new_requests(server, tmp_path, monkeypatch):
    from synthembed.gen import prompts
    from synthembed.gen.prompts import PromptTemplate

    data = recipe(server, examples={"sts": 5})
    run(data, tmp_path / "run")
    old_ids = example_ids(tmp_path / "run")
    old = prompts.TEMPLATES[("sts", "generate")][0]
    monkeypatch.setattr(
        prompts,
        "TEMPLATES",
        {
            **prompts.TEMPLATES,
            ("sts", "generate"): (PromptTemplate("default", "sts", "generate", old.text + " Thanks."),),
        },
    )
    before = server.stats.received
    run(data, tmp_path / "run")
    assert server.stats.received == before + 5  # new requests, not stale answers
    assert len(example_ids(tmp_path / "run") - old_ids) == 5


def test_a_changed_recipe_is_refused_unless_allowed(server, tmp_path):
    from synthembed.errors import RunStoreError

    data = recipe(server, examples={"sts": 4})
    run(data, tmp_path / "run")
    grown = recipe(server, examples={"sts": 6})
    with pytest.raises(RunStoreError, match=r"different recipe \(changed: examples\)"):
        run(grown, tmp_path / "run")
    assert len(example_ids(tmp_path / "run")) == 4  # nothing lost
    before = server.stats.received
    result = run(grown, tmp_path / "run", allow_changed_recipe=True)
    assert result.status == "complete" and server.stats.received == before + 2  # the first 4 are reused
    # a raised budget is not a different recipe
    assert run(grown, tmp_path / "run", budget={"dollars": 5}).status == "complete"


def _attempts(run_dir):
    try:
        with sqlite3.connect(run_dir / "store.sqlite", timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _attempts_per_request(run_dir):
    with sqlite3.connect(run_dir / "store.sqlite") as c:
        return dict(c.execute("SELECT request_id, COUNT(*) FROM attempts GROUP BY request_id").fetchall())


def test_sigkill_and_resume_gives_the_same_examples(tmp_path):
    """Kill the generate process at random points, resume each time; compare with an unbroken run."""
    import yaml

    with FakeProviderServer(FakeProviderConfig(seed=5, latency_s=0.1, jitter_s=0.05)) as srv:
        data = recipe(
            srv, examples={"retrieval": 40, "classification": 20, "sts": 30, "bitext": 20}, concurrency=6
        )
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump(data))
        env = {**os.environ, "OPENAI_API_KEY": "test-key"}
        cmd = [sys.executable, "-m", "synthembed.cli", "generate", str(path), "--quiet", "--run-dir"]

        subprocess.run(
            [*cmd, str(tmp_path / "straight")], env=env, check=True, timeout=300, capture_output=True
        )
        expected = example_ids(tmp_path / "straight")

        rng = random.Random(1)
        broken = tmp_path / "broken"
        kills = 0
        sent_before = 0
        for _ in range(10):
            proc = subprocess.Popen(
                [*cmd, str(broken)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            # kill at a random point once this process is sending: after 1-25 more attempts
            target = sent_before + rng.randint(1, 25)
            while proc.poll() is None and _attempts(broken) < target:
                time.sleep(0.02)
            if proc.poll() is not None:
                break
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            sent_before = _attempts(broken)
        subprocess.run([*cmd, str(broken)], env=env, check=True, timeout=300, capture_output=True)
    assert kills >= 5
    assert example_ids(broken) == expected
    # each kill can re-send at most what was in flight (concurrency 6)
    resent = sum(n - 1 for n in _attempts_per_request(broken).values())
    assert resent <= kills * 6
