"""The one builder behind every judge meta-evaluation task (bench, probes)."""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from typing import Any

from inspect_ai import Epochs, Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageUser, ContentAudio, ContentText, GenerateConfig

from anyaudio_eval.bench.loaders import BenchLoad
from anyaudio_eval.bench.schema import BenchRow
from anyaudio_eval.errors import UserError
from anyaudio_eval.judge.procedure import GENERATE_CONFIG, HARD_ANSWER_POLICIES, JUDGE_MODES, LOGITS_CONFIG
from anyaudio_eval.judge.solver import EMPTY_RUBRIC_POLICIES, SWAP_AUDIO_FIELD, judge_rubric
from anyaudio_eval.rubric.prompts import PROMPT_LANGUAGES
from anyaudio_eval.rubric.protocol import Protocol, check_protocol_args
from anyaudio_eval.scorers.bench_scorer import (
    bench_alignment,
    bench_metrics,
    by_subset,
    by_type,
    item_metrics,
)
from anyaudio_eval.scorers.epochs import bench_epochs

# Bump whenever prompts, parsing, scoring or metrics change.
TASK_VERSION = "1.1.0"


def row_sample(row: BenchRow, extra: dict[str, Any] | None = None) -> Sample:
    # The audio stays a cached file path; Inspect inlines it as a data URI when the sample starts.
    return Sample(
        id=row.uuid,
        input=[ChatMessageUser(content=[ContentAudio(audio=row.audio, format="wav"), ContentText(text=row.caption)])],
        target=row.label,
        metadata={**row.metadata(), **(extra or {})},
    )


def grounding_partners(rows: Sequence[BenchRow], share: float, seed: int) -> dict[str, BenchRow]:
    """A seeded `share` of rows, each paired with another row of its subset whose audio differs."""
    if share <= 0:
        return {}
    if share > 1:
        raise ValueError(f"grounding must be a share in (0, 1], got {share}")
    rng = random.Random(f"grounding-{seed}")
    chosen = rng.sample(list(rows), max(1, round(share * len(rows))))
    partners: dict[str, BenchRow] = {}
    for row in chosen:
        others = [r for r in rows if r.subset == row.subset and r.audio != row.audio]
        if others:
            partners[row.uuid] = rng.choice(others)
    return partners


class TaskOptionError(UserError, ValueError):
    """An invalid `-T` option value."""


def check_judge_args(
    mode: str,
    prompt_language: str | None,
    empty_rubric: str,
    threshold: float | None,
    hard_answers: str = "unscored",
    protocol: str = "anyaudio",
    pooling: str | None = None,
    resampler: str | None = None,
) -> None:
    """Run-level mistakes in task options fail at start, before any audio is read."""
    if mode not in JUDGE_MODES:
        raise TaskOptionError(f"unknown mode {mode!r}; use one of: {', '.join(JUDGE_MODES)}")
    if prompt_language is not None and prompt_language not in PROMPT_LANGUAGES:
        raise TaskOptionError(f"unknown prompt_language {prompt_language!r}; use one of: {', '.join(PROMPT_LANGUAGES)}")
    if empty_rubric not in EMPTY_RUBRIC_POLICIES:
        raise TaskOptionError(f"unknown empty_rubric {empty_rubric!r}; use one of: {', '.join(EMPTY_RUBRIC_POLICIES)}")
    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise TaskOptionError(f"threshold must be in [0, 1], got {threshold}")
    if hard_answers not in HARD_ANSWER_POLICIES:
        raise TaskOptionError(f"unknown hard_answers {hard_answers!r}; use one of: {', '.join(HARD_ANSWER_POLICIES)}")
    check_protocol_args(protocol, pooling, resampler)


def protocol_metadata(protocol: Protocol, mode: str, threshold: float) -> dict[str, Any]:
    """What every task records about how its numbers were made."""
    return {"prompt_version": protocol.version, **protocol.describe(), "judge_mode": mode, "threshold": threshold}


def protocol_options(protocol: Protocol, reference: str | None, reference_sha256: str | None) -> dict[str, Any]:
    """The solver's / scorer's protocol arguments that resolve to `protocol` again."""
    return {
        "protocol": protocol.name,
        "pooling": protocol.pooling,
        "resampler": protocol.resampler,
        "reference": reference,
        "reference_sha256": reference_sha256,
    }


def report_skipped(load: BenchLoad) -> None:
    if not load.skipped:
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(stderr=True)
    # Uuids, reasons and paths come from the data: print them as plain text, never as markup.
    console.print(Text(f"{len(load.skipped)} row(s) of {load.source} skipped:", style="yellow"))
    for row in load.skipped[:20]:
        console.print(Text(f"  {row.uuid}: {row.reason}"), highlight=False)
    if len(load.skipped) > 20:
        console.print(f"  ... and {len(load.skipped) - 20} more (all listed in the task metadata)")
    sys.stderr.flush()


def judge_task(
    load: BenchLoad,
    name: str,
    mode: str,
    threshold: float | None,
    protocol: Protocol,
    empty_rubric: str,
    extra_metadata: dict[str, Any] | None = None,
    item_level: bool = False,
    extra_metrics: list[Any] | None = None,
    grounding: float = 0.0,
    seed: int = 0,
    temperature: float = 0.0,
    reference: str | None = None,
    reference_sha256: str | None = None,
    hard_answers: str = "unscored",
) -> Task:
    """`item_level` adds agreement with gold item labels (only datasets that have them); `grounding`
    judges a seeded share of samples again with another clip of the subset and with silence. `threshold`
    None takes the protocol's default for the mode (0.8 in generate mode under the reference protocol)."""
    prompt_language = protocol.language
    check_judge_args(mode, prompt_language, empty_rubric, threshold, hard_answers)
    threshold = protocol.threshold(mode) if threshold is None else float(threshold)
    report_skipped(load)
    load.require_rows()
    partners = grounding_partners(load.rows, float(grounding), seed)
    samples = [
        row_sample(
            r,
            {SWAP_AUDIO_FIELD: partners[r.uuid].audio, "grounding_swap_uuid": partners[r.uuid].uuid}
            if r.uuid in partners
            else None,
        )
        for r in load.rows
    ]
    return Task(
        name=name,
        dataset=MemoryDataset(samples, name=name, location=load.source),
        solver=judge_rubric(
            mode=mode,  # type: ignore[arg-type]
            prompt_language=prompt_language,
            empty_rubric=empty_rubric,
            temperature=temperature,
            hard_answers=hard_answers,
            threshold=threshold,
            **protocol_options(protocol, reference, reference_sha256),
        ),
        scorer=bench_alignment(threshold=threshold),
        metrics=[
            bench_metrics(),
            by_subset(),
            by_type(),
            *([item_metrics()] if item_level else []),
            *(extra_metrics or []),
        ]
        if item_level or extra_metrics
        else None,
        # A bare --epochs N keeps this reducer, which records every epoch's score for stability metrics.
        epochs=Epochs(1, bench_epochs()),
        version=TASK_VERSION,
        metadata={
            **protocol_metadata(protocol, mode, threshold),
            "empty_rubric": empty_rubric,
            "hard_answers": hard_answers,
            "grounding": grounding,
            "judge_temperature": temperature,
            "judge_generate_config": (LOGITS_CONFIG if mode != "generate" else GENERATE_CONFIG)
            .merge(GenerateConfig(temperature=temperature))
            .model_dump(exclude_none=True),
            "dataset": load.summary(),
            **({"shard": load.shard} if load.shard else {}),
            **(extra_metadata or {}),
        },
    )
