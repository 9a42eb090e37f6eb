"""`acoustic/<name>`: an offline, deterministic judge that measures what it is asked about.

It reads our own prompt formats (one item, a numbered list, or a holistic caption), answers each
question with `anyaudio_eval.acoustic.answer_item`, and reports p_yes as first-token logprobs, so the
judging procedure treats it like any audio LLM. What it cannot measure it answers with p_yes 0.5.

Model args: `-M asr=auto|off|base|tiny.en|<model dir>|<hub name>` (Whisper via faster-whisper, see
`anyaudio_eval.acoustic.speech`) and `-M vad=true|false` (silero VAD). Both need the `asr` extra; without it the
judge runs on signal measurements alone and says so once.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any

from inspect_ai.model import ChatMessage, GenerateConfig, ModelAPI, ModelOutput
from inspect_ai.tool import ToolChoice, ToolInfo

from anyaudio_eval.acoustic import ClipFeatures, answer_item
from anyaudio_eval.acoustic.speech import SpeechTools
from anyaudio_eval.audio import TARGET_SR, audio_from_reference
from anyaudio_eval.providers.common import request_audio, request_text, text_output, usage_for, yes_no_output
from anyaudio_eval.rubric.protocol import read_any_holistic, read_any_item, read_any_item_list

_FEATURE_CACHE: OrderedDict[str, ClipFeatures] = OrderedDict()
_FEATURE_CACHE_SIZE = 64


def clip_features(audio_ref: str, tools: SpeechTools | None = None) -> ClipFeatures:
    """Features of a clip, cached by content and tools: a sample's items share one analysis."""
    key = hashlib.sha1(f"{tools.key if tools else ''}|{audio_ref}".encode()).hexdigest()
    if key in _FEATURE_CACHE:
        _FEATURE_CACHE.move_to_end(key)
        return _FEATURE_CACHE[key]
    features = ClipFeatures(audio_from_reference(audio_ref), TARGET_SR, tools=tools)
    _FEATURE_CACHE[key] = features
    if len(_FEATURE_CACHE) > _FEATURE_CACHE_SIZE:
        _FEATURE_CACHE.popitem(last=False)
    return features


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() not in ("false", "0", "no", "off")


class AcousticJudgeAPI(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        asr = model_args.pop("asr", "auto")
        vad = model_args.pop("vad", True)
        if model_args:
            raise ValueError(f"acoustic judge takes only the model args asr and vad (got {', '.join(model_args)})")
        self.tools = SpeechTools(asr=None if asr is None else str(asr), vad=_flag(vad))

    def max_connections(self) -> int:
        return 4

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        audio = request_audio(input)
        text = request_text(input)
        name = self.model_name
        if audio is None:
            return text_output(name, "no", usage_for(len(text), 0.0, 1))
        features = clip_features(audio, self.tools)
        usage = usage_for(len(text), features.duration, 1)

        listed = read_any_item_list(text)
        if listed is not None:
            answers = []
            for i, (dimension, question) in enumerate(listed):
                ans = answer_item(features, question, dimension or None)
                # Unsure means no (the judge's rule), so an abstention answers no in generate mode.
                verdict = "yes" if ans.measured and ans.p_yes >= 0.5 else "no"
                answers.append({"id": i, "answer": verdict, "evidence": ans.evidence})
            reply = json.dumps(answers, ensure_ascii=False)
            return text_output(name, reply, usage_for(len(text), features.duration, max(1, len(reply) // 4)))

        item = read_any_item(text)
        if item is not None:
            dimension, question = item
        else:
            dimension, question = "", read_any_holistic(text) or text
        ans = answer_item(features, question, dimension or None)
        return yes_no_output(name, ans.p_yes, config, usage, evidence=ans.evidence)
