"""Shared fixtures. Nothing here touches the network: fakes run on 127.0.0.1."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# No test may reach a model hub, whatever the developer's environment says.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Caches go to a throwaway folder, never the developer's ~/.cache.
_CACHE = tempfile.mkdtemp(prefix="synthembed-tests-cache-")
os.environ.setdefault("HF_DATASETS_CACHE", os.path.join(_CACHE, "datasets"))

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT


def write_recipe(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
