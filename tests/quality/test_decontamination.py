"""N-gram decontamination against BEIR folders, jsonl, parquet and plain text."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthembed.errors import ConfigError
from synthembed.quality.config import DecontaminationConfig, EvalSource
from synthembed.quality.decontamination import DecontaminationCheck, read_eval_texts
from tests.quality.builders import TEXTS, example, to_batch

PASSAGE = (
    "Photosynthesis in marine diatoms accounts for a large share of the oxygen produced on Earth each "
    "year, and their silica shells sink to the ocean floor when they die."
)
QUERY = "which algae produce most ocean oxygen"


def write_beir(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        json.dumps({"_id": "d1", "title": "Diatoms", "text": PASSAGE}) + "\n", encoding="utf-8"
    )
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": QUERY}) + "\n", encoding="utf-8")
    return folder


def decide(check: DecontaminationCheck, rows: list[dict]) -> list[str | None]:
    return [d.reason if d else None for d in check.decide(to_batch(rows))]


def test_beir_folder(tmp_path: Path) -> None:
    source = EvalSource(path=write_beir(tmp_path / "scifact"), kind="beir")
    check = DecontaminationCheck(DecontaminationConfig(sources=[source]))
    # 13 consecutive words of the passage, inside other text, with other case and punctuation
    leaked = (
        "Background: in marine diatoms ACCOUNTS for a large share of the oxygen produced on earth; see above."
    )
    rows = [
        example(id="clean"),
        example(id="leak", positive=leaked),
        example(id="query", query="Which algae produce most ocean oxygen?"),  # short text: whole match
        example(id="twelve", positive="marine diatoms accounts for a large share of the oxygen produced on"),
    ]
    assert decide(check, rows) == [None, "contaminated:scifact", "contaminated:scifact", None]
    described = check.describe()
    assert described["sources"][0]["name"] == "scifact"
    assert described["sources"][0]["short_texts"] == 1


def test_jsonl_parquet_and_text(tmp_path: Path) -> None:
    jsonl = tmp_path / "qa.jsonl"
    jsonl.write_text(json.dumps({"question": PASSAGE}) + "\n\n", encoding="utf-8")
    parquet = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"body": [TEXTS["de"]]}), parquet)
    text = tmp_path / "zh.txt"
    text.write_text(TEXTS["zh"] + "\n", encoding="utf-8")
    config = DecontaminationConfig(
        sources=[
            EvalSource(path=jsonl, kind="jsonl", field="question", name="qa"),
            EvalSource(path=parquet, kind="parquet", field="body"),
            EvalSource(path=text, kind="text"),
        ]
    )
    check = DecontaminationCheck(config)
    rows = [
        example(id="en", positive="Note: " + PASSAGE[:120]),
        example(id="de", language="de", positive="Kurz: " + TEXTS["de"][:150]),
        example(id="zh", language="zh", positive="新闻：" + TEXTS["zh"][10:50]),  # 40 characters, 25-grams
        example(id="fine", language="zh", positive=TEXTS["zh"][:20]),
    ]
    assert decide(check, rows) == ["contaminated:qa", "contaminated:docs", "contaminated:zh", None]


def test_missing_sources_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list(read_eval_texts(EvalSource(path=tmp_path / "nope", kind="beir")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="BEIR"):
        list(read_eval_texts(EvalSource(path=tmp_path / "empty", kind="beir")))
    parquet = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": ["b"]}), parquet)
    with pytest.raises(ConfigError, match="no column"):
        list(read_eval_texts(EvalSource(path=parquet, kind="parquet")))
