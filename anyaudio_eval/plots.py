"""PNG plots of finished logs (`anyaudio report LOG... --plot DIR`).

Every number is recomputed from the logged per-sample scores, with the same functions as the tables
(`scorers.metrics`). Figures:

- `roc.png`: ROC curve of the continuous score, one panel per subset (and one for all samples), one line per
  judge, AUROC in the legend;
- `reliability.png`: reliability diagram of the score read as P(match), one line per judge, ECE in the legend,
  with the number of samples in each bin below;
- `accuracy_by_subset.png`: accuracy per subset at each run's threshold, grouped bars (one bar per judge and
  language, en and zh side by side);
- `failed_dimensions.png` (generator logs, `rubric_judge` scorer): the rubric dimensions whose items fail most
  often, one panel per generator log;
- `generators_forest.png` (generator logs): each generator's mean score and the paired differences, with their
  bootstrap 95% CIs; `human_alignment_forest.png` (human_alignment logs): LCC, SRCC and KTAU with CIs per
  judge and mode.

matplotlib runs with the Agg backend (no display needed). Builders return the Figure, so callers and tests can
inspect it; `write_report_plots` saves them and returns the paths written.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anyaudio_eval.bench.schema import SUBSETS
from anyaudio_eval.scorers.metrics import Record, accuracy, auroc, expected_calibration_error, group_by

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from anyaudio_eval.report import LogSummary

GENERATOR_SCORER = "rubric_judge"
TOP_DIMENSIONS = 12
RELIABILITY_BINS = 10
ALL = "all"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _colors(n: int) -> list[Any]:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10")
    return [cmap(i % 10) for i in range(n)]


# -- data ------------------------------------------------------------------------------------------


@dataclass
class JudgeRecords:
    """The scored samples of one judge (its logs of every language pooled), as in `report.table_rows`."""

    judge: str
    threshold: float
    records: list[Record]


def judges_of(summaries: Sequence[LogSummary]) -> list[JudgeRecords]:
    by_judge: dict[str, list[LogSummary]] = {}
    for s in summaries:
        if s.records:
            by_judge.setdefault(s.judge, []).append(s)
    return [
        JudgeRecords(judge, group[0].threshold, [r for s in group for r in s.records])
        for judge, group in by_judge.items()
    ]


def _subsets(records: Sequence[Record]) -> list[str]:
    present = {r.subset for r in records}
    return [s for s in SUBSETS if s in present] + sorted(present - set(SUBSETS))


def roc_points(scores: Sequence[float], labels: Sequence[bool]) -> tuple[list[float], list[float]]:
    """(FPR, TPR) of the decision `score >= t` for every distinct score t, from (0, 0) to (1, 1)."""
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return [], []
    pairs = sorted(zip(scores, labels, strict=True), key=lambda p: -p[0])
    fpr, tpr = [0.0], [0.0]
    tp = fp = 0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:  # tied scores move together
            tp += pairs[j][1]
            fp += not pairs[j][1]
            j += 1
        fpr.append(fp / n_neg)
        tpr.append(tp / n_pos)
        i = j
    return fpr, tpr


# -- figures ---------------------------------------------------------------------------------------


def _grid(n: int, plt: Any, size: float = 3.6) -> tuple[Any, list[Any], int]:
    """A figure of `n` panels: the figure, its axes in reading order, and the number of columns."""
    cols = n if n <= 3 else 3 if n in (5, 6, 9) else 4
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols + 0.4, size * rows + 0.6), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n], cols


def roc_figure(summaries: Sequence[LogSummary]) -> Figure:
    """One panel per subset plus one for all samples; one ROC line per judge (a dashed chance diagonal)."""
    plt = _pyplot()
    judges = judges_of(summaries)
    subsets = _subsets([r for j in judges for r in j.records])
    panels = [ALL, *subsets] if len(subsets) > 1 else subsets or [ALL]
    fig, axes, cols = _grid(len(panels), plt)
    colors = _colors(len(judges))
    styles = ["-", "--", "-.", (0, (5, 1, 1, 1))]
    for index, (ax, panel) in enumerate(zip(axes, panels, strict=True)):
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1, label="_chance")
        for k, (judge, color) in enumerate(zip(judges, colors, strict=True)):
            rs = judge.records if panel == ALL else [r for r in judge.records if r.subset == panel]
            scores = [r.score for r in rs]
            labels = [r.label == "yes" for r in rs]
            fpr, tpr = roc_points(scores, labels)
            if not fpr:
                continue
            area = auroc(scores, labels)
            ax.plot(
                fpr,
                tpr,
                color=color,
                linestyle=styles[k % len(styles)],
                linewidth=2,
                label=f"{judge.judge}  AUROC {area:.3f}",
            )
        first = [r for r in judges[0].records if panel == ALL or r.subset == panel] if judges else []
        ax.set_title(f"{'all subsets' if panel == ALL else panel} (n={len(first)})")
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_aspect("equal")
        if index >= len(panels) - cols:  # bottom panel of its column
            ax.set_xlabel("false positive rate\n(mismatching clips called match)")
        if index % cols == 0:
            ax.set_ylabel("true positive rate\n(matching clips called match)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=7, framealpha=0.9)
    fig.suptitle("ROC of the judge score per subset (dotted: chance)", fontsize=12)
    fig.tight_layout()
    return fig


def reliability_bins(
    scores: Sequence[float], labels: Sequence[bool], bins: int = RELIABILITY_BINS
) -> list[tuple[float, float, int]]:
    """(mean score, share of matches, count) of each non-empty equal-width score bin (as the ECE bins)."""
    buckets: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for s, y in zip(scores, labels, strict=True):
        buckets[min(int(s * bins), bins - 1)].append((s, y))
    return [(sum(s for s, _ in b) / len(b), sum(y for _, y in b) / len(b), len(b)) for _, b in sorted(buckets.items())]


def reliability_figure(summaries: Sequence[LogSummary], bins: int = RELIABILITY_BINS) -> Figure:
    """Top: share of matching clips against mean score per bin (one line per judge). Bottom: bin counts."""
    plt = _pyplot()
    judges = judges_of(summaries)
    colors = _colors(len(judges))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    top.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1, label="perfect calibration")
    width = 1 / bins / max(1, len(judges))
    for k, (judge, color) in enumerate(zip(judges, colors, strict=True)):
        scores = [r.score for r in judge.records]
        labels = [r.label == "yes" for r in judge.records]
        points = reliability_bins(scores, labels, bins)
        ece = expected_calibration_error(scores, labels, bins)
        top.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker="o",
            color=color,
            linewidth=2,
            label=f"{judge.judge}  ECE {ece:.3f}",
        )
        lefts = [i / bins + k * width for i in range(bins)]
        counts = [0] * bins
        for s in scores:
            counts[min(int(s * bins), bins - 1)] += 1
        bars = bottom.bar(lefts, counts, width=width, align="edge", color=color, alpha=0.8)
        for bar, count in zip(bars, counts, strict=True):
            if count:
                bottom.annotate(
                    str(count),
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    top.set_xlim(0, 1)
    top.set_ylim(-0.02, 1.02)
    top.set_ylabel("share of clips that match (label yes)")
    top.set_title(f"Reliability of the judge score ({bins} equal-width bins)")
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=8)
    bottom.set_xlabel("judge score (mean p_yes over rubric items)")
    bottom.set_ylabel("clips per bin")
    bottom.set_xticks([i / bins for i in range(bins + 1)])
    bottom.margins(y=0.25)
    bottom.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def accuracy_figure(summaries: Sequence[LogSummary]) -> Figure:
    """Accuracy per subset at each run's threshold: one bar per (judge, language), languages side by side."""
    plt = _pyplot()
    judges = judges_of(summaries)
    records = [r for j in judges for r in j.records]
    subsets = _subsets(records)
    languages = sorted({r.language for r in records}) or [""]
    columns = [*subsets, "macro avg"] if len(subsets) > 1 else subsets
    series = [(j, lang) for j in judges for lang in languages]
    colors = _colors(len(judges))
    hatches = ["", "//", "..", "xx"]
    fig, ax = plt.subplots(figsize=(min(14.0, max(7.0, 2 + 0.35 * len(columns) * len(series))), 5))
    group_width = 0.8
    width = group_width / max(1, len(series))
    for k, (judge, lang) in enumerate(series):
        rs = [r for r in judge.records if r.language == lang]
        if not rs:
            continue
        per_subset = group_by(rs, "subset")
        values = [accuracy(per_subset.get(s, []), judge.threshold) for s in subsets]
        if len(columns) > len(subsets):
            present = [v for v in values if not math.isnan(v)]
            values.append(sum(present) / len(present) if present else float("nan"))
        xs = [c - group_width / 2 + (k + 0.5) * width for c in range(len(columns))]
        shown = [0.0 if math.isnan(v) else 100 * v for v in values]
        label = judge.judge + (f" [{lang}]" if len(languages) > 1 else "")
        bars = ax.bar(
            xs,
            shown,
            width=width * 0.95,
            color=colors[judges.index(judge)],
            hatch=hatches[languages.index(lang) % len(hatches)],
            edgecolor="white" if not hatches[languages.index(lang) % len(hatches)] else "black",
            linewidth=0.5,
            label=label,
        )
        for bar, v in zip(bars, values, strict=True):
            text = "n/a" if math.isnan(v) else f"{100 * v:.0f}"
            ax.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.axhline(50, color="grey", linestyle=":", linewidth=1)
    if len(columns) > len(subsets):
        ax.axvline(len(subsets) - 0.5, color="black", linewidth=0.8)
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels(columns)
    ax.set_ylim(0, 109)
    ax.set_ylabel("accuracy (%)")
    ax.set_xlabel("subset")
    thresholds = sorted({j.threshold for j in judges})
    lang_note = " (hatched: zh)" if len(languages) > 1 and "zh" in languages else ""
    ax.set_title(
        f"Accuracy per subset at threshold {', '.join(f'{t:g}' for t in thresholds)}{lang_note}; dotted: chance"
    )
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(3, len(series)), frameon=False)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


