"""Epoch reducer that keeps what the bench metrics need and records each epoch's score."""

from __future__ import annotations

import math

from inspect_ai.scorer import Score, ScoreReducer, score_reducer


@score_reducer(name="bench_epochs")
def bench_epochs() -> ScoreReducer:
    """Mean value and mean score over epochs; metadata keeps every epoch's score (stability metrics) and every
    epoch's item verdicts (`epoch_items`, for item-level metrics). Used by the bench tasks and by instruct."""

    def reduce(scores: list[Score]) -> Score:
        scored = [s for s in scores if not (isinstance(s.value, float) and math.isnan(s.value))]  # unscored: NaN
        if not scored:
            return scores[0]
        if len(scores) == 1:
            return scored[0]
        values = [s.value for s in scored]
        epoch_scores = [float((s.metadata or {})["score"]) for s in scored if (s.metadata or {}).get("score") is not None]
        metadata = dict(scored[0].metadata or {})
        if epoch_scores:
            metadata["score"] = sum(epoch_scores) / len(epoch_scores)
        metadata["epoch_scores"] = epoch_scores
        metadata["epoch_items"] = [item for s in scored for item in (s.metadata or {}).get("items", [])]
        metadata["epochs_unscored"] = len(scores) - len(scored)
        return Score(
            value=_mean_value(values),
            answer=scored[0].answer,
            explanation=scored[0].explanation,
            metadata=metadata,
        )

    return reduce


def _mean_value(values: list) -> float | dict[str, float]:
    """Mean of scalar values, or per key of dict values (e.g. {"correct", "score"})."""
    if all(isinstance(v, dict) for v in values):
        return {key: sum(float(v[key]) for v in values) / len(values) for key in values[0]}
    return sum(float(v) for v in values) / len(values)
