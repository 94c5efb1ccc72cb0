"""Schema and the paper's rules: small checks that look at one example at a time.

* :class:`SchemaCheck`: known task type and language, required fields present and non-empty, the
  LLM's keys as the task type defines them, no extra keys where the paper forbids them (sts, bitext).
* :class:`PairRulesCheck`: the paper's content rules: classification labels differ and neither
  appears in the input; a query is not copied verbatim into its positive; positive and negative
  differ; an STS or bitext positive is not the query again.
* :class:`LengthCheck`: lengths agree with the placeholders that asked for them, within
  ``length_tolerance`` (``at least N`` accepts ``N * (1 - tol)`` words, ``less than N`` up to
  ``N * (1 + tol)``). Spaceless languages count characters / :data:`~.text.CHARS_PER_WORD`.
* :class:`PlaceholderCheck`: no unfilled template placeholders (``{num_words}``, ``[insert ...]``).
* :class:`RefusalCheck`: no refusals or meta chatter ("As an AI ...", "Here is the JSON").
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from synthembed.gen.languages import LANGUAGE_BY_CODE
from synthembed.gen.taxonomy import LONG_LONG_MIN_WORDS, TASK_TYPES
from synthembed.quality.base import Check, Decision, Drop, ExampleCheck
from synthembed.quality.text import SPACELESS_LANGUAGES, count_words, field_languages, normalize_column

TEXT_FIELDS = ("query", "positive", "negative")

#: Task types whose LLM answer may hold no keys beyond the three the prompt names.
NO_EXTRA_KEYS = frozenset({"sts", "bitext"})


class SchemaCheck(ExampleCheck):
    """Required fields present and non-empty; the LLM's keys match the task type."""

    name = "schema"

    def decide_example(self, example: dict[str, Any]) -> Decision:
        task_type = TASK_TYPES.get(example.get("task_type") or "")
        if task_type is None:
            return Drop("unknown_task_type", f"task type {example.get('task_type')!r}")
        language = example.get("language") or ""
        if task_type.name == "bitext":
            src, sep, tgt = language.partition("-")
            if not sep or src == tgt or src not in LANGUAGE_BY_CODE or tgt not in LANGUAGE_BY_CODE:
                return Drop(
                    "bad_language", f"bitext language {language!r} is not 'src-tgt' of two XLM-R codes"
                )
        elif language not in LANGUAGE_BY_CODE:
            return Drop("bad_language", f"language {language!r} is not an XLM-R code")
        required = ["query", "positive"] + (["negative"] if task_type.triple[2] else [])
        for name in required:
            value = example.get(name)
            if value is None:
                return Drop("missing_field", name)
            if not str(value).strip():
                return Drop("empty_field", name)
        if task_type.kind == "asymmetric" and not (example.get("instruction") or "").strip():
            return Drop("empty_field", "instruction")
        meta = example.get("meta") or {}
        fields = meta.get("fields") if isinstance(meta.get("fields"), dict) else {}
        missing = [k for k in task_type.fields if fields and k not in fields]
        if missing:
            return Drop("missing_field", ", ".join(missing))
        extra = [k for k in fields if k not in task_type.fields]
        extra += list((meta.get("extra_fields") or {}).keys())
        if extra and task_type.name in NO_EXTRA_KEYS:
            return Drop("extra_keys", ", ".join(sorted(set(extra))))
        return None


def _contains_phrase(text: str, phrase: str, spaceless: bool) -> bool:
    """``phrase`` occurs in ``text`` as whole words (both normalised); plain substring when spaceless."""
    if not phrase:
        return False
    if spaceless:
        return phrase.replace(" ", "") in text.replace(" ", "")
    return f" {phrase} " in f" {text} "


