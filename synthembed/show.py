"""``synthembed show``: a few examples per task type and language, to look at data before trusting it."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from synthembed.errors import ConfigError


def _parquet_rows(paths: Iterable[Path], split: str | None = None) -> Iterator[dict[str, Any]]:
    for path in paths:
        for row in pq.read_table(path).to_pylist():
            if split:
                row["split"] = split
            yield row


def iter_rows(path: str | Path, rejected: bool = False) -> Iterator[dict[str, Any]]:
    """Rows of a release folder, a filtered run, or a run store (kept, or rejected with reasons).

    Raises:
        ConfigError: ``path`` is neither a release nor a run folder.
    """
    path = Path(path)
    if (path / "manifest.json").exists():  # a release
        if rejected:
            raise ConfigError(f"{path}: a release holds kept examples only; show the run for rejects")
        for config in sorted(p for p in (path / "data").iterdir() if p.name != "tasks"):
            for split in ("train", "test"):
                yield from _parquet_rows([config / f"{split}.parquet"], split)
        return
    filtered = path / "filtered"
    if filtered.is_dir():
        yield from _parquet_rows([filtered / ("rejected.parquet" if rejected else "kept.parquet")])
        if rejected:  # answers that never became examples
            yield from _store_rejects(path)
        return
    if (path / "store.sqlite").exists():
        if rejected:
            yield from _store_rejects(path)
            return
        from synthembed.gen.store import RunStore

        with RunStore.open(path, create=False) as store:
            yield from store.iter_examples()
        return
    raise ConfigError(f"{path}: not a release folder (manifest.json) or a run folder (store.sqlite)")


def _store_rejects(run_dir: Path) -> Iterator[dict[str, Any]]:
    from synthembed.gen.store import RunStore

    with RunStore.open(run_dir, create=False) as store:
        rows = store.conn.execute(
            "SELECT r.request_id, r.task_type, r.language, r.reason, a.text, r.task FROM results r"
            " LEFT JOIN attempts a ON a.id = r.attempt_id WHERE r.status != 'ok'"
        ).fetchall()
    for request_id, task_type, language, reason, text, task in rows:
        yield {
            "id": request_id,
            "task_type": task_type,
            "language": language,
            "instruction": task or "",
            "query": (text or "")[:300],
            "positive": "",
            "negative": "",
            "check": "parse",
            "reason": reason,
        }


def select_examples(
    path: str | Path,
    *,
    task_type: str | None = None,
    language: str | None = None,
    rejected: bool = False,
    reason: str | None = None,
    per_group: int = 2,
) -> list[dict[str, Any]]:
    """Up to ``per_group`` rows per (task type, language), filtered as asked."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in iter_rows(path, rejected):
        if task_type and row.get("task_type") != task_type:
            continue
        if language and language not in str(row.get("language", "")).split("-"):
            continue
        if reason and reason not in str(row.get("reason", "")):
            continue
        key = (row.get("task_type", ""), row.get("language", ""))
        if len(groups[key]) < per_group:
            groups[key].append(row)
    return [r for key in sorted(groups) for r in groups[key]]


def _cut(text: Any, n: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def render_examples(rows: list[dict[str, Any]], rejected: bool = False, width: int = 60) -> Table:
    table = Table(show_lines=True, title=f"{len(rows)} {'rejected ' if rejected else ''}examples")
    table.add_column("type / lang", no_wrap=True)
    table.add_column("instruction", max_width=width // 2)
    table.add_column("query", max_width=width)
    table.add_column("positive", max_width=width)
    table.add_column("reason" if rejected else "negative", max_width=width)
    for row in rows:
        last = (
            f"{row.get('reason', '')}: {_cut(row.get('detail', ''), 80)}"
            if rejected
            else _cut(row.get("negative"), 200)
        )
        table.add_row(
            f"{row.get('task_type')}\n{row.get('language')}"
            + (f"\n{row['split']}" if row.get("split") else ""),
            _cut(row.get("instruction"), 120),
            _cut(row.get("query"), 200),
            _cut(row.get("positive"), 200),
            last,
        )
    return table


def show(path: str | Path, console: Console, as_json: bool = False, **filters: Any) -> list[dict[str, Any]]:
    """Print the selected examples as a table (or JSON lines); returns them."""
    rows = select_examples(path, **filters)
    if as_json:
        for row in rows:
            console.print_json(json.dumps(row, ensure_ascii=False, default=str))
    elif not rows:
        console.print("No examples match.")
    else:
        console.print(render_examples(rows, rejected=filters.get("rejected", False)))
    return rows
