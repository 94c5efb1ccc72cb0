"""The quality layer: checks that turn a run's parsed examples into clean examples, rejects with
reasons, a near-duplicate index for the next release, and a report.

Public API::

    from synthembed.quality import QualityConfig, filter_examples, print_report

    report = filter_examples(batches, tasks, QualityConfig(), out_dir, previous_index_dirs=[...])
    print_report(report)

Checks (each a small class; :class:`~synthembed.quality.base.Check` counts and keeps rejects):
:class:`SchemaCheck`, :class:`PairRulesCheck`, :class:`LengthCheck`, :class:`PlaceholderCheck`,
:class:`RefusalCheck`, :class:`LanguageCheck`, :class:`DecontaminationCheck`,
:class:`ExactDeduplicator`, :class:`MinHashDeduplicator`, and :class:`TaskDeduplicator` for task
definitions.
"""

from __future__ import annotations

# Imported on first use: the checks pull in numba and language-ID models, which the recipe
# schema (synthembed.quality.config) and the generation runner must not pay for.
_LAZY = {
    "Check": "synthembed.quality.base",
    "DecontaminationCheck": "synthembed.quality.decontamination",
    "Drop": "synthembed.quality.base",
    "ExactDeduplicator": "synthembed.quality.dedup",
    "ExampleCheck": "synthembed.quality.base",
    "LanguageCheck": "synthembed.quality.language",
    "LanguageIdentifier": "synthembed.quality.langid",
    "LengthCheck": "synthembed.quality.rules",
    "MemoryRejects": "synthembed.quality.base",
    "MinHashDeduplicator": "synthembed.quality.dedup",
    "PairRulesCheck": "synthembed.quality.rules",
    "ParquetRejects": "synthembed.quality.base",
    "PlaceholderCheck": "synthembed.quality.rules",
    "QualityConfig": "synthembed.quality.config",
    "QualityReport": "synthembed.quality.report",
    "RefusalCheck": "synthembed.quality.rules",
    "SchemaCheck": "synthembed.quality.rules",
    "TaskDeduplicator": "synthembed.quality.dedup",
    "build_checks": "synthembed.quality.pipeline",
    "filter_examples": "synthembed.quality.pipeline",
    "print_report": "synthembed.quality.report",
    "render_report": "synthembed.quality.report",
    "run_checks": "synthembed.quality.pipeline",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'synthembed.quality' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "Check",
    "DecontaminationCheck",
    "Drop",
    "ExactDeduplicator",
    "ExampleCheck",
    "LanguageCheck",
    "LanguageIdentifier",
    "LengthCheck",
    "MemoryRejects",
    "MinHashDeduplicator",
    "PairRulesCheck",
    "ParquetRejects",
    "PlaceholderCheck",
    "QualityConfig",
    "QualityReport",
    "RefusalCheck",
    "SchemaCheck",
    "TaskDeduplicator",
    "build_checks",
    "filter_examples",
    "print_report",
    "render_report",
    "run_checks",
]
