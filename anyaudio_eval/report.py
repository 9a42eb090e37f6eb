"""Paper-style tables from finished logs: every number is recomputed from the logged per-sample scores (the
epoch-reduced ones; `scorers.values` reads every score shape this project has written)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from anyaudio_eval.bench.schema import SUBSETS
from anyaudio_eval.scorers.bench_scorer import record_of
from anyaudio_eval.scorers.metrics import Record, accuracy, auroc, group_by, macro_accuracy
from anyaudio_eval.scorers.values import reduced_scores
from anyaudio_eval.shards import ShardedLog, choose_runs, run_identity

SCORER = "bench_alignment"


@dataclass
class LogSummary:
    path: str
    task: str
    model: str
    mode: str
    threshold: float
    records: list[Record] = field(default_factory=list)
    unscored: int = 0
    protocol: str = "anyaudio"  # name and version (logs written before protocols existed: anyaudio)
    language: str = ""  # the run's language option (for logs whose samples are all unscored)
    shard: dict[str, Any] | None = None  # task metadata "shard" of a sharded run
    run: str = ""  # shards.run_identity: the shards of one run share it
    sample_ids: set[str] = field(default_factory=set)

    @property
    def judge(self) -> str:
        return f"{self.model} ({self.mode})"


def find_logs(paths: Sequence[str], latest: bool = False) -> list[Path]:
    """Log files named directly, or every .eval/.json file in a folder (a file that is not a readable log is
    skipped later, with a line saying so). With `latest`, a folder's newest log by Inspect's own rule (`.eval`
    files, and `.json` files named by a log's timestamp), so a `logs.json` manifest or a note is never picked."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(_newest_log(p) if latest else _log_candidates(p))
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"no log at {p}")
    if not found:
        raise FileNotFoundError(f"no .eval or .json logs under {', '.join(paths)}")
    return found


def _log_candidates(folder: Path) -> list[Path]:
    files = (f for f in folder.rglob("*") if f.suffix in (".eval", ".json") and f.is_file())
    return sorted(files, key=lambda f: f.stat().st_mtime)


def _newest_log(folder: Path) -> list[Path]:
    from inspect_ai.log import list_eval_logs

    logs = list_eval_logs(str(folder), recursive=True, descending=True)  # newest first
    if not logs:
        return []
    parsed = urlparse(logs[0].name)
    return [Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(logs[0].name)]


def summarise_log(path: Path) -> LogSummary:
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(path))
    meta = log.eval.metadata or {}
    summary = LogSummary(
        path=str(path),
        task=log.eval.task,
        model=log.eval.model,
        mode=str(meta.get("judge_mode", "?")),
        threshold=float(meta.get("threshold", 0.5)),
        protocol=protocol_of(meta),
        language=str((meta.get("dataset") or {}).get("language") or ""),
        shard=meta.get("shard"),
        run=run_identity(log.eval.task, log.eval.task_args),
    )
    summary.sample_ids.update(str(sample.id) for sample in log.samples or [])
    for _, score in reduced_scores(log, SCORER):  # one per sample, as the log's metrics saw it
        record = record_of(score)
        if record is None:
            summary.unscored += 1
        else:
            summary.records.append(record)
    return summary


def _pct(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.2f}"


def _columns(summaries: Sequence[LogSummary]) -> tuple[list[str], list[str]]:
    """(languages, subsets) present in the logs: the bench's subsets in their order, then any others."""
    languages = sorted({r.language for s in summaries for r in s.records}) or ["?"]
    present = {r.subset for s in summaries for r in s.records}
    return languages, [s for s in SUBSETS if s in present] + sorted(present - set(SUBSETS))


def table_rows(summaries: Sequence[LogSummary]) -> tuple[list[str], list[list[str]]]:
    """One row per judge; per language: each subset, macro Avg, micro Avg, AUROC; then counts."""
    languages, subsets = _columns(summaries)
    header = ["judge"]
    for lang in languages:
        prefix = f"{lang} " if len(languages) > 1 else ""
        header += [f"{prefix}{s}" for s in subsets] + [f"{prefix}Avg (macro)", f"{prefix}Avg (micro)", f"{prefix}AUROC"]
    header += ["scored", "unscored", "protocol"]
    rows = []
    for (judge, protocol), group in _judge_groups(summaries).items():
        records = [r for s in group for r in s.records]
        threshold = group[0].threshold
        row = [judge]
        for lang in languages:
            rs = [r for r in records if r.language == lang or len(languages) == 1]
            per_subset = group_by(rs, "subset")
            row += [_pct(accuracy(per_subset.get(s, []), threshold)) for s in subsets]
            row += [
                _pct(macro_accuracy(rs, threshold)),
                _pct(accuracy(rs, threshold)),
                _pct(auroc([r.score for r in rs], [r.label == "yes" for r in rs])),
            ]
        row += [str(len(records)), str(sum(s.unscored for s in group)), protocol]
        rows.append(row)
    return header, rows


