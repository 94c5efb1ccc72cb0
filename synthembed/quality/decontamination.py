"""DecontaminationCheck: drop examples that share an n-gram with an evaluation set.

Evaluation texts and example fields are normalised the same way (NFKC, lower case, punctuation as
separators), cut into word 13-grams (character 25-grams for texts written without spaces) and
hashed to 64 bits. An example field that shares any n-gram with a source is dropped, and the
reason names the source (``contaminated:<name>``). An evaluation text shorter than one n-gram
(a short query) is matched when a field equals it after normalisation.

Sources (``quality.decontamination.sources``):

* ``beir``: a folder with ``corpus.jsonl`` (title and text) and ``queries.jsonl`` (text);
* ``jsonl``: one JSON object per line, text in ``field`` (default ``text``);
* ``parquet``: the column ``field`` (default ``text``);
* ``text``: one text per line.

The n-gram sets are sorted uint64 arrays: 8 bytes per distinct n-gram (a 1M-passage corpus of 60
words is about 0.4 GiB).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from synthembed.errors import ConfigError
from synthembed.quality.base import Check, Decision, Drop
from synthembed.quality.config import DecontaminationConfig, EvalSource
from synthembed.quality.shingles import (
    CHAR,
    WORD,
    shingle_hashes,
    shingle_modes,
    token_counts,
    whole_text_hashes,
)
from synthembed.quality.text import SCRIPT_ID, field_languages, normalize_for_matching, script_counts

_SPACELESS_SCRIPTS = [
    SCRIPT_ID[s] for s in ("Han", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar")
]


def _read_jsonl(path: Path, fields: tuple[str, ...]) -> Iterator[str]:
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise ConfigError(
                    f"{path}:{line_no} is not JSON ({exc}); fix the file or drop the source"
                ) from None
            parts = [str(obj.get(f) or "") for f in fields]
            text = " ".join(p for p in parts if p)
            if text:
                yield text


def read_eval_texts(source: EvalSource) -> Iterator[str]:
    """The texts of one evaluation source.

    Raises:
        FileNotFoundError: when the path (or a BEIR folder's files) does not exist.
    """
    path = source.path
    if not path.exists():
        raise FileNotFoundError(f"evaluation source {source.label!r}: {path} does not exist")
    if source.kind == "beir":
        corpus, queries = path / "corpus.jsonl", path / "queries.jsonl"
        if not corpus.is_file() and not queries.is_file():
            raise FileNotFoundError(f"{path} is not a BEIR folder: no corpus.jsonl or queries.jsonl")
        for file, fields in ((corpus, ("title", "text")), (queries, ("text",))):
            if file.is_file():
                yield from _read_jsonl(file, fields)
    elif source.kind == "jsonl":
        yield from _read_jsonl(path, (source.field or "text",))
    elif source.kind == "parquet":
        column = source.field or "text"
        pf = pq.ParquetFile(path)
        if column not in pf.schema_arrow.names:
            raise ConfigError(
                f"{path} has no column {column!r}; set field: to one of {pf.schema_arrow.names}"
            )
        for batch in pf.iter_batches(columns=[column]):
            yield from (str(t) for t in batch.column(0).to_pylist() if t)
    else:
        with path.open(encoding="utf-8") as fh:
            yield from (line.strip() for line in fh if line.strip())


def _modes_by_script(texts: pa.Array) -> np.ndarray:
    counts = script_counts(texts)
    letters = np.maximum(counts[:, 1:].sum(axis=1), 1)
    spaceless = counts[:, _SPACELESS_SCRIPTS].sum(axis=1) * 2 > letters
    return np.where(spaceless, CHAR, WORD).astype(np.int8)


class NgramSet:
    """The distinct n-gram hashes of one evaluation source, plus its short texts."""

    def __init__(self, name: str, ngram_size: int, char_ngram_size: int) -> None:
        self.name = name
        self.ngram_size = ngram_size
        self.char_ngram_size = char_ngram_size
        self.hashes = np.zeros(0, dtype=np.uint64)
        self.short_texts: set[str] = set()
        self.texts = 0

    @classmethod
    def from_texts(
        cls,
        name: str,
        texts: Iterator[str],
        ngram_size: int = 13,
        char_ngram_size: int = 25,
        chunk: int = 8192,
    ) -> NgramSet:
        out = cls(name, ngram_size, char_ngram_size)
        parts: list[np.ndarray] = []
        buffer: list[str] = []
        for text in texts:
            buffer.append(text)
            if len(buffer) >= chunk:
                parts.append(out._add(buffer))
                buffer = []
        if buffer:
            parts.append(out._add(buffer))
        out.hashes = np.unique(np.concatenate(parts)) if parts else out.hashes
        return out

    def _add(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        norm = normalize_for_matching(pa.array(texts, pa.string()))
        modes = _modes_by_script(norm)
        hashes, offsets = shingle_hashes(norm, modes, self.ngram_size, self.char_ngram_size)
        # A text shorter than one n-gram has no n-gram: it is matched as a whole instead.
        tokens = token_counts(norm, modes)
        short = (tokens > 0) & (tokens < np.where(modes == CHAR, self.char_ngram_size, self.ngram_size))
        self.short_texts.update(int(h) for h in whole_text_hashes(norm, modes)[short])
        keep = np.repeat(~short, np.diff(offsets))
        return np.unique(hashes[keep])

    def hits(self, hashes: np.ndarray, offsets: np.ndarray, whole: np.ndarray) -> np.ndarray:
        """Per text (given its n-gram hashes and whole-text hash), whether it overlaps this set."""
        n = len(offsets) - 1
        hit = np.zeros(n, dtype=bool)
        if len(self.hashes) and len(hashes):
            pos = np.searchsorted(self.hashes, hashes).clip(0, len(self.hashes) - 1)
            found = self.hashes[pos] == hashes
            owner = np.repeat(np.arange(n), np.diff(offsets))
            hit[np.unique(owner[found])] = True
        if self.short_texts:
            hit |= np.fromiter((int(w) in self.short_texts for w in whole), bool, n)
        return hit


class DecontaminationCheck(Check):
    """Drops examples with an n-gram from an evaluation set in any checked field."""

    name = "decontamination"

    def __init__(self, config: DecontaminationConfig, sets: list[NgramSet] | None = None) -> None:
        super().__init__()
        self.config = config
        if sets is None:
            sets = [
                NgramSet.from_texts(s.label, read_eval_texts(s), config.ngram_size, config.char_ngram_size)
                for s in config.sources
            ]
        self.sets = sets

    def describe(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "ngram_size": self.config.ngram_size,
            "char_ngram_size": self.config.char_ngram_size,
            "fields": list(self.config.fields),
            "sources": [
                {"name": s.name, "texts": s.texts, "ngrams": len(s.hashes), "short_texts": len(s.short_texts)}
                for s in self.sets
            ],
        }

    def decide(self, batch: pa.RecordBatch) -> list[Decision]:
        n = batch.num_rows
        decisions: list[Decision] = [None] * n
        if not self.sets:
            return decisions
        langs = [field_languages(c) for c in batch.column("language").to_pylist()]
        slots = {"query": 0, "positive": 1, "negative": 2}
        for field in self.config.fields:
            norm = normalize_for_matching(batch.column(field))
            modes = shingle_modes([lang[slots[field]] for lang in langs])
            hashes, offsets = shingle_hashes(norm, modes, self.config.ngram_size, self.config.char_ngram_size)
            whole = whole_text_hashes(norm, modes)
            for ngrams in self.sets:
                hit = ngrams.hits(hashes, offsets, whole)
                for i in np.flatnonzero(hit):
                    if decisions[i] is None:
                        decisions[i] = Drop(
                            f"contaminated:{ngrams.name}",
                            f"{field} shares a {self.config.ngram_size}-gram with {ngrams.name}",
                        )
        return decisions
