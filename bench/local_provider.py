"""The embedded local provider: load time, tokens/s by batch size, and the share of answers that parse.

Requests use the real prompt templates with placeholder values drawn from the taxonomy, mixed over
the six task types, plus brainstorm requests. Each decoding method answers the same requests with the
same seed. "parses" means valid JSON with exactly the requested keys and non-empty string values (a
non-empty list of non-empty strings for brainstorm); "usable" also needs finish_reason "stop", as
the runner drops answers that end with "length". tok/s counts output tokens over wall time, prompt
prefill included; each method starts with a cold prefix cache. The decoding thread's own split of
the time (prefill, decode steps, waiting for requests) and its mean rows per forward pass follow
each line. The machine's load average is printed first: on shared cores, compare figures taken
together. "json" counts answers that are valid JSON of the requested kind: a skeleton object cut
off at a value with no sentence end ends early, with the keys written so far, so it is JSON but
does not parse as an example (the runner drops it as truncated either way).

``--kernels`` times instead the two ways to write the projections for a few tokens, ``x @ w.T``
and ``(w @ x.T).T``, over all of the model's matrices, by number of tokens.

    HF_HUB_OFFLINE=1 python bench/local_provider.py [--generate 48] [--brainstorm 8] [--threads 2]
    HF_HUB_OFFLINE=1 python bench/local_provider.py --kernels
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import statistics
import time
from dataclasses import dataclass

from synthembed.gen.prompts import templates_for
from synthembed.gen.providers.base import ChatRequest, ChatResponse
from synthembed.gen.providers.local import DecodeStats, LocalConfig, LocalProvider
from synthembed.gen.taxonomy import TASK_TYPE_NAMES, TASK_TYPES

LANGUAGES = ("English", "English", "German", "French", "Spanish")
TASKS = {
    "retrieval": "Given a question about home gardening, retrieve forum posts that answer it.",
    "classification": "Classify a customer review of a kitchen appliance as positive, neutral or negative.",
    "short_short": "Given a news headline, find the section of the newspaper it belongs to.",
    "long_long": "Given a scientific abstract, find another abstract on the same research question.",
}


def generate_request(i: int, rng: random.Random, max_tokens: int, temperature: float) -> ChatRequest:
    task_type = TASK_TYPES[TASK_TYPE_NAMES[i % len(TASK_TYPE_NAMES)]]
    template = templates_for(task_type.name, "generate")[0]
    values = {name: rng.choice(options) for name, options in task_type.placeholders.items()}
    values |= {"task": TASKS.get(task_type.name, ""), "language": rng.choice(LANGUAGES)}
    values |= {"src_lang": "English", "tgt_lang": rng.choice(LANGUAGES[2:])}
    return ChatRequest(
        id=f"gen-{i}",
        messages=({"role": "user", "content": template.render(values)},),
        max_tokens=max_tokens,
        temperature=temperature,
        response_kind="object",
        json_keys=task_type.fields,
    )


def brainstorm_request(i: int, max_tokens: int, temperature: float, num_tasks: int) -> ChatRequest:
    task_type = ("retrieval", "classification", "short_short", "long_long")[i % 4]
    template = templates_for(task_type, "brainstorm")[0]
    return ChatRequest(
        id=f"brainstorm-{i}",
        messages=({"role": "user", "content": template.render({"num_tasks": str(num_tasks)})},),
        max_tokens=max_tokens,
        temperature=temperature,
        response_kind="list",
    )


def is_json(request: ChatRequest, response: ChatResponse) -> bool:
    try:
        data = json.loads(response.text)
    except ValueError:
        return False
    return isinstance(data, list if request.response_kind == "list" else dict)


def parses(request: ChatRequest, response: ChatResponse) -> bool:
    try:
        data = json.loads(response.text)
    except ValueError:
        return False
    if request.response_kind == "list":
        return isinstance(data, list) and bool(data) and all(isinstance(s, str) and s.strip() for s in data)
    return (
        isinstance(data, dict)
        and list(data) == list(request.json_keys)
        and all(isinstance(v, str) and v.strip() for v in data.values())
    )


@dataclass
class Outcome:
    n: int
    valid: int
    parsed: int
    usable: int
    tokens: int
    seconds: float


async def answer_all(provider: LocalProvider, requests: list[ChatRequest], concurrency: int) -> Outcome:
    gate = asyncio.Semaphore(concurrency)

    async def one(request: ChatRequest) -> ChatResponse:
        async with gate:
            return await provider.complete(request)

    start = time.perf_counter()
    responses = await asyncio.gather(*(one(r) for r in requests))
    seconds = time.perf_counter() - start
    ok = [parses(q, a) for q, a in zip(requests, responses, strict=True)]
    return Outcome(
        n=len(requests),
        valid=sum(is_json(q, a) for q, a in zip(requests, responses, strict=True)),
        parsed=sum(ok),
        usable=sum(o and a.finish_reason == "stop" for o, a in zip(ok, responses, strict=True)),
        tokens=sum(a.output_tokens for a in responses),
        seconds=seconds,
    )


async def throughput(batch: int, args: argparse.Namespace, method: str) -> tuple[float, str]:
    """Median output tokens/s of ``rounds`` rounds of ``batch`` concurrent generate requests (a
    provider with ``batch`` slots, its prefix cache warmed first), and its decoding thread's split."""
    provider = LocalProvider(
        LocalConfig(decoding=method, batch_size=batch, torch_threads=args.threads, seed=args.seed)
    )
    # One request per template first, so every prompt prefix is cached: steady state.
    warm = [generate_request(i, random.Random(i), 48, 1.0) for i in range(len(TASK_TYPE_NAMES))]
    await answer_all(provider, warm, batch)
    before = dataclasses.replace(provider.stats)
    rng = random.Random(batch)
    rates = []
    for r in range(args.rounds):
        n = batch * args.requests_per_slot
        requests = [generate_request(r * n + i, rng, args.tput_tokens, 1.0) for i in range(n)]
        outcome = await answer_all(provider, requests, batch)
        rates.append(outcome.tokens / outcome.seconds)
    split = split_text(provider.stats, before)
    await provider.aclose()
    return statistics.median(rates), split


