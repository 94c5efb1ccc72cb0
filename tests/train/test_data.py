"""Reading a release for training: splits, instruction format, per-type datasets, caps."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from synthembed.errors import ReleaseError
from synthembed.train.data import format_document, format_query, read_split, training_datasets
from tests.train.releases import synthetic_rows, write_release


@pytest.fixture
def release(tmp_path: Path) -> Path:
    return write_release(tmp_path / "rel", synthetic_rows(120, seed=1))


def test_query_format_is_the_papers() -> None:
    assert format_query("Retrieve a passage.", "tides") == "Instruct: Retrieve a passage.\nQuery: tides"
    assert format_document("A passage.") == "A passage."


def test_test_split_holds_out_whole_instructions(release: Path) -> None:
    train, test = read_split(release, "train"), read_split(release, "test")
    for task_type in ("retrieval", "classification", "short_short", "long_long"):
        held_out = set(test[task_type]["instruction"].to_pylist())
        assert held_out and not held_out & set(train[task_type]["instruction"].to_pylist())


def test_one_dataset_per_task_type_with_negatives_where_present(release: Path) -> None:
    train = training_datasets(read_split(release, "train"))
    assert set(train) == {"retrieval", "classification", "short_short", "long_long", "sts", "bitext"}
    for name in ("retrieval", "classification", "sts", "bitext"):
        assert train[name].column_names == ["anchor", "positive", "negative"]
    for name in ("short_short", "long_long"):
        assert train[name].column_names == ["anchor", "positive"]


def test_mixed_negatives_split_into_two_datasets(tmp_path: Path) -> None:
    rows = synthetic_rows(12, task_types=("retrieval",))
    for row in rows[::2]:
        row["negative"] = ""
    folder = write_release(tmp_path / "rel", rows, test_fraction=0.0)
    train = training_datasets(read_split(folder, "train"))
    assert len(train["retrieval"]) + len(train["retrieval_pairs"]) == 12
    assert "negative" not in train["retrieval_pairs"].column_names


def test_max_examples_caps_the_total_deterministically(release: Path) -> None:
    tables = read_split(release, "train")
    first = training_datasets(tables, max_examples=30, seed=5)
    again = training_datasets(tables, max_examples=30, seed=5)
    assert sum(len(d) for d in first.values()) == 30
    assert {k: d["anchor"] for k, d in first.items()} == {k: d["anchor"] for k, d in again.items()}


def test_missing_data_is_a_release_error(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match=r"no data/<task type>/train\.parquet"):
        read_split(tmp_path, "train")


def test_missing_column_is_named(release: Path) -> None:
    path = release / "data" / "sts" / "train.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["negative"]), path)
    with pytest.raises(ReleaseError, match="missing column"):
        read_split(release, "train")