class PairRulesCheck(Check):
    """The paper's rules on how query, positive and negative relate (texts normalised per batch)."""

    name = "pair_rules"

    def __init__(self, query_copy_min_words: int = 4) -> None:
        super().__init__()
        self.query_copy_min_words = query_copy_min_words

    def describe(self) -> dict[str, Any]:
        return {"check": self.name, "query_copy_min_words": self.query_copy_min_words}

    def decide(self, batch: pa.RecordBatch) -> list[Decision]:
        columns = [normalize_column(batch.column(f)).to_pylist() for f in TEXT_FIELDS]
        task_types = batch.column("task_type").to_pylist()
        languages = batch.column("language").to_pylist()
        return [
            self.decide_texts(task_type, language, q, p, n)
            for task_type, language, q, p, n in zip(task_types, languages, *columns, strict=True)
        ]

    def decide_texts(
        self, task_type: str, language: str, query: str, positive: str, negative: str
    ) -> Decision:
        """The rules on one example's normalised texts."""
        q_lang, p_lang, _ = field_languages(language)
        if task_type == "classification":
            if positive == negative:
                return Drop("labels_equal", f"label and misleading label are both {positive!r}")
            spaceless = q_lang in SPACELESS_LANGUAGES
            for name, label in (("label", positive), ("misleading_label", negative)):
                if _contains_phrase(query, label, spaceless):
                    return Drop("label_in_input", f"{name} {label!r} appears in the input text")
            return None
        if negative and positive == negative:
            return Drop("positive_equals_negative", "positive and negative are the same text")
        if task_type in ("sts", "bitext") and positive == query:
            return Drop("positive_equals_query", "S2 repeats S1")
        if task_type != "bitext" and query and query != positive:
            words = len(query.split()) if q_lang not in SPACELESS_LANGUAGES else len(query) // 2
            if words >= self.query_copy_min_words and _contains_phrase(
                positive, query, p_lang in SPACELESS_LANGUAGES
            ):
                return Drop("query_in_positive", "the query appears verbatim in the positive")
        return None


_LESS = re.compile(r"less than (\d+)")
_AT_LEAST = re.compile(r"at least (\d+)")
_RANGE = re.compile(r"(\d+) to (\d+)")
_NUMBER = re.compile(r"^\s*(\d+)\s*$")


def parse_length(value: str) -> tuple[float | None, float | None]:
    """``(min_words, max_words)`` a placeholder value asks for (None: no bound).

    >>> parse_length("5 to 15 words"), parse_length("less than 10"), parse_length("200")
    ((5.0, 15.0), (None, 10.0), (200.0, None))
    """
    if m := _RANGE.search(value):
        return float(m.group(1)), float(m.group(2))
    if m := _LESS.search(value):
        return None, float(m.group(1))
    if m := _AT_LEAST.search(value):
        return float(m.group(1)), None
    if m := _NUMBER.match(value):
        return float(m.group(1)), None
    return None, None


class LengthCheck(ExampleCheck):
    """Lengths consistent with the placeholders that asked for them, within a tolerance."""

    name = "length"

    #: (task type, placeholder) -> the field it sets the length of.
    PLACEHOLDER_FIELDS: ClassVar[dict[tuple[str, str], str]] = {
        ("retrieval", "num_words"): "positive",
        ("retrieval", "query_length"): "query",
        ("classification", "num_words"): "query",
    }

    def __init__(self, tolerance: float = 0.25) -> None:
        super().__init__()
        self.tolerance = tolerance

    def describe(self) -> dict[str, Any]:
        return {"check": self.name, "tolerance": self.tolerance, "long_long_min_words": LONG_LONG_MIN_WORDS}

    def _bounds(self, example: dict[str, Any]) -> list[tuple[str, str, float | None, float | None]]:
        task_type = example["task_type"]
        placeholders = (example.get("meta") or {}).get("placeholders") or {}
        bounds = []
        for (tt, name), field in self.PLACEHOLDER_FIELDS.items():
            if tt == task_type and name in placeholders:
                lo, hi = parse_length(str(placeholders[name]))
                bounds.append((field, f"{name}={placeholders[name]}", lo, hi))
        if task_type == "long_long":
            for field in ("query", "positive"):
                bounds.append((field, f"long_long at least {LONG_LONG_MIN_WORDS}", LONG_LONG_MIN_WORDS, None))
        return bounds

    def decide_example(self, example: dict[str, Any]) -> Decision:
        langs = dict(zip(TEXT_FIELDS, field_languages(example["language"]), strict=True))
        for field, asked, lo, hi in self._bounds(example):
            words = count_words(example[field] or "", langs[field])
            if lo is not None and words < lo * (1 - self.tolerance):
                return Drop("too_short", f"{field} has {words:.0f} words, asked {asked}")
            if hi is not None and words >= hi * (1 + self.tolerance):
                return Drop("too_long", f"{field} has {words:.0f} words, asked {asked}")
        return None


