"""`fanout/<model>`: an OpenAI-compatible chat endpoint (vLLM, SGLang, ...) that takes a sample's items at once.

The judging procedure sends a sample's rubric items in one `generate()` (see `rubric.protocol.ITEM_BATCH_KEY`);
this provider fans them out as concurrent HTTP requests, one per item on the wire exactly as `openai-api/` or
`vllm/` would send them, and returns one choice per item. Inspect then does its per-call work (events, copies,
validation) once per sample rather than once per item, which is what bounds a client against a fast server.
Requests are plain chat completions with `input_audio` parts and top logprobs; the clip's base64 is passed
through, never decoded.

Model args: base_url (or $FANOUT_BASE_URL, e.g. http://localhost:8000/v1), api_key (or $FANOUT_API_KEY),
timeout (seconds per request, 120), connections (HTTP connections kept open, 256). Inspect's `--max-connections`
counts samples here (default 8): set it to the requests the server should see at once divided by the items per
sample.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
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

from anyaudio_eval.providers.common import with_last_text
from anyaudio_eval.rubric.protocol import GENERATION_CONFIG_HINT, ITEM_BATCH_KEY

_OURS = (ITEM_BATCH_KEY, GENERATION_CONFIG_HINT)  # hints for our providers, never sent on the wire


def _retryable(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


class FanoutError(RuntimeError):
    """The endpoint answered with an error or a body that is not a chat completion."""


def _audio_part(content: ContentAudio) -> dict[str, Any]:
    ref = content.audio
    if not ref.startswith("data:") or "," not in ref:
        raise ValueError("fanout/ sends audio as inline data: the clip must be a data URI")
    return {"type": "input_audio", "input_audio": {"data": ref.split(",", 1)[1], "format": content.format}}


def wire_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Inspect messages as OpenAI chat messages (text and `input_audio` parts)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message.content, str):
            out.append({"role": message.role, "content": message.content})
            continue
        parts: list[dict[str, Any]] = []
        for content in message.content:
            if isinstance(content, ContentText):
                parts.append({"type": "text", "text": content.text})
            elif isinstance(content, ContentAudio):
                parts.append(_audio_part(content))
            elif getattr(content, "type", None) != "reasoning":
                raise ValueError(f"fanout/ sends text and audio only, got {content.type!r} content")
        if message.role != "user" and all(p["type"] == "text" for p in parts):
            out.append({"role": message.role, "content": "".join(p["text"] for p in parts)})
        else:
            out.append({"role": message.role, "content": parts})
    return out


def _choice(body: dict[str, Any]) -> ChatCompletionChoice:
    try:
        raw = body["choices"][0]
    except (KeyError, IndexError, TypeError) as ex:
        raise FanoutError(f"not a chat completion: {str(body)[:200]}") from ex
    text = (raw.get("message") or {}).get("content") or ""
    logprobs = None
    content = (raw.get("logprobs") or {}).get("content")
    if content:
        logprobs = Logprobs(
            content=[
                Logprob(
                    token=entry["token"],
                    logprob=entry["logprob"],
                    top_logprobs=[TopLogprob(token=t["token"], logprob=t["logprob"]) for t in entry.get("top_logprobs") or []],
                )
                for entry in content
            ]
        )
    message = ChatMessageAssistant(content=text, source="generate")
    return ChatCompletionChoice(message=message, stop_reason="stop", logprobs=logprobs)


class FanoutJudge(ModelAPI):
    """`fanout/<model>`: see the module docstring."""

    judges_item_batches = True  # read by the judging procedure

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        timeout: float = 120.0,
        connections: int = 256,
        **model_args: Any,
    ) -> None:
        base_url = base_url or os.environ.get("FANOUT_BASE_URL")
        api_key = api_key or os.environ.get("FANOUT_API_KEY") or "EMPTY"
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        if model_args:
            raise ValueError(f"unknown fanout model args: {', '.join(model_args)} (known: timeout, connections)")
        if not base_url:
            raise ValueError("fanout/ needs the server: -M base_url=http://host:port/v1 (or FANOUT_BASE_URL)")
        limits = httpx.Limits(max_connections=int(connections), max_keepalive_connections=int(connections))
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=float(timeout),
            limits=limits,
        )

    def max_connections(self) -> int:
        # Samples in flight; each sends its items at once (8 samples of 8 items: 64 requests on the wire).
        return 8

    def should_retry(self, ex: BaseException) -> bool:
        if isinstance(ex, httpx.HTTPStatusError):
            return _retryable(ex.response.status_code)
        return isinstance(ex, (httpx.TransportError, httpx.TimeoutException))

    def _body(self, messages: list[ChatMessage], config: GenerateConfig) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model_name, "messages": wire_messages(messages)}
        if config.max_tokens is not None:
            body["max_tokens"] = config.max_tokens
        if config.temperature is not None:
            body["temperature"] = config.temperature
        if config.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = config.top_logprobs or 20
        if config.seed is not None:
            body["seed"] = config.seed
        body.update({k: v for k, v in (config.extra_body or {}).items() if k not in _OURS})
        return body

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.client.post("/chat/completions", json=body)
        except (httpx.RemoteProtocolError, httpx.ReadError):
            # A kept-alive connection the server had closed: the request never arrived, send it again once.
            response = await self.client.post("/chat/completions", json=body)
        if _retryable(response.status_code):
            response.raise_for_status()  # Inspect retries it (should_retry), with backoff
        try:
            data = response.json()
        except ValueError as ex:
            raise FanoutError(f"HTTP {response.status_code}: the body is not JSON") from ex
        if response.status_code >= 400:
            raise FanoutError(f"HTTP {response.status_code}: {str(data)[:300]}")
        return data

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        texts = list((config.extra_body or {}).get(ITEM_BATCH_KEY) or [])
        requests = [input, *(with_last_text(input, t) for t in texts[1:])]
        try:
            bodies = await asyncio.gather(*(self._post(self._body(m, config)) for m in requests))
            choices = [_choice(b) for b in bodies]
        except FanoutError as ex:  # an answer that is not one: the items stay unparsed, with the reason
            return ModelOutput(model=self.model_name, choices=[], error=str(ex))
        usage = ModelUsage()
        for b in bodies:
            u = b.get("usage") or {}
            usage.input_tokens += int(u.get("prompt_tokens") or 0)
            usage.output_tokens += int(u.get("completion_tokens") or 0)
        usage.total_tokens = usage.input_tokens + usage.output_tokens
        return ModelOutput(model=self.model_name, choices=choices, usage=usage)
