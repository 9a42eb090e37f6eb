"""Audio generators as Inspect model providers: the assistant message carries the audio as ContentAudio.

- `files/<dir>`: pre-generated clips named `<sample id>.<wav|flac|ogg|mp3>`;
- `command/<name>`: runs a user's command per sample from an argv template (`{text}`, `{instruction}`,
  `{out}`, `{id}`); never through a shell;
- `openai-speech/<model>`: an OpenAI-compatible `/audio/speech` endpoint (`instructions` carry the style);
- `espeak/<voice>`: an offline baseline through espeak-ng.

A failed generation returns an output whose `error` says why (the scorer leaves the sample unscored with
that reason). Generated audio is cached by (generator, model args, instruction, text).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageUser,
    ContentAudio,
    ContentText,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
)
from inspect_ai.tool import ToolChoice, ToolInfo
from pydantic import BaseModel

from anyaudio_eval.audio import AudioError, cache_audio, cache_dir, duration_seconds, file_data_uri
from anyaudio_eval.providers.common import request_text, usage_for

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


class GenerationError(RuntimeError):
    pass


class GenerationRequest(BaseModel):
    """What to generate, read from the user message's metadata (set by the instruct task) or its text."""

    id: str | None = None
    instruction: str
    text: str | None = None
    domain: str | None = None


def generation_request(messages: list[ChatMessage]) -> GenerationRequest:
    for message in reversed(messages):
        if isinstance(message, ChatMessageUser):
            meta = message.metadata or {}
            instruction = meta.get("instruction") or request_text([message])
            return GenerationRequest(
                id=meta.get("id"), instruction=instruction, text=meta.get("text"), domain=meta.get("domain")
            )
    raise GenerationError("no user message to generate from")


class AudioGeneratorAPI(ModelAPI):
    """Shared by every generator: request parsing, the generated-audio cache and the output message."""

    api_name = "generator"
    model_arg_names: tuple[str, ...] = ()
    cache_outputs = True

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        unknown = set(model_args) - set(self.model_arg_names) - {"cache"}
        if unknown:
            raise ValueError(
                f"{self.api_name}: unknown model args {sorted(unknown)}; accepted: "
                f"{', '.join(self.model_arg_names) or 'none'}"
            )
        self.use_cache = bool(model_args.pop("cache", self.cache_outputs))
        self.model_args = model_args

    def max_connections(self) -> int:
        return 2

    async def synthesize(self, request: GenerationRequest, out: Path) -> Path:
        """Write the clip for `request` to `out` (or return another existing file)."""
        raise NotImplementedError

    def _cache_path(self, request: GenerationRequest) -> Path:
        payload = json.dumps(
            [self.api_name, self.model_name, sorted(self.model_args.items()), request.instruction, request.text],
            ensure_ascii=False,
            default=str,
        )
        digest = hashlib.sha256(payload.encode()).hexdigest()
        return cache_dir() / "generated" / digest[:2] / f"{digest}.wav"

    async def _clip(self, request: GenerationRequest) -> Path:
        cached = self._cache_path(request)
        if self.use_cache and cached.is_file():
            return cached
        with tempfile.TemporaryDirectory(prefix="anyaudio-gen-") as tmp:
            produced = await self.synthesize(request, Path(tmp) / "out.wav")
            if not produced.is_file() or produced.stat().st_size == 0:
                raise GenerationError(f"the generator wrote no audio to {produced}")
            try:
                normalised = cache_audio(produced)
            except AudioError as ex:
                raise GenerationError(f"generated audio is unusable: {ex}") from ex
        if self.use_cache:
            cached.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(normalised, cached.with_suffix(".tmp"))
            os.replace(cached.with_suffix(".tmp"), cached)
        return normalised

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        name = f"{self.api_name}/{self.model_name}"
        try:
            request = generation_request(input)
            clip = await self._clip(request)
        except (GenerationError, OSError) as ex:
            message = ChatMessageAssistant(content=f"generation failed: {ex}", model=name, source="generate")
            return ModelOutput(
                model=name,
                choices=[ChatCompletionChoice(message=message, stop_reason="unknown")],
                usage=usage_for(0, 0.0, 0),
                error=f"generation failed: {ex}",
            )
        seconds = duration_seconds(clip)
        message = ChatMessageAssistant(
            content=[
                ContentAudio(audio=file_data_uri(clip), format="wav"),
                ContentText(text=f"[{seconds:.1f} s of audio]"),
            ],
            model=name,
            source="generate",
        )
        return ModelOutput(
            model=name,
            choices=[ChatCompletionChoice(message=message, stop_reason="stop")],
            usage=usage_for(len(request.instruction) + len(request.text or ""), 0.0, int(seconds * 25)),
        )


