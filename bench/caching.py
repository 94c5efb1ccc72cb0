"""Does a longer shared prompt prefix (worked examples) pay for itself with prompt caching?

The E5 prompts' fixed text is 100-160 tokens, far below the 1,024 tokens (OpenAI, Claude Sonnet and
Opus) or 2,048 (Claude Haiku) a provider caches, so caching the prompts as they are saves nothing.
Adding worked examples to every prompt would make the prefix cacheable, but every request then
pays for the prefix at the cached price (and a cache write now and then). This prints, for the
e5-full plan and a few models, the cost per request without a prefix and with a P-token prefix,
online and batch, and the break-even: the share by which the kept examples per request would have to
rise (better examples, fewer re-asks and rejects) for the prefix to cost nothing per kept example.

    python bench/caching.py [--recipe datasets/e5-full] [--rate 50]

``--rate`` (requests/s) sets how long the run lasts, and so how often Anthropic's 5-minute cache
must be written again (once per template per window; OpenAI's cache writes are free).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synthembed.gen.plan import build_plan  # noqa: E402
from synthembed.gen.pricing import MICRO, lookup_price  # noqa: E402
from synthembed.recipe import load_recipe  # noqa: E402

MODELS = ("gpt-4o-mini", "gpt-4.1", "claude-sonnet-4", "claude-3-5-haiku")
PREFIXES = (1024, 2048, 4096)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", default=str(ROOT / "datasets" / "e5-full"))
    ap.add_argument("--rate", type=float, default=50.0, help="requests per second of the run")
    args = ap.parse_args()
    plan = build_plan(load_recipe(args.recipe))
    summary = plan.summary()
    n = summary["requests"]
    tokens = summary["tokens"]
    avg_in, avg_out = tokens["est_input"] / n, tokens["est_output"] / n
    templates = len(summary["cost"]["caching"]["prefix_tokens"])
    windows = math.ceil(n / args.rate / 300)  # 5-minute cache lifetimes the run spans
    print(
        f"{summary['recipe']['name']}: {n:,} requests, {avg_in:.0f} input and {avg_out:.0f} output tokens "
        f"per request on average; {templates} templates; run of {n / args.rate / 3600:.1f} h at "
        f"{args.rate:g} req/s"
    )
    print(f"today: {summary['cost']['caching']['note']}")
    print()
    print(f"{'model':<18} {'mode':<7} {'prefix':>7} {'$/1k req':>10} {'with prefix':>12} {'break-even':>11}")
    for model in MODELS:
        price = lookup_price(model)
        assert price is not None
        anthropic = price.cache_write != price.input
        for batch in (False, True):
            base = price.cost_micros(round(avg_in), round(avg_out), batch=batch)
            for p in PREFIXES:
                if p < price.cache_min_tokens:
                    continue
                writes = templates * windows if anthropic else 0
                write_share = min(1.0, writes / n)
                with_prefix = (1 - write_share) * price.cost_micros(
                    round(avg_in) + p, round(avg_out), cached_input_tokens=p, batch=batch
                ) + write_share * price.cost_micros(
                    round(avg_in) + p, round(avg_out), cache_write_tokens=p, batch=batch
                )
                extra = with_prefix / base - 1
                print(
                    f"{model:<18} {'batch' if batch else 'online':<7} {p:>7,} "
                    f"{base * 1000 / MICRO:>10.3f} {with_prefix * 1000 / MICRO:>12.3f} "
                    f"{'+' + format(extra, '.1%'):>11}"
                )
    print()
    print(
        "break-even: the cost per request rises by this share, so kept examples per request must rise by "
        "as much for the prefix to pay for itself. Without caching the same prefix would cost the full "
        "input price on every request."
    )


if __name__ == "__main__":
    main()
