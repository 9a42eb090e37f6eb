"""Scorer of the bench and probe tasks: was the judge's match decision right?

Every metric reads the alignment score from `Score.value` (`scorers.values`), and the row's label, subset, type
and language from the score's metadata (Inspect keeps the first epoch's metadata through reduction, and those
are the same in every epoch). They are our own metrics, not Inspect's `accuracy()` or `grouped()`, because:

- accuracy, macro_accuracy, `acc_<subset>`, `acc_<type>` are the decision `score >= threshold` of the
  epoch-reduced score against the label, at the run's threshold and at 0.8; `accuracy()` averages a value
  (the mean of per-epoch `correct`, another number once there are several epochs);
- `grouped()` names a group by its raw metadata value and raises on a sample without it, where ours are
  identifiers (`metric_key`: an own-taxonomy dataset's "Field Recording" is `acc_field_recording`), sorted, and
  the scorer also serves tasks whose samples have no subset; its `all="groups"` mean would follow the groups,
  while the viewer's header shows accuracy, macro_accuracy and auroc first;
- AUROC, ECE, balanced accuracy and the unparsed share have no Inspect metric;
- stability, grounding, hard-answer and item-level metrics read per-epoch scores and item verdicts, which are
  explanations kept in the metadata (`scorers.epochs`).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, Value, metric, scorer
from inspect_ai.solver import TaskState

from anyaudio_eval.judge.checklist import render_checklist
from anyaudio_eval.judge.grounding import NOT_LISTENING_GAP
from anyaudio_eval.judge.procedure import JudgeResult
from anyaudio_eval.judge.solver import GROUNDING_KEY, RESULT_KEY
from anyaudio_eval.scorers.metrics import (
    ItemRecord,
    Record,
    flip_summary,
    grounding_summary,
    hard_item_summary,
    headline_summary,
    item_summary,
    logged_items,
    stability_summary,
    subset_summary,
    type_summary,
)
from anyaudio_eval.scorers.values import CORRECT_KEY, SCORE_KEY, alignment_score

logger = logging.getLogger(__name__)


def record_of(score: Score | None) -> Record | None:
    """The metric record of a scored sample, from a score of any logged shape (None for unscored ones): the
    alignment score from `Score.value`, the row's label, subset, type and language from the metadata."""
    value = alignment_score(score)
    if score is None or value is None:
        return None
    meta = score.metadata or {}
    return Record(
        score=value,
        label=str(meta.get("label", "")),
        subset=str(meta.get("subset", "")),
        type=str(meta.get("type", "")),
        language=str(meta.get("language", "")),
        n_items=int(meta.get("n_items", 0)),
        n_unparsed=int(meta.get("n_unparsed", 0)),
    )


def _records(scores: list[SampleScore]) -> tuple[list[Record], float, list[dict[str, Any]]]:
    metas = [s.score.metadata or {} for s in scores]
    records = [r for r in (record_of(s.score) for s in scores) if r is not None]
    threshold = next((float(m["threshold"]) for m in metas if "threshold" in m), 0.5)
    return records, threshold, metas


# Three metric groups, in the order the viewer's results header shows them: the headline first.
@metric
def bench_metrics() -> Metric:
    """Micro and macro accuracy and AUROC first; then accuracy at 0.8, balanced accuracy, ECE, unparsed share,
    and the reliability checks (grounding, stability, hard answers, temperature)."""

    def compute(scores: list[SampleScore]) -> Value:
        records, threshold, metas = _records(scores)
        out = headline_summary(records, threshold)
        out.update(reliability_summary([m for m in metas if m], threshold))
        return out

    return compute


@metric
def by_subset() -> Metric:
    """Accuracy per subset: `acc_<subset>`."""

    def compute(scores: list[SampleScore]) -> Value:
        records, threshold, _ = _records(scores)
        return subset_summary(records, threshold)

    return compute


@metric
def by_type() -> Metric:
    """Accuracy per row type, positives included: `acc_<type>`."""

    def compute(scores: list[SampleScore]) -> Value:
        records, threshold, _ = _records(scores)
        return type_summary(records, threshold)

    return compute


