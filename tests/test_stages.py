"""Stages glued together: validation updates the release's card and manifest."""

from __future__ import annotations

import json

import pytest

from synthembed.hub.release import build_release, verify_manifest
from synthembed.stages import validate_release_dir
from tests.release_fixtures import example_rows, make_run


@pytest.mark.slow
def test_validate_writes_result_card_section_and_manifest(tmp_path):
    release = build_release(make_run(tmp_path / "demo", example_rows()))
    outcome = validate_release_dir(release)
    result = json.loads((release / "validation.json").read_text())
    assert result["passed"] == outcome.passed
    card = (release / "README.md").read_text()
    assert "Not validated yet" not in card
    assert outcome.to_markdown().splitlines()[0] in card
    manifest = verify_manifest(release)  # the manifest now covers validation.json and the new card
    assert "validation.json" in manifest["files"]


def _recipe_file(tmp_path, server, **changes):
    import yaml

    from tests.gen.test_runner import recipe as make_recipe

    data = make_recipe(server, examples={"retrieval": 8, "sts": 8})
    data["name"] = "demo"
    data["languages"] = {"scheme": "explicit", "weights": {"en": 1, "de": 0.0001}}
    data["quality"] = {"language": {"enabled": False}}
    data["release"] = {"test_fraction": 0.3}
    data["validation"] = {
        "batch_size": 4,
        "mini_batch_size": 4,
        "max_steps": 1,
        "max_length": 32,
        "warmup_steps": 0,
    }
    data.update(changes)
    path = tmp_path / "demo" / "recipe.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow
def test_run_chains_the_stages_and_skips_what_is_done(tmp_path, monkeypatch):
    from synthembed.stages import run_all
    from tests.fake_provider import FakeProviderConfig, FakeProviderServer

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeProviderServer(FakeProviderConfig()) as srv:
        path = _recipe_file(tmp_path, srv)
        first = run_all(path, say=lambda _: None)
        sent = srv.stats.received
        second = run_all(path, say=lambda _: None)
        assert srv.stats.received == sent  # nothing sent again
    release = tmp_path / "demo" / "releases" / "1.0.0"
    assert first["generate"] == "complete" and first["release"] == str(release)
    assert first["validate"] in ("passed", "failed") and (release / "validation.json").exists()
    assert second["filter"] == "skipped (up to date)"
    assert second["release"] == "skipped (exists)" and second["validate"] == "skipped (done)"
    verify_manifest(release)


@pytest.mark.slow
def test_a_budget_stop_is_clear_and_release_partial_releases_what_was_kept(tmp_path, monkeypatch):
    from synthembed.errors import BudgetExhausted
    from synthembed.stages import run_all
    from tests.fake_provider import FakeProviderConfig, FakeProviderServer

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeProviderServer(FakeProviderConfig()) as srv:
        path = _recipe_file(tmp_path, srv, budget={"dollars": 0.004})
        with pytest.raises(BudgetExhausted, match="--release-partial"):
            run_all(path, say=lambda _: None)
        done = run_all(path, release_partial=True, say=lambda _: None)
    assert done["generate"] == "budget"
    manifest = verify_manifest(tmp_path / "demo" / "releases" / "1.0.0")
    assert 0 < sum(n for c, s in manifest["configs"].items() if c != "tasks" for n in s.values()) < 16
