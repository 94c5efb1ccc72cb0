"""The E5-mistral task taxonomy: six task types, their steps, fields and placeholder value sets.

Facts from "Improving Text Embeddings with Large Language Models" (Wang et al., 2024). This module is
pure data: it knows nothing of prompts' wording, HTTP or storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

ASYMMETRIC = "asymmetric"
SYMMETRIC = "symmetric"


@dataclass(frozen=True)
class TaskType:
    """One task type of the taxonomy.

    Attributes:
        name: the id used everywhere (recipes, stores, parquet configs).
        kind: ``asymmetric`` (brainstorm, then generate) or ``symmetric`` (one step).
        fields: the JSON keys the LLM returns in the generate step, in order.
        triple: which field becomes (query, positive, negative); None means no such field.
        placeholders: placeholder name -> allowed values, drawn per request (language apart).
        fixed_instruction: the training instruction for one-step types (no brainstormed task).
    """

    name: str
    kind: str
    fields: tuple[str, ...]
    triple: tuple[str, str, str | None]
    placeholders: Mapping[str, tuple[str, ...]]
    fixed_instruction: str | None = None

    @property
    def has_brainstorm(self) -> bool:
        return self.kind == ASYMMETRIC

    @property
    def steps(self) -> tuple[str, ...]:
        return ("brainstorm", "generate") if self.has_brainstorm else ("generate",)


def _p(**values: tuple[str, ...]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType(values)


QUERY_TYPE = ("extremely long-tail", "long-tail", "common")
QUERY_LENGTH = ("less than 5 words", "5 to 15 words", "at least 10 words")
CLARITY = ("clear", "understandable with some effort", "ambiguous")
RETRIEVAL_NUM_WORDS = ("50", "100", "200", "300", "400", "500")
CLASSIFICATION_NUM_WORDS = ("less than 10", "at least 10", "at least 50", "at least 100", "at least 200")
HARD_DIFFICULTY = ("high school", "college", "PhD")
EASY_DIFFICULTY = ("elementary school", "high school", "college")
UNIT = ("sentence", "phrase", "passage")
HIGH_SCORE = ("4", "4.5", "5")
STS_LOW_SCORE = ("2.5", "3", "3.5")
BITEXT_LOW_SCORE = ("1.5", "2", "2.5")

#: Long-long documents are at least this many words (the paper's fixed value).
LONG_LONG_MIN_WORDS = 300

TASK_TYPES: Mapping[str, TaskType] = MappingProxyType(
    {
        "retrieval": TaskType(
            name="retrieval",
            kind=ASYMMETRIC,
            fields=("user_query", "positive_document", "hard_negative_document"),
            triple=("user_query", "positive_document", "hard_negative_document"),
            placeholders=_p(
                query_type=QUERY_TYPE,
                query_length=QUERY_LENGTH,
                clarity=CLARITY,
                num_words=RETRIEVAL_NUM_WORDS,
                difficulty=HARD_DIFFICULTY,
            ),
        ),
        "classification": TaskType(
            name="classification",
            kind=ASYMMETRIC,
            fields=("input_text", "label", "misleading_label"),
            triple=("input_text", "label", "misleading_label"),
            placeholders=_p(
                clarity=CLARITY,
                num_words=CLASSIFICATION_NUM_WORDS,
                difficulty=HARD_DIFFICULTY,
            ),
        ),
        "short_short": TaskType(
            name="short_short",
            kind=ASYMMETRIC,
            fields=("input", "positive_document"),
            triple=("input", "positive_document", None),
            placeholders=_p(),
        ),
        "long_long": TaskType(
            name="long_long",
            kind=ASYMMETRIC,
            fields=("input", "positive_document"),
            triple=("input", "positive_document", None),
            placeholders=_p(),
        ),
        "sts": TaskType(
            name="sts",
            kind=SYMMETRIC,
            fields=("S1", "S2", "S3"),
            triple=("S1", "S2", "S3"),
            placeholders=_p(
                unit=UNIT,
                high_score=HIGH_SCORE,
                low_score=STS_LOW_SCORE,
                difficulty=EASY_DIFFICULTY,
            ),
            fixed_instruction="Find a text that carries the same meaning as the given text.",
        ),
        "bitext": TaskType(
            name="bitext",
            kind=SYMMETRIC,
            fields=("S1", "S2", "S3"),
            triple=("S1", "S2", "S3"),
            placeholders=_p(
                unit=UNIT,
                high_score=HIGH_SCORE,
                low_score=BITEXT_LOW_SCORE,
                difficulty=EASY_DIFFICULTY,
            ),
            fixed_instruction="Given a text, find its translation in another language.",
        ),
    }
)

TASK_TYPE_NAMES: tuple[str, ...] = tuple(TASK_TYPES)

#: The paper's mix by type (examples), which sums to 507k; recipes scale it.
PAPER_MIX: Mapping[str, int] = MappingProxyType(
    {
        "retrieval": 167_000,
        "classification": 122_000,
        "sts": 99_000,
        "bitext": 89_000,
        "long_long": 17_000,
        "short_short": 13_000,
    }
)


def get_task_type(name: str) -> TaskType:
    """Return the task type called ``name``.

    Raises:
        KeyError: with the allowed names, when ``name`` is not a task type.
    """
    try:
        return TASK_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown task type {name!r}; allowed: {', '.join(TASK_TYPE_NAMES)}") from None
