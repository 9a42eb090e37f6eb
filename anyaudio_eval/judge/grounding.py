"""Is the judge listening? Judge the same rubric again with the wrong audio and with silence.

A judge that listens changes its answers when the audio changes; one that guesses from the text does not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from inspect_ai.model import Model
from pydantic import BaseModel

from anyaudio_eval.audio import audio_from_reference, wav_data_uri
from anyaudio_eval.bench.schema import RubricItem
from anyaudio_eval.constants import SAMPLE_RATE
from anyaudio_eval.judge.procedure import JudgeMode, JudgeResult, judge_audio
from anyaudio_eval.rubric.protocol import Protocol

MAX_SILENCE_SECONDS = 30.0
NOT_LISTENING_GAP = 0.05  # a grounding gap below this on positives suggests the judge ignores the audio


class GroundingCheck(BaseModel):
    """Scores of one sample with its true audio, a wrong clip and silence."""

    score_true: float | None
    score_swap: float | None = None
    score_silence: float | None = None
    unchanged_swap: float | None = None  # share of items answered the same as with the true audio
    unchanged_silence: float | None = None
    swap_source: str = ""


def _unchanged(a: JudgeResult, b: JudgeResult) -> float | None:
    pairs = [(x.answer, y.answer) for x, y in zip(a.items, b.items, strict=False) if x.parsed and y.parsed]
    return sum(x == y for x, y in pairs) / len(pairs) if pairs else None


def silence_like(audio: str) -> str:
    seconds = min(len(audio_from_reference(audio)) / SAMPLE_RATE, MAX_SILENCE_SECONDS)
    return wav_data_uri(np.zeros(max(1, int(seconds * SAMPLE_RATE)), dtype=np.float32))


def spectrum_matched_noise(audio: str, seed: int = 0) -> str:
    """The clip with its phases randomised: same spectrum and loudness, no content (a wrong clip when
    no other sample's audio is at hand)."""
    wav = audio_from_reference(audio)
    spectrum = np.fft.rfft(wav)
    phases = np.random.default_rng(seed).uniform(0, 2 * np.pi, spectrum.shape)
    noise = np.fft.irfft(np.abs(spectrum) * np.exp(1j * phases), n=len(wav)).astype(np.float32)
    return wav_data_uri(np.clip(noise, -1.0, 1.0))


async def grounding_check(
    model: Model,
    true_result: JudgeResult,
    audio: str,
    items: Sequence[RubricItem],
    mode: JudgeMode,
    prompt_language: str,
    caption: str | None,
    swap_audio: str,
    swap_source: str,
    protocol: Protocol | None = None,
) -> GroundingCheck:
    hard = true_result.hard_answers  # the checks read replies exactly as the true-audio judgment did
    swap = await judge_audio(
        model, swap_audio, items, mode, prompt_language, caption, hard_answers=hard, protocol=protocol
    )
    silent = await judge_audio(
        model, silence_like(audio), items, mode, prompt_language, caption, hard_answers=hard, protocol=protocol
    )
    return GroundingCheck(
        score_true=true_result.score,
        score_swap=swap.score,
        score_silence=silent.score,
        unchanged_swap=_unchanged(true_result, swap),
        unchanged_silence=_unchanged(true_result, silent),
        swap_source=swap_source,
    )
