"""`audiollm/<checkpoint dir>`: a local transformers audio-language model as an Inspect model.

The Inspect adapter of `anyaudio_eval.engine` (which holds the families, loading, prompt encoding, the prefix
cache and generation): this module turns Inspect messages into the engine's conversations and its scores and
generations into `ModelOutput`s. Families: Qwen2.5-Omni (full or thinker-only layout), Qwen3-Omni MoE (thinker)
and Qwen2-Audio; only the thinker of an Omni model is loaded.

With `logprobs=True` the provider answers one token: one forward pass, the last position's logits (what greedy
`generate(max_new_tokens=1)` scores), and the top logprobs always include every yes/no token variant of the
vocabulary (the tokens `rubric.parsing.token_answer` reads as yes or no), so p_yes is exact. The system+audio
prefix of a request is run once and its key/values are kept in an LRU cache; the item text after it is scored
against the cached key/values, several pending items of one prefix in one batch. Without logprobs: greedy
generation on the thinker (sampling only when a temperature > 0 is asked for), honouring `max_tokens` (default
1024). Logprobs are the raw distribution (no temperature), as vLLM's default `raw_logprobs`.

Under the reference protocol (a hint in `GenerateConfig.extra_body`) the logits first pass through the processors
the checkpoint's generation_config sets (`engine.first_step_processors`), as in the release's greedy
`generate()`, and tokens that print the same keep the larger logprob (the release's max rule reads strings).

Model args (`-M name=value`): device (auto|cpu|cuda|cuda:N), dtype (auto|float32|bfloat16|float16; auto is
`engine.resolve_dtype`'s: bfloat16 on a CUDA device that has it, else float32), attn_implementation
(sdpa|eager|flash_attention_2), max_audio_seconds, batch_size (items per forward), prefix_cache (true|false;
false = the reference path: features and the whole prompt per request), prefix_cache_size (prefixes kept),
item_batches (true|false: a sample's rubric items arrive in one request, one choice each, so Inspect handles one
generate() per sample; default true).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import anyio
import numpy as np
import torch
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    ContentAudio,
    ContentText,
    GenerateConfig,
    Logprob,
    Logprobs,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    TopLogprob,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from anyaudio_eval.audio import data_uri_bytes, decode_audio, to_mono_16k
from anyaudio_eval.constants import SAMPLE_RATE
from anyaudio_eval.engine import Engine, Prepared, ScoreRequest, ScoreResult, load_engine
from anyaudio_eval.providers.common import text_output, with_last_text
from anyaudio_eval.rubric.protocol import GENERATION_CONFIG_HINT, ITEM_BATCH_KEY

# Batching window for concurrent logits requests: small next to a forward pass of a real judge.
BATCH_TICK_S = 0.002
BATCH_WINDOW_S = 0.02


# ---------------------------------------------------------------------------------------------------------
# Inspect messages -> chat template input


def _load_clip(ref: str, max_seconds: float) -> np.ndarray:
    data, sr = decode_audio(data_uri_bytes(ref) if ref.startswith("data:") else ref)
    # 16 kHz clips (what the tasks send) are used as they are, float samples unclipped: the linear pipeline
    # of the reference protocol hands over exactly what the release's judge would compute.
    wav = data.mean(axis=1) if sr == SAMPLE_RATE else to_mono_16k(data, sr, max_seconds=math.inf)
    return wav[: int(max_seconds * SAMPLE_RATE)]


def conversation_of(messages: Sequence[ChatMessage]) -> tuple[list[dict[str, Any]], list[str]]:
    """Chat-template messages (audio as {"type": "audio"} parts) and the audio references in order."""
    conversation: list[dict[str, Any]] = []
    audio: list[str] = []
    for message in messages:
        if isinstance(message.content, str):
            conversation.append({"role": message.role, "content": message.content})
            continue
        parts: list[dict[str, Any]] = []
        for content in message.content:
            if isinstance(content, ContentText):
                parts.append({"type": "text", "text": content.text})
            elif isinstance(content, ContentAudio):
                parts.append({"type": "audio", "audio": f"audio-{len(audio)}"})
                audio.append(content.audio)
            elif getattr(content, "type", None) == "reasoning":
                continue
            else:
                raise ValueError(f"the audiollm provider takes text and audio only, got {content.type!r} content")
        if message.role == "system" and all(p["type"] == "text" for p in parts):
            conversation.append({"role": "system", "content": "".join(p["text"] for p in parts)})
        else:
            conversation.append({"role": message.role, "content": parts})
    return conversation, audio


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class LocalAudioLLM(ModelAPI):
    """`audiollm/<checkpoint dir>`: see the module docstring."""

    takes_protocol_hints = True  # the judging procedure may send GENERATION_CONFIG_HINT in extra_body

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        device: str = "auto",
        dtype: str = "auto",
        attn_implementation: str = "sdpa",
        max_audio_seconds: float | None = None,
        batch_size: int = 8,
        prefix_cache: bool | str = True,
        prefix_cache_size: int = 8,
        item_batches: bool | str = True,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        if model_args:
            raise ValueError(
                f"unknown audiollm model args: {', '.join(model_args)} (known: device, dtype, attn_implementation, "
                "max_audio_seconds, batch_size, prefix_cache, prefix_cache_size, item_batches)"
            )
        self.engine: Engine = load_engine(model_name, device, dtype, attn_implementation, int(prefix_cache_size))
        limit = self.engine.family.max_seconds if max_audio_seconds is None else float(max_audio_seconds)
        if limit > 30.0 and self.engine.family.model_class == "Qwen2AudioForConditionalGeneration":
            raise ValueError("Qwen2-Audio's encoder takes at most 30 s of audio: use max_audio_seconds <= 30")
        self.max_audio_seconds = limit
        self.batch_size = max(1, int(batch_size))
        self.reuse = _bool(prefix_cache) and int(prefix_cache_size) > 0
        self.judges_item_batches = _bool(item_batches)  # read by the judging procedure
        self._pending: list[ScoreRequest] = []
        self._lock: anyio.Lock | None = None
        self._preparing = 0  # requests whose prompt is being prepared in a worker thread

    def max_connections(self) -> int:
        return 32

    def prepare(self, messages: Sequence[ChatMessage], texts: Sequence[str] = ()) -> list[Prepared]:
        """The request, and one more per text in `texts` (the request with its last text replaced): the
        clips are decoded once for all of them."""
        conversation, refs = conversation_of(messages)
        clips = [_load_clip(ref, self.max_audio_seconds) for ref in refs]
        conversations = [conversation, *(conversation_of(with_last_text(messages, t))[0] for t in texts)]
        # prefix_cache=false is the reference path: features and the whole prompt per request
        return [self.engine.prepare(c, clips, self.max_audio_seconds, cache_features=self.reuse) for c in conversations]

    async def score(self, prepared: Prepared) -> ScoreResult:
        """Queue one request; whoever holds the lock scores everything pending (grouped by prefix)."""
        item = ScoreRequest(prepared)
        self._pending.append(item)
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if not item.done:
                await self._gather_siblings()
                batch, self._pending = self._pending, []
                await anyio.to_thread.run_sync(self.engine.score_batch, batch, self.batch_size, self.reuse)
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    async def _gather_siblings(self) -> None:
        """Let requests issued together (a sample's items, still being prepared in threads) join the batch:
        wait while the queue grows or prompts are being prepared, a tick at a time, at most BATCH_WINDOW_S."""
        waited, size = 0.0, -1
        while (len(self._pending) != size or self._preparing) and waited < BATCH_WINDOW_S:
            size = len(self._pending)
            await anyio.sleep(BATCH_TICK_S)
            waited += BATCH_TICK_S

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        extra = config.extra_body or {}
        texts = list(extra.get(ITEM_BATCH_KEY) or []) if config.logprobs else []
        self._preparing += 1
        try:
            prepared, *others = await anyio.to_thread.run_sync(self.prepare, input, texts[1:])
        finally:
            self._preparing -= 1
        name = self.model_name
        if texts:
            return await self._score_items([prepared, *others], config)
        if config.logprobs:
            result = await self.score(prepared)
            if extra.get(GENERATION_CONFIG_HINT):
                logprobs = await anyio.to_thread.run_sync(self.engine.processed_logprobs, prepared, result)
                return self._logprobs_output(result, config.top_logprobs, logprobs, merge_max=True)
            return self._logprobs_output(result, config.top_logprobs)
        max_new = config.max_tokens if config.max_tokens is not None else 1024
        text, n_new, truncated = await anyio.to_thread.run_sync(
            self.engine.generate, prepared, max(1, max_new), float(config.temperature or 0.0), config.seed
        )
        usage = ModelUsage(input_tokens=len(prepared.ids), output_tokens=n_new, total_tokens=len(prepared.ids) + n_new)
        output = text_output(name, text, usage)
        if truncated:
            output.choices[0].stop_reason = "max_tokens"
        return output

    async def _score_items(self, prepared: list[Prepared], config: GenerateConfig) -> ModelOutput:
        """A sample's items in one request (the request is item 0; item i has its last text replaced by
        texts[i]): they share the system+audio prefix and are scored together. One choice per item, in order."""
        results = await asyncio.gather(*(self.score(p) for p in prepared))
        processed = bool((config.extra_body or {}).get(GENERATION_CONFIG_HINT))
        outputs = []
        for p, r in zip(prepared, results, strict=True):
            logprobs = await anyio.to_thread.run_sync(self.engine.processed_logprobs, p, r) if processed else None
            outputs.append(self._logprobs_output(r, config.top_logprobs, logprobs, merge_max=processed))
        usage = ModelUsage(
            input_tokens=sum(r.prompt_tokens for r in results),
            output_tokens=len(results),
            total_tokens=sum(r.prompt_tokens for r in results) + len(results),
            input_tokens_cache_read=sum(r.cached_tokens for r in results) or None,
        )
        return ModelOutput(model=self.model_name, choices=[o.choices[0] for o in outputs], usage=usage)

    def _logprobs_output(
        self, result: ScoreResult, top_logprobs: int | None, logprobs: Any = None, merge_max: bool = False
    ) -> ModelOutput:
        lp = result.logprobs if logprobs is None else logprobs
        k = min(int(top_logprobs or 20), lp.shape[-1])
        top_ids = torch.topk(lp, k).indices.tolist()
        ids = list(dict.fromkeys(top_ids + self.engine.answer_ids))
        strings = self.engine.token_strings(ids)
        # Tokens that print the same (rare) are merged, so a reader keyed by string loses no mass.
        merged: dict[str, float] = {}
        for tid, s in zip(ids, strings, strict=True):
            value = float(lp[tid])
            if s in merged:
                merged[s] = max(merged[s], value) if merge_max else float(np.logaddexp(merged[s], value))
            else:
                merged[s] = value
        top = sorted((TopLogprob(token=s, logprob=v) for s, v in merged.items()), key=lambda t: -t.logprob)
        best = self.engine.token_strings([top_ids[0]])[0]
        chosen = Logprob(token=best, logprob=merged[best], top_logprobs=top)
        message = ChatMessageAssistant(content=best, model=self.model_name, source="generate")
        usage = ModelUsage(
            input_tokens=result.prompt_tokens,
            output_tokens=1,
            total_tokens=result.prompt_tokens + 1,
            input_tokens_cache_read=result.cached_tokens or None,
        )
        return ModelOutput(
            model=self.model_name,
            choices=[
                ChatCompletionChoice(message=message, stop_reason="max_tokens", logprobs=Logprobs(content=[chosen]))
            ],
            usage=usage,
        )