def _judge_groups(summaries: Sequence[LogSummary]) -> dict[tuple[str, str], list[LogSummary]]:
    """Logs of one judge under one protocol (one per language) share a row; a rerun of the same judge on the
    same language replaces the earlier log (logs come oldest first), and the shard logs of a sharded run
    (`-T shard=k/n`) count as one log. Raises ShardError for shard sets that overlap or are incomplete."""
    runs = choose_runs(
        summaries,
        key=lambda s: (s.judge, s.protocol, frozenset(r.language for r in s.records) or frozenset([s.language])),
        info=lambda s: ShardedLog(s.path, s.shard, s.run, s.sample_ids),
    )
    groups: dict[tuple[str, str], list[LogSummary]] = {}
    for logs in runs.values():  # every log of a run has the run key's judge and protocol
        groups.setdefault((logs[0].judge, logs[0].protocol), []).extend(logs)
    return groups


def score_rows(summaries: Sequence[LogSummary]) -> tuple[list[str], list[list[str]]]:
    """Mean alignment score per subset and overall (pooled), per language: all that the release's logits-mode
    script reports (`per_subset_mean_score`, `overall_mean_score`), for a direct comparison with it."""
    languages, subsets = _columns(summaries)
    header = ["judge"]
    for lang in languages:
        prefix = f"{lang} " if len(languages) > 1 else ""
        header += [f"{prefix}{s}" for s in subsets] + [f"{prefix}overall"]
    header += ["scored", "protocol"]
    rows = []
    for (judge, protocol), group in _judge_groups(summaries).items():
        records = [r for s in group for r in s.records]
        row = [judge]
        for lang in languages:
            rs = [r for r in records if r.language == lang or len(languages) == 1]
            per_subset = group_by(rs, "subset")
            row += [_mean_score(per_subset.get(s, [])) for s in subsets] + [_mean_score(rs)]
        rows.append(row + [str(len(records)), protocol])
    return header, rows


def _mean_score(records: Sequence[Record]) -> str:
    return f"{sum(r.score for r in records) / len(records):.4f}" if records else "-"


SCORES_TITLE = "Mean alignment score per subset (the release's logits report)"


def render(summaries: Sequence[LogSummary], fmt: str = "table", scores: bool = False) -> str:
    """The accuracy table, or with `scores` the mean-score table; the rich table format shows both."""
    if scores:
        return render_table(*score_rows(summaries), fmt, SCORES_TITLE)
    thresholds = sorted({s.threshold for s in summaries})
    title = f"Accuracy (%) at threshold {', '.join(map(str, thresholds))}; AUROC x100"
    out = render_table(*table_rows(summaries), fmt, title)
    if fmt == "table":
        out += render_table(*score_rows(summaries), fmt, SCORES_TITLE)
    return out


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]], fmt: str, title: str) -> str:
    """One table as csv, markdown (a `###` title line above it) or a rich terminal table."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(header)
        writer.writerows(rows)
        return buf.getvalue()
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    # Wide enough that no cell wraps: these tables are read whole or pasted, not squeezed into a terminal.
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    console = Console(record=True, width=max(100, sum(widths) + 3 * len(widths) + 4))
    with console.capture() as capture:
        console.print(table)
    return capture.get()


# -- which table a log belongs to ---------------------------------------------------------------------

ALIGNMENT_TASK = "human_alignment"
GENERATOR_SCORER = "rubric_judge"


def log_kind(path: str | Path) -> str:
    """bench (bench_alignment scores: bench, probes, robustness), human_alignment, or generator (rubric_judge)."""
    from inspect_ai.log import read_eval_log

    header = read_eval_log(str(path), header_only=True)
    if header.eval.task.split("/")[-1] == ALIGNMENT_TASK:
        return "human_alignment"
    scorers = {s.name for s in (header.results.scores if header.results else [])}
    if GENERATOR_SCORER in scorers or header.eval.task.split("/")[-1] == "instruct":
        return "generator"
    return "bench"


def protocol_of(meta: dict | None) -> str:
    """Name and version of the judging protocol a run recorded in its task metadata; runs from before protocols
    existed used the project's own one (anyaudio, at their prompt version)."""
    meta = meta or {}
    return f"{meta.get('protocol', 'anyaudio')} {meta.get('protocol_version') or meta.get('prompt_version', '?')}"


# -- human_alignment logs -------------------------------------------------------------------------------


@dataclass
class AlignmentSummary:
    path: str
    judge: str
    mode: str
    protocol: str
    layout: str
    dataset: str
    metrics: dict[str, float]


