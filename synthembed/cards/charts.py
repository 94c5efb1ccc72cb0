"""Charts for the dataset card: language distribution and task mix, as PNG files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def _bar(values: Mapping[str, int], title: str, path: Path, limit: int = 25) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(items) > limit:
        rest = sum(n for _, n in items[limit - 1 :])
        items = [*items[: limit - 1], (f"{len(values) - limit + 1} others", rest)]
    labels = [k for k, _ in items]
    counts = [n for _, n in items]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(items) + 2), 3.2), dpi=100)
    ax.bar(range(len(items)), counts, color="#4C72B0")
    ax.set_xticks(
        range(len(items)),
        labels,
        rotation=60 if len(items) > 8 else 0,
        ha="right" if len(items) > 8 else "center",
    )
    ax.set_ylabel("examples")
    ax.set_title(title)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    # fixed metadata so the same numbers give the same bytes (stable manifest hashes)
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


def write_charts(languages: Mapping[str, int], task_types: Mapping[str, int], folder: Path) -> list[Path]:
    """Write ``languages.png`` and ``tasks.png`` into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    lang_path, task_path = folder / "languages.png", folder / "tasks.png"
    _bar(languages, "Examples per language", lang_path)
    _bar(task_types, "Examples per task type", task_path)
    return [lang_path, task_path]
