"""`anyaudio_eval/bench`: meta-evaluate an audio judge (the model under test) on the AnyAudio-Judge Bench."""

from __future__ import annotations

from inspect_ai import Task, task

from anyaudio_eval.bench.loaders import load_bench
from anyaudio_eval.bench.schema import HUB_ID
from anyaudio_eval.rubric.protocol import get_protocol
from anyaudio_eval.tasks.common import check_judge_args, judge_task


@task
def bench(
    dataset: str = HUB_ID,
    language: str = "en",
    subsets: str | list[str] | None = None,
    types: str | list[str] | None = None,
    labels: str | list[str] | None = None,
    mode: str = "logits",
    threshold: float | None = None,
    prompt_language: str = "zh",
    empty_rubric: str = "skip",
    limit: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    strict: bool = False,
    revision: str | None = None,
    max_seconds: float = 600.0,
    grounding: float = 0.0,
    judge_temperature: float = 0.0,
    hard_answers: str = "unscored",
    protocol: str = "anyaudio",
    reference: str | None = None,
    reference_sha256: str | None = None,
    pooling: str | None = None,
    resampler: str | None = None,
) -> Task:
    """AnyAudio-Judge Bench: is each clip's yes/no match decision right?

    Args:
        dataset: hub id, a local folder in the hub layout, a parquet file or a JSONL manifest.
        language: bench config, en or zh (captions; the rubrics are Chinese in both).
        subsets: comma-separated subsets (speech, speech_gen, sound, sound_gen, music, music_gen, mix).
        types: comma-separated row types (pos, pos_clap, pos_gemini, neg_swap, neg_change, neg_gemini).
        labels: yes and/or no.
        mode: logits (p_yes per item, the paper's), generate (one JSON answer) or holistic (baseline).
        threshold: a sample is predicted "match" when its score is at least this (default: the protocol's,
            0.5; 0.8 in generate mode under protocol=reference).
        prompt_language: language of the judge prompt, zh (the bench rubrics are Chinese) or en.
        empty_rubric: skip (unscored, counted) or holistic (judge the caption as one item).
        limit: keep at most this many rows (after filters and the optional seeded shuffle).
        shuffle: shuffle rows with `seed` before `limit`.
        seed: shuffle seed.
        strict: fail on the first bad row instead of skipping it.
        revision: hub revision to pin.
        max_seconds: longest clip accepted.
        grounding: share of samples (seeded) judged again with another clip of the subset and with silence,
            to measure whether the judge listens (e.g. 0.1).
        judge_temperature: sampling temperature of the judge (0, the method's setting; > 0 is flagged).
        hard_answers: a one-word reply without usable logprobs (logits, holistic): unscored (the item is
            unparsed, with the reason) or allow (a hard 0/1, reported as hard_item_share, with a warning).
        protocol: anyaudio (our prompts and numerics) or reference (the authors' release, exactly).
        reference: a clone of the release or its prompts.py (protocol=reference; else the cached copy).
        reference_sha256: accept a modified prompts.py with this sha256 instead of the pinned one.
        pooling: yes/no pooling, sum or max (default: the protocol's).
        resampler: soxr or linear (default: the protocol's).
    """
    check_judge_args(mode, prompt_language, empty_rubric, threshold, hard_answers, protocol, pooling, resampler)
    judge_protocol = get_protocol(protocol, prompt_language, pooling, resampler, reference, reference_sha256)
    load = load_bench(
        dataset=dataset,
        language=language,
        subsets=subsets,
        types=types,
        labels=labels,
        limit=limit,
        shuffle=shuffle,
        seed=seed,
        strict=strict,
        revision=revision,
        max_seconds=max_seconds,
        progress=True,
        resampler=judge_protocol.resampler,
    )
    return judge_task(
        load,
        "bench",
        mode,
        threshold,
        judge_protocol,
        empty_rubric,
        grounding=grounding,
        seed=seed,
        temperature=judge_temperature,
        reference=reference,
        reference_sha256=reference_sha256,
        hard_answers=hard_answers,
    )
