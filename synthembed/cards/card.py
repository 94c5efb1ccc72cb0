"""The dataset card: metadata and body built from a release's own numbers.

:class:`CardFacts` holds everything the card says; :func:`render_card` turns it into the README.md
text with huggingface_hub's card classes and the package template (``cards/template.md``). Nothing
is written by hand: counts come from the release files, quality from ``quality.json``, provenance
from the run store, validation from ``validation.json``.

LLM-written text (task definitions) goes through :func:`escape_markdown`, so it can never close the
YAML front matter, open HTML, break a table or run on for pages.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData

TASK_CATEGORIES = ["sentence-similarity", "feature-extraction", "text-retrieval", "text-classification"]
MAX_INLINE = 240


def escape_markdown(text: str, limit: int = MAX_INLINE) -> str:
    """Make untrusted text safe inside a markdown line or table cell.

    Collapses whitespace (no new lines, so no ``---`` line can end the front matter), escapes HTML
    and the characters markdown gives meaning to, and cuts the text at ``limit`` characters.
    """
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    text = html.escape(text, quote=False)  # no raw HTML
    return re.sub(r"([\\`*\[\]|~])", r"\\\1", text)  # no code, emphasis, links or table breaks


def size_category(n: int) -> str:
    """The Hub's size bucket for ``n`` rows."""
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return label
    return "1M<n<10M" if n < 10_000_000 else "10M<n<100M"


@dataclass
class CardFacts:
    """Everything the card states. Built by the release step; plain data, so tests can pin it."""

    name: str
    version: str
    pretty_name: str
    description: str
    license: str
    repo_id: str
    configs: dict[str, dict[str, int]]  # config -> {"train": n, "test": n}
    languages: dict[str, int]  # code -> examples (bitext counted on both sides)
    language_codes: list[str]  # ISO codes present, for the metadata
    sample_tasks: list[str]
    quality: dict[str, Any]
    provenance: dict[str, Any]
    changelog: list[str]
    validation_markdown: str | None = None
    tags: list[str] = field(default_factory=list)


def _config_entries(configs: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    entries = []
    for name, splits in configs.items():
        files = [
            {"split": split, "path": f"data/{name}/{split}.parquet"}
            for split in ("train", "test")
            if split in splits
        ]
        entries.append({"config_name": name, "data_files": files})
    return entries


def card_data(facts: CardFacts) -> DatasetCardData:
    """The YAML metadata block."""
    total = sum(n for name, splits in facts.configs.items() if name != "tasks" for n in splits.values())
    return DatasetCardData(
        pretty_name=facts.pretty_name,
        license=facts.license,
        language=sorted(facts.language_codes),
        task_categories=TASK_CATEGORIES,
        size_categories=[size_category(total)],
        tags=["synthetic", "text-embeddings", "e5-mistral", "synthembed", *facts.tags],
        configs=_config_entries(facts.configs),
    )


def _check_rows(quality: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for check in quality.get("checks", []):
        reasons = sorted((check.get("by_reason") or {}).items(), key=lambda kv: -kv[1])[:3]
        rows.append(
            {
                "name": check["name"],
                "seen": check.get("seen", 0),
                "kept": check.get("kept", 0),
                "dropped": check.get("dropped", 0),
                "reasons": ", ".join(f"{escape_markdown(r, 60)} ({n})" for r, n in reasons) or "-",
            }
        )
    return rows


def render_card(facts: CardFacts) -> str:
    """The README.md text of a release."""
    task_configs = {k: v for k, v in facts.configs.items() if k != "tasks"}
    task_rows = [
        {"name": k, "train": v.get("train", 0), "test": v.get("test", 0), "total": sum(v.values())}
        for k, v in task_configs.items()
    ]
    totals = {
        "train": sum(r["train"] for r in task_rows),
        "test": sum(r["test"] for r in task_rows),
        "total": sum(r["total"] for r in task_rows),
    }
    lang_total = sum(facts.languages.values()) or 1
    language_rows = [
        {"name": code, "count": n, "share": f"{n / lang_total:.1%}"}
        for code, n in sorted(facts.languages.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    q = facts.quality
    p = facts.provenance
    template = resources.files("synthembed.cards").joinpath("template.md").read_text(encoding="utf-8")
    card = DatasetCard.from_template(
        card_data(facts),
        template_str=template,
        pretty_name=escape_markdown(facts.pretty_name, 120),
        description=escape_markdown(facts.description, 2000) if facts.description else "",
        name=facts.name,
        version=facts.version,
        tag=f"v{facts.version}",
        repo_id=facts.repo_id,
        total_rows=totals["total"],
        n_languages=len(facts.languages),
        n_task_types=len(task_rows),
        first_config=next(iter(task_configs), "tasks"),
        config_list=", ".join(f"`{c}`" for c in facts.configs),
        task_rows=task_rows,
        totals=totals,
        language_rows=language_rows,
        sample_tasks=[escape_markdown(t) for t in facts.sample_tasks] or ["(none)"],
        quality_kept=q.get("kept", 0),
        quality_total=q.get("total", 0),
        quality_yield=f"{q.get('yield', 0):.1%}",
        check_rows=_check_rows(q),
        tasks_kept=(q.get("tasks") or {}).get("kept", 0),
        tasks_total=(q.get("tasks") or {}).get("input", 0),
        validation=facts.validation_markdown
        or "Not validated yet: run `synthembed validate` on this release folder.",
        models=", ".join(f"`{m}`" for m in p.get("models", [])) or "-",
        provider=p.get("provider", "-"),
        template_ids=", ".join(f"`{t}`" for t in p.get("template_ids", [])) or "-",
        recipe_hash=p.get("recipe_hash", "-"),
        seed=p.get("seed", "-"),
        tokens=p.get("tokens", "-"),
        spend=p.get("spend", "-"),
        synthembed_version=p.get("synthembed_version", "-"),
        generated_dates=p.get("generated", "-"),
        released=p.get("released", "-"),
        changelog="\n".join(f"- {line}" for line in facts.changelog) or "- First release.",
    )
    return str(card)
