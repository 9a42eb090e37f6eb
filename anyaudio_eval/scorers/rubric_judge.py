"""`rubric_judge()`: score generated audio against its instruction with the dynamic-rubric judge.

Usable in any Inspect task whose model produces audio (or whose metadata names an audio file):

    Task(dataset=..., solver=generate(), scorer=rubric_judge())

with `--model-role judge=<audio LLM>` and, unless the samples carry rubrics, `--model-role decomposer=<LLM>`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from typing import Any

from inspect_ai.model import ContentAudio, Model, get_model
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, Value, mean, metric, scorer, stderr
from inspect_ai.solver import TaskState
from inspect_ai.util import materialize_media

from anyaudio_eval.acoustic.speech import SpeechTools
from anyaudio_eval.audio import audio_from_reference
from anyaudio_eval.bench.schema import RubricItem
from anyaudio_eval.judge.checklist import render_checklist
from anyaudio_eval.judge.grounding import grounding_check, spectrum_matched_noise
from anyaudio_eval.judge.procedure import HARD_ANSWER_POLICIES, JudgeMode, judge_audio
from anyaudio_eval.rubric.decompose import rubric_for
from anyaudio_eval.rubric.protocol import get_protocol, warn_if_released_judge
from anyaudio_eval.scorers.intelligibility import intelligibility
from anyaudio_eval.scorers.metrics import (
    grounding_summary,
    hard_item_summary,
    logged_intelligibility,
    logged_items,
)
from anyaudio_eval.scorers.values import SCORE_KEY, alignment_score, score_of

DEFAULT_DOMAIN = "mix"
TOP_FAILING_DIMENSIONS = 10


def output_audio(state: TaskState) -> str | None:
    """The audio of the model's reply (a data URI from a generator provider), if any."""
    message = state.output.message if state.output and state.output.choices else None
    if message is not None and isinstance(message.content, list):
        for content in message.content:
            if isinstance(content, ContentAudio):
                return content.audio
    return None


def role_model(role: str, what: str, who: str = "rubric_judge") -> Model:
    """The model bound to `role`, or an error that names the flag to add."""
    try:
        return get_model(role=role, required=True)
    except Exception as ex:
        raise RuntimeError(
            f"{who} needs a {what}: add --model-role {role}=<model> (Python: eval(..., model_roles={{'{role}': ...}}))"
        ) from ex


def _selected(sample_id: Any, share: float, seed: int) -> bool:
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


@metric
def generator_metrics(threshold: float = 0.5) -> Metric:
    """Pass rate, mean score per domain, the dimensions whose items fail most often, and mean WER / CER of
    the samples that had a text to speak (absent, not 0, when none was measured).

    The score is read from `Score.value` (`scorers.values`), which every epoch reducer reduces; item verdicts
    and WER / CER from every epoch when the task uses `bench_epochs` (as instruct does), else from the first
    epoch's metadata. A sample's WER is its mean over epochs; `wer` is the mean over samples.
    """

    def compute(scores: list[SampleScore]) -> Value:
        metas = [s.score.metadata or {} for s in scores]
        sample_values = [alignment_score(s.score) for s in scores]
        values = [v for v in sample_values if v is not None]
        out: dict[str, float] = {}
        if values:
            cut = next((float(m["threshold"]) for m in metas if "threshold" in m), threshold)
            out["pass_rate"] = sum(v >= cut for v in values) / len(values)
        by_domain: dict[str, list[float]] = defaultdict(list)
        fails: dict[str, list[float]] = defaultdict(list)
        for m, value in zip(metas, sample_values, strict=True):
            if value is None:
                continue
            by_domain[str(m.get("domain", DEFAULT_DOMAIN))].append(value)
            for item in logged_items(m):
                if item.get("parsed") and item.get("p_yes") is not None:
                    fails[item.get("dimension") or "?"].append(float(item["p_yes"] < 0.5))
        for domain, xs in sorted(by_domain.items()):
            out[f"score_{domain}"] = sum(xs) / len(xs)
        rates: dict[str, list[float]] = defaultdict(list)
        for m in metas:
            per_metric: dict[str, list[float]] = defaultdict(list)
            for heard in logged_intelligibility(m):
                per_metric[heard["metric"]].append(float(heard["value"]))
            for name, xs in per_metric.items():
                rates[name].append(sum(xs) / len(xs))
        for name, xs in sorted(rates.items()):
            out[name] = sum(xs) / len(xs)
            out[f"{name}_samples"] = float(len(xs))
        checks = [("yes", m["grounding"]) for m in metas if m.get("grounding")]
        if checks:  # generated clips are all meant to match: every checked sample counts as a positive
            out.update(grounding_summary(checks))
        ranked = sorted(fails.items(), key=lambda kv: (-sum(kv[1]) / len(kv[1]), -len(kv[1]), kv[0]))
        for dimension, xs in ranked[:TOP_FAILING_DIMENSIONS]:
            out[f"fail_rate_{dimension}"] = sum(xs) / len(xs)
        out.update(hard_item_summary(metas))
        return out

    return compute


