"""Agreement with people and comparisons of generators, with seeded bootstrap confidence intervals.

Plain functions over plain lists, shared by the Inspect metrics and `anyaudio report`, so a log can be re-reported
without re-judging. The statistics are scipy's (`pearsonr`, `spearmanr`, `kendalltau` tau-b, `bootstrap` with the
percentile method) and Inspect's `krippendorff_alpha`; nothing here re-implements them.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CONFIDENCE = 0.95
N_RESAMPLES = 2000
# A rater's own correlation with the judge is computed only over at least this many clips.
MIN_RATER_CLIPS = 5
# Per-rater numbers go into the metrics only for small rater pools (a crowd of 1,000 would swamp the log).
MAX_LISTED_RATERS = 20
CORRELATIONS = ("lcc", "srcc", "ktau")


def require_scipy() -> Any:
    """scipy.stats, or a message naming the extra to install (checked when a task starts, not after judging)."""
    try:
        import scipy.stats
    except ImportError as ex:  # pragma: no cover - scipy comes with the acoustic extra
        raise RuntimeError("agreement statistics need scipy: pip install 'anyaudio-eval[acoustic]'") from ex
    return scipy.stats


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap interval (NaN where too few observations)."""

    value: float
    low: float
    high: float
    n: int

    def text(self, scale: float = 1.0, digits: int = 3) -> str:
        if math.isnan(self.value):
            return "-"
        v = f"{scale * self.value:.{digits}f}"
        if math.isnan(self.low) or math.isnan(self.high):
            return v
        return f"{v} [{scale * self.low:.{digits}f}, {scale * self.high:.{digits}f}]"

    def as_dict(self, name: str) -> dict[str, float]:
        return {name: self.value, f"{name}_low": self.low, f"{name}_high": self.high}


NAN = float("nan")


def _correlation(kind: str) -> Callable[..., Any]:
    """The statistic as scipy computes it, along the last axis (so the bootstrap evaluates every resample in
    one call): Pearson, Spearman (Pearson of scipy's average ranks, which is how `spearmanr` defines it) or
    Kendall tau-b."""
    stats = require_scipy()

    def statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> Any:
        with warnings.catch_warnings():  # a constant resample has no correlation: NaN, not a warning per draw
            warnings.simplefilter("ignore")
            if kind == "lcc":
                return stats.pearsonr(x, y, axis=axis).statistic
            if kind == "srcc":
                return stats.pearsonr(stats.rankdata(x, axis=axis), stats.rankdata(y, axis=axis), axis=axis).statistic
            return stats.kendalltau(x, y, variant="b", axis=axis).statistic

    return statistic


