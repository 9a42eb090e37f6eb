"""Inspect model APIs of our own, registered lazily so heavy imports happen only on use."""

from inspect_ai.model import modelapi


@modelapi(name="acoustic")
def acoustic_api() -> type:
    """Offline judge that answers rubric items by measuring the audio (`--model acoustic/default`)."""
    from anyaudio_eval.providers.acoustic import AcousticJudgeAPI

    return AcousticJudgeAPI