@dataclass
class DimensionFailures:
    dimension: str
    failed: int
    judged: int

    @property
    def rate(self) -> float:
        return self.failed / self.judged if self.judged else float("nan")


def rank_failed_dimensions(metas: Sequence[dict[str, Any]], top: int = TOP_DIMENSIONS) -> list[DimensionFailures]:
    """Rubric dimensions ranked by failure rate over `rubric_judge` score metadata; an item fails when
    p_yes < 0.5. Unparsed items are left out (as in the scorer's `fail_rate_*` metrics)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for meta in metas:
        for item in (meta or {}).get("items", []):
            if item.get("parsed") and item.get("p_yes") is not None:
                c = counts[str(item.get("dimension") or "?")]
                c[0] += float(item["p_yes"]) < 0.5
                c[1] += 1
    ranked = sorted(
        (DimensionFailures(d, f, n) for d, (f, n) in counts.items()),
        key=lambda x: (-x.rate, -x.judged, x.dimension),
    )
    return ranked[:top]


def failed_dimensions(log_path: str | Path, top: int = TOP_DIMENSIONS) -> tuple[str, list[DimensionFailures]]:
    """(model, dimensions ranked by failure rate) of a generator log; empty for logs without `rubric_judge`
    scores."""
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(log_path))
    metas = []
    for sample in log.samples or []:
        score = (sample.scores or {}).get(GENERATOR_SCORER)
        metas.append((score.metadata or {}) if score else {})
    return log.eval.model, rank_failed_dimensions(metas, top)


def failed_dimensions_figure(logs: Sequence[tuple[str, list[DimensionFailures]]]) -> Figure:
    """Horizontal bars of the failure rate per rubric dimension, worst first, one panel per generator log."""
    plt = _pyplot()
    n = len(logs)
    tallest = max((len(dims) for _, dims in logs), default=1)
    fig, axes = plt.subplots(1, n, figsize=(6.5 * n, 1.2 + 0.42 * max(3, tallest)), squeeze=False)
    for ax, (model, dims) in zip(axes[0], logs, strict=True):
        names = [d.dimension for d in dims][::-1]
        rates = [100 * d.rate for d in dims][::-1]
        bars = ax.barh(names, rates, color="#c44e52")
        for bar, d in zip(bars, dims[::-1], strict=True):
            ax.annotate(
                f" {100 * d.rate:.0f}% of {d.judged}",
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                va="center",
                fontsize=8,
            )
        ax.set_xlim(0, 118)
        ax.set_xlabel("items answered no (%)")
        ax.set_ylabel("rubric dimension")
        ax.set_title(f"Most-failed rubric dimensions: {model}", fontsize=10)
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def forest_figure(
    panels: Sequence[tuple[str, Sequence[tuple[str, float, float, float]]]],
    xlabel: str | Sequence[str],
    reference: float | None | Sequence[float | None] = None,
) -> Figure:
    """Forest plot: per panel (title, [(label, estimate, low, high)]), one row per label with its 95% CI as a
    horizontal bar; `reference` (one value, or one per panel) draws a dotted vertical line (0 for differences)."""
    plt = _pyplot()
    tallest = max((len(rows) for _, rows in panels), default=1)
    longest = max((len(r[0]) for _, rows in panels for r in rows), default=10)
    width = len(panels) * (4.0 + 0.065 * longest)  # room for the row labels beside each panel
    fig, axes = plt.subplots(1, len(panels), figsize=(width, 1.4 + 0.5 * tallest), squeeze=False)
    labels_x = [xlabel] * len(panels) if isinstance(xlabel, str) else list(xlabel)
    refs = list(reference) if isinstance(reference, Sequence) else [reference] * len(panels)
    for ax, (title, rows), label, ref in zip(axes[0], panels, labels_x, refs, strict=True):
        ys = list(range(len(rows)))[::-1]
        for y, (_, value, low, high) in zip(ys, rows, strict=True):
            if math.isnan(value):
                continue
            if not (math.isnan(low) or math.isnan(high)):
                ax.plot([low, high], [y, y], color="#4c72b0", linewidth=2.5, solid_capstyle="butt")
            ax.plot([value], [y], marker="s", color="black", markersize=6)
            ax.annotate(f" {value:.3g}", (value, y), xytext=(0, 6), textcoords="offset points", fontsize=7, ha="center")
        if ref is not None:
            ax.axvline(ref, color="grey", linestyle=":", linewidth=1)
        ax.set_yticks(ys)
        ax.set_yticklabels([r[0] for r in rows], fontsize=8)
        ax.set_xlabel(label)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


# -- the report entry point --------------------------------------------------------------------------


def write_report_plots(
    summaries: Sequence[LogSummary],
    out_dir: str | Path,
    extra: Sequence[tuple[str, Figure]] = (),
    generator_paths: Sequence[str] = (),
) -> list[Path]:
    """Write every plot the logs allow into `out_dir` (created); returns the PNG paths written.

    Bench/probe logs (bench_alignment scores) give the ROC, reliability and accuracy figures; generator logs
    (rubric_judge scores: summaries without records, or `generator_paths`) give the failed-dimension figure.
    Thresholds are those of the summaries (so `anyaudio report --threshold` re-thresholds the bars too).
    `extra` figures (the forest plots of generator and human-alignment logs) are written as well.
    """
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, Figure]] = []
    if any(s.records for s in summaries):
        figures += [
            ("roc.png", roc_figure(summaries)),
            ("reliability.png", reliability_figure(summaries)),
            ("accuracy_by_subset.png", accuracy_figure(summaries)),
        ]
    paths = [s.path for s in summaries if not s.records] + list(generator_paths)
    generator_logs = [g for g in (failed_dimensions(p) for p in paths) if g[1]]
    if generator_logs:
        figures.append(("failed_dimensions.png", failed_dimensions_figure(generator_logs)))
    figures += list(extra)
    written = []
    for name, fig in figures:
        path = out / name
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written
