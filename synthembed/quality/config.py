"""The ``quality:`` section of a recipe: which checks run over a run's examples, and their settings.

Every field has a default, so ``quality: {}`` (or no section at all) runs every check with the
settings described here. The checks themselves live beside this module; this file does no I/O.

Example::

    quality:
      language:
        min_confidence: 0.4
      minhash:
        threshold: 0.8
      decontamination:
        sources:
          - {path: eval/scifact, kind: beir}
          - {path: eval/queries.jsonl, kind: jsonl, field: question, name: my-queries}
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_STRICT = ConfigDict(extra="forbid")

TextField = Literal["query", "positive", "negative"]


class RulesConfig(BaseModel):
    """Schema and the paper's rules (:mod:`synthembed.quality.rules`)."""

    model_config = _STRICT

    enabled: bool = Field(default=True, description="run the schema and rule checks")
    length_tolerance: float = Field(
        default=0.25,
        ge=0.0,
        le=1.0,
        description=(
            "relative slack on lengths the prompt asked for: 'at least N words' accepts "
            "N * (1 - tolerance) words or more, 'less than N' accepts up to N * (1 + tolerance)"
        ),
    )
    query_copy_min_words: int = Field(
        default=4,
        ge=1,
        description=(
            "a query of at least this many words may not appear verbatim (after normalisation) "
            "inside its positive; shorter queries are names and keywords that a document may repeat"
        ),
    )
    refusals: bool = Field(default=True, description="drop refusals and meta chatter ('As an AI ...')")
    placeholders: bool = Field(default=True, description="drop texts with unfilled template placeholders")


class LanguageConfig(BaseModel):
    """Language of every field against the language the request asked for (:mod:`.language`)."""

    model_config = _STRICT

    enabled: bool = Field(default=True, description="run the language check")
    min_confidence: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description=(
            "a field is dropped when the identifier gives the requested language (or its close "
            "group) a probability below this"
        ),
    )
    min_chars: int = Field(
        default=20,
        ge=1,
        description="fields shorter than this many characters skip the model (labels, short queries)",
    )
    max_chars: int = Field(
        default=600,
        ge=100,
        description=(
            "longer fields are judged on their first two thirds and last third of this many "
            "characters (the start and the end are where a wrong language shows)"
        ),
    )
    min_letters: int = Field(
        default=8, ge=1, description="fields with fewer letters than this skip the script rules"
    )
    min_script_share: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="share of a field's letters that must be in a script of the requested language",
    )
    close_groups: list[list[str]] = Field(
        default_factory=lambda: [["bs", "hr", "sr"], ["id", "ms"]],
        description=(
            "languages that sentence-level identification cannot tell apart reliably; a field passes "
            "when the group's summed probability reaches min_confidence"
        ),
    )
    fields: list[TextField] = Field(
        default_factory=lambda: ["query", "positive", "negative"], description="fields to check"
    )


class ExactDedupConfig(BaseModel):
    """Exact duplicates after normalisation (NFKC, lower case, collapsed white space)."""

    model_config = _STRICT

    enabled: bool = Field(default=True, description="drop exact duplicates")
    fields: list[TextField] = Field(
        default_factory=lambda: ["query", "positive"],
        description="the fields whose normalised values, together, make the duplicate key",
    )


