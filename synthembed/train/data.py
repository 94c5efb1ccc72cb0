"""What the validation fine-tune reads: a release's splits, BEIR folders, and the instruction format.

The one place where a query becomes ``Instruct: {instruction}\\nQuery: {query}`` is
:func:`format_query`; documents stay bare (:func:`format_document`). Training and every evaluation
go through these two functions, so the model never sees a text formatted two ways.

Example::

    tables = read_split("datasets/demo/releases/1.0.0", "train")
    train = training_datasets(tables)          # DatasetDict: one dataset per task type
    train["retrieval"].column_names            # ['anchor', 'positive', 'negative']
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from synthembed.errors import ConfigError, ReleaseError
from synthembed.gen.taxonomy import TASK_TYPE_NAMES

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict

#: Task types evaluated as retrieval over the pooled test documents of the type.
RETRIEVAL_TYPES = ("retrieval", "short_short", "long_long")
#: Task types evaluated as triplet accuracy (the positive scored above the negative).
TRIPLET_TYPES = ("classification", "sts", "bitext")

_COLUMNS = ("id", "instruction", "query", "positive", "negative")


def format_query(instruction: str, query: str) -> str:
    """The paper's query text: ``Instruct: {instruction}\\nQuery: {query}``.

    >>> format_query("Find the answer.", "why is the sky blue")
    'Instruct: Find the answer.\\nQuery: why is the sky blue'
    """
    return f"Instruct: {instruction}\nQuery: {query}"


def format_document(text: str) -> str:
    """Documents get no instruction (the paper); kept as a function so both sides have one home."""
    return text


def read_split(release_dir: str | Path, split: str) -> dict[str, pa.Table]:
    """Read one split of every task-type config in a release.

    Args:
        release_dir: the release folder (holds ``data/<config>/<split>.parquet``).
        split: ``train`` or ``test``.

    Returns:
        task type -> table with at least the columns id, instruction, query, positive, negative,
        in the taxonomy's order; empty tables and configs that are absent are left out.

    Raises:
        ReleaseError: the folder has no task-type parquet for ``split``, or one lacks a column.
    """
    data = Path(release_dir) / "data"
    tables: dict[str, pa.Table] = {}
    for task_type in TASK_TYPE_NAMES:
        path = data / task_type / f"{split}.parquet"
        if not path.exists():
            continue
        table = pq.read_table(path)
        missing = [c for c in _COLUMNS if c not in table.column_names]
        if missing:
            raise ReleaseError(f"{path}: missing column(s) {', '.join(missing)}; rebuild the release")
        if table.num_rows:
            tables[task_type] = table.select(list(_COLUMNS))
    if not tables:
        raise ReleaseError(
            f"{data}: no data/<task type>/{split}.parquet with rows; "
            "pass a release folder made by `synthembed release`"
        )
    return tables


def training_datasets(
    tables: dict[str, pa.Table], *, max_examples: int | None = None, seed: int = 0
) -> DatasetDict:
    """One training dataset per task type, as the cached InfoNCE loss reads them.

    Columns are ``anchor`` (the formatted query), ``positive`` and ``negative`` (the hard
    negative). Rows with an empty negative (short_short, long_long) go to a dataset without that
    column and train on in-batch negatives only; a type with both kinds of rows gets two datasets,
    ``<type>`` and ``<type>_pairs``. Each batch is drawn from one dataset, so in-batch negatives
    come from the same task type.

    Args:
        tables: task type -> table, as :func:`read_split` returns.
        max_examples: keep this many examples at most, drawn uniformly (with ``seed``) over all types.
        seed: seed of that draw.

    Raises:
        ReleaseError: nothing is left to train on.
    """
    from datasets import DatasetDict

    rows = [(t, i) for t, table in tables.items() for i in range(table.num_rows)]
    if max_examples is not None and len(rows) > max_examples:
        rows = sorted(random.Random(seed).sample(rows, max_examples))
    keep: dict[str, list[int]] = {}
    for task_type, i in rows:
        keep.setdefault(task_type, []).append(i)

    out = {}
    for task_type, indices in keep.items():
        table = tables[task_type].take(indices).to_pydict()
        triples = [
            (format_query(i, q), format_document(p), format_document(n or ""))
            for i, q, p, n in zip(
                table["instruction"], table["query"], table["positive"], table["negative"], strict=True
            )
        ]
        with_negative = [t for t in triples if t[2].strip()]
        pairs_only = [t[:2] for t in triples if not t[2].strip()]
        if with_negative:
            out[task_type] = _dataset(("anchor", "positive", "negative"), with_negative)
        if pairs_only:
            name = f"{task_type}_pairs" if with_negative else task_type
            out[name] = _dataset(("anchor", "positive"), pairs_only)
    if not out:
        raise ReleaseError("the release's train split is empty: there is nothing to fine-tune on")
    return DatasetDict(out)


def _dataset(names: tuple[str, ...], rows: list[tuple[str, ...]]) -> Dataset:
    from datasets import Dataset

    return Dataset.from_dict({name: [row[k] for row in rows] for k, name in enumerate(names)})


def read_beir(path: str | Path) -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """Read a BEIR-layout folder: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/test.tsv``.

    Corpus lines are ``{"_id", "title", "text"}`` (title and text joined by a space, as BEIR
    evaluates them); query lines ``{"_id", "text"}``; qrels rows ``query-id, corpus-id, score``
    with a header line, and only scores above zero count as relevant.

    Returns:
        (queries, corpus, relevant) where relevant maps a query id to its relevant corpus ids;
        queries are raw text (the caller formats them with the benchmark's instruction).

    Raises:
        ConfigError: a file is missing or a line is not the expected JSON.
    """
    root = Path(path)

    def jsonl(name: str) -> list[dict[str, Any]]:
        file = root / name
        if not file.exists():
            raise ConfigError(
                f"{file}: missing; a benchmark folder holds corpus.jsonl, queries.jsonl, qrels/test.tsv"
            )
        try:
            return [
                json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()
            ]
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{file}: line is not JSON ({exc}); BEIR files hold one object per line"
            ) from None

    corpus = {
        str(d["_id"]): f"{d.get('title', '')} {d.get('text', '')}".strip() for d in jsonl("corpus.jsonl")
    }
    queries = {str(q["_id"]): q["text"] for q in jsonl("queries.jsonl")}
    qrels = root / "qrels" / "test.tsv"
    if not qrels.exists():
        raise ConfigError(f"{qrels}: missing; BEIR relevance judgements live in qrels/test.tsv")
    relevant: dict[str, set[str]] = {}
    with qrels.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        next(reader, None)  # header: query-id corpus-id score
        for row in reader:
            if len(row) >= 3 and float(row[2]) > 0:
                relevant.setdefault(row[0], set()).add(row[1])
    return queries, corpus, relevant
