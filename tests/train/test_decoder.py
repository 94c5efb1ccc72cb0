"""The paper's decoder path on a tiny random Mistral: LoRA, EOS + last-token pooling, training, save/reload."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthembed.recipe import Validation
from synthembed.train.data import format_query, read_split, training_datasets
from synthembed.train.model import LORA, attach_lora, build_loss, fine_tune, load_model

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.slow


def _cfg(path: Path, **kw: object) -> Validation:
    base = {
        "model": str(path),
        "architecture": "decoder",
        "batch_size": 8,
        "mini_batch_size": 4,
        "max_length": 64,
    }
    return Validation(**{**base, **kw})


def test_lora_attached_on_all_seven_projections(tiny_mistral: Path) -> None:
    model = load_model(_cfg(tiny_mistral), "cpu")
    counts = attach_lora(model)

    wrapped = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if hasattr(module, "lora_A")}
    assert wrapped == set(LORA["target_modules"])
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    assert 0 < counts["trainable"] < counts["total"]
    layer = model[0].auto_model.layers[0].self_attn.q_proj
    assert layer.r["default"] == 16 and layer.scaling["default"] == 32 / 16
    assert layer.lora_dropout["default"].p == 0.1


def test_eos_appended_and_its_state_is_the_embedding(tiny_mistral: Path) -> None:
    model = load_model(_cfg(tiny_mistral), "cpu")
    model.eval()
    tokenizer = model.tokenizer
    texts = ["the hive", "On the history of volcanoes : volcanoes was first described long ago"]

    features = model.preprocess(texts)
    ids, mask = features["input_ids"], features["attention_mask"]
    lengths = mask.sum(dim=1)
    assert tokenizer.padding_side == "right"
    assert [int(ids[i, lengths[i] - 1]) for i in range(2)] == [tokenizer.eos_token_id] * 2

    with torch.no_grad():
        hidden = model[0].auto_model(input_ids=ids, attention_mask=mask).last_hidden_state
        expected = torch.stack([hidden[i, lengths[i] - 1] for i in range(2)])
        got = model.encode(texts, convert_to_tensor=True, batch_size=2)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_eos_survives_truncation(tiny_mistral: Path) -> None:
    model = load_model(_cfg(tiny_mistral, max_length=8), "cpu")
    long_text = " ".join(["volcanoes"] * 40)
    ids = model.preprocess([long_text])["input_ids"][0]
    assert len(ids) == 8 and int(ids[-1]) == model.tokenizer.eos_token_id


def test_instruction_on_queries_only(decoder_release: Path) -> None:
    train = training_datasets(read_split(decoder_release, "train"))
    for dataset in train.values():
        assert all(a.startswith("Instruct: ") and "\nQuery: " in a for a in dataset["anchor"])
        for column in set(dataset.column_names) - {"anchor"}:
            assert not any(t.startswith("Instruct:") for t in dataset[column])
    assert "negative" not in train["short_short"].column_names  # pairs: in-batch negatives only
    assert "negative" in train["retrieval"].column_names


def test_one_training_step_lowers_the_loss(tiny_mistral: Path, decoder_rows: list[dict[str, str]]) -> None:
    from datasets import Dataset, DatasetDict

    rows = [r for r in decoder_rows if r["task_type"] == "retrieval"][:8]
    batch = {
        "anchor": [format_query(r["instruction"], r["query"]) for r in rows],
        "positive": [r["positive"] for r in rows],
        "negative": [r["negative"] for r in rows],
    }
    cfg = _cfg(tiny_mistral, max_steps=1, warmup_steps=0, learning_rate=1e-3, weight_decay=0.0)
    model = load_model(cfg, "cpu")
    attach_lora(model)
    loss = build_loss(model, cfg)

    def loss_on_batch() -> float:
        model.eval()
        features = [model.preprocess(batch[c]) for c in ("anchor", "positive", "negative")]
        with torch.no_grad():
            return float(loss(features, None))

    before = loss_on_batch()
    stats = fine_tune(model, DatasetDict({"retrieval": Dataset.from_dict(batch)}), cfg, device="cpu")
    after = loss_on_batch()
    assert stats["steps"] == 1
    assert stats["loss"]["scale"] == pytest.approx(50.0)
    assert after < before, (before, after)


def test_save_and_reload_give_the_same_embeddings(tiny_mistral: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    model = load_model(_cfg(tiny_mistral), "cpu")
    attach_lora(model)
    with torch.no_grad():  # a trained adapter, so that reloading it is visible in the embeddings
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.5)
    texts = ["the hive", format_query("Find the entry.", "vorlani"), "On the parts of comets : comets"]
    model.eval()
    before = model.encode(texts, convert_to_tensor=True, batch_size=3)

    model.save(str(tmp_path / "tuned"))
    assert (tmp_path / "tuned" / "adapter_config.json").exists()
    reloaded = SentenceTransformer(str(tmp_path / "tuned"), device="cpu", local_files_only=True)
    after = reloaded.encode(texts, convert_to_tensor=True, batch_size=3)

    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)
    base = load_model(_cfg(tiny_mistral), "cpu").encode(texts, convert_to_tensor=True, batch_size=3)
    assert not torch.allclose(base, after, atol=1e-3)


def test_decoder_release_validates_through_the_entry_point(
    tiny_mistral: Path, decoder_release: Path, tmp_path: Path
) -> None:
    from synthembed.train.validate import validate_release

    cfg = _cfg(tiny_mistral, max_steps=2, warmup_steps=0)
    result = validate_release(
        decoder_release, recipe_validation=cfg, device="cpu", output_dir=tmp_path / "tuned"
    )

    assert result.architecture == "decoder" and result.training["steps"] == 2
    assert result.training["lora"]["r"] == 16 and result.training["lora"]["trainable"] > 0
    assert set(result.base.heldout) == set(result.tuned.heldout) == {"retrieval", "short_short", "sts"}
    assert (decoder_release / "validation.json").exists()
    assert (tmp_path / "tuned" / "adapter_config.json").exists()
