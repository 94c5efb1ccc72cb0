"""Release folders: versioned, self-describing, loadable with ``datasets.load_dataset``.

``datasets/<name>/releases/<version>/``::

    README.md                     the dataset card (YAML metadata with configs, then the body)
    manifest.json                 file hashes and sizes, row counts, versions, dates
    recipe.yaml, quality.json     what made it
    validation.json               after `synthembed validate`
    charts/{languages,tasks}.png
    minhash_index/                the near-duplicate index the next release deduplicates against
    data/<config>/{train,test}.parquet   one config per task type, plus `tasks`

The test split holds out whole task definitions: an instruction is in train or in test, never both
(sts and bitext have one fixed instruction each, so they are split by example). A version that
exists is never overwritten; the folder is built aside and moved into place when complete.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from synthembed import __version__
from synthembed.errors import ReleaseError
from synthembed.gen.taxonomy import TASK_TYPE_NAMES, TASK_TYPES
from synthembed.records import EXAMPLE_COLUMNS

RELEASE_COLUMNS = (*EXAMPLE_COLUMNS, "template_id", "model")
RELEASE_SCHEMA = pa.schema([(c, pa.string()) for c in RELEASE_COLUMNS])
TASKS_SCHEMA = pa.schema([("task_type", pa.string()), ("task", pa.string()), ("examples", pa.int64())])


def parse_version(text: str) -> tuple[int, int, int, str]:
    """``"1.2.3"`` -> a tuple that sorts as semver does (pre-releases before the release)."""
    core, _, pre = text.partition("-")
    parts = core.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a semantic version")
    return int(parts[0]), int(parts[1]), int(parts[2]), pre or "~"


def _unit(key: str) -> float:
    """A stable number in [0, 1) from a string."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def split_groups(groups: list[str], fraction: float, salt: str) -> set[str]:
    """The groups held out for test: those whose hash falls under ``fraction``.

    With two or more groups and a positive fraction, at least one group goes to test and at least
    one stays in train.
    """
    if fraction <= 0 or not groups:
        return set()
    scored = sorted((_unit(f"{salt}\x1f{g}"), g) for g in set(groups))
    test = {g for u, g in scored if u < fraction}
    if len(scored) >= 2:
        if not test:
            test = {scored[0][1]}
        if len(test) == len(scored):
            test.discard(scored[-1][1])
    return test


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """Hash every file of the release (but the manifest itself) into ``manifest.json``."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"):
        rel = path.relative_to(folder).as_posix()
        files[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    manifest = {**extra, "files": files}
    (folder / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return manifest


def verify_manifest(folder: Path, allow_new: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check the release's files against its manifest.

    ``allow_new`` names files that may exist without being listed yet (``validation.json`` while
    the validate step adds it and rewrites the manifest).

    Raises:
        ReleaseError: naming the first file that is missing, extra or changed.
    """
    path = folder / "manifest.json"
    if not path.exists():
        raise ReleaseError(f"{folder}: not a release folder (no manifest.json)")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    on_disk = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    for rel, info in manifest["files"].items():
        if rel not in on_disk:
            raise ReleaseError(f"{folder}: {rel} is listed in manifest.json but missing; rebuild the release")
        if sha256_file(folder / rel) != info["sha256"]:
            raise ReleaseError(
                f"{folder}: {rel} was changed after the release was built; releases are immutable: "
                "restore it or cut a new version"
            )
    extra = sorted(on_disk - set(manifest["files"]) - set(allow_new))
    if extra:
        raise ReleaseError(
            f"{folder}: {extra[0]} is not part of the release (not in manifest.json); remove it"
        )
    return manifest


def _read_rows(table: pa.Table) -> pa.Table:
    """Kept examples -> release columns (template id and model lifted out of meta)."""
    metas = [json.loads(m) if m else {} for m in table.column("meta").to_pylist()]
    cols = {c: table.column(c) for c in EXAMPLE_COLUMNS}
    cols["template_id"] = pa.array([m.get("template_id", "") for m in metas], pa.string())
    cols["model"] = pa.array([m.get("model", "") for m in metas], pa.string())
    return pa.table(cols, schema=RELEASE_SCHEMA)


