"""The ``synthembed`` command: one thin Typer app; each verb calls one library function."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from synthembed import __version__
from synthembed.errors import SynthembedError

app = typer.Typer(
    name="synthembed",
    help="Generate, clean, release and validate synthetic text-embedding training data with LLMs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)

RecipeArg = Annotated[Path, typer.Argument(help="recipe file, or the dataset folder that holds recipe.yaml")]


def _version(value: bool) -> None:
    if value:
        console.print(f"synthembed {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """synthembed: the E5-mistral synthetic-data recipe, with budgets, releases and validation."""


@app.command()
def plan(
    recipe: RecipeArg,
    as_json: Annotated[bool, typer.Option("--json", help="print the plan as JSON")] = False,
) -> None:
    """Show what a recipe would ask for and what it would cost, without sending anything.

    Examples:

        synthembed plan datasets/e5-full/recipe.yaml

        synthembed plan datasets/quickstart --json
    """
    from synthembed.gen.plan import build_plan
    from synthembed.gen.report import print_plan
    from synthembed.recipe import load_recipe

    summary = build_plan(load_recipe(recipe)).summary()
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        print_plan(summary, console)


RunDirOpt = Annotated[
    Path | None, typer.Option("--run-dir", help="run folder (default: datasets/<name>/runs/<version>)")
]


@app.command()
def generate(
    recipe: RecipeArg,
    run_dir: RunDirOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no live display")] = False,
    allow_changed_recipe: Annotated[
        bool, typer.Option("--allow-changed-recipe", help="continue a run started from a different recipe")
    ] = False,
) -> None:
    """Send the recipe's requests (brainstorm, then examples) within its rate limits and budget.

    Run the same command again after Ctrl-C, a crash or a budget stop to continue: finished
    requests are never sent (or paid for) twice. Raise the budget in the recipe to go past a cap.

    Examples:

        synthembed generate datasets/quickstart

        synthembed generate datasets/e5-full/recipe.yaml --run-dir /data/runs/e5-a
    """
    from synthembed.gen.progress import LiveProgress, render_stats
    from synthembed.gen.runner import generate as run_generate

    with LiveProgress(console, enabled=not quiet) as live:
        result = run_generate(recipe, run_dir, on_update=live, allow_changed_recipe=allow_changed_recipe)
    if not live.enabled and not quiet:
        console.print(render_stats(result.stats))
    style = {"complete": "green", "budget": "yellow", "interrupted": "yellow"}.get(result.status, "red")
    console.print(f"[{style}]{result.status}[/]: {result.message}. Run folder: {result.run_dir}")
    if result.status != "complete":
        raise typer.Exit(code={"budget": 4, "interrupted": 130, "failed": 3}.get(result.status, 1))


@app.command()
def status(
    run: Annotated[Path, typer.Argument(help="a run folder (datasets/<name>/runs/<version>)")],
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """Show a run's progress and spend from its store, while it runs or after.

    Example:

        synthembed status datasets/quickstart/runs/0.1.0
    """
    from synthembed.gen.progress import print_status

    data = print_status(run, Console(file=sys.stderr) if as_json else console)
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")


RunArg = Annotated[Path, typer.Argument(help="a run folder (datasets/<name>/runs/<version>)")]


@app.command(name="filter")
def filter_(run: RunArg) -> None:
    """Check a run's examples (schema, language, duplicates, contamination); keep the clean ones.

    Writes <run>/filtered/: kept.parquet, rejected.parquet (with reasons), the task pools, the
    MinHash index and quality.json. Nothing is deleted: every drop has a reason.

    Example:

        synthembed filter datasets/quickstart/runs/0.1.0
    """
    from synthembed.quality.report import print_report
    from synthembed.stages import filter_run

    print_report(filter_run(run), console)


@app.command()
def release(
    run: RunArg,
    version: Annotated[str | None, typer.Option(help="release version (default: the recipe's)")] = None,
) -> None:
    """Build a versioned release folder with its dataset card from a filtered run.

    Writes datasets/<name>/releases/<version>/ (parquet per config, train/test splits, README.md
    card, charts, manifest.json, MinHash index). An existing version is never overwritten.

    Example:

        synthembed release datasets/quickstart/runs/0.1.0
    """
    from synthembed.stages import release_run

    path = release_run(run, version)
    console.print(f"Release written to {path}")


@app.command(name="show")
def show_(
    path: Annotated[Path, typer.Argument(help="a release folder or a run folder")],
    task_type: Annotated[str | None, typer.Option("--task-type", "-t", help="only this task type")] = None,
    language: Annotated[str | None, typer.Option("--language", "-l", help="only this language code")] = None,
    rejected: Annotated[bool, typer.Option("--rejected", help="show what was dropped, with reasons")] = False,
    reason: Annotated[str | None, typer.Option(help="only rejects whose reason contains this")] = None,
    per_group: Annotated[int, typer.Option("-n", help="examples per task type and language")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Print a few examples per task type and language, to look at the data before trusting it.

    Examples:

        synthembed show datasets/quickstart/releases/0.1.0 -t retrieval

        synthembed show datasets/quickstart/runs/0.1.0 --rejected --reason wrong_language
    """
    from synthembed.show import show

    show(
        path,
        console,
        as_json=as_json,
        task_type=task_type,
        language=language,
        rejected=rejected or bool(reason),
        reason=reason,
        per_group=per_group,
    )