class FilesGeneratorAPI(AudioGeneratorAPI):
    """`files/<dir>`: audio made elsewhere, matched by sample id."""

    api_name = "files"
    cache_outputs = False

    async def synthesize(self, request: GenerationRequest, out: Path) -> Path:
        folder = Path(self.model_name).expanduser()
        if not folder.is_dir():
            raise GenerationError(f"no such folder {folder} (use --model files/<folder of clips named by sample id>)")
        if not request.id:
            raise GenerationError("the sample has no id to look its clip up by")
        for suffix in AUDIO_SUFFIXES:
            candidate = folder / f"{request.id}{suffix}"
            if candidate.is_file():
                return candidate
        raise GenerationError(f"no clip for sample {request.id!r} in {folder} (looked for {', '.join(AUDIO_SUFFIXES)})")


class CommandGeneratorAPI(AudioGeneratorAPI):
    """`command/<name> -M cmd="python tts.py --text {text} --style {instruction} --out {out}"`."""

    api_name = "command"
    model_arg_names = ("cmd", "timeout")

    def __init__(self, model_name: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(model_name, *args, **kwargs)
        if not self.model_args.get("cmd"):
            raise ValueError('command generator needs -M cmd="program --text {text} --out {out}"')
        # Split the template once; values are substituted per argument, so nothing in an instruction
        # can add arguments or reach a shell.
        self.argv_template = shlex.split(str(self.model_args["cmd"]))
        if not any("{out}" in arg for arg in self.argv_template):
            raise ValueError("command generator: the cmd template must contain {out}")
        self.timeout = int(self.model_args.get("timeout", 600))

    async def synthesize(self, request: GenerationRequest, out: Path) -> Path:
        from inspect_ai.util import subprocess

        values = {
            "text": request.text or request.instruction,
            "instruction": request.instruction,
            "out": str(out),
            "id": request.id or "",
            "domain": request.domain or "",
        }
        argv = [_substitute(arg, values) for arg in self.argv_template]
        try:
            result = await subprocess(argv, timeout=self.timeout)
        except TimeoutError as ex:
            raise GenerationError(f"command timed out after {self.timeout} s: {argv[0]}") from ex
        except (FileNotFoundError, PermissionError) as ex:
            raise GenerationError(f"cannot run {argv[0]!r}: {ex}") from ex
        if not result.success:
            raise GenerationError(f"command exited with {result.returncode}: {result.stderr.strip()[-2000:]}")
        return out


def _substitute(arg: str, values: dict[str, str]) -> str:
    # Plain replacement, not str.format: braces inside user text must not be interpreted.
    for key, value in values.items():
        arg = arg.replace("{" + key + "}", value)
    return arg


class OpenAISpeechGeneratorAPI(AudioGeneratorAPI):
    """`openai-speech/<model>`: POST {base_url}/audio/speech with model, voice, input and instructions."""

    api_name = "openai-speech"
    model_arg_names = ("voice", "timeout")

    def __init__(
        self, model_name: str, base_url: str | None = None, api_key: str | None = None, *args: Any, **kwargs: Any
    ) -> None:
        super().__init__(model_name, base_url, api_key, *args, **kwargs)
        self.base_url = (base_url or os.environ.get("OPENAI_SPEECH_BASE_URL") or "https://api.openai.com/v1").rstrip(
            "/"
        )
        self.api_key = api_key or os.environ.get("OPENAI_SPEECH_API_KEY") or os.environ.get("OPENAI_API_KEY")

    async def synthesize(self, request: GenerationRequest, out: Path) -> Path:
        import httpx

        body = {
            "model": self.model_name,
            "voice": self.model_args.get("voice", "alloy"),
            "input": request.text or request.instruction,
            "response_format": "wav",
        }
        if request.text:
            body["instructions"] = request.instruction
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            async with httpx.AsyncClient(timeout=float(self.model_args.get("timeout", 120))) as client:
                response = await client.post(f"{self.base_url}/audio/speech", json=body, headers=headers)
        except httpx.HTTPError as ex:
            raise GenerationError(f"speech endpoint unreachable at {self.base_url}: {ex}") from ex
        if response.status_code != 200:
            raise GenerationError(f"speech endpoint answered {response.status_code}: {response.text[:500]}")
        out.write_bytes(response.content)
        return out


class EspeakGeneratorAPI(AudioGeneratorAPI):
    """`espeak/<voice>` (e.g. espeak/en-us, espeak/cmn-latn-pinyin): ignores the style, a floor to beat."""

    api_name = "espeak"
    model_arg_names = ("rate", "pitch", "amplitude")

    async def synthesize(self, request: GenerationRequest, out: Path) -> Path:
        from inspect_ai.util import subprocess

        exe = shutil.which("espeak-ng") or shutil.which("espeak")
        if exe is None:
            raise GenerationError(
                "espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng; macOS: brew install espeak-ng)"
            )
        argv = [exe, "-v", self.model_name, "-w", str(out)]
        for flag, key in (("-s", "rate"), ("-p", "pitch"), ("-a", "amplitude")):
            if key in self.model_args:
                argv += [flag, str(int(self.model_args[key]))]
        argv += ["--", request.text or request.instruction]
        result = await subprocess(argv, timeout=120)
        if not result.success:
            raise GenerationError(f"espeak-ng failed: {result.stderr.strip()[-1000:]}")
        return out
