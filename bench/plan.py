"""Planning speed and memory at the paper's scale.

Builds the plan of datasets/e5-full/recipe.yaml (about 515k requests) and then materialises every
request spec (ids included), as the runner does, printing the median of a few runs and peak RSS.

    python bench/plan.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

from synthembed.gen.plan import build_plan
from synthembed.recipe import load_recipe

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--recipe", default=str(ROOT / "datasets" / "e5-full" / "recipe.yaml"))
    args = parser.parse_args()
    recipe = load_recipe(args.recipe)
    build_s, specs_s = [], []
    n = 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        plan = build_plan(recipe)
        summary = plan.summary()
        t1 = time.perf_counter()
        n = sum(1 for _ in plan.specs())
        t2 = time.perf_counter()
        build_s.append(t1 - t0)
        specs_s.append(t2 - t1)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"recipe: {recipe.name}  requests: {n:,}  examples: {summary['examples']:,}")
    print(f"build plan + summary: median {statistics.median(build_s):.2f} s over {args.repeat} runs")
    print(f"materialise all specs (ids): median {statistics.median(specs_s):.2f} s")
    print(f"total: median {statistics.median(b + s for b, s in zip(build_s, specs_s, strict=True)):.2f} s")
    print(f"peak RSS: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
