"""The shape every quality check has: decide per example, let the base class count and keep rejects.

A check implements :meth:`Check.decide` (a whole Arrow batch at once, for checks that vectorise) or
:meth:`ExampleCheck.decide_example` (one row as a dict). Either returns, per example, ``None`` to
keep it or a :class:`Drop` with a short countable ``reason`` and a human ``detail``. The base class

* counts kept examples per (task type, language) and dropped ones per (reason, task type, language);
* hands dropped rows, with ``check``, ``reason`` and ``detail`` columns, to its reject sink;
* returns the kept rows as a new batch for the next check.

Checks hold no I/O beyond their sink, so the same objects run inside ``Ray Data.map_batches`` or any
other engine that passes Arrow record batches.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from synthembed.records import EXAMPLE_COLUMNS

#: Arrow schema of the examples the checks read (meta is a JSON string).
EXAMPLE_SCHEMA = pa.schema([(name, pa.string()) for name in (*EXAMPLE_COLUMNS, "meta")])

#: Columns added to rejected rows.
REJECT_COLUMNS = ("check", "reason", "detail")
REJECT_SCHEMA = pa.schema(
    [*EXAMPLE_SCHEMA, *((name, pa.string()) for name in REJECT_COLUMNS)],
)


@dataclass(frozen=True)
class Drop:
    """Why an example is dropped: a short countable ``reason`` and a readable ``detail``."""

    reason: str
    detail: str = ""


Decision = Drop | None


class RejectSink(Protocol):
    """Where a check sends the rows it drops (a table with the example columns plus reasons)."""

    def write(self, rejected: pa.RecordBatch) -> None: ...


class MemoryRejects:
    """Keeps rejected batches in memory (tests, small runs)."""

    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []

    def write(self, rejected: pa.RecordBatch) -> None:
        self.batches.append(rejected)

    def table(self) -> pa.Table:
        return pa.Table.from_batches(self.batches, schema=REJECT_SCHEMA)


class ParquetRejects:
    """Streams rejected rows to one parquet file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._writer = pq.ParquetWriter(self.path, REJECT_SCHEMA)

    def write(self, rejected: pa.RecordBatch) -> None:
        self._writer.write_batch(rejected)

    def close(self) -> None:
        self._writer.close()


class CheckCounts:
    """Kept and dropped counts of one check."""

    def __init__(self) -> None:
        self.kept: Counter[tuple[str, str]] = Counter()  # (task_type, language)
        self.dropped: Counter[tuple[str, str, str]] = Counter()  # (reason, task_type, language)

    @property
    def n_kept(self) -> int:
        return sum(self.kept.values())

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    def by_reason(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (reason, _, _), n in self.dropped.items():
            out[reason] += n
        return dict(out.most_common())


def conform(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with exactly the example columns, as strings (meta dicts become JSON).

    Raises:
        ValueError: naming a required column the batch lacks.
    """
    columns = []
    for field in EXAMPLE_SCHEMA:
        if field.name not in batch.schema.names:
            if field.name in ("negative", "meta", "instruction"):
                fill = "{}" if field.name == "meta" else ""
                columns.append(pa.array([fill] * batch.num_rows, pa.string()))
                continue
            raise ValueError(f"example batch lacks the column {field.name!r}")
        col = batch.column(field.name)
        if field.name == "meta" and not pa.types.is_string(col.type):
            col = pa.array([json.dumps(v, ensure_ascii=False) for v in col.to_pylist()], pa.string())
        columns.append(col.cast(pa.string()))
    return pa.RecordBatch.from_arrays(columns, schema=EXAMPLE_SCHEMA)


class Check(ABC):
    """One quality step: keeps or drops each example with a reason.

    Subclasses set ``name`` and implement :meth:`decide`; :meth:`__call__` does the rest.

    Example::

        check = SchemaCheck()
        kept = check(batch)            # rejects went to check.rejects
        check.counts.by_reason()       # {'missing_field': 3, ...}
    """

    name: ClassVar[str] = "check"

    def __init__(self) -> None:
        self.counts = CheckCounts()
        self.rejects: RejectSink = MemoryRejects()

    @abstractmethod
    def decide(self, batch: pa.RecordBatch) -> Sequence[Decision]:
        """One decision per row of ``batch``: None to keep, a :class:`Drop` to drop."""

    def describe(self) -> dict[str, Any]:
        """The check's settings, for the quality report and the dataset card."""
        return {"check": self.name}

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if batch.num_rows == 0:
            return batch
        decisions = self.decide(batch)
        if len(decisions) != batch.num_rows:
            raise RuntimeError(
                f"{type(self).__name__} gave {len(decisions)} decisions for {batch.num_rows} rows"
            )
        task_types = batch.column("task_type").to_pylist()
        languages = batch.column("language").to_pylist()
        keep = []
        reasons, details, drop_rows = [], [], []
        for i, decision in enumerate(decisions):
            if decision is None:
                keep.append(True)
                self.counts.kept[(task_types[i], languages[i])] += 1
            else:
                keep.append(False)
                self.counts.dropped[(decision.reason, task_types[i], languages[i])] += 1
                drop_rows.append(i)
                reasons.append(decision.reason)
                details.append(decision.detail)
        if drop_rows:
            rejected = batch.take(pa.array(drop_rows))
            rejected = pa.RecordBatch.from_arrays(
                [
                    *rejected.columns,
                    pa.array([self.name] * len(drop_rows), pa.string()),
                    pa.array(reasons, pa.string()),
                    pa.array(details, pa.string()),
                ],
                schema=REJECT_SCHEMA,
            )
            self.rejects.write(rejected)
            return batch.filter(pa.array(keep))
        return batch


class ExampleCheck(Check):
    """A check that looks at one example at a time (a dict with the example columns, meta parsed)."""

    def decide(self, batch: pa.RecordBatch) -> list[Decision]:
        rows = batch.to_pylist()
        for row in rows:
            row["meta"] = parse_meta(row.get("meta"))
        return [self.decide_example(row) for row in rows]

    @abstractmethod
    def decide_example(self, example: dict[str, Any]) -> Decision:
        """None to keep ``example``, or a :class:`Drop`."""


def parse_meta(meta: str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(meta, dict):
        return meta
    if not meta:
        return {}
    try:
        value = json.loads(meta)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
