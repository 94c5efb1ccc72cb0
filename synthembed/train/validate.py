"""``synthembed validate RELEASE``: fine-tune on a release, evaluate before and after, and judge it.

The release passes when the fine-tuned model beats the base model on the held-out split (the mean
of each task type's primary metric: nDCG@10 for retrieval-like types, triplet accuracy for the
others) and, when the previous release's ``validation.json`` is given and was made with the same
model, does not fall behind it by more than ``validation.tolerance``, on the held-out score and on
each benchmark both runs share. (Each release holds out its own test tasks, so the held-out
comparison across releases is a guard against regressions, not an exact like-for-like.)

Example::

    result = validate_release("datasets/demo/releases/1.1.0", previous="datasets/demo/releases/1.0.0/validation.json")
    result.passed            # True
    print(result.to_markdown())
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synthembed.errors import ReleaseError
from synthembed.recipe import Validation, load_recipe
from synthembed.train.evaluate import benchmark_evaluators, evaluate, heldout_evaluators, primary_score

logger = logging.getLogger(__name__)

VALIDATION_FILE = "validation.json"
_METRIC_LABELS = {
    "ndcg@10": "nDCG@10",
    "mrr@10": "MRR@10",
    "recall@100": "Recall@100",
    "accuracy": "accuracy",
}


@dataclass
class Scores:
    """One model's evaluation: the held-out score, per-task-type metrics and benchmark metrics."""

    score: float | None
    heldout: dict[str, dict[str, float]] = field(default_factory=dict)
    benchmarks: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, heldout: dict[str, dict[str, float]], benchmarks: dict[str, dict[str, float]]) -> Scores:
        return cls(score=primary_score(heldout), heldout=heldout, benchmarks=benchmarks)


@dataclass
class Check:
    """One condition of the gate and whether it held."""

    name: str
    passed: bool
    detail: str


