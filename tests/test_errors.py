"""The errors a new user meets: each is one clear line, a non-zero exit, and nothing lost."""

from __future__ import annotations

import sqlite3

import pytest
import yaml

from synthembed.gen.store import RunStore
from synthembed.hub.release import build_release
from tests.fake_provider import FakeProviderConfig, FakeProviderServer
from tests.gen.test_runner import recipe as make_recipe
from tests.release_fixtures import example_rows, make_run
from tests.test_recipe import run_cli


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


def _write(tmp_path, data):
    path = tmp_path / "ds" / "recipe.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def _one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines and lines[0].startswith("Error:"), err
    assert "Traceback" not in err
    return " ".join(lines)


def test_wrong_model_name(tmp_path, capsys):
    with FakeProviderServer(FakeProviderConfig(models=frozenset({"gpt-4o-mini"}))) as srv:
        data = make_recipe(srv, examples={"sts": 3})
        data["provider"]["model"] = "gpt-4o-mimi"
        data["provider"]["price"] = {"input_per_mtok": 1, "output_per_mtok": 1}
        code, out, _err = run_cli(["generate", str(_write(tmp_path, data)), "--quiet"], capsys)
    assert code == 3
    assert "model 'gpt-4o-mimi' not found" in out and "provider.model" in out


def test_run_folder_from_an_older_recipe(tmp_path, capsys):
    with FakeProviderServer(FakeProviderConfig()) as srv:
        data = make_recipe(srv, examples={"sts": 3})
        path = _write(tmp_path, data)
        assert run_cli(["generate", str(path), "--quiet"], capsys)[0] == 0
        data["seed"] = 99
        path.write_text(yaml.safe_dump(data))
        code, _, err = run_cli(["generate", str(path), "--quiet"], capsys)
    assert code == 1
    line = _one_error_line(err)
    assert "different recipe (changed: seed)" in line and "--allow-changed-recipe" in line
    with RunStore.open(tmp_path / "ds" / "runs" / "1.0.0", create=False) as store:
        assert len(list(store.iter_examples())) == 3  # nothing lost


def test_no_disk_space_for_the_store(tmp_path, capsys, monkeypatch):
    """A full disk (SQLite's SQLITE_FULL, forced with max_page_count) stops the run cleanly."""
    real_open = RunStore.open.__func__

    def small_open(cls, *args, **kwargs):
        store = real_open(cls, *args, **kwargs)
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages + 6}")
        return store

    monkeypatch.setattr(RunStore, "open", classmethod(small_open))
    with FakeProviderServer(FakeProviderConfig()) as srv:
        data = make_recipe(srv, examples={"retrieval": 30}, concurrency=2)
        code, _, err = run_cli(["generate", str(_write(tmp_path, data)), "--quiet"], capsys)
    assert code == 1
    assert "disk is full" in _one_error_line(err) and "run the same command again" in err
    with sqlite3.connect(tmp_path / "ds" / "runs" / "1.0.0" / "store.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] > 0  # what was written stays


def test_release_folder_edited_by_hand(tmp_path, capsys):
    release = build_release(make_run(tmp_path / "demo", example_rows()))
    (release / "README.md").write_text((release / "README.md").read_text() + "\nedited\n")
    code, _, err = run_cli(["publish", str(release), "--repo", "acme/demo", "--dry-run"], capsys)
    assert code == 1
    assert "README.md was changed after the release was built" in _one_error_line(err)
    assert (release / "README.md").read_text().endswith("edited\n")  # nothing touched


def test_release_twice_is_refused(tmp_path, capsys):
    run = make_run(tmp_path / "demo", example_rows())
    build_release(run)
    code, _, err = run_cli(["release", str(run)], capsys)
    assert code == 1 and "never overwritten" in _one_error_line(err)
