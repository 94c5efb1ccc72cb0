from __future__ import annotations

import pytest

from synthembed.gen.parse import ParseFailure, clean_tasks, extract_json, parse_example, parse_task_list
from synthembed.gen.plan import build_plan
from synthembed.recipe import parse_recipe

PLAN = build_plan(
    parse_recipe(
        {
            "name": "p",
            "version": "1.0.0",
            "provider": {"kind": "local"},
            "examples": {"retrieval": 2, "classification": 2, "short_short": 1, "sts": 2, "bitext": 2},
        }
    )
)


def _spec(task_type):
    return next(PLAN.specs("generate", task_type))


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        'Here is the JSON:\n```json\n{"a": 1}\n```\nHope this helps!',
        'Sure! {"a": 1} -- done',
        '```\n{"a": 1}\n```',
    ],
)
def test_extract_json_finds_the_object(text):
    assert extract_json(text) == {"a": 1}


def test_extract_json_rejects_prose():
    with pytest.raises(ValueError):
        extract_json("I could not do that {oops")


def test_retrieval_answer_becomes_a_triple():
    spec = _spec("retrieval")
    text = '{"user_query": "q", "positive_document": "good doc", "hard_negative_document": "bad doc"}'
    ex = parse_example(spec, "Find docs", text, "stop", {"model": "m"})
    assert not isinstance(ex, ParseFailure)
    assert (ex.query, ex.positive, ex.negative, ex.instruction) == ("q", "good doc", "bad doc", "Find docs")
    assert ex.id == spec.request_id("Find docs") and ex.language == spec.language
    assert ex.meta["fields"]["user_query"] == "q" and ex.meta["template_id"] == spec.template.id


def test_short_short_has_no_negative_and_sts_uses_fixed_instruction():
    ex = parse_example(_spec("short_short"), "T", '{"input": "a", "positive_document": "b"}', "stop", {})
    assert ex.negative == ""
    sts = parse_example(_spec("sts"), None, '{"S1": "a", "S2": "b", "S3": "c"}', "stop", {})
    assert sts.instruction and sts.query == "a" and sts.negative == "c"
    bi = parse_example(_spec("bitext"), None, '{"S1": "a", "S2": "b", "S3": "c", "note": "x"}', "stop", {})
    assert "-" in bi.language and bi.meta["extra_fields"] == {"note": "x"}  # kept for the quality layer


@pytest.mark.parametrize(
    ("text", "finish", "reason"),
    [
        ('{"S1": "a", "S2": "b"}', "stop", "missing_keys"),
        ('{"S1": "a", "S2": "", "S3": "c"}', "stop", "empty_field"),
        ('{"S1": "a", "S2": ["b"], "S3": "c"}', "stop", "not_text"),
        ('["a", "b"]', "stop", "not_an_object"),
        ('{"S1": "a", "S2": "b", "S3": "c"', "length", "truncated"),
        ("I'm sorry, but I can't help with that.", "stop", "refusal"),
        ("nothing useful here", "stop", "no_json"),
        ("", "refusal", "refusal"),
    ],
)
def test_bad_answers_fail_with_a_reason(text, finish, reason):
    result = parse_example(_spec("sts"), None, text, finish, {})
    assert isinstance(result, ParseFailure) and result.reason == reason


def test_task_lists():
    assert parse_task_list('["a task", "another task"]', "stop") == ["a task", "another task"]
    assert parse_task_list('{"tasks": ["x y z"]}', "stop") == ["x y z"]
    assert parse_task_list('```json\n[{"task": "t1"}]\n```', "stop") == ["t1"]
    cut = parse_task_list('["first task here", "second task here", "thi', "length")
    assert cut == ["first task here", "second task here"]
    assert isinstance(parse_task_list("no list", "stop"), ParseFailure)


def test_clean_tasks_drops_empty_long_and_near_identical():
    seen: set[str] = set()
    out = clean_tasks(
        [
            "1. Retrieve news articles for a query.",
            "  ",
            "retrieve NEWS articles for a query",
            "word " * 70,
            "Find recipes that use a given ingredient.",
        ],
        seen,
        max_words=60,
    )
    assert [(kept, why) for _, kept, why in out] == [
        (True, None),
        (False, "empty"),
        (False, "near_duplicate"),
        (False, "too_long"),
        (True, None),
    ]
    assert out[0][0] == "Retrieve news articles for a query."
