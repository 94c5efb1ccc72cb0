"""Fixtures for the Hub tests: a fake Hub on 127.0.0.1 that both huggingface_hub and datasets talk to.

Both libraries read their settings (endpoint, offline mode, cache folders, token path) into module
constants when they are imported, so setting ``HF_ENDPOINT`` in the environment is not enough once they
are loaded: :func:`point_clients_at` patches those constants too. What it covers, and why:

- ``huggingface_hub.constants.ENDPOINT`` and ``HUGGINGFACE_CO_URL_TEMPLATE``: every ``HfApi`` and
  ``hf_hub_download`` URL; ``HF_URL_HOSTS``: the hosts the auth header may follow redirects to.
- ``datasets.config.HF_ENDPOINT`` and ``HUB_DATASETS_URL``: ``load_dataset`` builds its own ``HfApi``
  and ``HfFileSystem`` with this endpoint, and fetches ``.huggingface.yaml`` from that URL template.
- offline mode is off in both (``tests/conftest.py`` turns it on for every other test).
- ``datasets.config.HF_UPDATE_DOWNLOAD_COUNTS`` and ``USE_PARQUET_EXPORT`` are off: the first pings an
  S3 bucket and the second the dataset viewer, both outside the Hub endpoint.
- caches, the token file and the agent-harness registry move to the test's tmp folder, so a developer's
  login or cache never leaks in and the tests never write to ``~/.cache/huggingface``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import datasets.config
import huggingface_hub.constants as hub_constants
import pytest
from huggingface_hub import HfFileSystem, close_session
from huggingface_hub.utils import _detect_agent

from tests.fake_hub import FakeHub


def point_clients_at(endpoint: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make huggingface_hub and datasets talk to ``endpoint`` and keep their files under ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    hub_cache, datasets_cache = home / "hub", home / "datasets"
    for name, value in {
        "HF_ENDPOINT": endpoint,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(hub_cache),
        "HF_DATASETS_CACHE": str(datasets_cache),
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "TRANSFORMERS_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)

    for name, value in {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_URL_HOSTS": hub_constants.HF_URL_HOSTS | {"127.0.0.1"},
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(hub_cache),
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "AGENT_HARNESSES_PATH": str(home / ".agent_harnesses.json"),
    }.items():
        monkeypatch.setattr(hub_constants, name, value)
    # The user agent names the calling agent harness from a registry fetched once from the Hub; an empty
    # one keeps that fetch (and its cache file) out of the tests.
    monkeypatch.setattr(_detect_agent, "_registry", _detect_agent._EMPTY_REGISTRY)

    for name, value in {
        "HF_ENDPOINT": endpoint,
        "HUB_DATASETS_URL": endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}",
        "HF_HUB_OFFLINE": False,
        "HF_DATASETS_OFFLINE": False,
        "HF_UPDATE_DOWNLOAD_COUNTS": False,
        "USE_PARQUET_EXPORT": False,
        "HF_CACHE_HOME": str(home),
        "HF_DATASETS_CACHE": datasets_cache,
        "HF_MODULES_CACHE": home / "modules",
        "DOWNLOADED_DATASETS_PATH": datasets_cache / "downloads",
        "EXTRACTED_DATASETS_PATH": datasets_cache / "downloads" / "extracted",
    }.items():
        monkeypatch.setattr(datasets.config, name, value)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A running fake Hub that huggingface_hub and datasets point at, with caches under ``tmp_path``."""
    with FakeHub() as server:
        point_clients_at(server.endpoint, tmp_path / "hf-home", monkeypatch)
        try:
            yield server
        finally:
            # Keep-alive connections and cached filesystems would outlive the server.
            close_session()
            HfFileSystem.clear_instance_cache()
