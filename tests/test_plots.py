"""Report plots from real logs of the bench task (scripted judges) and of a generator scored by rubric_judge."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fixtures import balanced_bench, tone
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import get_model
from judges import deaf, listening

from anyaudio_eval import plots
from anyaudio_eval.audio import audio_from_reference
from anyaudio_eval.providers.common import request_audio, request_text, usage_for, yes_no_output
from anyaudio_eval.report import find_logs, summarise_log
from anyaudio_eval.scorers.metrics import auroc
from anyaudio_eval.scorers.rubric_judge import rubric_judge
from anyaudio_eval.tasks.bench import bench

PNG = b"\x89PNG\r\n\x1a\n"


def named_judge(name: str, p_yes):
    """A scripted judge (as tests/judges.py) under its own model name, so each judge is its own line."""

    def respond(input, tools, tool_choice, config):
        ref = request_audio(input)
        p = p_yes(audio_from_reference(ref) if ref else None, request_text(input))
        return yes_no_output(f"mockllm/{name}", p, config, usage_for(10, 1.0, 1))

    return get_model(f"mockllm/{name}", custom_outputs=respond)


def dimension_judge(wav, text):
    """Fails every tempo item, and pitch items on silence."""
    silent = wav is None or float(np.abs(wav).max()) < 0.01
    return 0.2 if "tempo" in text or ("pitch" in text and silent) else 0.8


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANYAUDIO_CACHE", str(root / "cache"))
        bench_root = balanced_bench(root / "bench", "en", n_per_subset=4, subsets=("sound", "music", "mix"))
        balanced_bench(root / "bench", "zh", n_per_subset=4, subsets=("sound", "music", "mix"))
        log_dir = str(root / "logs")
        for language in ("en", "zh"):
            for name, fn in (("listening", listening), ("deaf", deaf)):
                log = eval(
                    bench(dataset=str(bench_root), language=language),
                    model=named_judge(name, fn),
                    display="none",
                    log_dir=log_dir,
                )[0]
                assert log.status == "success", log.error
        items = [{"dimension": d, "question": f"Is the {d} right?", "basis": d} for d in ("pitch", "volume", "tempo")]
        samples = []
        for i in range(4):
            clip = root / f"gen{i}.wav"
            sf.write(clip, tone() if i % 2 else np.zeros(16000, np.float32), 16000)
            samples.append(
                Sample(id=f"g{i}", input="x", metadata={"audio": str(clip), "rubric": items, "domain": "sound"})
            )
        judge = named_judge("dimensions", dimension_judge)
        log = eval(
            Task(dataset=samples, solver=[], scorer=rubric_judge(audio_field="audio")),
            model=judge,
            model_roles={"judge": judge},
            display="none",
            log_dir=log_dir,
        )[0]
        assert log.status == "success", log.error
    return [summarise_log(p) for p in find_logs([log_dir])]


def test_report_plots_are_written_from_real_logs(logs, tmp_path):
    paths = plots.write_report_plots(logs, tmp_path / "png")
    assert sorted(p.name for p in paths) == [
        "accuracy_by_subset.png",
        "failed_dimensions.png",
        "reliability.png",
        "roc.png",
    ]
    for p in paths:
        data = p.read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000, p


def test_roc_has_one_curve_per_judge_in_each_subset_panel(logs):
    fig = plots.roc_figure(logs)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [
        "all subsets (n=24)",
        "sound (n=8)",
        "music (n=8)",
        "mix (n=8)",
    ]
    for ax in panels:
        curves = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
        labels = sorted(line.get_label() for line in curves)
        assert len(curves) == 2  # listening and deaf; en and zh logs of a judge are pooled
        assert labels[0].startswith("mockllm/deaf (logits)") and labels[0].endswith("AUROC 0.500")
        assert labels[1].startswith("mockllm/listening (logits)") and labels[1].endswith("AUROC 1.000")


def test_reliability_and_accuracy_figures(logs):
    fig = plots.reliability_figure(logs)
    top, bottom = fig.axes
    assert len(top.get_lines()) == 3  # two judges and the diagonal
    # 12 clips per language and judge, each counted once
    assert sum(p.get_height() for p in bottom.patches) == 2 * 24
    fig = plots.accuracy_figure(logs)
    ax = fig.axes[0]
    assert len(ax.containers) == 4  # (listening, deaf) x (en, zh)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["sound", "music", "mix", "macro avg"]
    heights = {c.get_label(): [b.get_height() for b in c] for c in ax.containers}
    assert heights["mockllm/listening (logits) [zh]"] == [100.0] * 4
    assert heights["mockllm/deaf (logits) [en]"] == [50.0] * 4


def test_failed_dimensions_of_the_generator_log(logs):
    generator = [s for s in logs if not s.records]
    assert len(generator) == 1
    model, dims = plots.failed_dimensions(generator[0].path)
    assert model == "mockllm/dimensions"
    assert [(d.dimension, d.failed, d.judged) for d in dims] == [
        ("tempo", 4, 4),
        ("pitch", 2, 4),
        ("volume", 0, 4),
    ]
    fig = plots.failed_dimensions_figure([(model, dims)])
    assert len(fig.axes[0].patches) == 3


def test_roc_points_integrate_to_the_reported_auroc():
    rng = random.Random(0)
    scores = [round(rng.random(), 1) for _ in range(200)]  # many ties
    labels = [rng.random() < s for s in scores]
    fpr, tpr = plots.roc_points(scores, labels)
    area = sum((fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1]) / 2 for i in range(1, len(fpr)))
    assert area == pytest.approx(auroc(scores, labels))
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)


def test_logs_without_bench_or_generator_scores_give_no_plots(tmp_path):
    assert plots.write_report_plots([], Path(tmp_path / "none")) == []
