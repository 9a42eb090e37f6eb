"""Registrations of the audio generator providers (lazy: the classes load on first use)."""

from inspect_ai.model import modelapi


@modelapi(name="files")
def files_api() -> type:
    """Pre-generated clips in a folder, named by sample id: `--model files/<folder>`."""
    from anyaudio_eval.providers.generators import FilesGeneratorAPI

    return FilesGeneratorAPI


@modelapi(name="command")
def command_api() -> type:
    """A command run per sample: `--model command/<name> -M cmd="tts --text {text} --out {out}"`."""
    from anyaudio_eval.providers.generators import CommandGeneratorAPI

    return CommandGeneratorAPI


@modelapi(name="openai-speech")
def openai_speech_api() -> type:
    """An OpenAI-compatible /audio/speech endpoint: `--model openai-speech/<model> -M voice=...`."""
    from anyaudio_eval.providers.generators import OpenAISpeechGeneratorAPI

    return OpenAISpeechGeneratorAPI


@modelapi(name="espeak")
def espeak_api() -> type:
    """espeak-ng as an offline baseline: `--model espeak/en-us`."""
    from anyaudio_eval.providers.generators import EspeakGeneratorAPI

    return EspeakGeneratorAPI
