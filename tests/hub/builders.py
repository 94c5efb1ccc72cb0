"""A small release folder, laid out as ``synthembed release`` writes one, for the Hub tests."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from synthembed.hub.release import write_manifest
from synthembed.records import EXAMPLE_COLUMNS

CONFIGS = ("sts", "retrieval")
SPLITS = ("train", "test")


def release_rows(version: str, config: str, split: str) -> list[dict[str, str]]:
    """The rows of one config and split; every version has its own (v1.1.0 has one more per split)."""
    count = 3 if split == "train" else 2
    if version != "1.0.0":
        count += 1
    return [
        {
            "id": f"{version}-{config}-{split}-{i}",
            "task_type": config,
            "instruction": f"Find text for {config} task {i}",
            "language": "en",
            "query": f"query {i} of {config} {split} in release {version}",
            "positive": f"a passage that answers query {i} ({version})",
            "negative": f"an unrelated passage {i} ({version})",
        }
        for i in range(count)
    ]


def card(version: str, configs: tuple[str, ...] = CONFIGS) -> str:
    listing = "".join(
        f"- config_name: {config}\n  data_files:\n"
        + "".join(f"  - split: {split}\n    path: data/{config}/{split}.parquet\n" for split in SPLITS)
        for config in configs
    )
    return (
        f"---\npretty_name: Tiny embed\nlicense: apache-2.0\nlanguage:\n- en\nconfigs:\n{listing}---\n\n"
        f"# Tiny embed {version}\n\nThis card describes version {version} of the tiny embed dataset.\n"
    )


def build_release(
    root: Path,
    version: str,
    *,
    configs: tuple[str, ...] = CONFIGS,
    validation: dict | None = None,
    name: str = "tiny-embed",
) -> Path:
    """Write ``root/<version>/``: the card, parquet per config and split, optional validation.json, manifest."""
    folder = root / version
    schema = pa.schema([(c, pa.string()) for c in EXAMPLE_COLUMNS])
    for config in configs:
        (folder / "data" / config).mkdir(parents=True)
        for split in SPLITS:
            table = pa.Table.from_pylist(release_rows(version, config, split), schema=schema)
            pq.write_table(table, folder / "data" / config / f"{split}.parquet")
    (folder / "README.md").write_text(card(version, configs), encoding="utf-8")
    if validation is not None:
        (folder / "validation.json").write_text(json.dumps(validation), encoding="utf-8")
    write_manifest(folder, {"name": name, "version": version})
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a folder, by relative path: equal snapshots mean a byte-identical folder."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