@scorer(metrics=[mean(to_float=score_of), stderr(to_float=score_of), generator_metrics()])
def rubric_judge(
    mode: JudgeMode = "logits",
    prompt_language: str = "zh",
    rubric_language: str = "zh",
    threshold: float = 0.5,
    audio_field: str | None = None,
    judge_role: str = "judge",
    decomposer_role: str = "decomposer",
    clean: bool = True,
    grounding: float = 0.0,
    seed: int = 0,
    hard_answers: str = "unscored",
    protocol: str = "anyaudio",
    pooling: str | None = None,
    resampler: str | None = None,
    reference: str | None = None,
    reference_sha256: str | None = None,
    asr: str | None = "auto",
) -> Scorer:
    """Alignment score in [0, 1] of the generated audio with the sample's instruction.

    Args:
        mode: judging mode (logits, generate, holistic).
        prompt_language: language of the judge prompt.
        rubric_language: language of decomposed rubric questions.
        threshold: score at which a sample counts as passing (for `pass_rate`).
        audio_field: metadata field holding an audio path, instead of the model's reply.
        judge_role: model role of the audio judge.
        decomposer_role: model role of the text LLM that writes rubrics (only for samples without one).
        clean: run the cleaning pass that removes items not grounded in the instruction.
        grounding: share of samples (chosen by a seeded hash of the sample id) judged again with silence and
            with spectrum-matched noise of the clip, to measure whether the judge listens.
        seed: seed of the grounding selection.
        hard_answers: unscored (a judge reply without usable logprobs leaves the item unparsed, the default) or
            allow (a hard 0/1; `hard_item_share` reports how many, with a warning).
        protocol: anyaudio or reference (the authors' prompts, pooling and decomposition settings); pooling,
            resampler, reference and reference_sha256 as in the bench task.
        asr: Whisper model for intelligibility (WER/CER against the sample's `text`, when it has one):
            auto, off, base, tiny.en, a model directory or a hub name (see `anyaudio_eval.acoustic.speech`).
    """
    if hard_answers not in HARD_ANSWER_POLICIES:
        raise ValueError(f"unknown hard_answers {hard_answers!r}; use one of: {', '.join(HARD_ANSWER_POLICIES)}")
    judge_protocol = get_protocol(protocol, prompt_language, pooling, resampler, reference, reference_sha256)
    prompt_language = judge_protocol.language
    tools: SpeechTools | None = None

    async def measure_intelligibility(audio: str, text: str) -> dict[str, Any] | None:
        nonlocal tools
        if tools is None:
            tools = SpeechTools(asr=asr, vad=True, notice=False)
        found = await asyncio.to_thread(intelligibility, audio_from_reference(audio), text, tools)
        return found.model_dump() if found else None

    async def score(state: TaskState, target: Target) -> Score:
        meta = state.metadata or {}
        instruction = str(meta.get("instruction") or state.input_text)
        domain = str(meta.get("domain") or DEFAULT_DOMAIN)
        context: dict[str, Any] = {"domain": domain, "threshold": threshold, "instruction": instruction}

        if audio_field:
            path = meta.get(audio_field)
            audio = await materialize_media(str(path)) if path else None
        else:
            audio = output_audio(state)
        if audio is None:
            reason = state.output.error if state.output and state.output.error else "the model returned no audio"
            return Score.unscored(reason="no_response", explanation=reason, metadata={**context, "error": reason})

        chosen = await rubric_for(
            instruction,
            [RubricItem.model_validate(item) for item in meta.get("rubric") or []],
            lambda: role_model(decomposer_role, "decomposer (a text LLM that writes rubrics)"),
            domain,
            rubric_language,
            holistic=mode == "holistic",
            clean=clean,
            protocol=judge_protocol,
        )
        context.update(chosen.context)
        if chosen.error:
            return Score.unscored(
                reason="grader_failed", explanation=chosen.error, metadata={**context, "error": chosen.error}
            )
        items = chosen.items

        judge = role_model(judge_role, "judge (an audio-capable model)")
        warn_if_released_judge(str(judge), judge_protocol)
        result = await judge_audio(
            judge,
            audio,
            items,
            mode,
            prompt_language,
            caption=instruction,
            protocol=judge_protocol,
            hard_answers=hard_answers,
        )
        context.update(result.score_metadata())
        if result.score is None:
            return Score.unscored(
                reason="grader_failed",
                explanation=render_checklist(result, threshold),
                metadata={**context, "error": result.error},
            )
        if grounding > 0 and _selected(state.sample_id, grounding, seed):
            check = await grounding_check(
                judge,
                result,
                audio,
                items,
                mode,
                prompt_language,
                instruction,
                swap_audio=spectrum_matched_noise(audio, seed),
                swap_source="spectrum-matched noise",
                protocol=judge_protocol,
            )
            context["grounding"] = check.model_dump()
        if meta.get("text"):  # beside the rubric score, never part of it
            heard = await measure_intelligibility(audio, str(meta["text"]))
            if heard:
                context["intelligibility"] = heard
        return Score(
            value={SCORE_KEY: result.score},
            answer=f"{result.score:.3f}",
            explanation=render_checklist(result, threshold),
            metadata={**context, SCORE_KEY: result.score},  # a copy for readers of the log
        )

    return score
