"""Session fixtures for the quality tests (the language models load once)."""

from __future__ import annotations

import pytest

from synthembed.quality.langid import LanguageIdentifier


@pytest.fixture(scope="session")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier.default()