def bootstrap_interval(
    statistic: Callable[..., float],
    samples: Sequence[Sequence[float]],
    seed: int,
    paired: bool = True,
    vectorized: bool = False,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic` over the observations (resampled together when paired)."""
    data = tuple(np.asarray(s, dtype=float) for s in samples)
    if len(data[0]) < 2:
        return NAN, NAN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = require_scipy().bootstrap(
            data,
            statistic,
            paired=paired,
            vectorized=vectorized,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def correlation(kind: str, judge: Sequence[float], human: Sequence[float], seed: int = 0, ci: bool = True) -> Estimate:
    """LCC (Pearson), SRCC (Spearman) or KTAU (Kendall tau-b) of judge vs human scores, with a bootstrap CI
    over clips (clips resampled with their human score)."""
    n = len(judge)
    if n < 3:
        return Estimate(NAN, NAN, NAN, n)
    statistic = _correlation(kind)
    value = float(statistic(np.asarray(judge, float), np.asarray(human, float)))
    if not ci or math.isnan(value):
        return Estimate(value, NAN, NAN, n)
    low, high = bootstrap_interval(statistic, (judge, human), seed, vectorized=True)
    return Estimate(value, low, high, n)


def correlations(judge: Sequence[float], human: Sequence[float], seed: int = 0) -> dict[str, Estimate]:
    return {kind: correlation(kind, judge, human, seed) for kind in CORRELATIONS}


@dataclass(frozen=True)
class RatedClip:
    """What the agreement metrics need from one judged clip."""

    judge: float
    ratings: tuple[tuple[str, float], ...]  # (rater id, or "" when unknown; score)

    @property
    def human(self) -> float:
        return sum(s for _, s in self.ratings) / len(self.ratings)


def rater_agreement(clips: Sequence[RatedClip], scale: tuple[float, float] | None = None) -> dict[str, float]:
    """With rater ids: the judge's correlation with each rater (raters with >= MIN_RATER_CLIPS clips), their
    mean (rater-averaged), each rater against the mean of the other raters of the same clips (the human
    ceiling), and Krippendorff's alpha (interval) of the raters alone and with the judge as one more rater.

    For alpha the judge's score in [0, 1] is mapped linearly onto the rating `scale` (lo, hi), by default the
    range of the ratings: alpha then asks for agreement in value, not only in rank.
    """
    named = [c for c in clips if any(r for r, _ in c.ratings)]
    if not named:
        return {}
    by_rater: dict[str, list[tuple[float, float, float | None]]] = defaultdict(list)
    for c in named:
        for rater, score in c.ratings:
            others = [s for r, s in c.ratings if r != rater]
            by_rater[rater].append((c.judge, score, sum(others) / len(others) if others else None))
    out: dict[str, float] = {"n_raters": float(len(by_rater))}
    per_rater: dict[str, dict[str, float]] = {}
    ceiling: list[float] = []
    for rater, rows in sorted(by_rater.items()):
        if len(rows) < MIN_RATER_CLIPS:
            continue
        judge = [j for j, _, _ in rows]
        own = [s for _, s, _ in rows]
        per_rater[rater] = {k: correlation(k, judge, own, ci=False).value for k in CORRELATIONS}
        paired = [(s, o) for _, s, o in rows if o is not None]
        if len(paired) >= MIN_RATER_CLIPS:
            ceiling.append(correlation("srcc", [s for s, _ in paired], [o for _, o in paired], ci=False).value)
    out["n_raters_scored"] = float(len(per_rater))
    for kind in CORRELATIONS:
        values = [v[kind] for v in per_rater.values() if not math.isnan(v[kind])]
        out[f"rater_avg_{kind}"] = float(np.mean(values)) if values else NAN
    finite = [v for v in ceiling if not math.isnan(v)]
    out["human_loo_srcc"] = float(np.mean(finite)) if finite else NAN
    if len(per_rater) <= MAX_LISTED_RATERS:
        for rater, stats in per_rater.items():
            out[f"rater_{rater}_srcc"] = stats["srcc"]
    out.update(krippendorff(named, scale))
    return out


def krippendorff(clips: Sequence[RatedClip], scale: tuple[float, float] | None = None) -> dict[str, float]:
    """Interval alpha over clips with >= 2 ratings (raters only), and with the rescaled judge added."""
    from inspect_ai.scorer import SampleScore, Score, krippendorff_alpha

    scores = [s for c in clips for _, s in c.ratings]
    if not scores:
        return {}
    lo, hi = scale or (min(scores), max(scores))
    alpha = krippendorff_alpha(level="interval")

    def units(with_judge: bool) -> list[SampleScore]:
        rows = []
        for i, c in enumerate(clips):
            values = [s for _, s in c.ratings] + ([lo + c.judge * (hi - lo)] if with_judge else [])
            if len(values) >= 2:
                rows.append(SampleScore(score=Score(value=values), sample_id=i))
        return rows

    humans = units(False)
    return {
        "alpha_raters": float(alpha(humans)) if humans else NAN,  # type: ignore[arg-type]
        "alpha_with_judge": float(alpha(units(True))),  # type: ignore[arg-type]
    }


def alignment_summary(
    clips: Sequence[RatedClip], seed: int = 0, scale: tuple[float, float] | None = None
) -> dict[str, float]:
    """Every number of a rating-set run: LCC/SRCC/KTAU with CIs vs the mean human score, then rater agreement."""
    judge = [c.judge for c in clips]
    human = [c.human for c in clips]
    out: dict[str, float] = {"n_clips": float(len(clips))}
    for kind, est in correlations(judge, human, seed).items():
        out.update(est.as_dict(kind))
    out.update(rater_agreement(clips, scale))
    return out


# -- pairwise preferences ----------------------------------------------------------------------------


PREFERENCES = ("a", "b", "tie")


def pair_credit(score_a: float, score_b: float, preferred: str, tie_margin: float = 0.0) -> float:
    """1 when the judge prefers the clip people preferred, 0.5 when the judge ties (|a - b| <= tie_margin),
    else 0. Only for pairs where people were not tied."""
    if abs(score_a - score_b) <= tie_margin:
        return 0.5
    return float((score_a > score_b) == (preferred == "a"))


def pairwise_summary(
    pairs: Sequence[tuple[float, float, str]], tie_margin: float = 0.0, seed: int = 0
) -> dict[str, float]:
    """Accuracy on pairs from (judge score a, judge score b, human preference a|b|tie).

    Pairs people judged a tie are left out of the accuracy (counted in `n_human_ties`, and
    `human_tie_agreement` is the share of them the judge also tied). A judge tie on a decided pair earns half
    a point in `pair_accuracy` and none in `pair_accuracy_strict`.
    """
    decided = [(a, b, p) for a, b, p in pairs if p != "tie"]
    human_ties = [(a, b) for a, b, p in pairs if p == "tie"]
    credits = [pair_credit(a, b, p, tie_margin) for a, b, p in decided]
    out: dict[str, float] = {
        "n_pairs": float(len(decided)),
        "n_human_ties": float(len(human_ties)),
        "n_judge_ties": float(sum(c == 0.5 for c in credits)),
    }
    est = mean_estimate(credits, seed)
    out.update(est.as_dict("pair_accuracy"))
    out["pair_accuracy_strict"] = float(np.mean([c == 1.0 for c in credits])) if credits else NAN
    out["human_tie_agreement"] = (
        float(np.mean([abs(a - b) <= tie_margin for a, b in human_ties])) if human_ties else NAN
    )
    return out


# -- generators ----------------------------------------------------------------------------------------


def mean_estimate(values: Sequence[float], seed: int = 0) -> Estimate:
    """Mean with a percentile bootstrap CI over the observations."""
    if not values:
        return Estimate(NAN, NAN, NAN, 0)
    low, high = bootstrap_interval(np.mean, (values,), seed, paired=False, vectorized=True)
    return Estimate(float(np.mean(values)), low, high, len(values))


@dataclass(frozen=True)
class PairedComparison:
    """Generator a against generator b on the instructions both were scored on."""

    a: str
    b: str
    wins: int  # a scored higher than b by more than the tie margin
    ties: int
    losses: int
    difference: Estimate  # mean of (a - b), paired bootstrap CI over instructions

    @property
    def significant(self) -> bool:
        d = self.difference
        return not math.isnan(d.low) and (d.low > 0 or d.high < 0)


def paired_comparison(
    a: str,
    b: str,
    scores_a: Mapping[str, float],
    scores_b: Mapping[str, float],
    tie_margin: float = 0.0,
    seed: int = 0,
) -> PairedComparison:
    """Win/tie/lose per shared instruction id and the mean paired difference with its bootstrap CI (the
    instructions are resampled, each keeping both generators' scores)."""
    shared = sorted(set(scores_a) & set(scores_b))
    diffs = [scores_a[i] - scores_b[i] for i in shared]
    wins = sum(d > tie_margin for d in diffs)
    losses = sum(d < -tie_margin for d in diffs)
    return PairedComparison(a, b, wins, len(diffs) - wins - losses, losses, mean_estimate(diffs, seed))


# -- from logged score metadata (the human_alignment task writes these keys) ----------------------------------


def summary_from_metadata(
    metas: Sequence[Mapping[str, Any]],
    seed: int = 0,
    tie_margin: float = 0.0,
    scale: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Every number of a human_alignment run from its samples' score metadata; unscored samples are counted."""
    clips, pairs, unscored = [], [], 0
    for m in metas:
        if m.get("kind") == "pairwise":
            if m.get("score_a") is None or m.get("score_b") is None:
                unscored += 1
            else:
                pairs.append((float(m["score_a"]), float(m["score_b"]), str(m["preferred"])))
        elif m.get("kind") == "rating":
            if m.get("judge_score") is None:
                unscored += 1
            else:
                ratings = tuple((str(r.get("rater") or ""), float(r["score"])) for r in m.get("ratings") or [])
                if ratings:
                    clips.append(RatedClip(float(m["judge_score"]), ratings))
    # A canonical order, so the bootstrap draws (and the CIs) do not depend on the order samples finished in.
    clips.sort(key=lambda c: (c.judge, c.human, c.ratings))
    pairs.sort()
    out: dict[str, float] = {"n_unscored": float(unscored)}
    if clips:
        out.update(alignment_summary(clips, seed, scale))
    if pairs:
        out.update(pairwise_summary(pairs, tie_margin, seed))
    return out
