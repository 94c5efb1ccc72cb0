"""Turning model answers into examples and task lists. Never ``eval``; a failure has a reason.

The JSON may come bare, inside a code fence, or with chatter around it; :func:`extract_json` finds
the first JSON value that decodes. A generate answer becomes an :class:`~synthembed.records.Example`
when it is an object with every key the task type needs, each a non-empty string (numbers are
accepted and turned into text). Anything else is a :class:`ParseFailure` with a short reason, and
the answer itself stays in the run store.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from synthembed.gen.plan import RequestSpec
from synthembed.gen.taxonomy import TASK_TYPES
from synthembed.records import Example

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_REFUSAL = re.compile(
    r"^\s*(i'?m sorry|i am sorry|i can(?:no|')t|i cannot|i won'?t|as an ai\b|sorry, but)", re.IGNORECASE
)


@dataclass(frozen=True)
class ParseFailure:
    """Why an answer did not give an example (``reason`` is a short, countable label)."""

    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


def extract_json(text: str) -> Any:
    """The first JSON value in ``text`` (fenced blocks first), or raise ValueError."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for chunk in candidates:
        chunk = chunk.strip()
        try:
            return json.loads(chunk)
        except ValueError:
            pass
        for match in re.finditer(r"[\[{]", chunk):
            try:
                value, _ = decoder.raw_decode(chunk, match.start())
            except ValueError:
                continue
            if isinstance(value, dict | list) and value:
                return value
    raise ValueError("no JSON value found")


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def parse_example(
    spec: RequestSpec, task: str | None, text: str, finish_reason: str, meta: dict[str, Any]
) -> Example | ParseFailure:
    """Parse a generate answer for ``spec`` into an example, or say why not."""
    if finish_reason == "length":
        return ParseFailure("truncated", "the answer hit max_tokens")
    if finish_reason in ("refusal", "content_filter"):
        return ParseFailure("refusal", finish_reason)
    try:
        data = extract_json(text)
    except ValueError:
        if _REFUSAL.match(text):
            return ParseFailure("refusal", text[:80])
        return ParseFailure("no_json", text[:80])
    if not isinstance(data, dict):
        return ParseFailure("not_an_object", type(data).__name__)
    task_type = TASK_TYPES[spec.task_type]
    missing = [k for k in task_type.fields if k not in data]
    if missing:
        return ParseFailure("missing_keys", ", ".join(missing))
    fields: dict[str, str] = {}
    for key in task_type.fields:
        value = _as_text(data[key])
        if value is None:
            return ParseFailure("not_text", key)
        if not value:
            return ParseFailure("empty_field", key)
        fields[key] = value
    q, p, n = task_type.triple
    extra = {k: v for k, v in data.items() if k not in task_type.fields}
    instruction = task if task is not None else (task_type.fixed_instruction or "")
    return Example(
        id=spec.request_id(task),
        task_type=spec.task_type,
        instruction=instruction,
        language=spec.language,
        query=fields[q],
        positive=fields[p],
        negative=fields[n] if n else "",
        meta={
            **meta,
            "spec_id": spec.id,
            "placeholders": dict(spec.values),
            "template_id": spec.template.id,
            "fields": fields,
            "extra_fields": extra,
        },
    )


def parse_task_list(text: str, finish_reason: str) -> list[str] | ParseFailure:
    """Parse a brainstorm answer: a JSON array of strings (or an object holding one).

    A truncated array keeps the complete strings before the cut.
    """
    try:
        data = extract_json(text)
    except ValueError:
        if finish_reason == "length":
            items = re.findall(r'"((?:[^"\\]|\\.){3,})"', text)
            if items:
                return [json.loads(f'"{s}"') for s in items]
        return ParseFailure("refusal" if _REFUSAL.match(text) else "no_json", text[:80])
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if not lists:
            return ParseFailure("not_a_list", "object without a list")
        data = lists[0]
    if not isinstance(data, list):
        return ParseFailure("not_a_list", type(data).__name__)
    tasks = []
    for item in data:
        if isinstance(item, dict):  # [{"task": "..."}]
            item = next((v for v in item.values() if isinstance(v, str)), None)
        if isinstance(item, str):
            tasks.append(item)
    if not tasks:
        return ParseFailure("empty_list")
    return tasks


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def task_key(text: str) -> str:
    """Key under which near-identical task definitions collide: the set of their normalised words.

    Catches re-orderings, case, punctuation and repeated words in O(1) per task; the quality layer
    adds a MinHash pass over all task definitions for looser near-duplicates.
    """
    return " ".join(sorted(set(_norm(text).split())))


def clean_tasks(tasks: list[str], seen: set[str], max_words: int) -> list[tuple[str, bool, str | None]]:
    """Decide for each brainstormed task whether it joins the pool.

    Drops empty tasks, tasks over ``max_words`` words, and tasks whose :func:`task_key` matches one
    already kept; ``seen`` holds the keys kept so far for this task type and is extended in place.

    Returns:
        ``(text, kept, reason)`` per input task, in order.
    """
    out: list[tuple[str, bool, str | None]] = []
    for raw in tasks:
        text = " ".join(raw.split()).strip().strip('"').strip()
        text = re.sub(r"^\s*(?:\d+[.)]|[-*•])\s+", "", text)
        key = task_key(text)
        if not key:
            out.append((text, False, "empty"))
        elif len(text.split()) > max_words:
            out.append((text, False, "too_long"))
        elif key in seen:
            out.append((text, False, "near_duplicate"))
        else:
            seen.add(key)
            out.append((text, True, None))
    return out
