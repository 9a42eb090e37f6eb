"""Generators side by side from `instruct` logs (`anyaudio report`): mean score with a bootstrap CI, pass rate,
per domain, paired comparisons on shared instructions, and the rubric dimensions each generator fails most.

Every number is recomputed from the logged per-sample `rubric_judge` scores, with the functions of
`scorers/agreement.py`; logs are grouped by judge, judge mode and protocol, since scores from different judges
are not on one scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from anyaudio_eval.plots import rank_failed_dimensions
from anyaudio_eval.report import GENERATOR_SCORER, protocol_of
from anyaudio_eval.scorers.agreement import Estimate, PairedComparison, mean_estimate, paired_comparison
from anyaudio_eval.scorers.values import alignment_score, reduced_scores
from anyaudio_eval.shards import ShardedLog, choose_runs, run_identity

TOP_FAILED = 3


@dataclass
class GeneratorSummary:
    path: str
    generator: str
    judge: str
    mode: str
    protocol: str
    threshold: float
    scores: dict[str, float] = field(default_factory=dict)  # sample id -> score
    domains: dict[str, str] = field(default_factory=dict)
    metas: list[dict[str, Any]] = field(default_factory=list)
    unscored: int = 0
    shard: dict[str, Any] | None = None  # task metadata "shard" of a sharded run
    run: str = ""  # shards.run_identity
    unscored_ids: set[str] = field(default_factory=set)

    @property
    def group(self) -> tuple[str, str, str]:
        return (self.judge, self.mode, self.protocol)


def _judge_name(roles: dict[str, Any] | None) -> str:
    config = (roles or {}).get("judge")
    if isinstance(config, list):
        config = config[0] if config else None
    return str(getattr(config, "model", None) or "?")


def summarise_generator_log(path: str | Path) -> GeneratorSummary:
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(path))
    meta = log.eval.metadata or {}
    summary = GeneratorSummary(
        path=str(path),
        generator=log.eval.model,
        judge=_judge_name(log.eval.model_roles),
        mode=str(meta.get("judge_mode", "?")),
        protocol=protocol_of(meta),
        threshold=float(meta.get("threshold", 0.5)),
        shard=meta.get("shard"),
        run=run_identity(log.eval.task, log.eval.task_args),
    )
    for sample_id, score in reduced_scores(log, GENERATOR_SCORER):  # one per sample, as the metrics saw it
        value = alignment_score(score)
        if score is None or value is None:
            summary.unscored += 1
            summary.unscored_ids.add(sample_id)
            continue
        m = score.metadata or {}
        summary.scores[sample_id] = value
        summary.domains[sample_id] = str(m.get("domain", "?"))
        summary.metas.append(m)
    return summary


def _merged(logs: list[GeneratorSummary]) -> GeneratorSummary:
    """The shard logs of one run as one summary (a single log as itself)."""
    if len(logs) == 1:
        return logs[0]
    first = logs[0]
    merged = GeneratorSummary(
        path=", ".join(s.path for s in logs),
        generator=first.generator,
        judge=first.judge,
        mode=first.mode,
        protocol=first.protocol,
        threshold=first.threshold,
        run=first.run,
    )
    for s in logs:
        merged.scores.update(s.scores)
        merged.domains.update(s.domains)
        merged.metas.extend(s.metas)
        merged.unscored += s.unscored
        merged.unscored_ids |= s.unscored_ids
    return merged


@dataclass
class Leaderboard:
    rows: list[tuple[GeneratorSummary, Estimate]]
    comparisons: list[PairedComparison]


def leaderboard(summaries: Sequence[GeneratorSummary], seed: int = 0, tie_margin: float = 0.0) -> Leaderboard:
    """Rows ranked by mean score within each (judge, mode, protocol) group; paired comparisons of every two
    generators of a group that share instructions (the higher-ranked one as `a`)."""
    # Oldest first: a rerun of a generator with the same judge replaces the earlier log; shards make one log.
    runs = choose_runs(
        summaries,
        key=lambda s: (s.generator, *s.group),
        info=lambda s: ShardedLog(s.path, s.shard, s.run, set(s.scores) | set(s.unscored_ids)),
    )
    rows = [(s, mean_estimate([s.scores[i] for i in sorted(s.scores)], seed)) for s in map(_merged, runs.values())]
    rows.sort(key=lambda r: (r[0].group, -(r[1].value if not math.isnan(r[1].value) else -1)))
    comparisons = []
    for (a, _), (b, _) in combinations(rows, 2):
        if a.group == b.group and set(a.scores) & set(b.scores):
            comparisons.append(paired_comparison(a.generator, b.generator, a.scores, b.scores, tie_margin, seed))
    return Leaderboard(rows, comparisons)


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f}"


def leaderboard_tables(board: Leaderboard) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of the ranking, the paired comparisons and the most-failed rubric dimensions."""
    domains = sorted({d for s, _ in board.rows for d in s.domains.values()})
    domain_columns = [f"{d} x100" for d in domains] if len(domains) > 1 else []
    header = [
        "generator",
        "score x100 [95% CI]",
        "pass rate %",
        *domain_columns,
        "scored",
        "unscored",
        "judge",
        "mode",
        "protocol",
    ]
    rows = []
    for s, est in board.rows:
        per_domain = []
        if domain_columns:
            for d in domains:
                xs = [v for i, v in s.scores.items() if s.domains.get(i) == d]
                per_domain.append(_pct(sum(xs) / len(xs)) if xs else "-")
        passed = [v >= s.threshold for v in s.scores.values()]
        rows.append(
            [
                s.generator,
                est.text(scale=100, digits=1),
                _pct(sum(passed) / len(passed)) if passed else "-",
                *per_domain,
                str(len(s.scores)),
                str(s.unscored),
                s.judge,
                s.mode,
                s.protocol,
            ]
        )
    tables = [("Generators (mean judge score x100, percentile bootstrap 95% CI over instructions)", header, rows)]
    if board.comparisons:
        header = ["A", "B", "instructions", "A wins / ties / B wins", "A - B x100 [95% CI]", "CI excludes 0"]
        rows = [
            [
                c.a,
                c.b,
                str(c.wins + c.ties + c.losses),
                f"{c.wins} / {c.ties} / {c.losses}",
                c.difference.text(scale=100, digits=1),
                "yes" if c.significant else "no",
            ]
            for c in board.comparisons
        ]
        title = "Paired comparisons on shared instructions (paired bootstrap of the mean difference)"
        tables.append((title, header, rows))
    header = ["generator", *[f"most failed #{i + 1}" for i in range(TOP_FAILED)]]
    rows = []
    for s, _ in board.rows:
        failed = [d for d in rank_failed_dimensions(s.metas, TOP_FAILED) if d.failed]
        cells = [f"{d.dimension} {100 * d.rate:.0f}% of {d.judged}" for d in failed]
        rows.append([s.generator, *(cells + ["-"] * (TOP_FAILED - len(cells)))])
    tables.append(("Rubric dimensions failed most often (items answered no)", header, rows))
    return tables


def forest(board: Leaderboard) -> Any:
    """Forest plot: each generator's mean score x100 with its CI, and each paired difference with its CI."""
    from anyaudio_eval.plots import forest_figure

    def label(s: GeneratorSummary) -> str:
        groups = {r.group for r, _ in board.rows}
        return s.generator if len(groups) == 1 else f"{s.generator} ({s.judge}, {s.mode})"

    panels = [
        ("Mean score x100 (95% CI)", [(label(s), 100 * e.value, 100 * e.low, 100 * e.high) for s, e in board.rows])
    ]
    if board.comparisons:
        d = [
            (f"{c.a} - {c.b}", 100 * c.difference.value, 100 * c.difference.low, 100 * c.difference.high)
            for c in board.comparisons
        ]
        panels.append(("Paired difference x100 (95% CI)", d))
    return forest_figure(panels, ["score x100", "difference x100"][: len(panels)], reference=[None, 0.0][: len(panels)])