@dataclass
class ValidationResult:
    """What ``validation.json`` holds: the setup, base / tuned / previous scores and the verdict."""

    release: dict[str, str]
    model: str
    architecture: str
    device: str
    settings: dict[str, Any]
    training: dict[str, Any]
    base: Scores
    tuned: Scores
    previous: dict[str, Any] | None
    checks: list[Check]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when every check of the gate held."""
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = {"passed": self.passed, "checks": data.pop("checks")}
        data["passed"] = self.passed  # top level too: `synthembed publish` reads it
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationResult:
        fields = {k: v for k, v in data.items() if k not in ("verdict", "passed")}
        return cls(
            **{**fields, "base": Scores(**data["base"]), "tuned": Scores(**data["tuned"])},
            checks=[Check(**c) for c in data["verdict"]["checks"]],
        )

    def write(self, path: str | Path) -> Path:
        """Write the result as JSON (the release's ``validation.json``)."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    def to_markdown(self) -> str:
        """The card's validation section body: a table of base, fine-tuned and previous metrics,
        then the verdict with each check."""
        prev = self.previous or {}
        prev_tuned = prev.get("tuned") or {}
        head = f"Previous ({prev['release'].get('version', '?')})" if prev else "Previous"
        lines = [
            f"Model: `{self.model}` ({self.architecture}), {self.training.get('steps', 0)} steps "
            f"on {self.training.get('examples', 0)} train examples.",
            "",
            f"| Evaluation | Metric | Base | Fine-tuned | {head} |",
            "| --- | --- | ---: | ---: | ---: |",
            f"| held-out (mean) | primary | {_num(self.base.score)} | {_num(self.tuned.score)} "
            f"| {_num(prev_tuned.get('score'))} |",
        ]
        for section, prefix in (("heldout", ""), ("benchmarks", "benchmark: ")):
            base, tuned = getattr(self.base, section), getattr(self.tuned, section)
            before = prev_tuned.get(section) or {}
            for name, metrics in tuned.items():
                for metric, value in metrics.items():
                    old = (before.get(name) or {}).get(metric)
                    lines.append(
                        f"| {prefix}{name} | {_METRIC_LABELS.get(metric, metric)} | "
                        f"{_num(base.get(name, {}).get(metric))} | {_num(value)} | {_num(old)} |"
                    )
        lines += ["", f"**Verdict: {'passed' if self.passed else 'failed'}**", ""]
        lines += [f"- {'✅' if c.passed else '❌'} {c.detail}" for c in self.checks]
        return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def judge(base: Scores, tuned: Scores, previous: dict[str, Any] | None, tolerance: float) -> list[Check]:
    """The gate's checks.

    Args:
        base, tuned: the scores before and after the fine-tune.
        previous: the previous release's ``validation.json`` as a dict (or None); compared only when
            it was made with the same model and architecture as this run (``same_model`` key set by
            :func:`validate_release`).
        tolerance: how far below the previous release's scores this one may fall.
    """
    checks = []
    if tuned.score is None or base.score is None:
        checks.append(Check("beats_base", False, "the held-out split has nothing to evaluate"))
    else:
        ok = tuned.score > base.score
        sign = ">" if ok else "<="
        checks.append(
            Check(
                "beats_base",
                ok,
                f"fine-tuned beats base on the held-out split ({tuned.score:.4f} {sign} {base.score:.4f})",
            )
        )
    if previous is None:
        return checks
    version = previous.get("release", {}).get("version", "?")
    if not previous.get("same_model", True):
        checks.append(
            Check(
                "previous",
                True,
                f"not compared with {version}: it was validated with {previous.get('model')} "
                f"({previous.get('architecture')})",
            )
        )
        return checks
    prev = previous.get("tuned") or {}
    pairs = [("held-out (mean)", tuned.score, prev.get("score"))]
    for name, metrics in tuned.benchmarks.items():
        old = (prev.get("benchmarks") or {}).get(name)
        if old and "ndcg@10" in old:
            pairs.append((f"benchmark {name} (nDCG@10)", metrics["ndcg@10"], old["ndcg@10"]))
    for label, now, old in pairs:
        if now is None or old is None:
            continue
        ok = now >= old - tolerance
        sign = ">=" if ok else "<"
        checks.append(
            Check(
                f"previous:{label}",
                ok,
                f"{label} within {tolerance} of {version} ({now:.4f} {sign} {old:.4f} - {tolerance})",
            )
        )
    return checks


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReleaseError(f"{path}: no such file; {what}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ReleaseError(f"{path}: cannot read it ({exc}); {what}") from None


def validate_release(
    release_dir: str | Path,
    *,
    recipe_validation: Validation | None = None,
    previous: str | Path | None = None,
    device: str | None = None,
    output_dir: str | Path | None = None,
) -> ValidationResult:
    """Fine-tune on the release's train split, evaluate before and after, write ``validation.json``.

    Args:
        release_dir: a release folder (``manifest.json``, ``recipe.yaml``, ``data/<type>/*.parquet``).
        recipe_validation: the settings to use; default the release recipe's ``validation:`` section.
        previous: path to the previous release's ``validation.json``, or None for the first release.
        device: ``cpu`` / ``cuda[:n]``; default a GPU when one is visible.
        output_dir: where to save the fine-tuned model (a decoder saves its LoRA adapter only);
            not saved when None. Keep it outside the release folder, whose files are hashed.

    Returns:
        the result; ``result.passed`` is the verdict and ``result.to_markdown()`` the card's table.

    Raises:
        ReleaseError: the folder is not a release, its splits are empty, or ``previous`` is unreadable.
        RecipeError: the release's recipe.yaml is invalid.
        ConfigError: the model folder or a benchmark folder is missing.
    """
    from synthembed.train.data import read_split, training_datasets
    from synthembed.train.model import LORA, attach_lora, fine_tune, load_model, resolve_device

    release = Path(release_dir)
    manifest = _read_json(release / "manifest.json", "pass a release folder made by `synthembed release`")
    seed = 0
    if recipe_validation is None or (release / "recipe.yaml").exists():
        recipe = load_recipe(release / "recipe.yaml")
        seed = recipe.seed
        recipe_validation = recipe_validation or recipe.validation
    cfg = recipe_validation
    before = None
    if previous is not None:
        data = _read_json(Path(previous), "pass the previous release's validation.json, or none")
        before = {k: data.get(k) for k in ("release", "model", "architecture", "tuned")}
        before["same_model"] = (before["model"], before["architecture"]) == (cfg.model, cfg.architecture)
    device = resolve_device(device)

    start = time.perf_counter()
    train = training_datasets(read_split(release, "train"), max_examples=cfg.max_train_examples, seed=seed)
    evaluators = heldout_evaluators(read_split(release, "test"), batch_size=cfg.mini_batch_size)
    benches = benchmark_evaluators(cfg.benchmarks, batch_size=cfg.mini_batch_size)
    model = load_model(cfg, device)
    seconds = {"load": time.perf_counter() - start}

    def run_evaluation(label: str) -> Scores:
        t = time.perf_counter()
        scores = Scores.of(evaluate(model, evaluators), evaluate(model, benches))
        seconds[label] = time.perf_counter() - t
        logger.info("%s model: held-out score %s", label, scores.score)
        return scores

    base = run_evaluation("evaluate_base")
    training: dict[str, Any] = {}
    if cfg.architecture == "decoder":
        training["lora"] = {**attach_lora(model), **LORA}
    t = time.perf_counter()
    training.update(fine_tune(model, train, cfg, device=device, seed=seed))
    seconds["train"] = time.perf_counter() - t
    tuned = run_evaluation("evaluate_tuned")
    if output_dir is not None:
        model.save(str(output_dir))
    seconds["total"] = time.perf_counter() - start

    result = ValidationResult(
        release={"name": manifest.get("name", release.name), "version": manifest.get("version", "?")},
        model=cfg.model,
        architecture=cfg.architecture,
        device=device,
        settings=cfg.model_dump(mode="json"),
        training=training,
        base=base,
        tuned=tuned,
        previous=before,
        checks=judge(base, tuned, before, cfg.tolerance),
        seconds={k: round(v, 1) for k, v in seconds.items()},
    )
    result.write(release / VALIDATION_FILE)
    return result
