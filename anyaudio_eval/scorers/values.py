"""What a `Score` of this project holds, read the same way by the metrics, `anyaudio report` and the leaderboard.

`Score.value` is a dict of what the metrics aggregate, so that Inspect's reducers (`mean`, `mode`, ...) reduce it
key by key over epochs and `inspect score` recomputes it:

- bench_alignment: `{"correct": 1.0 | 0.0, "score": alignment score}`;
- rubric_judge: `{"score": alignment score}`. Intelligibility (WER/CER) sits beside the rubric score, never in
  it: the value is the same with the ASR on or off, and the measurement is in the metadata (the epoch reducer
  keeps every epoch's, `scorers.epochs`).

An unscored sample is Inspect's unscored score (`Score.unscored`: NaN at the root): no reducer or metric counts
it, and no value of it is ever 0 or 1. `Score.metadata` keeps what explains a score (the rubric items and their
verdicts, the judge's settings, the grounding check) and a copy of `score` for readers of the log.

Logs written before the value held every number still read: bench logs with a scalar value (correctness) or
`{correct, score}`, rubric_judge logs with the score as a scalar value; their score is the metadata's `score`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from inspect_ai.scorer import Score, Value

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog

SCORE_KEY = "score"
CORRECT_KEY = "correct"


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def alignment_score(score: Score | None) -> float | None:
    """The alignment score of a logged score of any shape; None for an unscored one."""
    if score is None:
        return None
    if isinstance(score.value, dict) and SCORE_KEY in score.value:
        return _finite(score.value[SCORE_KEY])
    if isinstance(score.value, float) and math.isnan(score.value):
        return None  # unscored, whatever the metadata says
    # Before the value held it: the metadata's copy (a bench value was then the 0/1 correctness).
    return _finite((score.metadata or {}).get(SCORE_KEY))


def score_of(value: Value) -> float:
    """`ValueToFloat` for Inspect's `mean()` / `stderr()`: the `score` entry of a dict value (a scalar as is)."""
    if isinstance(value, dict):
        found = _finite(value.get(SCORE_KEY))
        return float("nan") if found is None else found
    found = _finite(value)
    return float("nan") if found is None else found


def reduced_scores(log: EvalLog, scorer: str) -> list[tuple[str, Score | None]]:
    """(sample id, score) per sample, as the log's metrics saw them: the epoch-reduced scores the log records
    (`log.reductions`), else each logged sample's own score (None where the scorer left none)."""
    for reduction in log.reductions or []:
        if reduction.scorer == scorer:
            return [(str(s.sample_id), s) for s in reduction.samples]
    return [(str(sample.id), (sample.scores or {}).get(scorer)) for sample in log.samples or []]
