"""The one record that flows through quality, release and training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Column order of an example wherever it is written as a table.
EXAMPLE_COLUMNS = ("id", "task_type", "instruction", "language", "query", "positive", "negative")


@dataclass
class Example:
    """A training triple made from one LLM response.

    Attributes:
        id: stable id derived from the request that made it.
        task_type: one of the six task types (``retrieval``, ``classification``, ...).
        instruction: the task definition used at training time (``Instruct: ...``).
        language: the language code asked for; ``src-tgt`` for bitext.
        query, positive, negative: the triple; ``negative`` may be empty.
        meta: placeholders, model, prompt template id, usage, and the LLM's own field names.
    """

    id: str
    task_type: str
    instruction: str
    language: str
    query: str
    positive: str
    negative: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the record (``meta`` is shared, not copied)."""
        return {name: getattr(self, name) for name in (*EXAMPLE_COLUMNS, "meta")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Example:
        return cls(**{k: data[k] for k in (*EXAMPLE_COLUMNS, "meta") if k in data})
