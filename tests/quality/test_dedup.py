"""Exact and near-duplicate removal, duplicate task definitions, and their invariants (Hypothesis)."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthembed.quality.config import ExactDedupConfig, MinHashConfig
from synthembed.quality.dedup import ExactDeduplicator, MinHashDeduplicator, TaskDeduplicator
from tests.quality.builders import TEXTS, example, to_batch

VOCAB = [f"w{i}" for i in range(3000)]


def kept_ids(check, rows: list[dict]) -> list[str]:
    return check(to_batch(rows)).column("id").to_pylist()


def test_exact_duplicates_after_normalisation() -> None:
    rows = [
        example(id="a"),
        example(id="b", query="How long will the OLD river bridge repair take", positive=TEXTS["en"].upper()),
        example(id="c", query="how long will the old river bridge repair take ", positive=TEXTS["en"] + "\n"),
        example(id="d", positive=TEXTS["de"]),
    ]
    check = ExactDeduplicator(ExactDedupConfig())
    assert kept_ids(check, rows) == ["a", "d"]
    assert check.counts.by_reason() == {"exact_duplicate": 2}


def test_near_duplicates_per_field_and_task_type() -> None:
    doc = TEXTS["en"]
    rows = [
        example(id="a", query="when will the repairs on the old bridge begin and end", positive=doc),
        # same positive with a word added, different query: dropped on the positive
        example(id="b", query="which route do buses take during the works", positive=doc + " Thanks."),
        # same query, different positive: dropped on the query
        example(id="c", query="when will the repairs on the old bridge begin and end", positive=TEXTS["de"]),
        # classification labels repeat by design: not compared
        example(
            id="d",
            task_type="classification",
            query="great goal in the last minute",
            positive="sports",
            negative="politics",
        ),
        example(
            id="e",
            task_type="classification",
            query="parliament passed the budget late",
            positive="sports",
            negative="politics",
        ),
        # a Chinese near-copy (character shingles)
        example(id="f", language="zh", query="旧桥维修需要多久", positive=TEXTS["zh"]),
        example(
            id="g",
            language="zh",
            query="大桥什么时候开始修",
            positive=TEXTS["zh"].replace("八个月", "九个月"),
        ),
    ]
    check = MinHashDeduplicator(MinHashConfig())
    assert kept_ids(check, rows) == ["a", "d", "e", "f"]
    assert check.counts.by_reason() == {"near_duplicate_positive": 2, "near_duplicate_query": 1}
    # "b" was stored in the query index, then dropped on its positive: it must not stay indexed.
    assert check.indexes["query"].own_count == 4
    assert check.indexes["positive"].own_count == 2


def test_task_definitions() -> None:
    tasks = [
        ("retrieval", "Given a medical question, retrieve research abstracts that answer it."),
        ("retrieval", "Given a medical question, retrieve research abstracts that answer it"),
        ("retrieval", "Given a medical question, retrieve the research abstracts that answer it."),
        ("retrieval", "Given a recipe name, retrieve cooking blogs with that recipe."),
        ("classification", "Given a medical question, retrieve research abstracts that answer it."),
        ("retrieval", "   "),
    ]
    result = TaskDeduplicator().run(tasks)
    assert [t for _, t in result.kept] == [tasks[0][1], tasks[3][1], tasks[4][1]]
    assert [r[2] for r in result.rejected] == ["near_duplicate_task", "near_duplicate_task", "empty_task"]


# --- invariants ------------------------------------------------------------------------------------


def cluster_rows(n_clusters: int, copies: list[int], seed: int) -> list[dict]:
    """Clusters of near-identical documents; distinct clusters share no shingle."""
    rng = random.Random(seed)
    rows = []
    for c in range(n_clusters):
        base = [rng.choice(VOCAB) for _ in range(80)]
        for k in range(copies[c]):
            words = list(base)
            if k:
                words[rng.randrange(len(words))] = rng.choice(VOCAB)  # one word: Jaccard ~0.89
            text = " ".join(words)
            rows.append(
                example(
                    id=f"c{c}-{k}", query=f"q{c} {' '.join(base[:12])}", positive=text, negative=f"n{c}-{k}"
                )
            )
    return rows


def cluster_of(row_id: str) -> str:
    return row_id.split("-")[0]


def run_all(rows: list[dict], threads: int | None = None) -> list[str]:
    exact, near = ExactDeduplicator(), MinHashDeduplicator()
    near.hasher.threads = threads
    batch = to_batch(rows)
    return near(exact(batch)).column("id").to_pylist()


relaxed = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@relaxed
@given(st.lists(st.integers(1, 3), min_size=1, max_size=12), st.integers(0, 10_000))
def test_dedup_never_drops_a_unique_example(copies: list[int], seed: int) -> None:
    rows = cluster_rows(len(copies), copies, seed)
    kept = run_all(rows)
    singletons = {f"c{c}-0" for c, n in enumerate(copies) if n == 1}
    assert singletons <= set(kept)


@relaxed
@given(st.lists(st.integers(1, 4), min_size=1, max_size=10), st.integers(0, 10_000), st.randoms())
def test_kept_set_does_not_depend_on_order(copies: list[int], seed: int, rnd: random.Random) -> None:
    rows = cluster_rows(len(copies), copies, seed)
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    first = run_all(rows)
    second = run_all(shuffled)
    # One copy per cluster, whichever comes first.
    assert (
        sorted(map(cluster_of, first))
        == sorted(map(cluster_of, second))
        == sorted({cluster_of(r["id"]) for r in rows})
    )
    assert len(first) == len(set(map(cluster_of, first)))


@relaxed
@given(st.lists(st.integers(1, 3), min_size=1, max_size=10), st.integers(0, 10_000))
def test_filtering_twice_changes_nothing(copies: list[int], seed: int) -> None:
    rows = cluster_rows(len(copies), copies, seed)
    kept = set(run_all(rows))
    again = run_all([r for r in rows if r["id"] in kept])
    assert set(again) == kept


@relaxed
@given(st.lists(st.integers(1, 3), min_size=260, max_size=300), st.integers(0, 10_000))
def test_kept_set_does_not_depend_on_threads(copies: list[int], seed: int) -> None:
    # at least 256 rows: the hasher cuts each field into several slices
    rows = cluster_rows(len(copies), copies, seed)
    assert run_all(rows, threads=1) == run_all(rows, threads=3)