def split_text(stats: DecodeStats, before: DecodeStats | None = None) -> str:
    b = before or DecodeStats()
    steps, rows = stats.steps - b.steps, stats.row_steps - b.row_steps
    return (
        f"{steps} passes {stats.forward_s - b.forward_s:.1f} s, {rows / steps if steps else 0:.1f} rows/pass, "
        f"prompt {stats.prefill_tokens - b.prefill_tokens} tok (prefixes {stats.prefix_s - b.prefix_s:.1f} s), "
        f"sampling {stats.sample_s - b.sample_s:.1f} s, wait {stats.wait_s - b.wait_s:.1f} s"
    )


def row(label: str, o: Outcome) -> str:
    return (
        f"{label:<34} {o.n:>4} {100 * o.valid / o.n:>7.1f}% {100 * o.parsed / o.n:>7.1f}% "
        f"{100 * o.usable / o.n:>7.1f}% "
        f"{o.tokens / o.n:>8.0f} {o.tokens / o.seconds:>8.1f}"
    )


async def run(args: argparse.Namespace) -> None:
    methods = args.methods.split(",")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    first = LocalProvider(LocalConfig(decoding=methods[0], torch_threads=args.threads, seed=args.seed))
    load_s = await first.load()
    source = first._weights.source if first._weights else "?"
    print(f"load: {load_s:.1f} s (from {source}), torch threads {args.threads or 'default'}")
    await first.aclose()
    if args.rounds:
        print(f"\ntokens/s, decoding={methods[0]}, generate prompts, max_tokens {args.tput_tokens}, median")
        print(f"of {args.rounds} rounds of {args.requests_per_slot} requests per slot, prefix cache warm")
        for batch in [int(b) for b in args.batches.split(",")]:
            rate, split = await throughput(batch, args, methods[0])
            print(f"  batch {batch:>2}: {rate:6.1f} tokens/s   ({split})", flush=True)

    header = f"{'method / requests':<34} {'n':>4} {'json':>8} {'parses':>8} {'usable':>8} {'tok/ans':>8} {'tok/s':>8}"
    print(f"\nbatch {args.batch}, seed {args.seed}; usable = parses and finish_reason 'stop'")
    print(header)
    print("-" * len(header))
    for method in methods:
        for temperature in [float(t) for t in args.temperatures.split(",")]:
            provider = LocalProvider(
                LocalConfig(
                    decoding=method, batch_size=args.batch, torch_threads=args.threads, seed=args.seed
                )
            )
            rng = random.Random(args.seed)
            gen = [generate_request(i, rng, args.max_tokens, temperature) for i in range(args.generate)]
            brain = [
                brainstorm_request(i, args.brainstorm_tokens, temperature, args.num_tasks)
                for i in range(args.brainstorm)
            ]
            label = f"{method} T={temperature:g}"
            if gen:
                print(row(f"{label} generate", await answer_all(provider, gen, args.batch)), flush=True)
            if brain:
                print(row(f"{label} brainstorm", await answer_all(provider, brain, args.batch)), flush=True)
            print(f"{'':<34} {split_text(provider.stats)}", flush=True)
            await provider.aclose()


