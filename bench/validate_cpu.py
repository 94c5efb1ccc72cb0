"""Release validation on the CPU: all-MiniLM-L6-v2 fine-tuned on a 2,000-example synthetic release.

The release is built here (tests/train/releases.py): all six task types, 40 topics, each with a
made-up code name; queries name topics by code and documents describe them in plain words (bitext
"translates" into a letter cipher), so the base model cannot match them and the fine-tune has
something to learn. The test split holds out whole task definitions (20% of them). Validation is
the library's ``validate_release`` with the recipe's ``validation:`` section below; the default
sizes it for a shared two-core box (16 steps of 32 examples, texts cut at 64 tokens).

Prints the before/after table (the card's validation section), the time of each phase, and with
``--repeat N`` the median wall time of N runs.

    python bench/validate_cpu.py [--examples 2000] [--steps 16] [--batch-size 32] [--max-length 64]
                                 [--threads 1] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synthembed.recipe import Validation  # noqa: E402
from synthembed.train.validate import validate_release  # noqa: E402
from tests.train.releases import synthetic_rows, write_release  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=16, help="max_steps (0: one full epoch)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (1 is fastest on a shared box)"
    )
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    cfg = Validation(
        batch_size=args.batch_size,
        mini_batch_size=args.batch_size,
        max_steps=args.steps or None,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps,
        max_length=args.max_length,
    )
    print(f"validation settings: {cfg.model_dump(exclude={'benchmarks'})}")
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} cpu(s) visible")

    walls, result = [], None
    for run in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="synthembed-bench-") as tmp:
            release = write_release(Path(tmp) / "release", synthetic_rows(args.examples, seed=0))
            start = time.perf_counter()
            result = validate_release(release, recipe_validation=cfg, device="cpu")
            walls.append(time.perf_counter() - start)
        print(f"run {run + 1}: {walls[-1]:.1f} s  phases {result.seconds}")

    assert result is not None
    train = result.training
    print(f"\ntrain examples by type: {train['examples_by_type']}")
    print(
        f"steps {train['steps']} of batch {cfg.batch_size}; loss {train['first_loss']:.3f} -> {train['last_loss']:.3f}"
    )
    print(f"\n{result.to_markdown()}")
    print(f"wall time: median {statistics.median(walls):.1f} s over {len(walls)} run(s)")


if __name__ == "__main__":
    main()
