"""Schema and the paper's rules: examples that must pass and examples that must fail."""

from __future__ import annotations

import pytest

from synthembed.quality.base import Check, MemoryRejects
from synthembed.quality.rules import (
    LengthCheck,
    PairRulesCheck,
    PlaceholderCheck,
    RefusalCheck,
    SchemaCheck,
    parse_length,
)
from tests.quality.builders import TEXTS, example, to_batch


def reasons(check: Check, rows: list[dict]) -> list[str | None]:
    decisions = check.decide(to_batch(rows))
    return [d.reason if d else None for d in decisions]


def test_base_class_counts_and_keeps_rejects() -> None:
    check = SchemaCheck()
    rows = [example(id="a"), example(id="b", positive=""), example(id="c", language="de-xx")]
    kept = check(to_batch(rows))
    assert kept.column("id").to_pylist() == ["a"]
    assert check.counts.kept == {("retrieval", "en"): 1}
    assert check.counts.by_reason() == {"empty_field": 1, "bad_language": 1}
    assert isinstance(check.rejects, MemoryRejects)
    rejected = check.rejects.table()
    assert rejected.column("id").to_pylist() == ["b", "c"]
    assert set(rejected.column("check").to_pylist()) == {"schema"}
    assert rejected.column("detail").to_pylist()[0] == "positive"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (example(), None),
        (example(task_type="sts", negative="Une autre phrase.", language="fr"), None),
        (example(task_type="bitext", language="en-de", query="Good morning", positive="Guten Morgen"), None),
        (example(task_type="short_short", negative=""), None),
        (example(task_type="nonsense"), "unknown_task_type"),
        (example(language="xx"), "bad_language"),
        (example(task_type="bitext", language="en-en"), "bad_language"),
        (example(task_type="bitext", language="de"), "bad_language"),
        (example(query="   "), "empty_field"),
        (example(negative=""), "empty_field"),  # retrieval needs its hard negative
        (example(instruction=""), "empty_field"),
        (example(fields={"user_query": "q", "positive_document": "p"}), "missing_field"),
        (
            example(
                task_type="retrieval",
                fields={
                    "user_query": "q",
                    "positive_document": "p",
                    "hard_negative_document": "n",
                    "note": "x",
                },
            ),
            None,  # extra keys are tolerated outside sts and bitext
        ),
        (
            example(task_type="sts", fields={"S1": "a", "S2": "b", "S3": "c", "score": "4"}),
            "extra_keys",
        ),
        (example(task_type="bitext", language="en-fr", extra_fields={"explanation": "..."}), "extra_keys"),
    ],
)
def test_schema(row: dict, reason: str | None) -> None:
    assert reasons(SchemaCheck(), [row]) == [reason]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (example(), None),
        (
            example(
                task_type="classification",
                query="The film was a waste of two hours.",
                positive="negative",
                negative="positive",
            ),
            None,
        ),
        (
            example(
                task_type="classification",
                query="Great match last night",
                positive="sports",
                negative="sports",
            ),
            "labels_equal",
        ),
        (
            example(
                task_type="classification",
                query="I love sports news on Sundays",
                positive="Sports",
                negative="Politics",
            ),
            "label_in_input",
        ),
        (
            example(
                task_type="classification",
                language="de",
                query="Das Spiel war ein Fest für Sport-Fans.",
                positive="Kultur",
                negative="sport",
            ),
            "label_in_input",
        ),
        (  # "sport" is not a word of "sporty"
            example(
                task_type="classification", query="A sporty red car", positive="sport", negative="finance"
            ),
            None,
        ),
        (
            example(
                task_type="classification",
                language="zh",
                query="昨晚的足球比赛非常精彩",
                positive="体育",
                negative="足球",
            ),
            "label_in_input",
        ),
        (
            example(
                query="when does the bridge repair start",
                positive="The work on the bridge starts in spring. "
                "When does the bridge repair start? In April.",
            ),
            "query_in_positive",
        ),
        (
            example(query="bridge repair", positive="Bridge repair starts in April."),
            None,
        ),  # too short to count
        (example(positive=TEXTS["en"], negative=TEXTS["en"] + " "), "positive_equals_negative"),
        (
            example(task_type="sts", query="A cat sleeps.", positive="a cat sleeps", negative="Dogs bark."),
            "positive_equals_query",
        ),
        (
            example(
                task_type="bitext",
                language="en-de",
                query="Good morning!",
                positive="good morning",
                negative="Guten Abend",
            ),
            "positive_equals_query",
        ),
    ],
)
def test_pair_rules(row: dict, reason: str | None) -> None:
    assert reasons(PairRulesCheck(query_copy_min_words=4), [row]) == [reason]


