"""Bench rows: schema, loaders and filters."""

from anyaudio_eval.bench.loaders import (
    BenchLoad,
    DatasetError,
    load_bench,
    parse_rubric,
    read_jsonl,
    rubric_elements,
)
from anyaudio_eval.bench.schema import (
    HUB_ID,
    LABELS,
    LANGUAGES,
    SUBSETS,
    TYPES,
    BenchRow,
    RubricItem,
    SkippedRow,
)

__all__ = [
    "HUB_ID",
    "LABELS",
    "LANGUAGES",
    "SUBSETS",
    "TYPES",
    "BenchLoad",
    "BenchRow",
    "DatasetError",
    "RubricItem",
    "SkippedRow",
    "load_bench",
    "parse_rubric",
    "read_jsonl",
    "rubric_elements",
]
