"""filter_examples: stream a run's examples through the checks and write what they decide.

The pipeline is a plain list of checks (:func:`build_checks`); this module is the local runner that
reads batches, applies the checks in order and writes, into ``out_dir``:

* ``kept.parquet``: the clean examples (example columns, meta as JSON);
* ``rejected.parquet``: every dropped example with ``check``, ``reason`` and ``detail``;
* ``tasks_kept.parquet`` / ``tasks_rejected.parquet``: brainstormed task definitions;
* ``minhash_index/<field>/``: the near-duplicate index of the kept examples, for the next release;
* ``quality.json``: the :class:`~synthembed.quality.report.QualityReport`.

Memory stays flat apart from the dedup state (exact keys and the MinHash index): batches are read,
checked and written one at a time.

Example::

    report = filter_examples(batches, tasks, QualityConfig(), "datasets/demo/runs/r1/filtered")
    print_report(report)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from synthembed.quality.base import EXAMPLE_SCHEMA, REJECT_COLUMNS, Check, ParquetRejects, conform
from synthembed.quality.config import QualityConfig
from synthembed.quality.decontamination import DecontaminationCheck
from synthembed.quality.dedup import ExactDeduplicator, MinHashDeduplicator, TaskDeduplicator
from synthembed.quality.language import LanguageCheck
from synthembed.quality.report import QualityReport, build_report
from synthembed.quality.rules import LengthCheck, PairRulesCheck, PlaceholderCheck, RefusalCheck, SchemaCheck

TASK_SCHEMA = pa.schema([("task_type", pa.string()), ("task", pa.string())])
TASK_REJECT_SCHEMA = pa.schema([*TASK_SCHEMA, *((name, pa.string()) for name in REJECT_COLUMNS)])


def build_checks(config: QualityConfig) -> list[Check]:
    """The checks a config turns on, in the order they run.

    Rules first (cheap), then language and decontamination, and the deduplicators last, so that
    their state holds exactly the examples that are kept.
    """
    checks: list[Check] = [SchemaCheck()]
    rules = config.rules
    if rules.enabled:
        checks.append(PairRulesCheck(rules.query_copy_min_words))
        checks.append(LengthCheck(rules.length_tolerance))
        if rules.placeholders:
            checks.append(PlaceholderCheck())
        if rules.refusals:
            checks.append(RefusalCheck())
    if config.language.enabled:
        checks.append(LanguageCheck(config.language))
    if config.decontamination.enabled and config.decontamination.sources:
        checks.append(DecontaminationCheck(config.decontamination))
    if config.exact_dedup.enabled:
        checks.append(ExactDeduplicator(config.exact_dedup))
    if config.minhash.enabled:
        checks.append(MinHashDeduplicator(config.minhash))
    return checks


def _batches(source: Iterable[pa.RecordBatch | pa.Table], size: int) -> Iterable[pa.RecordBatch]:
    for item in source:
        parts = item.to_batches(max_chunksize=size) if isinstance(item, pa.Table) else [item]
        for batch in parts:
            for start in range(0, batch.num_rows, size):
                yield conform(batch.slice(start, size))


def _keys(batch: pa.RecordBatch) -> list[tuple[str, str]]:
    task_types, languages = batch.column("task_type").to_pylist(), batch.column("language").to_pylist()
    return list(zip(task_types, languages, strict=True))


def run_checks(batch: pa.RecordBatch, checks: Sequence[Check]) -> pa.RecordBatch:
    """Apply ``checks`` in order to one batch; returns the rows every check kept."""
    for check in checks:
        if batch.num_rows == 0:
            break
        batch = check(batch)
    return batch


def filter_examples(
    batches: Iterable[pa.RecordBatch | pa.Table],
    tasks: Iterable[tuple[str, str]] | None,
    config: QualityConfig,
    out_dir: str | Path,
    previous_index_dirs: Sequence[str | Path] = (),
    checks: list[Check] | None = None,
) -> QualityReport:
    """Filter a run's examples and brainstormed tasks; write kept, rejected, index and report.

    Args:
        batches: Arrow record batches (or tables) with the example columns and ``meta`` as JSON.
        tasks: ``(task_type, task text)`` pairs from the brainstorm step, or None.
        config: the recipe's ``quality`` section.
        out_dir: folder for the outputs (created; existing files are replaced).
        previous_index_dirs: ``minhash_index`` folders of earlier releases to dedup against.
        checks: the steps to run instead of :func:`build_checks` (tests, custom pipelines).

    Returns:
        The report, also saved as ``out_dir/quality.json``.

    Raises:
        FileNotFoundError: an evaluation source or a previous index does not exist.
        ConfigError: a previous index was built with other MinHash settings.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    steps = build_checks(config) if checks is None else checks
    dedup = next((c for c in steps if isinstance(c, MinHashDeduplicator)), None)
    for index_dir in previous_index_dirs:
        if dedup is None:
            break
        if not Path(index_dir).is_dir():
            raise FileNotFoundError(f"previous MinHash index {index_dir} does not exist")
        dedup.load_previous(index_dir)

    rejects = ParquetRejects(out / "rejected.parquet")
    for step in steps:
        step.rejects = rejects
    input_counts: Counter[tuple[str, str]] = Counter()
    kept_counts: Counter[tuple[str, str]] = Counter()
    with pq.ParquetWriter(out / "kept.parquet", EXAMPLE_SCHEMA) as kept_writer:
        try:
            for batch in _batches(batches, config.batch_size):
                input_counts.update(_keys(batch))
                kept = run_checks(batch, steps)
                if kept.num_rows:
                    kept_counts.update(_keys(kept))
                    kept_writer.write_batch(kept)
        finally:
            rejects.close()

    task_summary = _filter_tasks(tasks, config, out)
    index_summary: dict[str, object] = {}
    if dedup is not None:
        dedup.save(out / "minhash_index")
        index_summary = {
            field: {"path": f"minhash_index/{field}", "count": index.own_count, "bytes": index.memory_bytes()}
            for field, index in dedup.indexes.items()
        }
    report = build_report(input_counts, kept_counts, steps, task_summary, index_summary)
    report.save(out / "quality.json")
    return report


