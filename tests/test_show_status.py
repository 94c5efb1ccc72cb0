"""`synthembed status` and `synthembed show` on real run and release folders."""

from __future__ import annotations

import asyncio
import json

import pytest

from synthembed.gen.runner import Runner
from synthembed.hub.release import build_release
from synthembed.recipe import parse_recipe
from tests.fake_provider import FakeProviderConfig, FakeProviderServer
from tests.gen.test_runner import recipe as make_recipe
from tests.release_fixtures import example_rows, make_run
from tests.test_recipe import run_cli


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeProviderServer(FakeProviderConfig(seed=2)) as srv:
        srv.queue_faults("malformed", "malformed")  # one request ends rejected after its re-ask
        data = make_recipe(srv, examples={"sts": 10})
        data["generation"] = {"max_reasks": 1}
        asyncio.run(Runner(parse_recipe(data), tmp_path / "run").run())
    return tmp_path / "run"


def test_status_reads_the_store(run_dir, capsys):
    code, out, _ = run_cli(["status", str(run_dir), "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["steps"]["generate"]["total"] == 10
    assert data["steps"]["generate"]["ok"] + data["steps"]["generate"]["rejected"] == 10
    assert data["spent_dollars"] > 0
    code, out, _ = run_cli(["status", str(run_dir)], capsys)
    assert "generate" in out and "spent $" in out


def test_status_of_a_missing_run_is_one_clear_line(tmp_path, capsys):
    code, _, err = run_cli(["status", str(tmp_path / "nothing")], capsys)
    assert code == 1 and "no run here" in err


def test_show_a_run_and_its_rejects(run_dir, capsys):
    code, out, _ = run_cli(["show", str(run_dir), "-t", "sts", "-n", "1"], capsys)
    assert code == 0 and "sts" in out
    code, out, _ = run_cli(["show", str(run_dir), "--rejected", "--json"], capsys)
    assert code == 0


def test_show_a_release_with_filters(tmp_path, capsys):
    release = build_release(make_run(tmp_path / "demo", example_rows()))
    code, out, _ = run_cli(["show", str(release), "-l", "de", "-n", "5", "--json"], capsys)
    assert code == 0
    rows = [json.loads(line) for line in out.strip().split("\n{")[0:1]] if out.startswith("{") else []
    assert '"language": "de"' in out and '"language": "en"' not in out
    assert rows
    code, _, err = run_cli(["show", str(release), "--rejected"], capsys)
    assert code == 2 and "kept examples only" in err
