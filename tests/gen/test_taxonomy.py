import pytest

from synthembed.gen.taxonomy import PAPER_MIX, TASK_TYPE_NAMES, TASK_TYPES, get_task_type


def test_six_task_types_with_the_papers_steps():
    assert set(TASK_TYPE_NAMES) == {
        "retrieval",
        "classification",
        "short_short",
        "long_long",
        "sts",
        "bitext",
    }
    for name in ("retrieval", "classification", "short_short", "long_long"):
        assert TASK_TYPES[name].steps == ("brainstorm", "generate")
    for name in ("sts", "bitext"):
        assert TASK_TYPES[name].steps == ("generate",)
        assert TASK_TYPES[name].fixed_instruction


def test_placeholder_value_sets_are_exactly_the_papers():
    r = TASK_TYPES["retrieval"].placeholders
    assert r["query_type"] == ("extremely long-tail", "long-tail", "common")
    assert r["query_length"] == ("less than 5 words", "5 to 15 words", "at least 10 words")
    assert r["clarity"] == ("clear", "understandable with some effort", "ambiguous")
    assert r["num_words"] == ("50", "100", "200", "300", "400", "500")
    assert r["difficulty"] == ("high school", "college", "PhD")
    c = TASK_TYPES["classification"].placeholders
    assert c["num_words"] == ("less than 10", "at least 10", "at least 50", "at least 100", "at least 200")
    assert c["clarity"] == r["clarity"] and c["difficulty"] == r["difficulty"]
    for name, low in (("sts", ("2.5", "3", "3.5")), ("bitext", ("1.5", "2", "2.5"))):
        p = TASK_TYPES[name].placeholders
        assert p["unit"] == ("sentence", "phrase", "passage")
        assert p["high_score"] == ("4", "4.5", "5")
        assert p["low_score"] == low
        assert p["difficulty"] == ("elementary school", "high school", "college")
    assert dict(TASK_TYPES["short_short"].placeholders) == {}
    assert dict(TASK_TYPES["long_long"].placeholders) == {}


def test_fields_and_triples():
    assert TASK_TYPES["retrieval"].fields == ("user_query", "positive_document", "hard_negative_document")
    assert TASK_TYPES["classification"].triple == ("input_text", "label", "misleading_label")
    assert TASK_TYPES["short_short"].triple[2] is None
    assert TASK_TYPES["bitext"].fields == ("S1", "S2", "S3")
    assert sum(PAPER_MIX.values()) == 507_000


def test_unknown_type_names_allowed_ones():
    with pytest.raises(KeyError, match="allowed: retrieval"):
        get_task_type("ranking")
