"""Reference data the benchmarks read (see /work/shared/data/README.md); never used by tests."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

SHARED = Path(os.environ.get("SYNTHEMBED_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"
SENTENCES = SHARED / "langid-sentences"

#: File name -> XLM-R code, where they differ (Bokmål and Nynorsk are both XLM-R's Norwegian).
FILE_CODES = {"nb": "no", "nn": "no"}


def load_sentences(normalize: bool = True) -> dict[str, list[str]]:
    """XLM-R code -> sentences of /work/shared/data/langid-sentences (NFC when ``normalize``).

    Raises:
        FileNotFoundError: when the shared data folder is not there.
    """
    if not SENTENCES.is_dir():
        raise FileNotFoundError(f"{SENTENCES} not found: set SYNTHEMBED_SHARED to the shared/ folder")
    out: dict[str, list[str]] = {}
    for path in sorted(SENTENCES.glob("*.txt")):
        code = FILE_CODES.get(path.stem, path.stem)
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line:
                out.setdefault(code, []).append(unicodedata.normalize("NFC", line) if normalize else line)
    return out


def halves(data: dict[str, list[str]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Each language's sentences split in two: A (1st, 3rd, 5th... line) and B (2nd, 4th...).

    Constants of the identifier are tuned on A (``bench/langid.py --tune``); B is held out.
    """
    return {c: s[0::2] for c, s in data.items()}, {c: s[1::2] for c, s in data.items()}
