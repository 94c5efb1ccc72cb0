"""Prompt templates, written for synthembed, one or more per task type and step.

Each template has a stable id: the first 12 hex digits of the SHA-256 of its text, so any change to
the wording is a new id, a new request id, and never a reuse of stale answers. Several templates may
exist for one (task type, step); a plan draws among the enabled ones per request.

Layout: the fixed instructions come first and the per-request values last, so that providers'
prefix caching can reuse the shared start of every prompt of a template.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from synthembed.gen.taxonomy import LONG_LONG_MIN_WORDS, get_task_type


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt template for one task type and step.

    Attributes:
        name: a readable name, unique per (task type, step), such as ``"default"``.
        task_type: the task type it is for.
        step: ``"brainstorm"`` or ``"generate"``.
        text: the template, with ``{placeholder}`` fields filled by :meth:`render`.
    """

    name: str
    task_type: str
    step: str
    text: str
    fields: tuple[str, ...] = field(init=False, repr=False)
    id: str = field(init=False)  # stable id: the first 12 hex digits of the SHA-256 of the text
    #: the text before the first placeholder: what every rendering starts with
    fixed_prefix: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = tuple(dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(self.text) if f))
        object.__setattr__(self, "fields", names)
        object.__setattr__(self, "id", hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12])
        prefix = []
        for literal, name, _, _ in string.Formatter().parse(self.text):
            prefix.append(literal)
            if name is not None:
                break
        object.__setattr__(self, "fixed_prefix", "".join(prefix))

    def render(self, values: Mapping[str, str]) -> str:
        """Fill the template.

        Raises:
            KeyError: naming the missing placeholder when ``values`` lacks one.
        """
        missing = [f for f in self.fields if f not in values]
        if missing:
            raise KeyError(f"template {self.task_type}/{self.step}/{self.name} needs {missing}")
        return self.text.format_map({f: values[f] for f in self.fields})


_JSON_ONLY = (
    "Reply with the JSON only: no code fences, no commentary before or after it, and no keys "
    "other than those listed."
)

_BRAINSTORM_COMMON = (
    "Each task is one sentence that says what the input is and what should be found or decided "
    "for it. Make the tasks different from one another in subject area, in who would use them and "
    "in the kind of text involved; a task should cover many possible inputs rather than a single "
    "narrow case. Reply with a JSON array of strings, one string per task, and nothing else.\n\n"
    "Number of tasks to write: {num_tasks}"
)

_BRAINSTORM = {
    "retrieval": (
        "We are building training data for a text embedding model. Brainstorm text retrieval tasks: "
        "situations where a person or program has a query and needs to find documents that answer "
        "or support it. " + _BRAINSTORM_COMMON
    ),
    "classification": (
        "We are building training data for a text embedding model. Brainstorm text classification "
        "tasks: situations where a piece of text must be sorted into one of a set of categories, "
        "such as topic, intent, sentiment or quality. " + _BRAINSTORM_COMMON
    ),
    "short_short": (
        "We are building training data for a text embedding model. Brainstorm matching tasks where "
        "both sides are short: a short query such as a title, a keyword or a question, and a short "
        "text that belongs with it, such as a headline, a label or an answer. " + _BRAINSTORM_COMMON
    ),
    "long_long": (
        "We are building training data for a text embedding model. Brainstorm matching tasks where "
        "both sides are long: a long document as the query, and another long document that is "
        "related to it, such as a paper and a paper it cites, or a question post and its "
        "duplicate. " + _BRAINSTORM_COMMON
    ),
}

