"""Duplicates: exact after normalisation, MinHash near-duplicates per field, duplicate task definitions.

All three are greedy and streaming: the first copy seen is kept, later copies are dropped, and the
only state is the set of keys or the MinHash index of what was kept. Filtering the kept output
again therefore keeps everything.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from synthembed.quality.base import Check, Decision, Drop
from synthembed.quality.config import ExactDedupConfig, MinHashConfig, TaskDedupConfig
from synthembed.quality.minhash import MinHasher, MinHashIndex, MinHashParams
from synthembed.quality.shingles import CHAR, shingle_modes
from synthembed.quality.text import collapse_whitespace, field_languages, normalize_for_matching


def _collapse(values: pa.Array) -> pa.Array:
    return collapse_whitespace(normalize_for_matching(values))


class ExactDeduplicator(Check):
    """Drops an example whose normalised fields (query and positive by default) were seen before."""

    name = "exact_dedup"

    def __init__(self, config: ExactDedupConfig | None = None) -> None:
        super().__init__()
        self.config = config or ExactDedupConfig()
        self._seen: dict[bytes, str] = {}

    def describe(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "fields": list(self.config.fields),
            "normalisation": "NFKC, lower case, white space collapsed",
        }

    def decide(self, batch: pa.RecordBatch) -> list[Decision]:
        columns = [_collapse(batch.column(f)).to_pylist() for f in self.config.fields]
        ids = batch.column("id").to_pylist()
        decisions: list[Decision] = []
        for i, parts in enumerate(zip(*columns, strict=True)):
            key = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=12).digest()
            first = self._seen.get(key)
            if first is None:
                self._seen[key] = ids[i]
                decisions.append(None)
            else:
                decisions.append(Drop("exact_duplicate", f"same {'+'.join(self.config.fields)} as {first}"))
        return decisions


def build_params(config: MinHashConfig) -> MinHashParams:
    return MinHashParams(
        num_perm=config.num_perm,
        seed=config.seed,
        word_shingle_size=config.word_shingle_size,
        char_shingle_size=config.char_shingle_size,
    )


class MinHashDeduplicator(Check):
    """Drops an example whose query, or positive, is a near-duplicate of one already kept.

    Each field has its own index (``index_dir/<field>/``). Positives are only compared for the task
    types in ``positive_task_types``. Earlier releases' indexes are loaded with
    :meth:`load_previous`; matches against them name the release in the reason's detail.
    """

    name = "near_dedup"

    def __init__(self, config: MinHashConfig | None = None) -> None:
        super().__init__()
        self.config = config or MinHashConfig()
        self.params = build_params(self.config)
        self.hasher = MinHasher(self.params)
        self.indexes = {
            f: MinHashIndex(
                self.params, self.config.threshold, self.config.bands, self.config.rows, self.config.verify
            )
            for f in self.config.fields
        }
        self._positive_types = set(self.config.positive_task_types)

    def describe(self) -> dict[str, Any]:
        index = next(iter(self.indexes.values()), None)
        return {
            "check": self.name,
            "fields": list(self.config.fields),
            "positive_task_types": list(self.config.positive_task_types),
            **(index.describe() if index else {}),
            "shingles": "word n-grams; character n-grams for zh ja th lo km my",
            "previous_indexes": {f: len(ix) - ix.own_count for f, ix in self.indexes.items()},
        }

    def load_previous(self, index_dir: str | Path, label: str | None = None) -> dict[str, int]:
        """Load an earlier release's ``minhash_index`` folder; returns signatures loaded per field."""
        index_dir = Path(index_dir)
        loaded = {}
        for f, index in self.indexes.items():
            if (index_dir / f / "meta.json").is_file():
                loaded[f] = index.load(index_dir / f, label or index_dir.parent.name or str(index_dir))
        return loaded

    def save(self, index_dir: str | Path) -> None:
        for f, index in self.indexes.items():
            index.save(Path(index_dir) / f)

    def _modes(self, batch: pa.RecordBatch, field: str) -> np.ndarray:
        slot = 0 if field == "query" else 1
        return shingle_modes([field_languages(code)[slot] for code in batch.column("language").to_pylist()])

    def decide(self, batch: pa.RecordBatch) -> list[Decision]:
        n = batch.num_rows
        ids = batch.column("id")
        dropped = np.zeros(n, dtype=bool)
        decisions: list[Decision] = [None] * n
        stored: dict[str, np.ndarray] = {}
        task_types = np.asarray(batch.column("task_type").to_pylist(), dtype=object)
        for f, index in self.indexes.items():
            valid = ~dropped
            if f == "positive":
                valid &= np.isin(task_types, list(self._positive_types))
            sigs, shingles, offsets = self.hasher.signatures_and_shingles(
                batch.column(f), self._modes(batch, f), normalize=True
            )
            matches, stored[f] = index.add_batch(ids, sigs, shingles=(shingles, offsets), valid=valid)
            for i, match in enumerate(matches):
                if match is not None and not dropped[i]:
                    dropped[i] = True
                    where = f" in {match.source}" if match.source else ""
                    # a match in an earlier release gets its own reason, which the changelog counts
                    reason = f"near_duplicate_{f}" + ("_previous_release" if match.source else "")
                    decisions[i] = Drop(reason, f"{f} near-duplicates {match.id}{where}")
        # A row stored in one field's index but dropped by a later field must leave that index.
        for f, at in stored.items():
            self.indexes[f].discard(at[dropped])
        return decisions