def kernels(args: argparse.Namespace) -> None:
    """Milliseconds for every projection of the model (and the logits) at a few token counts, both ways."""
    from synthembed.gen.providers.local_model import load_weights

    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    model = load_weights(str(LocalProvider().model_file)).model  # imports torch as the provider does
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    weights = [w for layer in model.layers for w in (layer[1], layer[2], layer[4], layer[5])]
    print(f"all {len(weights)} projections then the logits, torch threads {torch.get_num_threads()}; ms")
    print(f"{'tokens':>6} {'x @ w.T':>9} {'(w @ x.T).T':>12} {'logits x @ e.T':>15} {'(e @ x.T).T':>12}")
    with torch.inference_mode():
        for tokens in (1, 2, 4, 8, 16, 32, 64):
            x = {n: torch.randn(tokens, n) for n in {w.shape[1] for w in weights}}
            ways = {
                "plain": lambda x=x: [x[w.shape[1]] @ w.T for w in weights],
                "swapped": lambda x=x: [(w @ x[w.shape[1]].T).T.contiguous() for w in weights],
                "logits plain": lambda x=x: x[model.shape.hidden] @ model.embed.T,
                "logits swapped": lambda x=x: (model.embed @ x[model.shape.hidden].T).T.contiguous(),
            }
            ms = {}
            for name, way in ways.items():
                way()
                began = time.perf_counter()
                for _ in range(3):
                    way()
                ms[name] = (time.perf_counter() - began) / 3 * 1000
            print(
                f"{tokens:>6} {ms['plain']:>9.1f} {ms['swapped']:>12.1f} {ms['logits plain']:>15.1f} "
                f"{ms['logits swapped']:>12.1f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--generate", type=int, default=48, help="generate requests per method")
    parser.add_argument("--brainstorm", type=int, default=8, help="brainstorm requests per method")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--brainstorm-tokens", type=int, default=320)
    parser.add_argument("--num-tasks", type=int, default=8, help="tasks asked for per brainstorm")
    parser.add_argument("--methods", default="skeleton,prefill")
    parser.add_argument("--temperatures", default="1.0")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="rounds per batch size for tokens/s (0: skip)")
    parser.add_argument("--batches", default="1,4,8,16", help="batch sizes for tokens/s")
    parser.add_argument("--requests-per-slot", type=int, default=1, help="requests per round, per slot")
    parser.add_argument("--tput-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernels", action="store_true", help="time the projections' two forms instead")
    args = parser.parse_args()
    if args.kernels:
        kernels(args)
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
