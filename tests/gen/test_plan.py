from __future__ import annotations

import copy
import json

import pytest

from synthembed.gen import prompts
from synthembed.gen.plan import TASK_TOKENS_ESTIMATE, build_plan
from synthembed.gen.prompts import PromptTemplate
from synthembed.gen.taxonomy import TASK_TYPES
from synthembed.gen.tokens import TokenCounter
from synthembed.recipe import parse_recipe

BASE = {
    "name": "t",
    "version": "1.0.0",
    "seed": 3,
    "provider": {"kind": "openai", "model": "gpt-4o-mini"},
    "budget": {"dollars": 5},
    "examples": {
        "retrieval": 50,
        "classification": 30,
        "short_short": 5,
        "long_long": 5,
        "sts": 20,
        "bitext": 20,
    },
    "brainstorm": {"tasks_per_request": 10, "examples_per_task": 2},
}


def _plan(**changes):
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        data[key] = value
    return build_plan(parse_recipe(data))


def test_same_seed_same_specs_and_ids():
    a = [(s.id, s.language, dict(s.values)) for s in _plan().specs()]
    b = [(s.id, s.language, dict(s.values)) for s in _plan().specs()]
    assert a == b
    assert len({i for i, _, _ in a}) == len(a)  # ids are unique


def test_other_seed_other_draws():
    a = [s.id for s in _plan().specs()]
    b = [s.id for s in _plan(seed=4).specs()]
    assert not set(a) & set(b)


def test_growing_a_count_keeps_earlier_requests():
    small = {s.id for s in _plan().specs("generate", "retrieval")}
    grown = _plan(examples={**BASE["examples"], "retrieval": 80})
    big = [s.id for s in grown.specs("generate", "retrieval")]
    assert small <= set(big) and len(big) == 80


def test_brainstorm_counts_follow_the_settings():
    plan = _plan()
    counts = {(g.task_type, g.step): g.count for g in plan.groups}
    assert counts[("retrieval", "brainstorm")] == 3  # ceil(50 / (10 * 2))
    assert counts[("classification", "brainstorm")] == 2
    assert ("sts", "brainstorm") not in counts and counts[("sts", "generate")] == 20
    assert [g.step for g in plan.groups][:4] == ["brainstorm"] * 4


def test_generate_ids_include_the_task_and_the_template(monkeypatch):
    plan = _plan()
    spec = next(plan.specs("generate", "retrieval"))
    assert spec.needs_task
    assert spec.request_id("task A") != spec.request_id("task B")
    with pytest.raises(ValueError, match="needs a task"):
        spec.render()
    sts = next(plan.specs("generate", "sts"))
    assert sts.request_id() == sts.id
    # A template with changed wording has a new id, so its requests are new requests.
    old = prompts.TEMPLATES[("sts", "generate")][0]
    changed = PromptTemplate("default", "sts", "generate", old.text + "\nBe concise.")
    monkeypatch.setattr(prompts, "TEMPLATES", {**prompts.TEMPLATES, ("sts", "generate"): (changed,)})
    assert next(_plan().specs("generate", "sts")).id != sts.id


def test_changing_the_model_changes_ids():
    a = {s.id for s in _plan().specs()}
    b = {s.id for s in _plan(provider={"kind": "openai", "model": "gpt-4o"}).specs()}
    assert not a & b


def test_every_placeholder_is_drawn_from_its_value_set():
    plan = _plan(examples={**BASE["examples"], "retrieval": 400})
    seen: dict[str, set[str]] = {}
    for spec in plan.specs("generate", "retrieval"):
        for k, v in spec.values.items():
            seen.setdefault(k, set()).add(v)
    for name, values in TASK_TYPES["retrieval"].placeholders.items():
        assert seen[name] == set(values)


def test_input_estimates_are_close_to_real_counts():
    plan = _plan()
    counter = TokenCounter("openai", "gpt-4o-mini")
    task = "Given a question about tax law, retrieve court rulings that address it."
    task_gap = TASK_TOKENS_ESTIMATE - counter.count(task)  # the plan assumes an average task length
    for spec in plan.specs():
        real = counter.count_chat(spec.render(task if spec.needs_task else None))
        real += task_gap if spec.needs_task else 0
        assert abs(spec.est_input_tokens - real) <= max(12, 0.1 * real), (
            spec.task_type,
            spec.est_input_tokens,
            real,
        )


def test_summary_counts_and_cost():
    s = _plan().summary()
    assert s["examples"] == 130
    assert s["requests"] == 130 + 3 + 2 + 1 + 1
    assert s["cost"]["estimate_dollars"] > 0
    assert s["cost"]["worst_case_dollars"] >= s["cost"]["estimate_dollars"]
    assert s["budget"]["covers_estimate_dollars"] is True
    json.dumps(s)  # machine-readable
    langs = s["languages"]
    assert (
        sum(r["requests"] for r in langs["top"]) + langs["tail"]["requests"] == 130 + 20
    )  # bitext counts twice
