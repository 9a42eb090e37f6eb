"""Epoch reducer of the bench tasks and instruct: Inspect's `mean` for the value, plus what no Inspect reducer keeps.

`Score.value` (`scorers.values`) is reduced by Inspect's own `mean` reducer, key by key, unscored epochs left
out. What Inspect's reducers cannot express, and the reason this reducer exists, is in the metadata:

- `epoch_scores`: every scored epoch's score, for the stability metrics (per-sample score range, the share of
  samples whose verdict changed), which a mean, mode or max of the value cannot give;
- `epoch_items`: every scored epoch's item verdicts, so item-level metrics (`item_acc_<dimension>`,
  `fail_rate_<dimension>`, `hard_item_share`) pool the verdicts of all epochs; the reducers keep only the first
  epoch's metadata;
- `epoch_intelligibility`: every scored epoch's WER/CER measurement (rubric_judge keeps it beside the score,
  not in the value), so `wer` / `cer` are means over epochs too;
- `epochs_unscored`: how many epochs left no score.

With `--epochs-reducer mean` (or any other) the value metrics are the same; stability metrics are then absent and
item metrics read the first epoch's verdicts.
"""

from __future__ import annotations

from inspect_ai.scorer import Score, ScoreReducer, mean_score, score_reducer

from anyaudio_eval.scorers.values import SCORE_KEY, alignment_score


@score_reducer(name="bench_epochs")
def bench_epochs() -> ScoreReducer:
    """Mean value over epochs (Inspect's `mean`); metadata keeps every epoch's score and item verdicts."""
    mean = mean_score()

    def reduce(scores: list[Score]) -> Score:
        read = [(s, alignment_score(s)) for s in scores]
        scored = [s for s, value in read if value is not None]
        epoch_scores = [value for _, value in read if value is not None]
        if len(scores) == 1 or not scored:
            return scores[0]
        reduced = mean(scored)
        metadata = {
            **(scored[0].metadata or {}),
            "epoch_scores": epoch_scores,
            "epoch_items": [item for s in scored for item in (s.metadata or {}).get("items", [])],
            "epochs_unscored": len(scores) - len(scored),
        }
        measured = [m for s in scored if (m := (s.metadata or {}).get("intelligibility"))]
        if measured:
            metadata["epoch_intelligibility"] = measured
        # The metadata's copy of the score follows the reduced value (readers of the log see one number).
        metadata[SCORE_KEY] = alignment_score(reduced)
        return Score(value=reduced.value, answer=scored[0].answer, explanation=scored[0].explanation, metadata=metadata)

    return reduce
