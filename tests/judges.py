"""Scripted judges for tests: mockllm models whose outputs carry usage (and logprobs when asked)."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
from inspect_ai.model import GenerateConfig, Model, ModelAPI, ModelOutput, ModelUsage, get_model, modelapi

from anyaudio_eval.audio import audio_from_reference
from anyaudio_eval.providers.common import request_audio, request_text, text_output, usage_for, yes_no_output
from anyaudio_eval.rubric.protocol import ITEM_BATCH_KEY


def scripted_judge(p_yes: Callable[[np.ndarray | None, str], float], logprobs: bool = True) -> Model:
    """A judge whose P(yes) is `p_yes(audio, item_text)`; without logprobs it answers the word only."""

    def respond(input, tools, tool_choice, config: GenerateConfig) -> ModelOutput:
        ref = request_audio(input)
        wav = audio_from_reference(ref) if ref else None
        text = request_text(input)
        p = p_yes(wav, text)
        usage = usage_for(len(text), 1.0, 1)
        if not logprobs:
            return text_output("mockllm/model", "yes" if p >= 0.5 else "no", usage)
        return yes_no_output("mockllm/model", p, config, usage)

    return get_model("mockllm/model", custom_outputs=respond)


def listening(wav, text) -> float:
    """Says yes in proportion to how loud the clip is: tones score high, silence low."""
    rms = float(np.sqrt(np.mean(wav**2))) if wav is not None and wav.size else 0.0
    return 0.9 if rms > 0.05 else 0.2


def deaf(wav, text) -> float:
    """Ignores the audio entirely."""
    return 0.7


def reply_judge(replies: Callable[[str], str]) -> Model:
    """A judge that replies with fixed text (for generate mode)."""

    def respond(input, tools, tool_choice, config) -> ModelOutput:
        text = request_text(input)
        return text_output("mockllm/model", replies(text), usage_for(len(text), 1.0, 10))

    return get_model("mockllm/model", custom_outputs=respond)


class InstantJudge(ModelAPI):
    """`instant/<name>` (registered when this module is imported): answers at once, without HTTP or audio
    decoding, and takes a sample's items in one call (`-M item_batches=false`: one call per item, as
    `openai-api/` is called). P(yes) follows the item text, so runs are reproducible; for benchmarks."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        item_batches: bool = True,
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        self.judges_item_batches = bool(item_batches)

    async def generate(self, input, tools, tool_choice, config: GenerateConfig) -> ModelOutput:
        texts = list((config.extra_body or {}).get(ITEM_BATCH_KEY) or []) or [request_text(input)]
        choices = []
        for text in texts:
            p = 0.05 + 0.9 * (zlib.crc32(text.encode()) % 1000) / 1000
            choices += yes_no_output(self.model_name, p, config, ModelUsage()).choices
        usage = usage_for(sum(len(t) for t in texts), 10.0 * len(texts), len(texts))
        return ModelOutput(model=self.model_name, choices=choices, usage=usage)


@modelapi(name="instant")
def instant_api() -> type:
    return InstantJudge
