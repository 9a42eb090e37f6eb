"""The judge as a reward: alignment of a clip with an instruction (or a rubric), for RL of generators.

    from anyaudio_eval.reward import alignment_reward
    result = alignment_reward(wav, instruction="a calm female voice, slow", judge="vllm/cucl2/AnyAudio-Judge-7B",
                              decomposer="openai/gpt-4.1-mini", domain="speech")
    reward = result.score  # mean p_yes in [0, 1]; result.items has the per-item verdicts

Uses the same judging procedure and prompts as the bench and the `rubric_judge()` scorer; `protocol="reference"`
gives the authors' released judge call (see `rubric.protocol`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from inspect_ai.model import Model, get_model

from anyaudio_eval.audio import TARGET_SR, cache_audio, file_data_uri, wav_data_uri
from anyaudio_eval.bench.schema import RubricItem
from anyaudio_eval.judge.procedure import JudgeMode, JudgeResult, judge_audio
from anyaudio_eval.rubric.decompose import rubric_for
from anyaudio_eval.rubric.protocol import Protocol, get_protocol

AudioInput = np.ndarray | bytes | str | Path
logger = logging.getLogger(__name__)


def _as_data_uri(audio: AudioInput, sample_rate: int, resampler: str = "soxr") -> str:
    if isinstance(audio, np.ndarray):
        if sample_rate != TARGET_SR or audio.ndim != 1:
            from anyaudio_eval.audio import to_mono_16k

            data = audio if audio.ndim == 2 else audio[:, None]
            audio = to_mono_16k(data.astype(np.float32), sample_rate, resampler=resampler)
        # float samples stay float under the linear (release) pipeline
        return wav_data_uri(audio.astype(np.float32), subtype="FLOAT" if resampler == "linear" else "PCM_16")
    if isinstance(audio, str) and audio.startswith("data:"):
        return audio
    return file_data_uri(cache_audio(audio, resampler=resampler))


def _model(model: Model | str) -> Model:
    return model if isinstance(model, Model) else get_model(model)


async def alignment_reward_async(
    audio: AudioInput,
    instruction: str | None = None,
    rubric: Sequence[RubricItem | dict[str, Any]] | None = None,
    judge: Model | str = "acoustic/default",
    decomposer: Model | str | None = None,
    domain: str = "mix",
    mode: JudgeMode = "logits",
    prompt_language: str = "zh",
    rubric_language: str = "zh",
    sample_rate: int = TARGET_SR,
    protocol: Protocol | str = "anyaudio",
    reference: str | None = None,
    reference_sha256: str | None = None,
    hard_answers: str = "unscored",
) -> JudgeResult:
    """Judge `audio` against `rubric`, or against a rubric decomposed from `instruction` (cached on disk).

    `protocol`: a `Protocol`, or its name (`reference` reads the release from `reference=` or the cache).
    """
    judge_protocol = (
        protocol
        if isinstance(protocol, Protocol)
        else get_protocol(protocol, prompt_language, reference=reference, reference_sha256=reference_sha256)
    )
    prompt_language = judge_protocol.language
    if rubric is None and instruction is None:
        raise ValueError("give an instruction or a rubric")
    given = (
        None if rubric is None else [i if isinstance(i, RubricItem) else RubricItem.model_validate(i) for i in rubric]
    )
    if given is None and mode != "holistic" and decomposer is None:
        raise ValueError("an instruction without a rubric needs a decomposer model (decomposer=...)")

    def decomposer_model() -> Model:
        assert decomposer is not None  # rubric_for asks only when it must decompose, which the check above allows
        return _model(decomposer)

    chosen = await rubric_for(
        instruction or "",
        given,
        decomposer_model,
        domain,
        rubric_language,
        holistic=mode == "holistic" and given is None,
        protocol=judge_protocol,
    )
    if chosen.error:
        return JudgeResult.unjudged(mode, judge_protocol, chosen.error)
    items = chosen.items
    return await judge_audio(
        _model(judge),
        _as_data_uri(audio, sample_rate, judge_protocol.resampler),
        items,
        mode,
        prompt_language,
        caption=instruction,
        protocol=judge_protocol,
        hard_answers=hard_answers,
    )


def alignment_reward(*args: Any, **kwargs: Any) -> JudgeResult:
    """Synchronous `alignment_reward_async` (not from inside a running event loop)."""
    return asyncio.run(alignment_reward_async(*args, **kwargs))


async def batch_alignment_rewards(
    clips: Sequence[AudioInput], instructions: Sequence[str | None], **kwargs: Any
) -> list[float]:
    """Rewards for a GRPO batch; a clip that cannot be judged gets 0.0 and a logged warning with the reason."""
    results = await asyncio.gather(
        *(
            alignment_reward_async(clip, instruction, **kwargs)
            for clip, instruction in zip(clips, instructions, strict=True)
        )
    )
    for i, r in enumerate(results):
        if r.score is None:
            logger.warning(f"reward for clip {i} set to 0.0: {r.error}")
    return [r.score if r.score is not None else 0.0 for r in results]