def _provenance(run_dir: Path, recipe: Any) -> dict[str, Any]:
    from synthembed.gen.pricing import MICRO
    from synthembed.gen.store import RunStore

    with RunStore.open(run_dir, create=False) as store:
        spend = store.spend()
        models = [
            r[0]
            for r in store.conn.execute(
                "SELECT DISTINCT model FROM attempts WHERE model IS NOT NULL ORDER BY model"
            )
        ]
        templates = [r[0] for r in store.conn.execute("SELECT DISTINCT template_id FROM results ORDER BY 1")]
        first, last = store.conn.execute("SELECT MIN(started_at), MAX(finished_at) FROM attempts").fetchone()
        plan = store.get_meta("plan", {}) or {}
    day = lambda t: time.strftime("%Y-%m-%d", time.gmtime(t)) if t else "-"  # noqa: E731
    return {
        "models": models,
        "provider": f"{recipe.provider.kind} / {recipe.provider.model}",
        "template_ids": templates,
        "recipe_hash": recipe.content_hash(),
        "seed": recipe.seed,
        "tokens": f"{spend.input_tokens:,} in, {spend.output_tokens:,} out ({spend.attempts:,} requests)",
        "spend": f"${spend.micros / MICRO:,.2f}"
        + (f" (cap ${plan['cap_dollars']:,.2f})" if plan.get("cap_dollars") else ""),
        "synthembed_version": __version__,
        "generated": f"{day(first)} to {day(last)}",
    }


def _changelog(
    previous: Path | None, ids: set[str], languages: set[str], task_types: set[str], quality: dict[str, Any]
) -> list[str]:
    if previous is None:
        return ["First release."]
    prev_ids: set[str] = set()
    prev_langs: set[str] = set()
    prev_types: set[str] = set()
    for path in (previous / "data").glob("*/*.parquet"):
        if path.parent.name == "tasks":
            continue
        t = pq.read_table(path, columns=["id", "language", "task_type"])
        prev_ids.update(t.column("id").to_pylist())
        for lang in t.column("language").to_pylist():
            prev_langs.update(lang.split("-"))
        prev_types.update(t.column("task_type").to_pylist())
    lines = [
        f"Against {previous.name}: {len(ids - prev_ids):,} rows added, {len(prev_ids - ids):,} rows removed, "
        f"{len(ids & prev_ids):,} kept."
    ]
    gained, lost = sorted(languages - prev_langs), sorted(prev_langs - languages)
    if gained or lost:
        lines.append(f"Languages gained: {', '.join(gained) or 'none'}; lost: {', '.join(lost) or 'none'}.")
    gained_t, lost_t = sorted(task_types - prev_types), sorted(prev_types - task_types)
    if gained_t or lost_t:
        lines.append(
            f"Task types gained: {', '.join(gained_t) or 'none'}; lost: {', '.join(lost_t) or 'none'}."
        )
    cross = sum(n for reason, n in (quality.get("by_reason") or {}).items() if "previous" in reason)
    lines.append(f"{cross:,} new examples were dropped as near-duplicates of earlier releases.")
    return lines


