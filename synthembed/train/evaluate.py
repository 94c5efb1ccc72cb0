"""Evaluation before and after the fine-tune, with sentence-transformers' evaluators.

Held-out split, per task type:

- retrieval, short_short, long_long: retrieval over the type's pooled test documents (every
  positive and hard negative of the split, deduplicated); each query's own positive is the one
  relevant document. Metrics nDCG@10, MRR@10 and Recall@100 (``InformationRetrievalEvaluator``).
- classification, sts, bitext: triplet accuracy, the share of examples whose positive scores
  above their negative (``TripletEvaluator``).

Benchmarks are BEIR folders the recipe names, each with its own instruction, scored like
retrieval. Queries are formatted with :func:`~synthembed.train.data.format_query` everywhere.

Example::

    evaluators = heldout_evaluators(read_split(release, "test"))
    metrics = evaluate(model, evaluators)     # {"retrieval": {"ndcg@10": 0.71, ...}, ...}
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthembed.train.data import RETRIEVAL_TYPES, TRIPLET_TYPES, format_document, format_query, read_beir

if TYPE_CHECKING:
    import pyarrow as pa
    from sentence_transformers import SentenceTransformer

    from synthembed.recipe import Benchmark

#: The metric each kind of evaluation is judged by (the gate's score averages these).
PRIMARY_METRIC = {"retrieval": "ndcg@10", "triplet": "accuracy"}
_RETRIEVAL_KEYS = {"cosine_ndcg@10": "ndcg@10", "cosine_mrr@10": "mrr@10", "cosine_recall@100": "recall@100"}


def retrieval_evaluator(
    queries: dict[str, str], corpus: dict[str, str], relevant: dict[str, set[str]], *, batch_size: int = 32
) -> Any:
    """An ``InformationRetrievalEvaluator`` that reports nDCG@10, MRR@10 and Recall@100 by cosine.

    ``queries`` must already be formatted (instruction included); documents are passed as they are.
    """
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    return InformationRetrievalEvaluator(
        queries=queries,
        corpus={cid: format_document(text) for cid, text in corpus.items()},
        relevant_docs=relevant,
        mrr_at_k=[10],
        ndcg_at_k=[10],
        accuracy_at_k=[1],
        precision_recall_at_k=[100],
        map_at_k=[10],
        main_score_function="cosine",
        score_functions=None,
        batch_size=batch_size,
        write_csv=False,
    )


def triplet_evaluator(
    anchors: list[str], positives: list[str], negatives: list[str], *, batch_size: int = 32
) -> Any:
    """A ``TripletEvaluator`` by cosine; ``anchors`` must already be formatted."""
    from sentence_transformers.sentence_transformer.evaluation import TripletEvaluator

    return TripletEvaluator(
        anchors=anchors,
        positives=[format_document(p) for p in positives],
        negatives=[format_document(n) for n in negatives],
        similarity_fn_names=["cosine"],
        main_similarity_function="cosine",
        batch_size=batch_size,
        write_csv=False,
    )


def heldout_evaluators(tables: dict[str, pa.Table], *, batch_size: int = 32) -> dict[str, Any]:
    """One evaluator per task type of the test split (see the module docstring for which kind).

    Types with nothing to score (a triplet type whose negatives are all empty) are left out.
    """
    evaluators: dict[str, Any] = {}
    for task_type, table in tables.items():
        rows = table.to_pylist()
        if task_type in RETRIEVAL_TYPES:
            doc_ids: dict[str, str] = {}
            for row in rows:
                for text in (row["positive"], row["negative"]):
                    if text and text.strip() and text not in doc_ids:
                        doc_ids[text] = f"d{len(doc_ids)}"
            queries = {f"q{i}": format_query(r["instruction"], r["query"]) for i, r in enumerate(rows)}
            relevant = {
                f"q{i}": {doc_ids[r["positive"]]} for i, r in enumerate(rows) if r["positive"] in doc_ids
            }
            corpus = {cid: text for text, cid in doc_ids.items()}
            evaluators[task_type] = retrieval_evaluator(queries, corpus, relevant, batch_size=batch_size)
        elif task_type in TRIPLET_TYPES:
            rows = [r for r in rows if r["negative"] and r["negative"].strip()]
            if rows:
                evaluators[task_type] = triplet_evaluator(
                    [format_query(r["instruction"], r["query"]) for r in rows],
                    [r["positive"] for r in rows],
                    [r["negative"] for r in rows],
                    batch_size=batch_size,
                )
    return evaluators


def benchmark_name(benchmark: Benchmark) -> str:
    """The benchmark's name, else its folder's name."""
    return benchmark.name or Path(benchmark.path).name


def benchmark_evaluators(benchmarks: list[Benchmark], *, batch_size: int = 32) -> dict[str, Any]:
    """A retrieval evaluator per BEIR folder, its queries prefixed with the benchmark's instruction.

    Relative paths are read from the current directory.

    Raises:
        ConfigError: a folder lacks corpus.jsonl, queries.jsonl or qrels/test.tsv.
    """
    evaluators = {}
    for benchmark in benchmarks:
        queries, corpus, relevant = read_beir(benchmark.path)
        formatted = {qid: format_query(benchmark.instruction, text) for qid, text in queries.items()}
        evaluators[benchmark_name(benchmark)] = retrieval_evaluator(
            formatted, corpus, relevant, batch_size=batch_size
        )
    return evaluators


def evaluate(model: SentenceTransformer, evaluators: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Run each evaluator on ``model``.

    Returns:
        name -> metrics: ``{"ndcg@10", "mrr@10", "recall@100"}`` for retrieval evaluators,
        ``{"accuracy"}`` for triplet evaluators.
    """
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    out: dict[str, dict[str, float]] = {}
    for name, evaluator in evaluators.items():
        raw = evaluator(model)
        if isinstance(evaluator, InformationRetrievalEvaluator):
            out[name] = {short: float(raw[key]) for key, short in _RETRIEVAL_KEYS.items()}
        else:
            out[name] = {"accuracy": float(raw["cosine_accuracy"])}
    return out


def primary_score(metrics: dict[str, dict[str, float]]) -> float | None:
    """Mean of each set's primary metric (nDCG@10 or accuracy); None when there are no sets."""
    values = [next(m[k] for k in PRIMARY_METRIC.values() if k in m) for m in metrics.values()]
    return statistics.fmean(values) if values else None
