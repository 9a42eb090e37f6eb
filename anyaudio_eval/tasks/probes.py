"""`anyaudio_eval/probes`: the bundled offline probe set (bench format plus gold labels per item)."""

from __future__ import annotations

from pathlib import Path

from inspect_ai import Task, task

from anyaudio_eval.bench.loaders import load_bench
from anyaudio_eval.tasks.common import check_judge_args, judge_task

PROBES_DIR = Path(__file__).resolve().parent.parent / "data" / "probes"


@task
def probes(
    language: str = "en",
    subsets: str | list[str] | None = None,
    types: str | list[str] | None = None,
    mode: str = "logits",
    threshold: float = 0.5,
    prompt_language: str | None = None,
    limit: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    hard_answers: str = "unscored",
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
    """
    prompt_language = prompt_language or language
    check_judge_args(mode, prompt_language, "skip", threshold, hard_answers)
    load = load_bench(
        dataset=str(PROBES_DIR), language=language, subsets=subsets, types=types, limit=limit, shuffle=shuffle, seed=seed
    )
    return judge_task(
        load,
        "probes",
        mode,
        threshold,
        prompt_language,
        "skip",
        extra_metadata={"probe_set": str(PROBES_DIR.name)},
        item_level=True,
        hard_answers=hard_answers,
    )
