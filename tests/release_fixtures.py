"""Build run folders with chosen contents, as the filter stage leaves them, for release tests."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from synthembed.gen.store import RunStore
from synthembed.quality.base import EXAMPLE_SCHEMA
from synthembed.recipe import parse_recipe

RECIPE = {
    "name": "demo",
    "version": "1.0.0",
    "seed": 5,
    "description": "A small test dataset.",
    "provider": {"kind": "openai", "model": "gpt-4o-mini"},
    "budget": {"dollars": 1},
    "examples": {"retrieval": 12, "sts": 6, "short_short": 4},
    "release": {"test_fraction": 0.25, "license": "cc-by-4.0"},
    "validation": {
        "batch_size": 8,
        "mini_batch_size": 8,
        "max_steps": 2,
        "max_length": 64,
        "warmup_steps": 0,
    },
}

TOPICS = ["gardening", "tax law", "astronomy", "football", "cooking", "chemistry", "poetry", "trains"]


def example_rows(n_tasks: int = 6, per_task: int = 3, prefix: str = "", hostile: str = "") -> list[dict]:
    rows = []
    for t in range(n_tasks):
        instruction = (
            f"Given a question about {TOPICS[t % len(TOPICS)]}, retrieve passages that answer it.{hostile}"
        )
        for i in range(per_task):
            rows.append(
                {
                    "id": f"{prefix}r{t}-{i}",
                    "task_type": "retrieval",
                    "instruction": instruction,
                    "language": "en" if i % 2 == 0 else "de",
                    "query": f"question {i} about {TOPICS[t % len(TOPICS)]}{hostile}",
                    "positive": f"A passage that answers question {i} about {TOPICS[t % len(TOPICS)]}.",
                    "negative": f"A passage about something else entirely, number {i}.",
                    "meta": json.dumps({"template_id": "abc123abc123", "model": "gpt-4o-mini"}),
                }
            )
    for i in range(6):
        rows.append(
            {
                "id": f"{prefix}s{i}",
                "task_type": "sts",
                "instruction": "Find a text that carries the same meaning as the given text.",
                "language": "en-fr" if i % 3 == 0 else "en",
                "query": f"The cat sat on mat {i}.",
                "positive": f"A cat was sitting on mat {i}.",
                "negative": f"Dogs run in park {i}.",
                "meta": json.dumps({"template_id": "def456def456", "model": "gpt-4o-mini"}),
            }
        )
    return rows


def make_run(dataset: Path, rows: list[dict], version: str = "1.0.0", recipe: dict | None = None) -> Path:
    """A run folder at ``dataset/runs/<version>`` with a store, a recipe and filtered outputs."""
    data = {**(recipe or RECIPE), "version": version}
    parse_recipe(data)
    run = dataset / "runs" / version
    with RunStore.open(run):
        pass
    (run / "recipe.yaml").write_text(yaml.safe_dump(data))
    filtered = run / "filtered"
    filtered.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=EXAMPLE_SCHEMA), filtered / "kept.parquet")
    tasks = sorted({(r["task_type"], r["instruction"]) for r in rows if r["task_type"] == "retrieval"})
    pq.write_table(
        pa.table({"task_type": [t for t, _ in tasks], "task": [x for _, x in tasks]}),
        filtered / "tasks_kept.parquet",
    )
    quality = {
        "total": len(rows) + 2,
        "kept": len(rows),
        "dropped_total": 2,
        "yield": len(rows) / (len(rows) + 2),
        "checks": [
            {
                "name": "language",
                "seen": len(rows) + 2,
                "kept": len(rows),
                "dropped": 2,
                "by_reason": {"wrong_language": 2},
            }
        ],
        "by_reason": {"wrong_language": 2},
        "tasks": {"input": len(tasks), "kept": len(tasks)},
    }
    (filtered / "quality.json").write_text(json.dumps(quality))
    return run
