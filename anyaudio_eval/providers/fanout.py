"""`fanout/<model>`: an OpenAI-compatible chat endpoint (vLLM, SGLang, ...) that takes a sample's items at once.

The judging procedure sends a sample's rubric items in one `generate()` (see `rubric.protocol.ITEM_BATCH_KEY`);
this provider fans them out as concurrent HTTP requests, one per item on the wire exactly as `openai-api/` or
`vllm/` would send them, and returns one choice per item. Inspect then does its per-call work (events, copies,
validation) once per sample rather than once per item, which is what bounds a client against a fast server.
Requests are plain chat completions with `input_audio` parts and top logprobs; the clip's base64 is passed
through, never decoded. A sample's request body is serialised once with a placeholder for the item text and each
item's text is spliced in (byte for byte the JSON of that item's full body), and requests go through one aiohttp
session with kept-alive connections: httpx's connection pool scans every connection per request, which cost more
client CPU than all of Inspect's per-sample work at 64 requests in flight (asyncio only, not trio).

The server: `--model-base-url` (or $FANOUT_BASE_URL, e.g. http://localhost:8000/v1; a base_url model arg collides with
Inspect's own keyword). Model args: api_key (or $FANOUT_API_KEY),
timeout (seconds per request, 120), connections (HTTP connections kept open, 256). Inspect's `--max-connections`
counts samples here (default 8): set it to the requests the server should see at once divided by the items per
sample.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import aiohttp
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

from anyaudio_eval.providers.common import request_text, with_last_text
from anyaudio_eval.rubric.protocol import GENERATION_CONFIG_HINT, ITEM_BATCH_KEY

_OURS = (ITEM_BATCH_KEY, GENERATION_CONFIG_HINT)  # hints for our providers, never sent on the wire
# Stands for the item text in a sample's serialised body; NUL characters never occur in a rubric item.
_ITEM_SLOT = "\u0000anyaudio-fanout-item\u0000"


def dump_body(body: dict[str, Any]) -> bytes:
    """A request body as sent: compact UTF-8 JSON (what httpx's `json=` sends)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class ItemBodies:
    """The request bodies of a sample's items: the shared part (system prompt, clip) serialised once."""

    def __init__(self, template: bytes) -> None:
        slot = json.dumps(_ITEM_SLOT).encode()
        if template.count(slot) != 1:
            raise ValueError("the item slot must occur exactly once in the template body")
        self.head, self.tail = template.split(slot)

    def body(self, text: str) -> bytes:
        return self.head + json.dumps(text, ensure_ascii=False).encode() + self.tail


def _retryable(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


class FanoutError(RuntimeError):
    """The endpoint answered with an error or a body that is not a chat completion."""


class RetryableStatus(RuntimeError):
    """The endpoint answered with a status worth retrying (overloaded, timed out, a server error)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


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
                    top_logprobs=[
                        TopLogprob(token=t["token"], logprob=t["logprob"]) for t in entry.get("top_logprobs") or []
                    ],
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
            raise ValueError("fanout/ needs the server: --model-base-url http://host:port/v1 (or FANOUT_BASE_URL)")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.timeout = aiohttp.ClientTimeout(total=float(timeout))
        self.connections = int(connections)
        # One session per event loop (each `eval()` runs its own), made on first use inside that loop.
        self._session: aiohttp.ClientSession | None = None

    def max_connections(self) -> int:
        # Samples in flight; each sends its items at once (8 samples of 8 items: 64 requests on the wire).
        return 8

    def should_retry(self, ex: BaseException) -> bool:
        if isinstance(ex, RetryableStatus):
            return True
        return isinstance(ex, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError))

    def _client(self) -> aiohttp.ClientSession:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # Inspect under trio (INSPECT_ASYNC_BACKEND=trio): aiohttp needs asyncio
            raise RuntimeError(
                "fanout/ runs under asyncio only (its HTTP client is aiohttp): unset INSPECT_ASYNC_BACKEND=trio, "
                "or use openai-api/ or vllm/ under trio"
            ) from None
        session = self._session
        if session is None or session.closed or session.loop is not loop:
            connector = aiohttp.TCPConnector(limit=self.connections)
            session = self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

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

    def item_bodies(self, messages: list[ChatMessage], texts: list[str], config: GenerateConfig) -> list[bytes]:
        """The request body of each item: `messages` with its last user text replaced by the item's text
        (the first item's is `messages` itself); without item texts, the one body of `messages`."""
        if not texts or (len(texts) == 1 and request_text(messages) == texts[0]):
            return [dump_body(self._body(messages, config))]
        template = ItemBodies(dump_body(self._body(with_last_text(messages, _ITEM_SLOT), config)))
        return [template.body(text) for text in texts]

    async def _post(self, body: bytes) -> dict[str, Any]:
        session = self._client()
        try:
            status, raw = await self._send(session, body)
        except aiohttp.ServerDisconnectedError:
            # A kept-alive connection the server had closed: the request never arrived, send it again once.
            status, raw = await self._send(session, body)
        if _retryable(status):
            raise RetryableStatus(status)  # Inspect retries it (should_retry), with backoff
        try:
            data = json.loads(raw)
        except ValueError as ex:
            raise FanoutError(f"HTTP {status}: the body is not JSON") from ex
        if status >= 400:
            raise FanoutError(f"HTTP {status}: {str(data)[:300]}")
        if not isinstance(data, dict):
            raise FanoutError(f"not a chat completion: {str(data)[:200]}")
        return data

    async def _send(self, session: aiohttp.ClientSession, body: bytes) -> tuple[int, bytes]:
        async with session.post(self.url, data=body, headers=self.headers) as response:
            return response.status, await response.read()

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        texts = list((config.extra_body or {}).get(ITEM_BATCH_KEY) or [])
        try:
            bodies = await asyncio.gather(*(self._post(b) for b in self.item_bodies(input, texts, config)))
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
