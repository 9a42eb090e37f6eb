"""Pieces every provider of our own needs: read the audio and text of a request, build yes/no outputs."""

from __future__ import annotations

import math
from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageUser,
    ContentAudio,
    ContentText,
    GenerateConfig,
    Logprob,
    Logprobs,
    ModelOutput,
    ModelUsage,
    TopLogprob,
)


def request_audio(messages: list[ChatMessage]) -> str | None:
    """The first audio of the request (always an inline data URI inside a provider)."""
    for message in messages:
        if isinstance(message.content, list):
            for content in message.content:
                if isinstance(content, ContentAudio):
                    return content.audio
    return None


def request_text(messages: list[ChatMessage]) -> str:
    """The text of the last user message."""
    for message in reversed(messages):
        if isinstance(message, ChatMessageUser):
            if isinstance(message.content, str):
                return message.content
            return "\n".join(c.text for c in message.content if isinstance(c, ContentText))
    return ""


def usage_for(prompt_chars: int, audio_seconds: float, output_tokens: int) -> ModelUsage:
    # Every output carries usage: without it Inspect counts tokens with a tokenizer it downloads.
    input_tokens = max(1, prompt_chars // 4) + int(audio_seconds * 25)
    return ModelUsage(input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens)


def yes_no_output(
    model: str,
    p_yes: float,
    config: GenerateConfig,
    usage: ModelUsage,
    evidence: str = "",
) -> ModelOutput:
    """A one-token answer with the yes/no distribution as first-token logprobs when asked for.

    At p_yes exactly 0.5 (our providers' abstention) the message says "abstain", so a transcript never shows
    an abstention as a yes; the logprobs still carry the 0.5 / 0.5 distribution.
    """
    p_yes = min(max(p_yes, 1e-6), 1 - 1e-6)
    token = "yes" if p_yes > 0.5 else "no"
    text = "abstain" if p_yes == 0.5 else token
    logprobs = None
    if config.logprobs:
        top = [TopLogprob(token="yes", logprob=math.log(p_yes)), TopLogprob(token="no", logprob=math.log(1 - p_yes))]
        top.sort(key=lambda t: -t.logprob)
        chosen = top[0]
        logprobs = Logprobs(content=[Logprob(token=chosen.token, logprob=chosen.logprob, top_logprobs=top)])
    # The transcript shows message metadata under each reply: the probability and why.
    metadata: dict[str, Any] = {"p_yes": round(p_yes, 4)}
    if evidence:
        metadata["evidence"] = evidence
    message = ChatMessageAssistant(content=text, model=model, source="generate", metadata=metadata)
    return ModelOutput(
        model=model,
        choices=[ChatCompletionChoice(message=message, stop_reason="stop", logprobs=logprobs)],
        usage=usage,
    )


def text_output(model: str, text: str, usage: ModelUsage) -> ModelOutput:
    message = ChatMessageAssistant(content=text, model=model, source="generate")
    return ModelOutput(model=model, choices=[ChatCompletionChoice(message=message, stop_reason="stop")], usage=usage)
