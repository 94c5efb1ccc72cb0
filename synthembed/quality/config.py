"""The recipe's ``quality:`` section (stub written by the lead; the quality layer replaces it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class QualityConfig(BaseModel):
    """Settings of the quality checks."""

    model_config = ConfigDict(extra="forbid")
