"""Inspect model APIs of our own, registered lazily so heavy imports happen only on use."""

from inspect_ai.model import modelapi


@modelapi(name="acoustic")
def acoustic_api() -> type:
    """Offline judge that answers rubric items by measuring the audio (`--model acoustic/default`)."""
    from anyaudio_eval.providers.acoustic import AcousticJudgeAPI

    return AcousticJudgeAPI


@modelapi(name="fanout")
def fanout_api() -> type:
    """An OpenAI-compatible judge endpoint that takes a sample's items at once
    (`--model fanout/<model> --model-base-url ...`)."""
    from anyaudio_eval.providers.fanout import FanoutJudge

    return FanoutJudge


@modelapi(name="audiollm")
def audiollm_api() -> type:
    """Local transformers audio LLM judge (`--model audiollm/<checkpoint dir>`): Qwen2.5-Omni, Qwen3-Omni,
    Qwen2-Audio."""
    from anyaudio_eval.providers.local import LocalAudioLLM

    return LocalAudioLLM