_GENERATE = {
    "retrieval": (
        "You are writing one training example for a text retrieval model. The example is a JSON "
        "object with exactly these keys:\n"
        '- "user_query": a query a user would type for the task below, of the type, length and '
        "clarity given in the details.\n"
        '- "positive_document": a document that answers the query well, with at least the number '
        "of words given in the details.\n"
        '- "hard_negative_document": a document on a nearby subject that looks relevant at first '
        "sight but does not answer the query.\n"
        "Write the query and both documents in the language given in the details. Do not repeat the "
        "query word for word inside the documents. " + _JSON_ONLY + "\n\n"
        "Details for this example:\n"
        "- task: {task}\n"
        "- query type: {query_type}\n"
        "- query length: {query_length}\n"
        "- query clarity: {clarity}\n"
        "- document length: at least {num_words} words\n"
        "- reading level: {difficulty}\n"
        "- language: {language}"
    ),
    "classification": (
        "You are writing one training example for a text classification task. The example is a "
        "JSON object with exactly these keys:\n"
        '- "input_text": a text to be classified, of the length and clarity given in the details.\n'
        '- "label": the correct category for the text.\n'
        '- "misleading_label": a category that is plausible for the task but wrong for this '
        "text.\n"
        "Write the text and both labels in the language given in the details. Neither label may "
        "appear word for word in the text, and the two labels must differ. " + _JSON_ONLY + "\n\n"
        "Details for this example:\n"
        "- task: {task}\n"
        "- text length: {num_words} words\n"
        "- text clarity: {clarity}\n"
        "- reading level: {difficulty}\n"
        "- language: {language}"
    ),
    "short_short": (
        "You are writing one training example for a short text matching task. The example is a "
        "JSON object with exactly these keys:\n"
        '- "input": a short input for the task below.\n'
        '- "positive_document": a short text that the task would match to that input.\n'
        "Both texts are brief and written in the language given in the details. "
        + _JSON_ONLY
        + "\n\nDetails for this example:\n"
        "- task: {task}\n"
        "- language: {language}"
    ),
    "long_long": (
        "You are writing one training example for a long document matching task. The example is a "
        "JSON object with exactly these keys:\n"
        '- "input": a long input document for the task below.\n'
        '- "positive_document": a long document that the task would match to that input.\n'
        f"Each document has at least {LONG_LONG_MIN_WORDS} words and is written in the language "
        "given in the details. " + _JSON_ONLY + "\n\n"
        "Details for this example:\n"
        "- task: {task}\n"
        "- language: {language}"
    ),
    "sts": (
        "You are writing one training example for semantic textual similarity, scored from 1 (no "
        "shared meaning) to 5 (same meaning). The example is a JSON object with exactly these keys:\n"
        '- "S1": a text of the unit given in the details.\n'
        '- "S2": a text whose similarity to S1 would be scored at least the high score.\n'
        '- "S3": a text whose similarity to S1 would be scored at most the low score.\n'
        "All three texts are in the language given in the details, and S2 should not simply copy "
        "S1. " + _JSON_ONLY + "\n\n"
        "Details for this example:\n"
        "- unit: {unit}\n"
        "- high score: {high_score}\n"
        "- low score: {low_score}\n"
        "- reading level: {difficulty}\n"
        "- language: {language}"
    ),
    "bitext": (
        "You are writing one training example for finding translations, with similarity scored from "
        "1 (no shared meaning) to 5 (same meaning). The example is a JSON object with exactly these "
        "keys:\n"
        '- "S1": a text of the unit given in the details, in the source language.\n'
        '- "S2": a translation of S1 into the target language whose similarity to S1 would be '
        "scored at least the high score.\n"
        '- "S3": a text in the target language that looks like a translation of S1 but whose '
        "similarity to it would be scored at most the low score.\n" + _JSON_ONLY + "\n\n"
        "Details for this example:\n"
        "- unit: {unit}\n"
        "- high score: {high_score}\n"
        "- low score: {low_score}\n"
        "- reading level: {difficulty}\n"
        "- source language: {src_lang}\n"
        "- target language: {tgt_lang}"
    ),
}


def _build_registry() -> Mapping[tuple[str, str], tuple[PromptTemplate, ...]]:
    registry: dict[tuple[str, str], tuple[PromptTemplate, ...]] = {}
    for task_type, text in _BRAINSTORM.items():
        registry[(task_type, "brainstorm")] = (PromptTemplate("default", task_type, "brainstorm", text),)
    for task_type, text in _GENERATE.items():
        registry[(task_type, "generate")] = (PromptTemplate("default", task_type, "generate", text),)
    return MappingProxyType(registry)


#: (task type, step) -> the templates available for it.
TEMPLATES = _build_registry()


def templates_for(task_type: str, step: str, names: list[str] | None = None) -> tuple[PromptTemplate, ...]:
    """Return the templates of ``task_type``/``step``, restricted to ``names`` when given.

    Raises:
        KeyError: naming the allowed templates when a name or the pair is unknown.
    """
    get_task_type(task_type)
    available = TEMPLATES.get((task_type, step))
    if not available:
        raise KeyError(f"task type {task_type!r} has no {step!r} step")
    if not names:
        return available
    by_name = {t.name: t for t in available}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise KeyError(
            f"unknown template {unknown[0]!r} for {task_type}/{step}; allowed: {', '.join(by_name)}"
        )
    return tuple(by_name[n] for n in names)


def template_by_id(template_id: str) -> PromptTemplate:
    """Look a template up by its id (as recorded in stores and cards)."""
    for group in TEMPLATES.values():
        for t in group:
            if t.id == template_id:
                return t
    raise KeyError(f"no template with id {template_id!r}")