class MinHashConfig(BaseModel):
    """MinHash-LSH near-duplicates, per field, within the release and against earlier releases.

    Shingles are word 5-grams, or character 5-grams for zh, ja, th, lo, km and my, after NFKC and
    lower case. With the defaults (128 permutations, threshold 0.85) the banding is 18 bands of 7
    rows: a pair at Jaccard 0.85 becomes a candidate with probability 0.999, one at 0.5 with 0.13;
    every candidate is then verified against the threshold (``verify``, exact by default). On
    ``bench/near_dup.py`` this gives precision 0.9995 and recall 1.0 for pairs at word-5-gram
    Jaccard 0.85 or more (verifying on the signature estimate instead: 0.95 and 0.96).
    """

    model_config = _STRICT

    enabled: bool = Field(default=True, description="drop near-duplicates")
    threshold: float = Field(
        default=0.85, gt=0.0, le=1.0, description="Jaccard similarity at or above which to drop"
    )
    num_perm: int = Field(default=128, ge=16, le=1024, description="hash functions per signature")
    bands: int | None = Field(
        default=None, ge=1, description="LSH bands; None chooses them from threshold and num_perm"
    )
    rows: int | None = Field(default=None, ge=1, description="rows per band; None chooses them")
    word_shingle_size: int = Field(
        default=5, ge=1, description="words per shingle for languages written with spaces"
    )
    char_shingle_size: int = Field(
        default=5,
        ge=1,
        description="characters per shingle for languages written without spaces (zh, ja, th, lo, km, my)",
    )
    fields: list[Literal["query", "positive"]] = Field(
        default_factory=lambda: ["query", "positive"],
        description="each field gets its own index; an example is dropped if any field is a near-duplicate",
    )
    positive_task_types: list[str] = Field(
        default_factory=lambda: ["retrieval", "long_long", "sts", "bitext"],
        description=(
            "task types whose positive is a text worth deduplicating (classification labels and "
            "short_short targets repeat by design)"
        ),
    )
    verify: Literal["exact", "signature"] = Field(
        default="exact",
        description=(
            "how an LSH candidate is confirmed: 'exact' Jaccard of the shingle sets (the index keeps "
            "them: 4 bytes per shingle) or the 'signature' estimate (fixed memory, noisier near the "
            "threshold)"
        ),
    )
    seed: int = Field(default=1, ge=0, description="seed of the hash functions; an index keeps it")

    @model_validator(mode="after")
    def _banding(self) -> MinHashConfig:
        if self.bands is not None and self.rows is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands * rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self


class TaskDedupConfig(BaseModel):
    """Near-identical brainstormed task definitions, per task type (character 5-gram MinHash)."""

    model_config = _STRICT

    enabled: bool = Field(default=True, description="drop near-identical task definitions")
    threshold: float = Field(default=0.8, gt=0.0, le=1.0, description="estimated Jaccard to drop at")
    char_shingle_size: int = Field(default=5, ge=1, description="characters per shingle")


class EvalSource(BaseModel):
    """One evaluation set to keep out of the training data."""

    model_config = _STRICT

    path: Path = Field(description="a BEIR folder, a .jsonl or .parquet file, or a text file")
    kind: Literal["beir", "jsonl", "parquet", "text"] = Field(
        description="beir: corpus.jsonl and queries.jsonl; text: one text per line"
    )
    name: str | None = Field(
        default=None, description="the name reasons use; default: the file or folder name"
    )
    field: str | None = Field(
        default=None, description="jsonl/parquet: the text field or column (default 'text')"
    )

    @property
    def label(self) -> str:
        return self.name or self.path.stem or self.path.name


class DecontaminationConfig(BaseModel):
    """N-gram overlap with evaluation sets the recipe names (:mod:`.decontamination`)."""

    model_config = _STRICT

    enabled: bool = Field(default=True, description="run the check when sources are named")
    sources: list[EvalSource] = Field(default_factory=list, description="evaluation sets")
    ngram_size: int = Field(
        default=13, ge=1, description="words per n-gram (13, as in GPT-3 and most decontamination since)"
    )
    char_ngram_size: int = Field(
        default=25, ge=1, description="characters per n-gram for texts written without spaces"
    )
    fields: list[TextField] = Field(
        default_factory=lambda: ["query", "positive", "negative"], description="fields to check"
    )


class QualityConfig(BaseModel):
    """The recipe's ``quality:`` section. Checks run in this order: rules, language,
    decontamination, exact duplicates, near-duplicates (so the dedup index holds only kept examples).
    """

    model_config = _STRICT

    rules: RulesConfig = Field(default_factory=RulesConfig)
    language: LanguageConfig = Field(default_factory=LanguageConfig)
    decontamination: DecontaminationConfig = Field(default_factory=DecontaminationConfig)
    exact_dedup: ExactDedupConfig = Field(default_factory=ExactDedupConfig)
    minhash: MinHashConfig = Field(default_factory=MinHashConfig)
    task_dedup: TaskDedupConfig = Field(default_factory=TaskDedupConfig)
    batch_size: int = Field(default=4096, ge=1, description="examples per Arrow batch")
