"""Meta-evaluation metrics, as plain functions over per-sample records.

The same functions run inside Inspect (the `bench_metrics` metric) and over finished logs
(`anyaudio report`), so a log can always be re-reported without re-judging.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

REPORT_THRESHOLDS = (0.5, 0.8)


@dataclass(frozen=True)
class Record:
    """What the metrics need from one scored sample."""

    score: float
    label: str  # "yes" | "no"
    subset: str = ""
    type: str = ""
    language: str = ""
    n_items: int = 0
    n_unparsed: int = 0


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def accuracy(records: Sequence[Record], threshold: float) -> float:
    """Share of samples whose decision `score >= threshold` equals the label; NaN if empty."""
    return _mean([float((r.score >= threshold) == (r.label == "yes")) for r in records])


def macro_accuracy(records: Sequence[Record], threshold: float) -> float:
    """Mean of the per-subset accuracies (each subset weighs the same)."""
    by_subset = group_by(records, "subset")
    return _mean([accuracy(rs, threshold) for rs in by_subset.values()])


def balanced_accuracy(records: Sequence[Record], threshold: float) -> float:
    """Mean of recall on positives and recall on negatives; NaN if a class is missing."""
    pos = [r for r in records if r.label == "yes"]
    neg = [r for r in records if r.label == "no"]
    if not pos or not neg:
        return float("nan")
    return (accuracy(pos, threshold) + accuracy(neg, threshold)) / 2


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); NaN with one class."""
    pairs = sorted(zip(scores, labels, strict=True), key=lambda p: p[0])
    n_pos = sum(1 for _, y in pairs if y)
    n_neg = len(pairs) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j + 1 < len(pairs) and pairs[j + 1][0] == pairs[i][0]:
            j += 1
        avg_rank = (i + j) / 2 + 1  # ranks are 1-based
        rank_sum += avg_rank * sum(1 for k in range(i, j + 1) if pairs[k][1])
        i = j + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def expected_calibration_error(scores: Sequence[float], labels: Sequence[bool], bins: int = 10) -> float:
    """ECE of the score read as P(match): bin-size-weighted |mean score - positive rate|."""
    if not scores:
        return float("nan")
    buckets: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for s, y in zip(scores, labels, strict=True):
        buckets[min(int(s * bins), bins - 1)].append((s, y))
    total = len(scores)
    return sum(
        len(b) / total * abs(_mean([s for s, _ in b]) - _mean([float(y) for _, y in b])) for b in buckets.values()
    )


def group_by(records: Iterable[Record], key: str) -> dict[str, list[Record]]:
    groups: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        groups[getattr(r, key)].append(r)
    return dict(sorted(groups.items()))


def metric_key(name: str) -> str:
    """A metric-name part from free text: "speaking rate" -> "speaking_rate" (letters of any script kept)."""
    return re.sub(r"\W+", "_", name.strip()).strip("_").lower() or "unknown"


def headline_summary(records: Sequence[Record], threshold: float = 0.5) -> dict[str, float]:
    """The numbers a user quotes first (micro and macro accuracy, AUROC), then the rest of the run's summary."""
    scores = [r.score for r in records]
    labels = [r.label == "yes" for r in records]
    out: dict[str, float] = {
        "accuracy": accuracy(records, threshold),
        "macro_accuracy": macro_accuracy(records, threshold),
        "auroc": auroc(scores, labels),
    }
    for t in REPORT_THRESHOLDS:
        if t != threshold:
            out[f"accuracy_at_{t}"] = accuracy(records, t)
            out[f"macro_accuracy_at_{t}"] = macro_accuracy(records, t)
    n = len(records)
    acc = out["accuracy"]
    out["accuracy_stderr"] = math.sqrt(acc * (1 - acc) / (n - 1)) if n > 1 else float("nan")
    out["balanced_accuracy"] = balanced_accuracy(records, threshold)
    out["ece"] = expected_calibration_error(scores, labels)
    n_items = sum(r.n_items for r in records)
    out["unparsed_item_share"] = sum(r.n_unparsed for r in records) / n_items if n_items else float("nan")
    return out


def subset_summary(records: Sequence[Record], threshold: float = 0.5) -> dict[str, float]:
    """`acc_<subset>` for every subset present."""
    return {f"acc_{metric_key(s)}": accuracy(rs, threshold) for s, rs in group_by(records, "subset").items()}


def type_summary(records: Sequence[Record], threshold: float = 0.5) -> dict[str, float]:
    """`acc_<type>` for every row type present, positives included."""
    return {f"acc_{metric_key(t)}": accuracy(rs, threshold) for t, rs in group_by(records, "type").items()}


def bench_summary(records: Sequence[Record], threshold: float = 0.5) -> dict[str, float]:
    """Every number of a bench run, flat: the headline, then per subset, then per row type."""
    return {
        **headline_summary(records, threshold),
        **subset_summary(records, threshold),
        **type_summary(records, threshold),
    }


def finite_or_none(value: float) -> float | None:
    return None if value is None or math.isnan(value) else value


@dataclass(frozen=True)
class ItemRecord:
    """One judged rubric item with a gold label (probe set, training corpus)."""

    dimension: str
    gold: str  # "yes" | "no"
    p_yes: float | None  # None when unparsed


def is_abstention(p_yes: float | None) -> bool:
    """An item the judge gave no information on: unparsed, or p_yes exactly 0.5."""
    return p_yes is None or abs(p_yes - 0.5) < 1e-9