@app.command()
def run(
    recipe: RecipeArg,
    push: Annotated[
        str | None, typer.Option("--push", help="publish to this Hub dataset repo (org/name)")
    ] = None,
    private: Annotated[bool, typer.Option("--private", help="create the Hub repo as private")] = False,
    release_partial: Annotated[
        bool, typer.Option("--release-partial", help="after a budget stop, release what was kept so far")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no live display")] = False,
) -> None:
    """Recipe to validated release in one command: plan, generate, filter, release, validate (, publish).

    Each stage is skipped when its output is complete and up to date, so running the same command
    again after any interruption continues where it stopped.

    Examples:

        synthembed run datasets/quickstart

        synthembed run datasets/e5-full --push my-org/e5-synthetic
    """
    from synthembed.gen.progress import LiveProgress
    from synthembed.stages import run_all

    with LiveProgress(console, enabled=not quiet) as live:
        done = run_all(
            recipe,
            push=push,
            private=private,
            release_partial=release_partial,
            on_update=live,
            say=lambda line: console.print(line, highlight=False),
        )
    console.print(f"[green]done[/]: {done.get('release')}")


@app.command()
def validate(
    release_dir: Annotated[
        Path, typer.Argument(help="a release folder (datasets/<name>/releases/<version>)")
    ],
    previous: Annotated[
        Path | None, typer.Option(help="validation.json of the release to compare with (default: the latest)")
    ] = None,
) -> None:
    """Fine-tune an embedding model on a release, evaluate before and after, and gate the release.

    Writes <release>/validation.json and the card's validation section. Exits with 5 when the
    release fails the gate (the tuned model must beat the base model and not fall behind the
    previous release by more than validation.tolerance).

    Examples:

        synthembed validate datasets/quickstart/releases/0.1.0
    """
    from synthembed.stages import validate_release_dir

    outcome = validate_release_dir(release_dir, previous)
    console.print(outcome.to_markdown(), highlight=False)
    if not outcome.passed:
        console.print("[red]The release did not pass validation.[/]")
        raise typer.Exit(code=5)
    console.print("[green]The release passed validation.[/]")


@app.command()
def publish(
    release_dir: Annotated[
        Path, typer.Argument(help="a release folder (datasets/<name>/releases/<version>)")
    ],
    repo: Annotated[str, typer.Option("--repo", help="the Hub dataset repo, org/name")],
    private: Annotated[bool, typer.Option("--private", help="create the repo as private")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would be sent; send nothing")] = False,
    force: Annotated[bool, typer.Option("--force", help="publish even if validation failed")] = False,
) -> None:
    """Publish a release to the Hugging Face Hub as one commit plus the tag vX.Y.Z.

    The token comes from HF_TOKEN or your `hf auth login`; it is never printed or stored. Running
    it again after a failure finishes the job without a second commit.

    Examples:

        synthembed publish datasets/quickstart/releases/0.1.0 --repo my-org/quickstart --dry-run

        synthembed publish datasets/quickstart/releases/0.1.0 --repo my-org/quickstart --private
    """
    from synthembed.hub.publish import publish_release

    result = publish_release(release_dir, repo, private=private, dry_run=dry_run, force=force)
    for line in result.summary():
        console.print(line, highlight=False)


def main() -> None:
    """Entry point: known errors become one clear message and a non-zero exit."""
    try:
        code = app(standalone_mode=False)  # without standalone mode, click returns typer.Exit codes
        if isinstance(code, int) and code:
            sys.exit(code)
    except SynthembedError as exc:
        err_console.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("Aborted.")
        sys.exit(1)
    except Exception as exc:  # click usage errors carry their own exit code and message
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
