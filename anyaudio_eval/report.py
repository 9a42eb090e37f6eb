"""Paper-style tables from finished logs: every number is recomputed from the logged per-sample scores."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from anyaudio_eval.bench.schema import SUBSETS
from anyaudio_eval.scorers.bench_scorer import record_from_metadata
from anyaudio_eval.scorers.metrics import Record, accuracy, auroc, group_by, macro_accuracy

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

    @property
    def judge(self) -> str:
        return f"{self.model} ({self.mode})"


def find_logs(paths: Sequence[str], latest: bool = False) -> list[Path]:
    """Log files named directly, or every .eval/.json log in a folder (only the newest with `latest`)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            logs = sorted(
                (f for f in p.rglob("*") if f.suffix in (".eval", ".json") and f.is_file()),
                key=lambda f: f.stat().st_mtime,
            )
            found.extend(logs[-1:] if latest else logs)
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"no log at {p}")
    if not found:
        raise FileNotFoundError(f"no .eval or .json logs under {', '.join(paths)}")
    return found


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
        protocol=f"{meta.get('protocol', 'anyaudio')} {meta.get('protocol_version') or meta.get('prompt_version', '?')}",
    )
    for sample in log.samples or []:
        score = (sample.scores or {}).get(SCORER)
        record = record_from_metadata(score.metadata if score else None)
        if record is None:
            summary.unscored += 1
        else:
            summary.records.append(record)
    return summary


def _pct(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.2f}"


def table_rows(summaries: Sequence[LogSummary]) -> tuple[list[str], list[list[str]]]:
    """One row per judge; per language: each subset, macro Avg, micro Avg, AUROC; then counts."""
    languages = sorted({r.language for s in summaries for r in s.records}) or ["?"]
    present = {r.subset for s in summaries for r in s.records}
    subsets = [s for s in SUBSETS if s in present] + sorted(present - set(SUBSETS))
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
    same language replaces the earlier log (logs come oldest first)."""
    by_judge: dict[tuple[str, str], list[LogSummary]] = {}
    for s in summaries:
        by_judge.setdefault((s.judge, s.protocol), []).append(s)
    groups = {}
    for key, group in by_judge.items():
        newest: dict[frozenset[str], LogSummary] = {}
        for s in group:
            newest[frozenset(r.language for r in s.records)] = s
        groups[key] = list(newest.values())
    return groups


def score_rows(summaries: Sequence[LogSummary]) -> tuple[list[str], list[list[str]]]:
    """Mean alignment score per subset and overall (pooled), per language: all that the release's logits-mode
    script reports (`per_subset_mean_score`, `overall_mean_score`), for a direct comparison with it."""
    languages = sorted({r.language for s in summaries for r in s.records}) or ["?"]
    present = {r.subset for s in summaries for r in s.records}
    subsets = [s for s in SUBSETS if s in present] + sorted(present - set(SUBSETS))
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


def render(summaries: Sequence[LogSummary], fmt: str = "table", scores: bool = False) -> str:
    """The accuracy table, or with `scores` the mean-score table; the rich table format shows both."""
    if scores:
        return _render(*score_rows(summaries), fmt, "Mean alignment score per subset (the release's logits report)")
    thresholds = sorted({s.threshold for s in summaries})
    title = f"Accuracy (%) at threshold {', '.join(map(str, thresholds))}; AUROC x100"
    out = _render(*table_rows(summaries), fmt, title)
    if fmt == "table":
        out += _render(*score_rows(summaries), fmt, "Mean alignment score per subset (the release's logits report)")
    return out


def _render(header: list[str], rows: list[list[str]], fmt: str, title: str) -> str:
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
    console = Console(record=True, width=max(100, 12 * len(header)))
    with console.capture() as capture:
        console.print(table)
    return capture.get()