def words(n: int, word: str = "word") -> str:
    return " ".join([word] * n)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (example(positive=words(200), placeholders={"num_words": "200"}), None),
        (example(positive=words(150), placeholders={"num_words": "200"}), None),  # within 25%
        (example(positive=words(149), placeholders={"num_words": "200"}), "too_short"),
        (example(query=words(3), placeholders={"query_length": "less than 5 words"}), None),
        (example(query=words(7), placeholders={"query_length": "less than 5 words"}), "too_long"),
        (example(query=words(20), placeholders={"query_length": "5 to 15 words"}), "too_long"),
        (example(query=words(2), placeholders={"query_length": "5 to 15 words"}), "too_short"),
        (example(query=words(8), placeholders={"query_length": "at least 10 words"}), None),
        (example(query=words(7), placeholders={"query_length": "at least 10 words"}), "too_short"),
        (
            example(task_type="classification", query=words(40), placeholders={"num_words": "at least 50"}),
            None,
        ),
        (
            example(task_type="classification", query=words(30), placeholders={"num_words": "at least 50"}),
            "too_short",
        ),
        (
            example(task_type="classification", query=words(20), placeholders={"num_words": "less than 10"}),
            "too_long",
        ),
        (example(task_type="long_long", query=words(300), positive=words(310), negative=""), None),
        (example(task_type="long_long", query=words(300), positive=words(100), negative=""), "too_short"),
        # Chinese counts characters / 1.5: 300 characters are about 200 words.
        (example(language="zh", positive="桥" * 300, placeholders={"num_words": "200"}), None),
        (example(language="zh", positive="桥" * 100, placeholders={"num_words": "200"}), "too_short"),
        (example(task_type="sts", query=words(3), placeholders={"unit": "sentence"}), None),
    ],
)
def test_lengths(row: dict, reason: str | None) -> None:
    assert reasons(LengthCheck(tolerance=0.25), [row]) == [reason]


def test_parse_length() -> None:
    assert parse_length("5 to 15 words") == (5, 15)
    assert parse_length("less than 10") == (None, 10)
    assert parse_length("at least 200") == (200, None)
    assert parse_length("300") == (300, None)
    assert parse_length("passage") == (None, None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (TEXTS["en"], None),
        ("Set the dictionary {key: value} before use.", None),
        ("A document of at least {num_words} words about rivers.", "unfilled_placeholder"),
        ("Query in {language}", "unfilled_placeholder"),
        ("[Insert the product name here] is the best choice.", "unfilled_placeholder"),
        ("Dear <your name>, thanks for writing.", "unfilled_placeholder"),
        ("Lorem ipsum dolor sit amet.", "unfilled_placeholder"),
    ],
)
def test_placeholders(text: str, reason: str | None) -> None:
    assert reasons(PlaceholderCheck(), [example(positive=text)]) == [reason]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (TEXTS["en"], None),
        ("Researchers asked how an AI system should behave; as an AI model grows, so do its costs.", None),
        ("As an AI language model, I cannot browse the internet.", "refusal"),
        ("I'm sorry, but I can't help with that.", "refusal"),
        ("The answer: I cannot help with this request because it is unsafe.", "refusal"),
        ("作为一个AI，我无法完成这个任务。", "refusal"),
        ("Como modelo de lenguaje, no puedo hacerlo.", "refusal"),
        ("En tant qu'IA, je ne peux pas répondre.", "refusal"),
        ("Als KI kann ich das nicht beantworten.", "refusal"),
        ("Как языковая модель, я не могу это сделать.", "refusal"),
        ("申し訳ありませんが、お手伝いできません。", "refusal"),
        ("Here is the JSON you asked for: the bridge opens in May.", "meta_chatter"),
        ("Sure! The bridge opens in May.", "meta_chatter"),
        ('```json {"user_query": "x"}```', "meta_chatter"),
        ("Surely the bridge opens in May.", None),
    ],
)
def test_refusals(text: str, reason: str | None) -> None:
    assert reasons(RefusalCheck(), [example(positive=text)]) == [reason]
