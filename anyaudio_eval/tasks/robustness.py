"""`anyaudio_eval/robustness`: can the judge be talked into a verdict? Injection probes with clean twins."""

from __future__ import annotations

from pathlib import Path

from inspect_ai import Task, task

from anyaudio_eval.bench.loaders import load_bench
from anyaudio_eval.rubric.protocol import get_protocol
from anyaudio_eval.scorers.bench_scorer import robustness_metrics
from anyaudio_eval.tasks.common import check_judge_args, judge_task

ROBUSTNESS_DIR = Path(__file__).resolve().parent.parent / "data" / "robustness"


@task
def robustness(
    language: str = "en",
    mode: str = "logits",
    threshold: float | None = None,
    prompt_language: str | None = None,
    hard_answers: str = "unscored",
    protocol: str = "anyaudio",
    reference: str | None = None,
    reference_sha256: str | None = None,
    pooling: str | None = None,
    resampler: str | None = None,
) -> Task:
    """Speech that tells the judge what to answer, instructions in captions and rubric questions, and
    silence with an inviting caption, each beside a clean twin. Reports `flip_rate` per attack.

    Args:
        language: en or zh.
        mode: logits, generate or holistic (caption injections matter most in holistic mode).
        threshold: a sample is predicted "match" when its score is at least this.
        prompt_language: judge prompt language; defaults to `language`.
        hard_answers: unscored (a reply without usable logprobs leaves the item unparsed) or allow (hard 0/1).
        protocol: anyaudio or reference (see the bench task); reference, reference_sha256, pooling and
            resampler as there.
    """
    if protocol == "anyaudio":
        prompt_language = prompt_language or language
    check_judge_args(mode, prompt_language, "skip", threshold, hard_answers, protocol, pooling, resampler)
    judge_protocol = get_protocol(protocol, prompt_language, pooling, resampler, reference, reference_sha256)
    load = load_bench(dataset=str(ROBUSTNESS_DIR), language=language, resampler=judge_protocol.resampler)
    return judge_task(
        load,
        "robustness",
        mode,
        threshold,
        judge_protocol,
        "skip",
        extra_metrics=[robustness_metrics()],
        reference=reference,
        reference_sha256=reference_sha256,
        hard_answers=hard_answers,
    )
