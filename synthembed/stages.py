"""The stages of a dataset as library functions: each CLI verb calls one of them.

``generate`` lives in :mod:`synthembed.gen.runner`; this module holds the stages that link the
packages together: :func:`filter_run` (run store -> quality layer), :func:`release_run` (filtered
run -> release folder and card) and :func:`validate_release_dir` (release -> validation and card).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from synthembed.errors import ReleaseError, RunStoreError
from synthembed.gen.store import RunStore
from synthembed.recipe import Recipe, load_recipe
from synthembed.records import EXAMPLE_COLUMNS

#: Examples per Arrow batch read from a run store.
BATCH_ROWS = 4096


def run_recipe(run_dir: Path) -> Recipe:
    """The recipe a run was made with (its copy in the run folder)."""
    path = Path(run_dir) / "recipe.yaml"
    if not path.exists():
        raise RunStoreError(
            f"{run_dir}: not a run folder (no recipe.yaml); pass datasets/<name>/runs/<version>"
        )
    return load_recipe(path)


def dataset_dir(run_dir: Path) -> Path:
    """``datasets/<name>`` of a run at ``datasets/<name>/runs/<id>``."""
    run_dir = Path(run_dir).resolve()
    return run_dir.parent.parent


def example_batches(store: RunStore, rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The run's parsed examples as Arrow batches (example columns + ``meta`` as JSON)."""
    names = (*EXAMPLE_COLUMNS, "meta")
    schema = pa.schema([(n, pa.string()) for n in names])
    buffer: list[dict[str, Any]] = []

    def flush() -> pa.RecordBatch:
        cols = {n: [e.get(n, "") for e in buffer] for n in EXAMPLE_COLUMNS}
        cols["meta"] = [json.dumps(e.get("meta", {}), ensure_ascii=False) for e in buffer]
        return pa.RecordBatch.from_pydict(cols, schema=schema)

    for example in store.iter_examples():
        buffer.append(example)
        if len(buffer) >= rows:
            yield flush()
            buffer = []
    if buffer:
        yield flush()


def previous_releases(dataset: Path, before: str | None = None) -> list[Path]:
    """Release folders of a dataset, oldest first, optionally only versions below ``before``."""
    from synthembed.hub.release import parse_version

    root = Path(dataset) / "releases"
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        try:
            version = parse_version(folder.name)
        except ValueError:
            continue
        if (folder / "manifest.json").exists() and (before is None or version < parse_version(before)):
            found.append((version, folder))
    return [f for _, f in sorted(found)]


def filter_run(run_dir: str | Path, out_dir: str | Path | None = None) -> Any:
    """Run the quality checks over a run's examples and task definitions.

    Writes ``<run>/filtered/`` (kept and rejected parquet, task pools, the MinHash index and
    ``quality.json``), deduplicating against the indexes of the dataset's earlier releases.

    Raises:
        RunStoreError: the folder is not a run.
    """
    from synthembed.quality.pipeline import filter_examples

    run_dir = Path(run_dir)
    recipe = run_recipe(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "filtered"
    indexes = [
        p / "minhash_index"
        for p in previous_releases(dataset_dir(run_dir), before=recipe.version)
        if (p / "minhash_index").is_dir()
    ]
    with RunStore.open(run_dir, create=False) as store:
        tasks = [
            (t, text)
            for t, text in store.conn.execute("SELECT task_type, text FROM tasks WHERE kept=1 ORDER BY rowid")
        ]
        return filter_examples(
            example_batches(store), tasks, recipe.quality, out, previous_index_dirs=indexes
        )


def release_run(run_dir: str | Path, version: str | None = None, out_root: str | Path | None = None) -> Path:
    """Build the release folder of a filtered run (see :func:`synthembed.hub.release.build_release`)."""
    from synthembed.hub.release import build_release

    run_dir = Path(run_dir)
    if not (run_dir / "filtered" / "quality.json").exists():
        raise ReleaseError(f"{run_dir}: not filtered yet; run `synthembed filter {run_dir}` first")
    return build_release(run_dir, version=version, out_root=out_root)
