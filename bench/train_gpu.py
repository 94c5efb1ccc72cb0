"""Training throughput of the paper's recipe on a Mistral-7B-shaped decoder with random weights.

Nothing is downloaded: a ``MistralModel`` with Mistral-7B's shape (32 layers, hidden 4096, 32 query
and 8 key/value heads, MLP 14336, vocabulary 32000) is initialised at random on the device and saved
with a word-level tokenizer to a work folder. It is then read back through the validation code path
(``synthembed.train.model.load_model``: EOS appended, last-token pooling, bf16 weights), gets the
LoRA adapter (``attach_lora``: rank 16, alpha 32, q/k/v/o/gate/up/down) and trains with
``fine_tune`` (SentenceTransformerTrainer, cached InfoNCE at scale 50, bf16 autocast, activation
checkpointing) on (query, positive, negative) triples of exactly ``--seq-len`` tokens (EOS included).

For each ``BATCHxMINI`` shape (examples per step x examples per GradCache mini-batch) it prints the
median step time after a warm-up step, tokens/s (3 texts per example), model FLOPs utilisation and
peak memory. Model FLOPs per token, base frozen: forward 2N + 4·L·s·d (N = non-embedding parameters,
L layers, s sequence length, d hidden size; attention counted unmasked), backward to the activations
2N + 8·L·s·d (no weight gradients but LoRA's, which are negligible). The work the hardware also does
(GradCache's first no-grad pass and the checkpointing recomputation, two more forwards) is left out
of MFU and counted in HFU. Peak bf16 dense TFLOP/s: H100/H200 989, A100 312 (or --peak-tflops).

    python bench/train_gpu.py [--shapes 8x8,32x8,32x16] [--steps 3] [--workdir DIR]   # on a GPU
    python bench/train_gpu.py --tiny                                                   # CPU smoke run

``--tiny`` uses a 2-layer, 64-wide model of the same family so that the whole path (random model,
save, load, LoRA, bf16, checkpointing, cached loss, trainer) runs on a CPU in a few minutes (bf16 is
emulated there, so it is slow); its figures say nothing about a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MISTRAL_7B = {
    "vocab_size": 32000,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 32768,
    "rope_theta": 1_000_000.0,
}
TINY = {
    "vocab_size": 1000,
    "hidden_size": 64,
    "intermediate_size": 224,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 1024,
}
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "GH200": 989.0, "A100": 312.0}


def build_random_model(folder: Path, shape: dict, device: str) -> None:
    """Save a MistralModel with random weights (bf16) and a word-level tokenizer to ``folder``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import MistralConfig, MistralModel, PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2} | {f"w{i}": i for i in range(3, shape["vocab_size"])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    config = MistralConfig(**shape, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = MistralModel(config)
    finally:
        torch.set_default_dtype(default)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def triples(n: int, seq_len: int, vocab_size: int, seed: int) -> dict[str, list[str]]:
    """``n`` distinct (anchor, positive, negative) texts of ``seq_len - 1`` words (+ EOS = seq_len tokens)."""
    rng = random.Random(seed)

    def text() -> str:
        return " ".join(f"w{rng.randrange(3, vocab_size)}" for _ in range(seq_len - 1))

    return {c: [text() for _ in range(n)] for c in ("anchor", "positive", "negative")}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tiny", action="store_true", help="2-layer model on the CPU: a smoke run of the path"
    )
    parser.add_argument(
        "--shapes", default=None, help="BATCHxMINI,... (default 8x8,32x8,32x16; tiny 2x1,4x2)"
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="timed steps per shape after a warm-up step (3; tiny 1)"
    )
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--workdir", default=None, help="where the random model is saved (reused if present)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's peak bf16 TFLOP/s")
    args = parser.parse_args()
    args.steps = args.steps or (1 if args.tiny else 3)
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or stack.enter_context(
            tempfile.TemporaryDirectory(prefix="synthembed-mistral-")
        )
        run(args, Path(workdir))


def run(args: argparse.Namespace, workdir: Path) -> None:
    """Build (or reuse) the random model in ``workdir``, load it the validation way, time each shape."""
    import torch
    from datasets import Dataset, DatasetDict
    from transformers import TrainerCallback

    from synthembed.recipe import Validation
    from synthembed.train.model import attach_lora, fine_tune, load_model

    device = "cpu" if args.tiny else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("no GPU visible: run with --tiny for the CPU smoke run")
    shape = TINY if args.tiny else MISTRAL_7B
    spec = args.shapes or ("2x1,4x2" if args.tiny else "8x8,32x8,32x16")
    shapes = [tuple(int(x) for x in item.split("x")) for item in spec.split(",")]
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in name), None)

    t = time.perf_counter()
    if not (workdir / "config.json").exists():
        build_random_model(workdir, shape, device)
    print(f"random model built and saved in {time.perf_counter() - t:.1f} s ({workdir})")

    t = time.perf_counter()
    cfg = Validation(model=str(workdir), architecture="decoder", max_length=args.seq_len)
    model = load_model(cfg, device, bf16=True)
    lora = attach_lora(model)
    print(
        f"loaded in {time.perf_counter() - t:.1f} s; LoRA trains {lora['trainable']:,} of {lora['total']:,} parameters"
    )

    auto = model[0].auto_model
    layers, d, s = auto.config.num_hidden_layers, auto.config.hidden_size, args.seq_len
    n = sum(
        p.numel()
        for name_, p in auto.named_parameters()
        if "embed_tokens" not in name_ and "lora_" not in name_
    )
    forward = 2 * n + 4 * layers * s * d
    model_flops = forward + (2 * n + 8 * layers * s * d)
    hardware_flops = model_flops + 2 * forward

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def _sync(self) -> None:
            if device == "cuda":
                torch.cuda.synchronize()

        def on_step_begin(self, *a, **k) -> None:
            self._sync()
            self.start = time.perf_counter()

        def on_step_end(self, *a, **k) -> None:
            self._sync()
            self.times.append(time.perf_counter() - self.start)

    print(
        f"\n{name}, seq len {s}, bf16 + activation checkpointing + LoRA, cached InfoNCE; peak {peak or 'unknown'} TFLOP/s"
    )
    print(f"{'batch x mini':>12} {'step s':>8} {'tokens/s':>10} {'MFU':>6} {'HFU':>6} {'peak mem GiB':>13}")
    for batch, mini in shapes:
        run_cfg = cfg.model_copy(
            update={
                "batch_size": batch,
                "mini_batch_size": mini,
                "max_steps": args.steps + 1,
                "warmup_steps": 0,
            }
        )
        data = DatasetDict(
            {"bench": Dataset.from_dict(triples(batch * (args.steps + 1), s, shape["vocab_size"], batch))}
        )
        timer = StepTimer()
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        fine_tune(model, data, run_cfg, device=device, bf16=True, checkpointing=True, callbacks=[timer])
        step = statistics.median(timer.times[1:] or timer.times)
        tokens = batch * 3 * s / step
        if device == "cuda":
            memory = torch.cuda.max_memory_allocated() / 2**30
        else:
            memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # process peak RSS
        mfu = f"{tokens * model_flops / (peak * 1e12):6.1%}" if peak else f"{'n/a':>6}"
        hfu = f"{tokens * hardware_flops / (peak * 1e12):6.1%}" if peak else f"{'n/a':>6}"
        print(f"{f'{batch}x{mini}':>12} {step:8.2f} {tokens:10.0f} {mfu} {hfu} {memory:13.2f}")
    if device == "cpu":
        print(
            "\n(--tiny on the CPU: peak memory is the process's peak RSS; MFU needs a GPU or --peak-tflops)"
        )


if __name__ == "__main__":
    main()
