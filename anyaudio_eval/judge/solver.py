"""Solver that judges each sample with the model under test (the bench and probe tasks)."""

from __future__ import annotations

from inspect_ai.model import ChatMessageUser, ContentAudio, ModelOutput, get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import materialize_media

from anyaudio_eval.bench.schema import RubricItem
from anyaudio_eval.judge.checklist import render_checklist
from anyaudio_eval.judge.grounding import grounding_check
from anyaudio_eval.judge.procedure import JudgeMode, JudgeResult, judge_audio
from anyaudio_eval.rubric.protocol import get_protocol, warn_if_released_judge

RESULT_KEY = "judge_result"
GROUNDING_KEY = "grounding"
# Set by the task builder on the seeded share of samples that get the grounding check.
SWAP_AUDIO_FIELD = "grounding_swap_audio"
EMPTY_RUBRIC_POLICIES = ("skip", "holistic")


def sample_audios(state: TaskState) -> list[str]:
    """The clips of the sample's input, in order (data URIs once Inspect has materialized the dataset)."""
    found = []
    for message in state.input if isinstance(state.input, list) else state.messages:
        if isinstance(message, ChatMessageUser) and not isinstance(message.content, str):
            found += [c.audio for c in message.content if isinstance(c, ContentAudio)]
    return found


def sample_audio(state: TaskState) -> str | None:
    """The sample's (first) clip."""
    return next(iter(sample_audios(state)), None)


@solver
def judge_rubric(
    mode: JudgeMode = "logits",
    prompt_language: str = "zh",
    empty_rubric: str = "skip",
    temperature: float = 0.0,
    hard_answers: str = "unscored",
    protocol: str = "anyaudio",
    pooling: str | None = None,
    resampler: str | None = None,
    reference: str | None = None,
    reference_sha256: str | None = None,
    threshold: float | None = None,
) -> Solver:
    """Judge the sample's audio against its rubric with the model under test; the result goes to the store.

    `protocol` (anyaudio | reference) and its options are resolved once, here (see `rubric.protocol`).
    `threshold` only labels the decision in the verdict message the transcript shows.
    """
    judge_protocol = get_protocol(protocol, prompt_language, pooling, resampler, reference, reference_sha256)
    prompt_language = judge_protocol.language

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        meta = state.metadata
        items = [RubricItem.model_validate(item) for item in meta.get("rubric") or []]
        audio = sample_audio(state)
        sample_mode = mode
        if mode != "holistic" and not items and empty_rubric == "holistic":
            sample_mode = "holistic"
        model = get_model()
        warn_if_released_judge(str(model), judge_protocol)
        unjudged = None
        if audio is None:
            unjudged = "sample has no audio"
        elif sample_mode != "holistic" and not items:
            unjudged = "empty rubric (skipped; -T empty_rubric=holistic judges it against the caption)"
        if unjudged is not None:
            result = JudgeResult.unjudged(sample_mode, judge_protocol, unjudged)
        else:
            assert audio is not None
            caption = meta.get("caption")
            result = await judge_audio(
                model,
                audio,
                items,
                sample_mode,
                prompt_language,
                caption,
                temperature,
                protocol=judge_protocol,
                hard_answers=hard_answers,
            )
            swap_path = meta.get(SWAP_AUDIO_FIELD)
            if swap_path and result.score is not None:
                check = await grounding_check(
                    model,
                    result,
                    audio,
                    items,
                    sample_mode,
                    prompt_language,
                    caption,
                    swap_audio=await materialize_media(swap_path),
                    swap_source=str(meta.get("grounding_swap_uuid", "")),
                    protocol=judge_protocol,
                )
                state.store.set(GROUNDING_KEY, check.model_dump())
        state.store.set(RESULT_KEY, result.model_dump())
        verdicts = render_checklist(result, threshold, meta.get("label"))
        state.output = ModelOutput.from_content(model=str(model), content=verdicts)
        state.messages.append(state.output.message)  # the verdicts show in the viewer's Messages tab too
        return state

    return solve
