"""Solver that judges each sample with the model under test (the bench and probe tasks)."""

from __future__ import annotations

from inspect_ai.model import ChatMessageUser, ContentAudio, ModelOutput, get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver

from anyaudio_eval.bench.schema import RubricItem
from anyaudio_eval.judge.checklist import render_checklist
from anyaudio_eval.judge.procedure import JudgeMode, JudgeResult, judge_audio

RESULT_KEY = "judge_result"
EMPTY_RUBRIC_POLICIES = ("skip", "holistic")


def sample_audio(state: TaskState) -> str | None:
    """The clip of the sample (a data URI once Inspect has materialized the dataset)."""
    messages = state.input if isinstance(state.input, list) else state.messages
    for message in messages:
        if isinstance(message, ChatMessageUser) and not isinstance(message.content, str):
            for content in message.content:
                if isinstance(content, ContentAudio):
                    return content.audio
    return None


@solver
def judge_rubric(mode: JudgeMode = "logits", prompt_language: str = "zh", empty_rubric: str = "skip") -> Solver:
    """Judge the sample's audio against its rubric with the model under test; the result goes to the store."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        meta = state.metadata
        items = [RubricItem.model_validate(item) for item in meta.get("rubric") or []]
        audio = sample_audio(state)
        sample_mode = mode
        if mode != "holistic" and not items and empty_rubric == "holistic":
            sample_mode = "holistic"
        if audio is None:
            result = JudgeResult(mode=sample_mode, prompt_language=prompt_language, error="sample has no audio")
        elif sample_mode != "holistic" and not items:
            result = JudgeResult(
                mode=sample_mode,
                prompt_language=prompt_language,
                error="empty rubric (skipped; -T empty_rubric=holistic judges it against the caption)",
            )
        else:
            result = await judge_audio(
                get_model(), audio, items, sample_mode, prompt_language, caption=meta.get("caption")
            )
        state.store.set(RESULT_KEY, result.model_dump())
        state.output = ModelOutput.from_content(model=str(get_model()), content=render_checklist(result))
        return state

    return solve
