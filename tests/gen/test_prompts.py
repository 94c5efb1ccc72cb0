"""Prompt templates: stable ids, every placeholder filled, and golden files for a fixed seed.

Regenerate the golden files after a deliberate wording change with
``SYNTHEMBED_UPDATE_GOLDEN=1 pytest tests/gen/test_prompts.py`` and review the diff.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from synthembed.gen.plan import build_plan
from synthembed.gen.prompts import TEMPLATES, template_by_id, templates_for
from synthembed.gen.taxonomy import TASK_TYPES
from synthembed.recipe import parse_recipe

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "prompts"
UPDATE = os.environ.get("SYNTHEMBED_UPDATE_GOLDEN") == "1"

RECIPE = {
    "name": "golden",
    "version": "1.0.0",
    "seed": 1234,
    "provider": {"kind": "openai", "model": "gpt-4o-mini"},
    "examples": {t: 2 for t in TASK_TYPES},
    "languages": {"scheme": "e5"},
}


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with SYNTHEMBED_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; review and regenerate"


def test_template_id_is_a_hash_of_its_text():
    for group in TEMPLATES.values():
        for t in group:
            assert t.id == hashlib.sha256(t.text.encode()).hexdigest()[:12]
            assert template_by_id(t.id) is t


def test_every_step_has_a_template_and_fills_known_placeholders():
    for name, tt in TASK_TYPES.items():
        for step in tt.steps:
            for t in templates_for(name, step):
                allowed = set(tt.placeholders) | {"language", "task", "num_tasks", "src_lang", "tgt_lang"}
                assert set(t.fields) <= allowed, (name, step, t.fields)
    assert ("sts", "brainstorm") not in TEMPLATES


def test_templates_name_the_json_keys_of_their_type():
    for name, tt in TASK_TYPES.items():
        text = templates_for(name, "generate")[0].text
        for key in tt.fields:
            assert f'"{key}"' in text


def test_unknown_template_name_lists_allowed():
    with pytest.raises(KeyError, match="allowed: default"):
        templates_for("retrieval", "generate", ["fancy"])


def test_rendered_prompts_match_golden_files():
    plan = build_plan(parse_recipe(RECIPE))
    ids = {}
    for group in plan.groups:
        spec = group.spec(0)
        task = (
            "Given a question about home gardening, find advice that answers it." if spec.needs_task else None
        )
        text = spec.render(task)[0]["content"]
        assert not re.search(r"\{[a-z_]+\}", text), "unfilled placeholder"
        _check_golden(f"{spec.task_type}.{spec.step}.txt", text + "\n")
        ids[f"{spec.task_type}.{spec.step}"] = {
            "template_id": spec.template.id,
            "request_id": spec.request_id(task),
        }
    _check_golden("ids.json", json.dumps(ids, indent=2, sort_keys=True) + "\n")
