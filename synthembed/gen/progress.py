"""The progress display of a generate run, and ``synthembed status`` for a run that is not running."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from synthembed.gen.pricing import MICRO
from synthembed.gen.runner import RunStats
from synthembed.gen.store import RunStore


def _money(micros: int | None) -> str:
    return "-" if micros is None else f"${micros / MICRO:,.4f}"


def _eta(stats: RunStats) -> str:
    remaining = sum(st.total - st.done for st in stats.steps.values())
    rate = stats.rate_per_s(30.0)
    if remaining <= 0:
        return "done"
    if rate <= 0:
        return "-"
    seconds = remaining / rate
    return (
        time.strftime("%H:%M:%S", time.gmtime(seconds)) if seconds < 86400 else f"{seconds / 86400:.1f} days"
    )


def render_stats(stats: RunStats) -> Group:
    """A rich renderable: one row per step, then spend, tokens, rate and ETA."""
    table = Table(title=f"synthembed generate — {stats.phase}", title_justify="left", expand=False)
    for col in ("step", "done", "of", "ok", "rejected", "failed"):
        table.add_column(col, justify="left" if col == "step" else "right")
    for name, st in stats.steps.items():
        if st.total:
            table.add_row(
                name, f"{st.done:,}", f"{st.total:,}", f"{st.ok:,}", f"{st.rejected:,}", f"{st.failed:,}"
            )
    cap = f" of {_money(stats.cap_micros)}" if stats.cap_micros is not None else ""
    cap_t = f" of {stats.cap_tokens:,}" if stats.cap_tokens is not None else ""
    info = Table.grid(padding=(0, 2))
    info.add_row(
        f"spent {_money(stats.spent_micros)}{cap}",
        f"tokens {stats.spent_tokens:,}{cap_t} ({stats.input_tokens:,} in / {stats.output_tokens:,} out)",
    )
    info.add_row(
        f"rate {stats.rate_per_s() * 60:,.0f}/min  in flight {stats.in_flight} (limit {stats.concurrency:.0f})",
        f"429s {stats.rate_limited:,}  retries {stats.retries:,}  re-asks {stats.reasks:,}  ETA {_eta(stats)}",
    )
    return Group(table, info)


class LiveProgress:
    """A rich Live display fed by the runner's ``on_update`` callback (quiet when not a terminal)."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled and console.is_terminal
        self._live: Live | None = None

    def __enter__(self) -> LiveProgress:
        if self.enabled:
            self._live = Live(console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __call__(self, stats: RunStats) -> None:
        if self._live is not None:
            self._live.update(render_stats(stats))

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)


def stats_from_store(run_dir: str | Path) -> RunStats:
    """Rebuild the display's counters from a run's store (for ``synthembed status``)."""
    with RunStore.open(run_dir, create=False) as store:
        plan = store.get_meta("plan", {}) or {}
        stats = RunStats()
        stats.phase = "not running"
        for step in ("brainstorm", "generate"):
            stats.steps[step].total = int(plan.get(step, 0))
        for step, by_type in store.counts().items():
            st = stats.steps.setdefault(step, stats.steps["generate"])
            for counts in by_type.values():
                for status, n in counts.items():
                    setattr(st, status, getattr(st, status) + n)
                    if status != "failed":
                        st.done += n
        spend = store.spend()
        stats.spent_micros, stats.spent_tokens = spend.micros, spend.tokens
        stats.input_tokens, stats.output_tokens = spend.input_tokens, spend.output_tokens
        cap = plan.get("cap_dollars")
        stats.cap_micros = None if cap is None else int(cap * MICRO)
        stats.cap_tokens = plan.get("cap_tokens")
        stats.rate_limited = int(
            store.conn.execute("SELECT COUNT(*) FROM attempts WHERE error LIKE '%rate limited%'").fetchone()[
                0
            ]
        )
        return stats


def print_status(run_dir: str | Path, console: Console) -> dict[str, Any]:
    """Print a run's state from its store; returns the same as a dict."""
    stats = stats_from_store(run_dir)
    console.print(render_stats(stats))
    with RunStore.open(run_dir, create=False) as store:
        reasons = store.reasons()
        batches = store.batches_summary()
    if batches:
        open_n = batches.get("submitted", 0) + batches.get("preparing", 0)
        console.print(
            f"Batches: {open_n} open at the provider, {batches.get('collected', 0)} collected"
            + (f", {batches['lost']} never created or lost" if batches.get("lost") else "")
            + (" (run `synthembed generate` again to collect the open ones)" if open_n else "")
        )
    if reasons:
        console.print(
            "Not kept: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
        )
    return {
        "steps": {k: vars(v) for k, v in stats.steps.items()},
        "spent_dollars": stats.spent_micros / MICRO,
        "spent_tokens": stats.spent_tokens,
        "reasons": reasons,
        "batches": batches,
    }
