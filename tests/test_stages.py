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
