"""The dataset card: golden file for fixed facts, escaping of LLM text, metadata."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from huggingface_hub import DatasetCard

from synthembed.cards.card import CardFacts, escape_markdown, render_card, size_category

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "cards" / "demo.md"

FACTS = CardFacts(
    name="demo",
    version="1.2.0",
    pretty_name="Demo embeddings",
    description="Synthetic pairs for testing.",
    license="apache-2.0",
    repo_id="acme/demo",
    configs={
        "retrieval": {"train": 90, "test": 10},
        "bitext": {"train": 45, "test": 5},
        "tasks": {"train": 30, "test": 3},
    },
    languages={"en": 120, "de": 40, "sw": 30},
    language_codes=["de", "en", "sw"],
    sample_tasks=["Given a recipe name, retrieve recipes | with *stars*", "Classify <b>news</b> by topic"],
    quality={
        "total": 200,
        "kept": 150,
        "yield": 0.75,
        "tasks": {"input": 40, "kept": 33},
        "checks": [
            {
                "name": "language",
                "seen": 200,
                "kept": 160,
                "dropped": 40,
                "by_reason": {"wrong_language": 40},
            },
            {
                "name": "near_dedup",
                "seen": 160,
                "kept": 150,
                "dropped": 10,
                "by_reason": {"near_duplicate": 10},
            },
        ],
    },
    provenance={
        "models": ["gpt-4o-2024-08-06"],
        "provider": "openai / gpt-4o",
        "template_ids": ["aaaaaaaaaaaa"],
        "recipe_hash": "0123456789abcdef",
        "seed": 7,
        "tokens": "1,000 in, 2,000 out (200 requests)",
        "spend": "$0.50 (cap $5.00)",
        "synthembed_version": "0.1.0",
        "generated": "2026-01-01 to 2026-01-02",
        "released": "2026-01-03",
    },
    changelog=["Against 1.1.0: 10 rows added, 2 rows removed, 140 kept."],
    validation_markdown="| metric | base | tuned |\n| --- | ---: | ---: |\n| nDCG@10 | 0.50 | 0.60 |",
)


def test_rendered_card_matches_golden_file():
    text = render_card(FACTS)
    if os.environ.get("SYNTHEMBED_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), "card changed; review and regenerate the golden file"


def test_metadata_block():
    card = DatasetCard(render_card(FACTS))
    data = card.data.to_dict()
    assert data["pretty_name"] == "Demo embeddings" and data["license"] == "apache-2.0"
    assert data["language"] == ["de", "en", "sw"]
    assert data["size_categories"] == ["n<1K"]
    assert [c["config_name"] for c in data["configs"]] == ["retrieval", "bitext", "tasks"]
    assert data["configs"][0]["data_files"][1] == {"split": "test", "path": "data/retrieval/test.parquet"}


def test_escaping():
    assert escape_markdown("a | b") == "a \\| b"
    assert escape_markdown("<img src=x>") == "&lt;img src=x&gt;"
    assert "\n" not in escape_markdown("line\n---\nline")
    assert len(escape_markdown("y" * 1000)) <= 240
    assert escape_markdown("`x` *y* [z]") == "\\`x\\` \\*y\\* \\[z\\]"


def test_size_categories():
    assert [size_category(n) for n in (5, 5_000, 50_000, 500_000, 5_000_000)] == [
        "n<1K",
        "1K<n<10K",
        "10K<n<100K",
        "100K<n<1M",
        "1M<n<10M",
    ]


def test_pretty_name_with_yaml_markers_stays_in_the_metadata():
    facts = CardFacts(**{**FACTS.__dict__, "pretty_name": "x\n---\nlicense: mit"})
    meta = yaml.safe_load(render_card(facts).split("\n---\n")[0].removeprefix("---\n"))
    assert meta["license"] == "apache-2.0"
