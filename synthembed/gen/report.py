"""Readable terminal output for plans (rich tables)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def _yes(flag: bool | None) -> str:
    return "-" if flag is None else ("[green]yes[/]" if flag else "[red]no[/]")


def print_plan(summary: dict[str, Any], console: Console) -> None:
    """Print a plan summary (from :meth:`synthembed.gen.plan.Plan.summary`)."""
    r, p = summary["recipe"], summary["provider"]
    console.print(
        f"[bold]{r['name']}[/] {r['version']}  seed {r['seed']}  provider {p['kind']}/{p['model']}  "
        f"recipe hash {r['content_hash']}"
    )
    t = Table(title="Requests", title_justify="left")
    for col in ("task type", "step", "requests", "est. input tok", "est. output tok", "max tokens"):
        t.add_column(col, justify="left" if col in ("task type", "step") else "right")
    for g in summary["groups"]:
        t.add_row(
            g["task_type"],
            g["step"],
            f"{g['requests']:,}",
            f"{g['est_input_tokens']:,}",
            f"{g['est_output_tokens']:,}",
            f"{g['max_tokens']:,}",
        )
    tok = summary["tokens"]
    t.add_row(
        "[bold]total[/]",
        "",
        f"[bold]{summary['requests']:,}[/]",
        f"{tok['est_input']:,}",
        f"{tok['est_output']:,}",
        "",
    )
    console.print(t)

    langs = summary["languages"]
    lt = Table(title=f"Languages ({langs['count']}, scheme {langs['scheme']})", title_justify="left")
    lt.add_column("language")
    lt.add_column("requests", justify="right")
    lt.add_column("share", justify="right")
    for row in langs["top"]:
        lt.add_row(row["code"], f"{row['requests']:,}", f"{row['share']:.1%}")
    tail = langs["tail"]
    if tail["languages"]:
        lt.add_row(f"{tail['languages']} others", f"{tail['requests']:,}", f"{tail['share']:.1%}")
    console.print(lt)

    cost, budget = summary["cost"], summary["budget"]
    price = cost["price"]
    console.print(
        f"Tokens: about {tok['est_input'] + tok['est_output']:,} expected "
        f"({tok['est_input']:,} in, {tok['est_output']:,} out; counted with {tok['counting']['method']}); "
        f"worst case {tok['est_input'] + tok['worst_case_output']:,} if every answer hits max tokens."
    )
    if price is not None:
        ct = Table(title="Cost by mode", title_justify="left")
        for col in ("mode", "expected", "expected with caching", "worst case"):
            ct.add_column(col, justify="left" if col == "mode" else "right")
        for m in cost["modes"]:
            name = m["mode"] + (" (this recipe)" if m["chosen"] else "")
            ct.add_row(
                f"[bold]{name}[/]" if m["chosen"] else name,
                _money(m["estimate_dollars"]),
                _money(m["estimate_with_caching_dollars"]),
                _money(m["worst_case_dollars"]),
            )
        console.print(ct)
        console.print(
            f"Cost: about {_money(cost['estimate_dollars'])} expected, {_money(cost['worst_case_dollars'])} "
            f"worst case in {cost['mode']} mode, at ${price['input_per_mtok']}/M in and "
            f"${price['output_per_mtok']}/M out; batch x{price['batch_discount']} ({price['source']})."
        )
        console.print(f"Prompt caching: {cost['caching']['note']}.")
    else:
        console.print("Cost: no price known for this model; a dollar budget cannot be enforced.")
    if budget["uncapped"]:
        console.print("[yellow]Budget: none set. Add `budget: {dollars: ...}` to cap spend.[/]")
    else:
        parts = []
        if budget.get("dollars") is not None:
            parts.append(
                f"cap {_money(budget['dollars'])}: covers the estimate "
                f"{_yes(budget.get('covers_estimate_dollars'))}, the worst case "
                f"{_yes(budget.get('covers_worst_case_dollars'))}"
            )
        if budget.get("tokens") is not None:
            parts.append(
                f"cap {budget['tokens']:,} tokens: covers the estimate "
                f"{_yes(budget.get('covers_estimate_tokens'))}, the worst case "
                f"{_yes(budget.get('covers_worst_case_tokens'))}"
            )
        console.print("Budget: " + "; ".join(parts) + ". The run stops before it could pass the cap.")