_PLACEHOLDER_NAMES = sorted(
    {name for tt in TASK_TYPES.values() for name in tt.placeholders}
    | {"task", "language", "src_lang", "tgt_lang", "num_tasks", "query", "document", "input_text", "label"}
)
_PLACEHOLDER = (
    r"\{\{?\s*(?:" + "|".join(_PLACEHOLDER_NAMES) + r")\s*\}\}?"
    r"|\[(?:insert|your|add|enter|placeholder|write)\b[^\]\n]{0,60}\]"
    r"|<(?:insert|your|placeholder)\b[^>\n]{0,60}>"
    r"|\blorem ipsum\b"
)

# Refusals anywhere would hit documents *about* AI, so most patterns anchor at the start of a field;
# the ones that are unambiguous chatter match anywhere.
_REFUSAL = (
    r"^\W*(?:i'?m sorry|i am sorry|i apologi[sz]e|sorry, (?:but )?i|i can(?:no|')t|i cannot|i won'?t|"
    r"i'?m (?:not able|unable) to|as an ai\b|as a (?:large )?language model|"
    r"作为(?:一个)?(?:ai|人工智能)|抱歉，|对不起，|"
    r"como (?:una )?ia\b|como (?:un )?modelo de lenguaje|lo siento|"
    r"en tant qu'(?:ia|intelligence artificielle)|en tant que modèle de langage|je suis désolé|"
    r"als (?:eine )?ki\b|als (?:ein )?sprachmodell|es tut mir leid|"
    r"как (?:ии|искусственный интеллект|языковая модель)|извините, (?:но )?я не могу|"
    r"aiとして|申し訳ありません|como uma ia\b|desculpe, mas)"
    r"|\bas an ai(?: language)? model,? i\b|\bas a large language model,? i\b"
    r"|\bi (?:cannot|can't|am unable to|'m unable to) (?:help|assist|provide|generate|create|fulfil+|comply)"
    r"(?: with)? (?:this|that|your) (?:request|task)"
)
_CHATTER = (
    r"^\W*(?:sure|certainly|of course|okay|ok)\b[!,.]"
    r"|^\W*(?:here is|here's|below is)\b.{0,60}\b(?:json|example|query|document|answer|response|output)\b"
    r"|```|\bhere is the json\b|\bthe json (?:object )?(?:above|below)\b|\bi hope this helps\b"
)


class PatternCheck(Check):
    """Drops examples with a text field matching one of ``patterns`` (RE2, case-insensitive).

    The search runs vectorised over each column (pyarrow's RE2); Python's ``re`` only extracts the
    matched words of the few hits for the reject's detail.
    """

    #: (reason, pattern) in order of precedence.
    patterns: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __init__(self) -> None:
        super().__init__()
        self._compiled = [(reason, re.compile(p, re.IGNORECASE)) for reason, p in self.patterns]

    def decide(self, batch: pa.RecordBatch) -> list[Decision]:
        decisions: list[Decision] = [None] * batch.num_rows
        for field in TEXT_FIELDS:
            column = pc.fill_null(batch.column(field), "")
            for (reason, pattern), (_, compiled) in zip(self.patterns, self._compiled, strict=True):
                hits = pc.match_substring_regex(column, pattern, ignore_case=True)
                for i in np.flatnonzero(hits.to_numpy(zero_copy_only=False)):
                    if decisions[i] is None:
                        text = column[int(i)].as_py()
                        m = compiled.search(text)
                        snippet = m.group(0).strip() if m else text[:40]
                        decisions[i] = Drop(reason, f"{field}: {snippet!r}")
        return decisions


class PlaceholderCheck(PatternCheck):
    """No unfilled template placeholders (``{num_words}``, ``[insert ...]``) in any text field."""

    name = "placeholder"
    patterns = (("unfilled_placeholder", _PLACEHOLDER),)


class RefusalCheck(PatternCheck):
    """No refusals and no chatter about the task instead of the task's text."""

    name = "refusal"
    patterns = (("refusal", _REFUSAL), ("meta_chatter", _CHATTER))
