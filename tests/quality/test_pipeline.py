"""filter_examples end to end: files written, report, filtering twice, dedup against a release."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from synthembed.errors import ConfigError
from synthembed.quality import QualityConfig, QualityReport, filter_examples, render_report
from synthembed.quality.config import MinHashConfig
from tests.quality.builders import TEXTS, example, to_batch

TASKS = [
    ("retrieval", "Given a question about local news, retrieve articles that answer it."),
    ("retrieval", "Given a question about local news, retrieve articles that answer it!"),
    ("classification", "Classify a movie review as positive or negative."),
]


def rows() -> list[dict]:
    place = {"num_words": "50", "query_length": "5 to 15 words"}
    return [
        example(id="en-1", placeholders=place),
        example(id="en-dup", placeholders=place),
        example(
            id="de-1",
            language="de",
            query="Wie lange dauert die Reparatur der alten Brücke?",
            positive=TEXTS["de"],
            negative=TEXTS["de"][:150],
            placeholders=place,
        ),
        example(
            id="de-wrong",
            language="de",
            query="Wann beginnen die Arbeiten an der Brücke?",
            positive=TEXTS["fr"],
            placeholders=place,
        ),
        example(
            id="short",
            query="when does the repair of the bridge start",
            positive="In spring.",
            placeholders=place,
        ),
        example(
            id="bitext",
            task_type="bitext",
            language="en-es",
            query=TEXTS["en"][:100],
            positive=TEXTS["es"][:110],
            negative=TEXTS["es"][110:220],
        ),
        example(
            id="sts-refusal",
            task_type="sts",
            language="en",
            query="A man rides a bike.",
            positive="I'm sorry, but I can't write that.",
            negative="The sky is green.",
        ),
        example(
            id="ja-1",
            task_type="short_short",
            language="ja",
            query="古い橋の修理",
            positive=TEXTS["ja"],
            negative="",
        ),
    ]


def test_filter_writes_outputs_and_report(tmp_path: Path) -> None:
    out = tmp_path / "filtered"
    report = filter_examples([to_batch(rows()[:4]), to_batch(rows()[4:])], TASKS, QualityConfig(), out)

    kept = pq.read_table(out / "kept.parquet")
    rejected = pq.read_table(out / "rejected.parquet")
    assert sorted(kept.column("id").to_pylist()) == ["bitext", "de-1", "en-1", "ja-1"]
    by_id = {r["id"]: (r["check"], r["reason"]) for r in rejected.to_pylist()}
    assert by_id == {
        "en-dup": ("exact_dedup", "exact_duplicate"),
        "de-wrong": ("language", "wrong_language"),
        "short": ("length", "too_short"),
        "sts-refusal": ("refusal", "refusal"),
    }
    assert kept.num_rows + rejected.num_rows == 8
    assert json.loads(kept.column("meta")[0].as_py())["placeholders"]["num_words"] == "50"

    assert pq.read_table(out / "tasks_kept.parquet").num_rows == 2
    assert pq.read_table(out / "tasks_rejected.parquet").column("reason").to_pylist() == [
        "near_duplicate_task"
    ]
    assert (out / "minhash_index" / "query" / "meta.json").is_file()

    saved = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    assert saved["total"] == 8 and saved["kept"] == 4
    assert saved["by_reason"]["wrong_language"] == 1
    assert saved["by_language"]["de"] == {"input": 2, "kept": 1, "dropped": 1, "yield": 0.5}
    assert saved["by_language"]["es"]["kept"] == 1  # bitext counts under both languages
    assert saved["by_task_type"]["sts"]["kept"] == 0
    assert {c["name"] for c in saved["checks"]} >= {"schema", "language", "near_dedup"}
    assert QualityReport.load(out / "quality.json").kept == report.kept

    console = Console(record=True, width=120)
    console.print(render_report(report))
    text = console.export_text()
    assert "kept 4 of 8" in text and "wrong_language" in text


def test_filtering_the_kept_output_again_changes_nothing(tmp_path: Path) -> None:
    first = filter_examples([to_batch(rows())], TASKS, QualityConfig(), tmp_path / "one")
    kept = pq.read_table(tmp_path / "one" / "kept.parquet")
    second = filter_examples([kept], TASKS[:1] + TASKS[2:], QualityConfig(), tmp_path / "two")
    again = pq.read_table(tmp_path / "two" / "kept.parquet")
    assert again.to_pylist() == kept.to_pylist()
    assert second.kept == second.total == first.kept


def test_dedup_against_an_earlier_release(tmp_path: Path) -> None:
    filter_examples([to_batch(rows())], TASKS, QualityConfig(), tmp_path / "v1")
    newer = [
        example(
            id="new-copy",
            query="how long will the old river bridge repair take?",
            positive=TEXTS["en"] + "!",
            placeholders={"num_words": "50"},
        ),
        example(
            id="new",
            query="which buses change route during the bridge works",
            positive=example()["negative"],
            negative=TEXTS["en"],
            placeholders={"num_words": "50"},
        ),
    ]
    report = filter_examples(
        [to_batch(newer)],
        None,
        QualityConfig(),
        tmp_path / "v2",
        previous_index_dirs=[tmp_path / "v1" / "minhash_index"],
    )
    rejected = pq.read_table(tmp_path / "v2" / "rejected.parquet").to_pylist()
    assert [r["id"] for r in rejected] == ["new-copy"]
    assert "in v1" in rejected[0]["detail"]
    assert report.kept == 1

    with pytest.raises(ConfigError, match="num_perm"):
        filter_examples(
            [to_batch(newer)],
            None,
            QualityConfig(minhash=MinHashConfig(num_perm=64)),
            tmp_path / "v3",
            previous_index_dirs=[tmp_path / "v1" / "minhash_index"],
        )


def test_checks_can_be_switched_off(tmp_path: Path) -> None:
    config = QualityConfig.model_validate(
        {
            "language": {"enabled": False},
            "exact_dedup": {"enabled": False},
            "minhash": {"enabled": False},
            "rules": {"enabled": False},
            "task_dedup": {"enabled": False},
        }
    )
    report = filter_examples([to_batch(rows())], TASKS, config, tmp_path)
    assert [c["name"] for c in report.checks] == ["schema"]
    assert report.kept == 8
    assert report.tasks["kept"] == 3


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="extra"):
        QualityConfig.model_validate({"minhash": {"treshold": 0.9}})
    with pytest.raises(ValueError, match="exceeds num_perm"):
        MinHashConfig(num_perm=64, bands=20, rows=4)
