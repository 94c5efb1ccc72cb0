"""Evaluation against hand-computed metrics, with a fake embedder that returns fixed vectors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest

from synthembed.errors import ConfigError
from synthembed.recipe import Benchmark
from synthembed.train.data import format_query
from synthembed.train.evaluate import benchmark_evaluators, evaluate, heldout_evaluators, primary_score

torch = pytest.importorskip("torch")

INSTR = "Find the passage."
# Qa ranks P0 first; Qb ranks N0 (0.96), P1 (0.8), P0 (0.6), so its relevant P1 sits at rank 2.
VECTORS = {
    format_query(INSTR, "a"): [1.0, 0.0],
    format_query(INSTR, "b"): [0.6, 0.8],
    "P0": [1.0, 0.0],
    "N0": [0.8, 0.6],
    "P1": [0.0, 1.0],
}


class FakeEmbedder:
    """Speaks the part of SentenceTransformer's API the evaluators use; unknown text raises KeyError."""

    similarity_fn_name = "cosine"
    model_card_data = SimpleNamespace(set_evaluation_metrics=lambda *a, **k: None)

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def encode(self, texts: list[str], convert_to_tensor: bool = False, **_: Any) -> Any:
        out = torch.tensor([self.vectors[t] for t in texts])
        return out if convert_to_tensor else out.numpy()

    encode_query = encode_document = encode

    def similarity(self, a: Any, b: Any) -> Any:
        from sentence_transformers.util import cos_sim

        return cos_sim(a, b)


def _table(rows: list[tuple[str, str, str]]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"id": f"x{i}", "instruction": INSTR, "query": q, "positive": p, "negative": n}
            for i, (q, p, n) in enumerate(rows)
        ]
    )


def test_retrieval_and_triplet_metrics_match_a_hand_computed_case() -> None:
    tables = {
        "retrieval": _table([("a", "P0", "N0"), ("b", "P1", "P0")]),  # pooled corpus: P0, N0, P1
        "sts": _table([("a", "P0", "N0"), ("b", "P0", "N0")]),
    }
    metrics = evaluate(FakeEmbedder(VECTORS), heldout_evaluators(tables))

    rank2 = 1 / math.log2(3)
    assert metrics["retrieval"] == pytest.approx(
        {"ndcg@10": (1 + rank2) / 2, "mrr@10": 0.75, "recall@100": 1.0}
    )
    # Qa: cos(P0)=1 > cos(N0)=0.8; Qb: cos(P0)=0.6 < cos(N0)=0.96
    assert metrics["sts"] == pytest.approx({"accuracy": 0.5})
    assert primary_score(metrics) == pytest.approx(((1 + rank2) / 2 + 0.5) / 2)


def test_pairs_only_types_are_scored_by_retrieval_and_empty_triplets_skipped() -> None:
    tables = {
        "short_short": _table([("a", "P0", ""), ("b", "P1", "")]),
        "classification": _table([("a", "P0", "")]),
    }
    metrics = evaluate(FakeEmbedder(VECTORS), heldout_evaluators(tables))
    assert set(metrics) == {"short_short"}
    assert metrics["short_short"]["mrr@10"] == pytest.approx(1.0)  # Qb: P1 (0.8) above P0 (0.6)


def _beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "d1", "title": "", "text": "P0"},
        {"_id": "d2", "title": "N0", "text": ""},
        {"_id": "d3", "text": "P1"},
    ]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus) + "\n", encoding="utf-8")
    queries = [{"_id": "q1", "text": "a"}, {"_id": "q2", "text": "b"}, {"_id": "q3", "text": "unjudged"}]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries) + "\n", encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\nq2\td2\t0\n"
    )
    return folder


def test_beir_benchmark_uses_its_instruction_and_qrels(tmp_path: Path) -> None:
    bench = Benchmark(path=str(_beir(tmp_path / "toy")), instruction=INSTR)
    metrics = evaluate(FakeEmbedder(VECTORS), benchmark_evaluators([bench]))
    # q2's judged-0 document (N0) does not count as relevant: P1 at rank 2
    assert metrics == {
        "toy": pytest.approx({"ndcg@10": (1 + 1 / math.log2(3)) / 2, "mrr@10": 0.75, "recall@100": 1.0})
    }


def test_missing_benchmark_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = _beir(tmp_path / "toy")
    (folder / "qrels" / "test.tsv").unlink()
    with pytest.raises(ConfigError, match=r"qrels/test.tsv"):
        benchmark_evaluators([Benchmark(path=str(folder), instruction=INSTR)])
