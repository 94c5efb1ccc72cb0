"""Recipes: the shipped ones load; every kind of mistake is one clear error naming file and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from synthembed.cli import main
from synthembed.errors import RecipeError
from synthembed.recipe import load_recipe

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
name: demo
version: 1.0.0
seed: 1
provider:
  kind: openai
  model: gpt-4o-mini
budget:
  dollars: 2
examples:
  retrieval: 10
  sts: 5
"""


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    old = sys.argv
    sys.argv = ["synthembed", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


def test_shipped_recipes_load():
    quick = load_recipe(ROOT / "datasets" / "quickstart" / "recipe.yaml")
    assert quick.provider.kind == "local"
    assert set(quick.languages.weights or {}) == {"en", "de", "fr", "es"}
    full = load_recipe(ROOT / "datasets" / "e5-full")  # a folder works too
    assert sum(full.examples.counts().values()) >= 500_000
    assert full.languages.scheme == "e5" and full.budget.dollars


BAD = [
    # (name, edit of GOOD, field named, words the message must hold)
    ("unknown top-level key", GOOD + "budjet: {dollars: 3}\n", "budjet", "did you mean 'budget'"),
    (
        "unknown provider kind",
        GOOD.replace("kind: openai", "kind: opnai"),
        "provider.kind",
        "openai, anthropic",
    ),
    (
        "typo in provider field",
        GOOD.replace("model: gpt-4o-mini", "modle: gpt-4o-mini"),
        "provider.modle",
        "allowed fields",
    ),
    (
        "negative count",
        GOOD.replace("retrieval: 10", "retrieval: -3"),
        "examples.retrieval",
        "greater than or equal to 0",
    ),
    ("unknown task type", GOOD.replace("sts: 5", "ranking: 5"), "examples.ranking", "allowed fields"),
    (
        "no examples at all",
        GOOD.replace("retrieval: 10", "retrieval: 0").replace("sts: 5", "sts: 0"),
        "examples",
        "at least one",
    ),
    ("version not semver", GOOD.replace("version: 1.0.0", "version: v1"), "version", "semantic version"),
    ("bad dataset name", GOOD.replace("name: demo", "name: My Dataset!"), "name", "lowercase"),
    ("zero budget", GOOD.replace("dollars: 2", "dollars: 0"), "budget.dollars", "greater than 0"),
    (
        "bad language scheme",
        GOOD + "languages: {scheme: xlmr}\n",
        "languages.scheme",
        "'e5', 'cc100' or 'explicit'",
    ),
    (
        "unknown language code",
        GOOD + "languages: {scheme: explicit, weights: {en: 1, xx: 1}}\n",
        "languages.weights",
        "unknown language code 'xx'",
    ),
    ("explicit without weights", GOOD + "languages: {scheme: explicit}\n", "languages", "needs 'weights'"),
    (
        "temperature out of range",
        GOOD.replace("model: gpt-4o-mini", "model: gpt-4o-mini\n  temperature: 3"),
        "provider.temperature",
        "less than or equal to 2",
    ),
    ("missing model", GOOD.replace("  model: gpt-4o-mini\n", ""), "provider.model", "required"),
    ("wrong type", GOOD.replace("seed: 1", "seed: many"), "seed", "valid integer"),
    (
        "unknown template",
        GOOD + "generation: {templates: {retrieval: [fancy]}}\n",
        "generation.templates",
        "allowed: default",
    ),
    (
        "compatible without base_url",
        GOOD.replace("kind: openai", "kind: openai-compatible"),
        "provider.base_url",
        "required",
    ),
    ("not a mapping", "- just\n- a list\n", "", "YAML mapping"),
    ("broken YAML", GOOD + "examples: [\n", "", "line"),
]


@pytest.mark.parametrize(("name", "text", "field", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_recipe_is_one_clear_error(tmp_path, capsys, name, text, field, words):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    message = str(info.value)
    assert str(path) in message
    assert field in message
    assert words in message
    code, _out, err = run_cli(["plan", str(path)], capsys)
    assert code == 2
    assert "Error:" in err and str(path) in err.replace("\n", "")
    assert "Traceback" not in err


def test_unpriced_model_asks_for_a_price(tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    path.write_text(GOOD.replace("gpt-4o-mini", "gpt-9-ultra"))
    code, _, err = run_cli(["plan", str(path)], capsys)
    assert code == 2 and "provider.price" in err


def test_missing_file(capsys, tmp_path):
    code, _, err = run_cli(["plan", str(tmp_path / "nope.yaml")], capsys)
    assert code == 2 and "no such recipe file" in err


def test_plan_cli_json_and_table(tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    path.write_text(GOOD)
    code, out, _ = run_cli(["plan", str(path), "--json"], capsys)
    assert code == 0
    import json

    data = json.loads(out)
    assert data["examples"] == 15 and data["budget"]["covers_estimate_dollars"] is True
    code, out, _ = run_cli(["plan", str(path)], capsys)
    assert code == 0 and "retrieval" in out and "Budget" in out


def test_console_script_runs_offline():
    proc = subprocess.run(
        [sys.executable, "-m", "synthembed.cli", "plan", str(ROOT / "datasets" / "e5-full"), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"examples": 507000' in proc.stdout