def build_release(
    run_dir: Path,
    *,
    version: str | None = None,
    out_root: str | Path | None = None,
    repo_id: str | None = None,
    source_fingerprint: str | None = None,
) -> Path:
    """Build ``datasets/<name>/releases/<version>/`` from a filtered run.

    ``source_fingerprint`` (what the filtered data was made from) is kept in the manifest so that
    ``synthembed run`` can tell an up-to-date release from a stale one.

    Raises:
        ReleaseError: the version exists already, or the run has no kept examples.
    """
    from synthembed.cards.card import CardFacts, render_card
    from synthembed.cards.charts import write_charts
    from synthembed.stages import dataset_dir, previous_releases, run_recipe

    run_dir = Path(run_dir)
    recipe = run_recipe(run_dir)
    version = version or recipe.version
    try:
        parse_version(version)
    except ValueError as exc:
        raise ReleaseError(f"version {version!r}: use semantic versioning such as 1.0.0") from exc
    root = Path(out_root) if out_root is not None else dataset_dir(run_dir) / "releases"
    target = root / version
    if target.exists():
        raise ReleaseError(
            f"{target} exists: a released version is never overwritten; set a new `version` in the recipe "
            "or pass --version"
        )
    filtered = run_dir / "filtered"
    kept = _read_rows(pq.read_table(filtered / "kept.parquet"))
    if kept.num_rows == 0:
        raise ReleaseError(
            f"{run_dir}: no examples were kept; nothing to release (see {filtered}/quality.json)"
        )
    quality = json.loads((filtered / "quality.json").read_text(encoding="utf-8"))
    tasks_kept = (
        pq.read_table(filtered / "tasks_kept.parquet") if (filtered / "tasks_kept.parquet").exists() else None
    )

    work = root / f".building-{version}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "data").mkdir(parents=True)
    configs: dict[str, dict[str, int]] = {}
    held_out: dict[str, set[str]] = {}
    fraction = recipe.release.test_fraction
    for task_type in TASK_TYPE_NAMES:
        rows = kept.filter(pc.equal(kept.column("task_type"), task_type))
        if rows.num_rows == 0:
            continue
        fixed = TASK_TYPES[task_type].fixed_instruction is not None
        key_col = "id" if fixed else "instruction"
        keys = rows.column(key_col).to_pylist()
        test_keys = split_groups(keys, fraction, f"{recipe.seed}\x1f{task_type}")
        if not fixed:
            held_out[task_type] = test_keys
        is_test = pa.array([k in test_keys for k in keys])
        folder = work / "data" / task_type
        folder.mkdir()
        configs[task_type] = {}
        for split, mask in (("train", pc.invert(is_test)), ("test", is_test)):
            part = rows.filter(mask)
            pq.write_table(part, folder / f"{split}.parquet")
            configs[task_type][split] = part.num_rows

    # the task definitions, split as their examples were
    per_task = Counter(
        zip(kept.column("task_type").to_pylist(), kept.column("instruction").to_pylist(), strict=True)
    )
    task_rows: dict[str, list[tuple[str, str, int]]] = {"train": [], "test": []}
    if tasks_kept is not None:
        for t, text in zip(
            tasks_kept.column("task_type").to_pylist(), tasks_kept.column("task").to_pylist(), strict=True
        ):
            split = "test" if text in held_out.get(t, set()) else "train"
            task_rows[split].append((t, text, per_task.get((t, text), 0)))
    (work / "data" / "tasks").mkdir()
    configs["tasks"] = {}
    for split, rows_ in task_rows.items():
        table = pa.table(
            {
                "task_type": [r[0] for r in rows_],
                "task": [r[1] for r in rows_],
                "examples": [r[2] for r in rows_],
            },
            schema=TASKS_SCHEMA,
        )
        pq.write_table(table, work / "data" / "tasks" / f"{split}.parquet")
        configs["tasks"][split] = table.num_rows

    # what made it
    shutil.copy2(run_dir / "recipe.yaml", work / "recipe.yaml")
    shutil.copy2(filtered / "quality.json", work / "quality.json")
    if (filtered / "minhash_index").is_dir():
        shutil.copytree(filtered / "minhash_index", work / "minhash_index")

    languages: Counter[str] = Counter()
    for lang in kept.column("language").to_pylist():
        languages.update(lang.split("-"))
    task_counts = {t: sum(v.values()) for t, v in configs.items() if t != "tasks"}
    write_charts(languages, task_counts, work / "charts")

    previous = previous_releases(
        dataset_dir(run_dir) if out_root is None else Path(out_root).parent, before=version
    )
    ids = set(kept.column("id").to_pylist())
    changelog = _changelog(previous[-1] if previous else None, ids, set(languages), set(task_counts), quality)
    provenance = _provenance(run_dir, recipe)
    provenance["released"] = time.strftime("%Y-%m-%d", time.gmtime())
    sample = tasks_kept.column("task").to_pylist()[:5] if tasks_kept is not None else []
    facts = CardFacts(
        name=recipe.name,
        version=version,
        pretty_name=recipe.release.pretty_name or recipe.name,
        description=recipe.description,
        license=recipe.release.license,
        repo_id=repo_id or f"<your-org>/{recipe.name}",
        configs=configs,
        languages=dict(languages),
        language_codes=sorted(languages),
        sample_tasks=sample,
        quality=quality,
        provenance=provenance,
        changelog=changelog,
        tags=recipe.release.tags,
    )
    (work / "card.json").write_text(
        json.dumps(facts.__dict__, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (work / "README.md").write_text(render_card(facts), encoding="utf-8")
    header = _manifest_header(recipe.name, version, configs)
    if source_fingerprint:
        header["source_fingerprint"] = source_fingerprint
    write_manifest(work, header)
    work.rename(target)
    return target


def _manifest_header(name: str, version: str, configs: dict[str, dict[str, int]]) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "configs": configs,
        "synthembed_version": __version__,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def refresh_card(release: Path, validation_markdown: str | None = None) -> None:
    """Re-render a release's card (after validation) and rewrite its manifest."""
    from synthembed.cards.card import CardFacts, render_card

    manifest = verify_manifest(release, allow_new=("validation.json",))
    facts = CardFacts(**json.loads((release / "card.json").read_text(encoding="utf-8")))
    if validation_markdown is not None:
        facts.validation_markdown = validation_markdown
    (release / "card.json").write_text(
        json.dumps(facts.__dict__, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (release / "README.md").write_text(render_card(facts), encoding="utf-8")
    header = {k: v for k, v in manifest.items() if k != "files"}
    write_manifest(release, header)
