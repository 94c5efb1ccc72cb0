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


def release_run(
    run_dir: str | Path,
    version: str | None = None,
    out_root: str | Path | None = None,
    source_fingerprint: str | None = None,
) -> Path:
    """Build the release folder of a filtered run (see :func:`synthembed.hub.release.build_release`)."""
    from synthembed.hub.release import build_release

    run_dir = Path(run_dir)
    if not (run_dir / "filtered" / "quality.json").exists():
        raise ReleaseError(f"{run_dir}: not filtered yet; run `synthembed filter {run_dir}` first")
    return build_release(run_dir, version=version, out_root=out_root, source_fingerprint=source_fingerprint)


def _filter_fingerprint(run_dir: Path, recipe: Recipe) -> str:
    """What the filter stage's output depends on: the run's examples and the quality settings."""
    import hashlib

    with RunStore.open(run_dir, create=False) as store:
        count, last = store.conn.execute("SELECT COUNT(*), MAX(rowid) FROM examples").fetchone()
        tasks = store.conn.execute("SELECT COUNT(*) FROM tasks WHERE kept=1").fetchone()[0]
    settings = recipe.quality.model_dump_json()
    return hashlib.sha256(f"{count}:{last}:{tasks}:{settings}".encode()).hexdigest()[:16]


def run_all(
    recipe_path: str | Path,
    *,
    push: str | None = None,
    private: bool = False,
    release_partial: bool = False,
    on_update: Any = None,
    say: Any = print,
) -> dict[str, Any]:
    """plan -> generate -> filter -> release -> validate (-> publish), skipping finished stages.

    Each stage's output says whether it is complete and up to date, so the same command after any
    interruption continues rather than redoes.

    Returns:
        What each stage did: ``{"generate": "complete", "filter": "skipped (up to date)", ...}``.

    Raises:
        BudgetExhausted: the budget cap stopped generation (unless ``release_partial``).
        SynthembedError: a stage failed; its message says what to do.
    """
    from synthembed.errors import BudgetExhausted, SynthembedError
    from synthembed.gen.runner import default_run_dir, generate

    recipe = load_recipe(recipe_path)
    run_dir = default_run_dir(recipe, recipe_path)
    done: dict[str, Any] = {"run_dir": str(run_dir)}

    result = generate(recipe_path, run_dir, on_update=on_update)
    done["generate"] = result.status
    say(f"generate: {result.status}: {result.message}")
    if result.status == "budget" and not release_partial:
        raise BudgetExhausted(
            f"{result.message}. The run in {run_dir} is kept; rerun with --release-partial to release what "
            "was kept so far"
        )
    if result.status in ("interrupted", "failed"):
        raise SynthembedError(f"generate {result.status}: {result.message}")

    fingerprint = _filter_fingerprint(run_dir, recipe)
    stamp = run_dir / "filtered" / "input.fingerprint"
    if (
        stamp.exists()
        and stamp.read_text() == fingerprint
        and (run_dir / "filtered" / "quality.json").exists()
    ):
        done["filter"] = "skipped (up to date)"
    else:
        report = filter_run(run_dir)
        stamp.write_text(fingerprint)
        done["filter"] = f"kept {report.kept} of {report.total}"
    say(f"filter: {done['filter']}")

    release_dir = dataset_dir(run_dir) / "releases" / recipe.version
    manifest_path = release_dir / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("source_fingerprint") != fingerprint:
            raise ReleaseError(
                f"{release_dir} exists and was built from other data; released versions are never "
                "overwritten: bump `version` in the recipe"
            )
        done["release"] = "skipped (exists)"
    else:
        release_dir = release_run(run_dir, source_fingerprint=fingerprint)
        done["release"] = str(release_dir)
    say(f"release: {done['release']}")

    if (release_dir / "validation.json").exists():
        done["validate"] = "skipped (done)"
    else:
        outcome = validate_release_dir(release_dir)
        done["validate"] = "passed" if outcome.passed else "failed"
    say(f"validate: {done['validate']}")

    if push:
        from synthembed.hub.publish import publish_release

        published = publish_release(release_dir, push, private=private)
        done["publish"] = getattr(published, "url", str(published))
        say(f"publish: {done['publish']}")
    return done


def validate_release_dir(release_dir: str | Path, previous: str | Path | None = None) -> Any:
    """Fine-tune on a release, evaluate before and after, write validation.json and the card section.

    ``previous`` defaults to the latest earlier release of the same dataset that has a validation.
    """
    from synthembed.hub.release import refresh_card, verify_manifest
    from synthembed.train.validate import validate_release

    release_dir = Path(release_dir)
    manifest = verify_manifest(release_dir, allow_new=("validation.json",))
    if previous is None:
        earlier = [
            p
            for p in previous_releases(release_dir.parent.parent, before=manifest["version"])
            if (p / "validation.json").exists()
        ]
        previous = earlier[-1] / "validation.json" if earlier else None
    recipe = load_recipe(release_dir / "recipe.yaml")
    outcome = validate_release(release_dir, recipe_validation=recipe.validation, previous=previous)
    refresh_card(release_dir, outcome.to_markdown())
    return outcome