def _filter_tasks(
    tasks: Iterable[tuple[str, str]] | None, config: QualityConfig, out: Path
) -> dict[str, object]:
    task_list = list(tasks or [])
    if config.task_dedup.enabled:
        dedup = TaskDeduplicator(config.task_dedup)
        result = dedup.run(task_list)
        kept, rejected, settings = result.kept, result.rejected, dedup.describe()
    else:
        kept, rejected, settings = (
            [(str(t), str(x)) for t, x in task_list],
            [],
            {"check": "task_dedup", "enabled": False},
        )
    pq.write_table(
        pa.table({"task_type": [t for t, _ in kept], "task": [x for _, x in kept]}, schema=TASK_SCHEMA),
        out / "tasks_kept.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "task_type": [r[0] for r in rejected],
                "task": [r[1] for r in rejected],
                "check": ["task_dedup"] * len(rejected),
                "reason": [r[2] for r in rejected],
                "detail": [r[3] for r in rejected],
            },
            schema=TASK_REJECT_SCHEMA,
        ),
        out / "tasks_rejected.parquet",
    )
    by_reason = Counter(r[2] for r in rejected)
    by_type: dict[str, dict[str, int]] = {}
    for t, _ in task_list:
        by_type.setdefault(str(t), {"input": 0, "kept": 0})["input"] += 1
    for t, _ in kept:
        by_type[t]["kept"] += 1
    return {
        "input": len(task_list),
        "kept": len(kept),
        "dropped": len(rejected),
        "by_reason": dict(by_reason.most_common()),
        "by_task_type": by_type,
        "settings": settings,
    }
