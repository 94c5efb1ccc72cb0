"""The quality report: counts by check, reason, task type and language; saved as ``quality.json``
and shown as tables (the dataset card reads the JSON)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.table import Table

from synthembed.quality.base import Check


def _languages_of(language: str) -> list[str]:
    src, sep, tgt = language.partition("-")
    return [src, tgt] if sep else [language]


@dataclass
class QualityReport:
    """What filtering kept and dropped, and why.

    ``by_language`` counts a bitext example under both its languages; ``dropped`` lists one row
    per (check, reason, task type, language value as stored).
    """

    total: int = 0
    kept: int = 0
    dropped_total: int = 0
    checks: list[dict[str, Any]] = field(default_factory=list)
    by_reason: dict[str, int] = field(default_factory=dict)
    by_task_type: dict[str, dict[str, float]] = field(default_factory=dict)
    by_language: dict[str, dict[str, float]] = field(default_factory=dict)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    tasks: dict[str, Any] = field(default_factory=dict)
    minhash_index: dict[str, Any] = field(default_factory=dict)

    @property
    def yield_(self) -> float:
        return self.kept / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "yield": round(self.yield_, 4)}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(
            json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, path: str | Path) -> QualityReport:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data.pop("yield", None)
        return cls(**data)


def build_report(
    input_counts: Counter[tuple[str, str]],
    kept_counts: Counter[tuple[str, str]],
    checks: list[Check],
    tasks: dict[str, Any] | None = None,
    minhash_index: dict[str, Any] | None = None,
) -> QualityReport:
    """Assemble the report from the counters the pipeline and the checks kept."""
    report = QualityReport(
        total=sum(input_counts.values()),
        kept=sum(kept_counts.values()),
        tasks=tasks or {},
        minhash_index=minhash_index or {},
    )
    report.dropped_total = report.total - report.kept
    reasons: Counter[str] = Counter()
    for check in checks:
        c = check.counts
        report.checks.append(
            {
                "name": check.name,
                "settings": check.describe(),
                "seen": c.n_kept + c.n_dropped,
                "kept": c.n_kept,
                "dropped": c.n_dropped,
                "by_reason": c.by_reason(),
            }
        )
        for (reason, task_type, language), n in sorted(c.dropped.items()):
            reasons[reason] += n
            report.dropped.append(
                {
                    "check": check.name,
                    "reason": reason,
                    "task_type": task_type,
                    "language": language,
                    "count": n,
                }
            )
    report.by_reason = dict(reasons.most_common())

    def tally(key_of) -> dict[str, dict[str, float]]:
        seen: Counter[str] = Counter()
        kept: Counter[str] = Counter()
        for (task_type, language), n in input_counts.items():
            for key in key_of(task_type, language):
                seen[key] += n
        for (task_type, language), n in kept_counts.items():
            for key in key_of(task_type, language):
                kept[key] += n
        return {
            k: {
                "input": seen[k],
                "kept": kept[k],
                "dropped": seen[k] - kept[k],
                "yield": round(kept[k] / seen[k], 4),
            }
            for k in sorted(seen, key=lambda k: (-seen[k], k))
        }

    report.by_task_type = tally(lambda tt, lang: [tt])
    report.by_language = tally(lambda tt, lang: _languages_of(lang))
    return report


def render_report(report: QualityReport, top_languages: int = 20) -> Group:
    """Rich tables: per check, per reason, per task type, and the languages with the lowest yield."""
    summary = Table(title=f"Quality: kept {report.kept:,} of {report.total:,} ({report.yield_:.1%})")
    summary.add_column("check")
    summary.add_column("seen", justify="right")
    summary.add_column("kept", justify="right")
    summary.add_column("dropped", justify="right")
    summary.add_column("top reasons")
    for c in report.checks:
        reasons = ", ".join(f"{r} {n:,}" for r, n in list(c["by_reason"].items())[:3])
        summary.add_row(c["name"], f"{c['seen']:,}", f"{c['kept']:,}", f"{c['dropped']:,}", reasons)

    by_type = Table(title="By task type")
    for col in ("task type", "input", "kept", "dropped", "yield"):
        by_type.add_column(col, justify="left" if col == "task type" else "right")
    for tt, row in report.by_task_type.items():
        by_type.add_row(
            tt, f"{row['input']:,}", f"{row['kept']:,}", f"{row['dropped']:,}", f"{row['yield']:.1%}"
        )

    by_lang = Table(title=f"Languages with the lowest yield (of {len(report.by_language)})")
    for col in ("language", "input", "kept", "dropped", "yield"):
        by_lang.add_column(col, justify="left" if col == "language" else "right")
    worst = sorted(report.by_language.items(), key=lambda kv: (kv[1]["yield"], -kv[1]["input"]))
    for lang, row in worst[:top_languages]:
        by_lang.add_row(
            lang, f"{row['input']:,}", f"{row['kept']:,}", f"{row['dropped']:,}", f"{row['yield']:.1%}"
        )

    parts: list[Any] = [summary, by_type, by_lang]
    if report.tasks:
        t = report.tasks
        tasks = Table(title="Brainstormed tasks")
        for col in ("input", "kept", "dropped", "reasons"):
            tasks.add_column(col, justify="right" if col != "reasons" else "left")
        reasons = ", ".join(f"{r} {n:,}" for r, n in t.get("by_reason", {}).items())
        tasks.add_row(f"{t.get('input', 0):,}", f"{t.get('kept', 0):,}", f"{t.get('dropped', 0):,}", reasons)
        parts.append(tasks)
    return Group(*parts)


def print_report(report: QualityReport, console: Console | None = None) -> None:
    """Print :func:`render_report` to ``console`` (stdout by default)."""
    (console or Console()).print(render_report(report))
