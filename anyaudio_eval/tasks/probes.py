"""`anyaudio_eval/probes`: the bundled offline probe set (bench format plus gold labels per item)."""

from __future__ import annotations

from pathlib import Path

from inspect_ai import Task, task

from anyaudio_eval.bench.loaders import load_bench
from anyaudio_eval.rubric.protocol import get_protocol
from anyaudio_eval.tasks.common import check_judge_args, judge_task

PROBES_DIR = Path(__file__).resolve().parent.parent / "data" / "probes"


@task
def probes(
    language: str = "en",
    subsets: str | list[str] | None = None,
    types: str | list[str] | None = None,
    mode: str = "logits",
    threshold: float | None = None,
    prompt_language: str | None = None,
    limit: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    hard_answers: str = "unscored",
    protocol: str = "anyaudio",
    reference: str | None = None,
    reference_sha256: str | None = None,
    pooling: str | None = None,
    resampler: str | None = None,
) -> Task:
    """Synthetic probes with known attributes (speech, sound, music, mix) in en or zh.

    Args:
        language: en or zh (captions and rubric questions are in this language).
        subsets: comma-separated subsets (speech, sound, music, mix).
        types: comma-separated row types (pos, neg_change, neg_swap).
        mode: logits, generate or holistic.
        threshold: a sample is predicted "match" when its score is at least this.
        prompt_language: judge prompt language; defaults to `language`.
        limit: keep at most this many rows.
        shuffle: shuffle rows with `seed` before `limit`.
        seed: shuffle seed.
        hard_answers: unscored (a reply without usable logprobs leaves the item unparsed) or allow (hard 0/1).
        protocol: anyaudio or reference (the authors' release; see the bench task).
        reference: a clone of the release or its prompts.py (protocol=reference).
        reference_sha256: accept a modified prompts.py with this sha256.
        pooling: yes/no pooling, sum or max (default: the protocol's).
        resampler: soxr or linear (default: the protocol's).
    """
    if protocol == "anyaudio":
        prompt_language = prompt_language or language
    check_judge_args(mode, prompt_language, "skip", threshold, hard_answers, protocol, pooling, resampler)
    judge_protocol = get_protocol(protocol, prompt_language, pooling, resampler, reference, reference_sha256)
    load = load_bench(
        dataset=str(PROBES_DIR),
        language=language,
        subsets=subsets,
        types=types,
        limit=limit,
        shuffle=shuffle,
        seed=seed,
        resampler=judge_protocol.resampler,
    )
    return judge_task(
        load,
        "probes",
        mode,
        threshold,
        judge_protocol,
        "skip",
        extra_metadata={"probe_set": str(PROBES_DIR.name)},
        item_level=True,
        reference=reference,
        reference_sha256=reference_sha256,
        hard_answers=hard_answers,
    )