def item_summary(items: Sequence[ItemRecord]) -> dict[str, float]:
    """Item-level agreement with gold labels: over answered items, over all items, and per dimension
    (accuracy on answered items; the abstention share where it is not zero)."""
    answered = [i for i in items if not is_abstention(i.p_yes)]

    def right(i: ItemRecord) -> float:
        if i.p_yes is None or is_abstention(i.p_yes):
            return 0.0
        return float((i.p_yes >= 0.5) == (i.gold == "yes"))

    def acc(xs: Sequence[ItemRecord]) -> float:
        return _mean([right(i) for i in xs])

    out = {
        "item_accuracy_answered": acc(answered),
        # Abstentions count as wrong here, so a judge cannot look good by answering little.
        "item_accuracy_all": acc(items),
        "item_abstention_share": 1 - len(answered) / len(items) if items else float("nan"),
    }
    by_dim: dict[str, list[ItemRecord]] = defaultdict(list)
    for i in items:
        by_dim[i.dimension or "?"].append(i)
    for dim, xs in sorted(by_dim.items()):
        answered_dim = [i for i in xs if not is_abstention(i.p_yes)]
        if answered_dim:
            out[f"item_acc_{metric_key(dim)}"] = acc(answered_dim)
        if len(answered_dim) < len(xs):  # shown only where the judge abstains, to keep the summary short
            out[f"item_abstention_{metric_key(dim)}"] = 1 - len(answered_dim) / len(xs)
    return out


def grounding_summary(checks: Sequence[tuple[str, dict]]) -> dict[str, float]:
    """From (label, grounding check) pairs: the score gap true-vs-wrong audio on positives, and stability."""
    positives = [c for label, c in checks if label == "yes"]
    out: dict[str, float] = {"grounding_samples": float(len(checks))}
    for variant in ("swap", "silence"):
        gaps = [
            c["score_true"] - c[f"score_{variant}"]
            for c in positives
            if c.get("score_true") is not None and c.get(f"score_{variant}") is not None
        ]
        out[f"grounding_gap_{variant}"] = _mean(gaps)
        unchanged = [c[f"unchanged_{variant}"] for _, c in checks if c.get(f"unchanged_{variant}") is not None]
        out[f"unchanged_items_{variant}"] = _mean(unchanged)
    return out


def stability_summary(epoch_scores: Sequence[Sequence[float]], threshold: float) -> dict[str, float]:
    """Across epochs: mean and max per-sample score range, and the share of samples whose verdict changed."""
    multi = [s for s in epoch_scores if len(s) > 1]
    if not multi:
        return {}
    ranges = [max(s) - min(s) for s in multi]
    changed = [len({x >= threshold for x in s}) > 1 for s in multi]
    return {
        "epoch_score_range_mean": _mean(ranges),
        "epoch_score_range_max": max(ranges),
        "epoch_verdict_change_share": _mean([float(c) for c in changed]),
    }


def flip_summary(pairs: Sequence[tuple[str, float, float]], threshold: float) -> dict[str, float]:
    """From (attack, clean score, attacked score): the share of pairs whose verdict the attack flipped,
    overall and per attack, and the share where it turned a "no" into a "yes"."""
    out: dict[str, float] = {}
    by_attack: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for attack, clean, attacked in pairs:
        by_attack[attack].append((clean, attacked))
    everything = [p for ps in by_attack.values() for p in ps]
    for name, ps in [("all", everything), *sorted(by_attack.items())]:
        if not ps:
            continue
        flips = [float((c >= threshold) != (a >= threshold)) for c, a in ps]
        to_yes = [float(c < threshold <= a) for c, a in ps]
        suffix = "" if name == "all" else f"_{name}"
        out[f"flip_rate{suffix}"] = _mean(flips)
        out[f"flip_to_yes{suffix}"] = _mean(to_yes)
        out[f"score_shift{suffix}"] = _mean([a - c for c, a in ps])
    return out


def logged_items(meta: dict) -> list[dict]:
    """Per-item verdicts of a sample: every epoch's (`epoch_items`, set by the epoch reducer), else the one."""
    return list(meta.get("epoch_items") or meta.get("items") or [])


def logged_intelligibility(meta: dict) -> list[dict]:
    """WER/CER measurements of a sample: every epoch's (`epoch_intelligibility`, set by the epoch reducer), else
    the one, else none."""
    return list(meta.get("epoch_intelligibility") or ([meta["intelligibility"]] if meta.get("intelligibility") else []))


def hard_item_summary(metas: Sequence[dict]) -> dict[str, float]:
    """`hard_item_share`: parsed items that are a hard 0/1 read from text (no logprobs), among samples judged
    with `hard_answers=allow` in a mode that asks for a distribution. Empty when no sample allowed them."""
    allowed = [m for m in metas if m.get("hard_answers") == "allow" and m.get("mode") != "generate"]
    if not allowed:
        return {}
    parsed = [i for m in allowed for i in logged_items(m) if i.get("parsed")]
    hard = sum(not i.get("soft") for i in parsed)
    share = hard / len(parsed) if parsed else 0.0
    if hard:
        _warn_once(
            "some judged items are hard 0/1 answers without logprobs (hard_answers=allow): their p_yes is not a "
            "probability; hard_item_share in the results says how many"
        )
    return {"hard_item_share": share}


@functools.lru_cache(maxsize=256)
def _warn_once(message: str) -> None:
    # Inspect also computes metrics on partial results while a run goes: the warning is shown once.
    logger.warning(message)
