"""The gate, validation.json and its markdown table; MiniLM end to end on a small release."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthembed.errors import ReleaseError
from synthembed.train.validate import Check, Scores, ValidationResult, judge, validate_release
from tests.train.releases import synthetic_rows, write_release

BASE = Scores(
    0.50, {"retrieval": {"ndcg@10": 0.5, "mrr@10": 0.4, "recall@100": 0.9}}, {"toy": {"ndcg@10": 0.3}}
)
TUNED = Scores(
    0.70, {"retrieval": {"ndcg@10": 0.7, "mrr@10": 0.6, "recall@100": 1.0}}, {"toy": {"ndcg@10": 0.4}}
)


def _previous(score: float, toy: float = 0.4, model: str = "all-MiniLM-L6-v2") -> dict:
    return {
        "release": {"name": "demo", "version": "1.0.0"},
        "model": model,
        "architecture": "encoder",
        "same_model": model == "all-MiniLM-L6-v2",
        "tuned": {
            "score": score,
            "heldout": {"retrieval": {"ndcg@10": score}},
            "benchmarks": {"toy": {"ndcg@10": toy}},
        },
    }


def test_passes_when_tuned_beats_base_without_previous() -> None:
    checks = judge(BASE, TUNED, None, tolerance=0.01)
    assert [c.passed for c in checks] == [True]


def test_fails_when_tuned_does_not_beat_base() -> None:
    checks = judge(TUNED, BASE, None, tolerance=0.01)
    assert not checks[0].passed and "0.5000 <= 0.7000" in checks[0].detail


def test_previous_release_within_tolerance_passes_and_beyond_fails() -> None:
    assert all(c.passed for c in judge(BASE, TUNED, _previous(0.705), tolerance=0.01))
    failed = [c for c in judge(BASE, TUNED, _previous(0.72), tolerance=0.01) if not c.passed]
    assert [c.name for c in failed] == ["previous:held-out (mean)"]


def test_benchmark_regression_against_previous_fails() -> None:
    failed = [c for c in judge(BASE, TUNED, _previous(0.70, toy=0.5), tolerance=0.01) if not c.passed]
    assert [c.name for c in failed] == ["previous:benchmark toy (nDCG@10)"]


def test_previous_with_another_model_is_not_compared() -> None:
    checks = judge(BASE, TUNED, _previous(0.99, model="/models/e5-mistral"), tolerance=0.01)
    assert all(c.passed for c in checks) and "not compared" in checks[-1].detail


def _result(previous: dict | None = None) -> ValidationResult:
    return ValidationResult(
        release={"name": "demo", "version": "1.1.0"},
        model="all-MiniLM-L6-v2",
        architecture="encoder",
        device="cpu",
        settings={"batch_size": 32},
        training={"steps": 10, "examples": 320},
        base=BASE,
        tuned=TUNED,
        previous=previous,
        checks=judge(BASE, TUNED, previous, tolerance=0.01),
    )


def test_markdown_table() -> None:
    expected = """\
Model: `all-MiniLM-L6-v2` (encoder), 10 steps on 320 train examples.

| Evaluation | Metric | Base | Fine-tuned | Previous (1.0.0) |
| --- | --- | ---: | ---: | ---: |
| held-out (mean) | primary | 0.5000 | 0.7000 | 0.6950 |
| retrieval | nDCG@10 | 0.5000 | 0.7000 | 0.6950 |
| retrieval | MRR@10 | 0.4000 | 0.6000 | – |
| retrieval | Recall@100 | 0.9000 | 1.0000 | – |
| benchmark: toy | nDCG@10 | 0.3000 | 0.4000 | 0.4000 |

**Verdict: passed**

- ✅ fine-tuned beats base on the held-out split (0.7000 > 0.5000)
- ✅ held-out (mean) within 0.01 of 1.0.0 (0.7000 >= 0.6950 - 0.01)
- ✅ benchmark toy (nDCG@10) within 0.01 of 1.0.0 (0.4000 >= 0.4000 - 0.01)
"""
    assert _result(_previous(0.695)).to_markdown() == expected


def test_validation_json_round_trip(tmp_path: Path) -> None:
    result = _result(_previous(0.8))
    path = result.write(tmp_path / "validation.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["verdict"]["passed"] is False and data["base"]["score"] == 0.5
    again = ValidationResult.from_dict(data)
    assert again == result and not again.passed
    assert isinstance(again.checks[0], Check)


def test_not_a_release_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match=r"manifest\.json"):
        validate_release(tmp_path)


def test_unreadable_previous_is_a_clear_error(tmp_path: Path) -> None:
    folder = write_release(tmp_path / "rel", synthetic_rows(12))
    with pytest.raises(ReleaseError, match=r"previous release's validation\.json"):
        validate_release(folder, previous=tmp_path / "nope.json")


RECIPE_VALIDATION = """\
validation:
  batch_size: 8
  mini_batch_size: 8
  max_steps: 8
  warmup_steps: 1
  learning_rate: 5.0e-4
  max_length: 48
"""


@pytest.mark.slow
def test_minilm_fine_tune_beats_base_on_the_held_out_split(tmp_path: Path) -> None:
    rows = synthetic_rows(120, seed=0, topics=8, task_types=("retrieval", "classification", "short_short"))
    folder = write_release(tmp_path / "rel", rows, version="1.1.0", recipe_extra=RECIPE_VALIDATION)

    result = validate_release(folder, device="cpu")

    assert result.training["steps"] == 8 and result.settings["learning_rate"] == 5e-4
    assert set(result.tuned.heldout) == {"retrieval", "classification", "short_short"}
    assert result.tuned.score > result.base.score
    assert result.passed
    saved = ValidationResult.from_dict(json.loads((folder / "validation.json").read_text(encoding="utf-8")))
    assert saved.tuned.score == result.tuned.score and saved.release["version"] == "1.1.0"