def summarise_alignment_log(path: str | Path) -> AlignmentSummary:
    """Recompute every agreement number of a human_alignment log from its per-sample score metadata."""
    from inspect_ai.log import read_eval_log

    from anyaudio_eval.scorers.agreement import summary_from_metadata

    log = read_eval_log(str(path))
    meta = log.eval.metadata or {}
    scale = meta.get("scale") or [None, None]
    metas = [
        (sample.scores or {}).get("listener_agreement").metadata or {}  # type: ignore[union-attr]
        for sample in log.samples or []
        if (sample.scores or {}).get("listener_agreement") is not None
    ]
    metrics = summary_from_metadata(
        metas,
        seed=int(meta.get("seed", 0)),
        tie_margin=float(meta.get("tie_margin", 0.0)),
        scale=(float(scale[0]), float(scale[1])) if None not in scale else None,
    )
    metrics["n_unscored"] = float(
        len(log.samples or [])
        - sum(1 for m in metas if m.get("judge_score") is not None or m.get("score_a") is not None)
    )
    return AlignmentSummary(
        path=str(path),
        judge=log.eval.model,
        mode=str(meta.get("judge_mode", "?")),
        protocol=protocol_of(meta),
        layout=str(meta.get("layout", "ratings")),
        dataset=str((meta.get("dataset") or {}).get("source", "")),
        metrics=metrics,
    )


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _ci(metrics: dict[str, float], name: str) -> str:
    from anyaudio_eval.scorers.agreement import Estimate

    nan = float("nan")
    value = metrics.get(name, nan)
    return Estimate(value, metrics.get(f"{name}_low", nan), metrics.get(f"{name}_high", nan), 0).text()


def _newest(items: Sequence, key) -> list:
    # Logs come oldest first: a rerun with the same key replaces the earlier one.
    out: dict = {}
    for item in items:
        out[key(item)] = item
    return list(out.values())


def alignment_tables(summaries: Sequence[AlignmentSummary]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows): one table for rating sets (LCC / SRCC / KTAU with 95% CIs, rater agreement) and
    one for preference pairs; one row per judge x mode x protocol (x dataset when there are several)."""
    summaries = _newest(summaries, lambda s: (s.judge, s.mode, s.protocol, s.dataset, s.layout))
    tables = []
    ratings = [s for s in summaries if s.layout == "ratings"]
    several = len({s.dataset for s in ratings}) > 1
    if ratings:
        header = [
            "judge",
            "mode",
            "protocol",
            *(["dataset"] if several else []),
            "clips",
            "LCC [95% CI]",
            "SRCC [95% CI]",
            "KTAU [95% CI]",
            "rater-avg SRCC",
            "listener vs others SRCC",
            "alpha raters",
            "alpha +judge",
            "unscored",
        ]
        rows = []
        for s in sorted(ratings, key=lambda s: (s.dataset, -s.metrics.get("srcc", -2))):
            m = s.metrics
            rows.append(
                [
                    s.judge,
                    s.mode,
                    s.protocol,
                    *([s.dataset] if several else []),
                    str(int(m.get("n_clips", 0))),
                    _ci(m, "lcc"),
                    _ci(m, "srcc"),
                    _ci(m, "ktau"),
                    _num(m.get("rater_avg_srcc")),
                    _num(m.get("human_loo_srcc")),
                    _num(m.get("alpha_raters")),
                    _num(m.get("alpha_with_judge")),
                    str(int(m.get("n_unscored", 0))),
                ]
            )
        tables.append(("Agreement with human ratings (judge score vs mean listener score)", header, rows))
    pairs = [s for s in summaries if s.layout == "pairwise"]
    several = len({s.dataset for s in pairs}) > 1
    if pairs:
        header = [
            "judge",
            "mode",
            "protocol",
            *(["dataset"] if several else []),
            "pairs",
            "accuracy [95% CI]",
            "strict accuracy",
            "judge ties",
            "human ties (left out)",
            "unscored",
        ]
        rows = []
        for s in sorted(pairs, key=lambda s: (s.dataset, -s.metrics.get("pair_accuracy", -1))):
            m = s.metrics
            rows.append(
                [
                    s.judge,
                    s.mode,
                    s.protocol,
                    *([s.dataset] if several else []),
                    str(int(m.get("n_pairs", 0))),
                    _ci(m, "pair_accuracy"),
                    _num(m.get("pair_accuracy_strict")),
                    str(int(m.get("n_judge_ties", 0))),
                    str(int(m.get("n_human_ties", 0))),
                    str(int(m.get("n_unscored", 0))),
                ]
            )
        tables.append(("Agreement with human preferences (a judge tie counts half; strict: as wrong)", header, rows))
    return tables


def alignment_forest(summaries: Sequence[AlignmentSummary]) -> Any:
    """Forest plot of LCC, SRCC and KTAU with their CIs, one row per judge x mode (rating-set logs)."""
    from anyaudio_eval.plots import forest_figure

    rows = [
        s
        for s in _newest(summaries, lambda s: (s.judge, s.mode, s.protocol, s.dataset, s.layout))
        if s.layout == "ratings"
    ]
    nan = float("nan")
    panels = [
        (
            name.upper(),
            [
                (
                    f"{s.judge} ({s.mode})",
                    s.metrics.get(name, nan),
                    s.metrics.get(f"{name}_low", nan),
                    s.metrics.get(f"{name}_high", nan),
                )
                for s in rows
            ],
        )
        for name in ("lcc", "srcc", "ktau")
    ]
    return forest_figure(panels, "correlation with the mean listener score", reference=0.0)