@dataclass
class TaskDedupResult:
    """Tasks kept and dropped (with reasons), in input order."""

    kept: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str, str, str]] = field(default_factory=list)  # type, text, reason, detail
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (task_type, "kept"|reason)


class TaskDeduplicator:
    """Drops near-identical brainstormed task definitions within each task type.

    Character 5-gram MinHash (spaces and punctuation ignored) at a Jaccard threshold of 0.8 catches
    rewordings of one or two words in a one-sentence task; exact copies after normalisation are a
    special case of it.
    """

    name = "task_dedup"

    def __init__(self, config: TaskDedupConfig | None = None, num_perm: int = 128, seed: int = 1) -> None:
        self.config = config or TaskDedupConfig()
        self.params = MinHashParams(
            num_perm=num_perm, seed=seed, char_shingle_size=self.config.char_shingle_size
        )
        self.hasher = MinHasher(self.params)
        self._indexes: dict[str, MinHashIndex] = {}
        self._texts: dict[str, list[str]] = {}

    def describe(self) -> dict[str, Any]:
        return {
            "check": self.name,
            **self.config.model_dump(exclude={"enabled"}),
            "num_perm": self.params.num_perm,
        }

    def run(self, tasks: Iterable[tuple[str, str]], chunk: int = 4096) -> TaskDedupResult:
        result = TaskDedupResult()
        buffer: list[tuple[str, str]] = []
        for item in tasks:
            buffer.append((str(item[0]), str(item[1])))
            if len(buffer) >= chunk:
                self._chunk(buffer, result)
                buffer = []
        if buffer:
            self._chunk(buffer, result)
        return result

    def _chunk(self, tasks: Sequence[tuple[str, str]], result: TaskDedupResult) -> None:
        by_type: dict[str, list[int]] = {}
        for i, (task_type, _) in enumerate(tasks):
            by_type.setdefault(task_type, []).append(i)
        verdict: list[tuple[str, str] | None] = [None] * len(tasks)
        for task_type, rows in by_type.items():
            index = self._indexes.setdefault(task_type, MinHashIndex(self.params, self.config.threshold))
            texts = [tasks[i][1] for i in rows]
            seen = self._texts.setdefault(task_type, [])
            keys = pa.array([f"{task_type}#{len(seen) + j}" for j in range(len(rows))])
            seen.extend(texts)
            modes = np.full(len(rows), CHAR, np.int8)
            sigs, shingles, offsets = self.hasher.signatures_and_shingles(
                pa.array(texts, pa.string()), modes, normalize=True
            )
            empty = [not t.strip() for t in texts]
            matches, _ = index.add_batch(keys, sigs, shingles=(shingles, offsets), valid=~np.asarray(empty))
            for j, (i, match) in enumerate(zip(rows, matches, strict=True)):
                if empty[j]:
                    verdict[i] = ("empty_task", "")
                elif match is not None:
                    first = seen[int(match.id.split("#")[1])]
                    verdict[i] = ("near_duplicate_task", f"near-duplicates: {first[:120]}")
        for (task_type, text), v in zip(tasks, verdict, strict=True):
            if v is None:
                result.kept.append((task_type, text))
                result.counts[(task_type, "kept")] += 1
            else:
                result.rejected.append((task_type, text, v[0], v[1]))
                result.counts[(task_type, v[0])] += 1