def reliability_summary(metas: list[dict[str, Any]], threshold: float) -> dict[str, float]:
    """Grounding gap, epoch stability and sampling temperature, with warnings a user should not miss."""
    out: dict[str, float] = {}
    checks = [(str(m.get("label")), m["grounding"]) for m in metas if m.get("grounding")]
    if checks:
        out.update(grounding_summary(checks))
        gap = out.get("grounding_gap_swap", float("nan"))
        if not math.isnan(gap) and gap < NOT_LISTENING_GAP:
            out["grounding_warning"] = 1.0
            logger.warning(
                f"grounding gap {gap:.3f} on positives (true audio vs another clip): this judge may not be listening"
            )
        else:
            out["grounding_warning"] = 0.0
    out.update(stability_summary([m.get("epoch_scores") or [] for m in metas], threshold))
    out.update(hard_item_summary(metas))
    temperatures = [float(m.get("temperature") or 0.0) for m in metas]
    if temperatures and max(temperatures) > 0:
        out["judge_temperature"] = max(temperatures)
        logger.warning(f"the judge ran at temperature {max(temperatures)}: verdicts are sampled, not greedy")
    return out


@metric
def item_metrics() -> Metric:
    """Item-level accuracy against gold item labels, per dimension, and the abstention share."""

    def compute(scores: list[SampleScore]) -> Value:
        items = [
            ItemRecord(
                dimension=str(i.get("dimension", "")),
                gold=str(i["gold"]),
                p_yes=i.get("p_yes") if i.get("parsed") else None,
            )
            for s in scores
            for i in logged_items(s.score.metadata or {})
            if i.get("gold") in ("yes", "no")
        ]
        return item_summary(items) if items else {}

    return compute


@scorer(metrics=[bench_metrics(), by_subset(), by_type()])
def bench_alignment(threshold: float = 0.5) -> Scorer:
    """`{"correct": 1 when score >= threshold agrees with the row's yes/no label else 0, "score": the
    alignment score}` (both shown in the viewer's sample list; see `scorers.values`); unscored when not judged."""

    async def score(state: TaskState, target: Target) -> Score:
        meta = state.metadata
        raw = state.store.get(RESULT_KEY)
        context: dict[str, Any] = {
            **{k: meta[k] for k in ("pair", "role", "attack") if k in meta},
            "uuid": meta.get("uuid"),
            "label": meta.get("label"),
            "subset": meta.get("subset"),
            "type": meta.get("type"),
            "language": meta.get("language"),
            "threshold": threshold,
        }
        if raw is None:
            return Score.unscored(reason="scoring_failed", explanation="the judge did not run", metadata=context)
        result = JudgeResult.model_validate(raw)
        grounding = state.store.get(GROUNDING_KEY)
        if grounding:
            context["grounding"] = grounding
        context.update(result.score_metadata())
        label = meta.get("label")
        explanation = render_checklist(result, threshold, label)
        if result.score is None:
            return Score.unscored(
                reason="grader_failed", explanation=explanation, metadata={**context, "error": result.error}
            )
        predicted = "yes" if result.score >= threshold else "no"
        return Score(
            value={CORRECT_KEY: 1.0 if predicted == label else 0.0, SCORE_KEY: result.score},
            answer=f"{predicted} ({meta.get('subset')})" if meta.get("subset") else predicted,
            explanation=explanation,
            metadata={**context, SCORE_KEY: result.score, "predicted": predicted},  # a copy for readers of the log
        )

    return score


@metric
def robustness_metrics() -> Metric:
    """How often an injection attack flips the verdict relative to its clean twin (pairs by `pair`)."""

    def compute(scores: list[SampleScore]) -> Value:
        twins: dict[str, dict[str, float]] = {}
        attacks: dict[str, str] = {}
        threshold = 0.5
        for s in scores:
            m = s.score.metadata or {}
            value = alignment_score(s.score)
            if m.get("pair") and value is not None:
                twins.setdefault(m["pair"], {})[m.get("role", "")] = value
                attacks[m["pair"]] = str(m.get("attack", "?"))
                threshold = float(m.get("threshold", threshold))
        pairs = [(attacks[p], t["clean"], t["attacked"]) for p, t in twins.items() if {"clean", "attacked"} <= t.keys()]
        out = flip_summary(pairs, threshold)
        out["complete_pairs"] = float(len(pairs))
        return out

    return compute
