"""Protocols: everything the method's text and numerics consist of, as one named, versioned object.

A protocol holds the judge's system prompts (logits, generate, holistic), the item, item-list and holistic
templates, the decomposition and cleaning prompts with their budgets and temperatures, the yes/no pooling
rule, the audio resampler and the default threshold per mode. Every consumer (bench and instruct tasks, the
`rubric_judge()` scorer, the reward, `anyaudio judge`, lm-eval, training targets) takes one.

- `anyaudio`: our own prompts (`rubric.prompts`, version `PROMPT_VERSION`), probabilities summed over every
  token that reads as yes/no, soxr resampling to a PCM16 cache;
- `reference`: the authors' released protocol, read at run time from their release (`rubric.reference`),
  max-logit pooling over six token forms, linear resampling of float samples.

Pooling and resampler can be overridden on either (`-T pooling=`, `-T resampler=`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from anyaudio_eval.bench.schema import RubricItem
from anyaudio_eval.errors import UserError
from anyaudio_eval.rubric import prompts

ProtocolName = Literal["anyaudio", "reference"]
PROTOCOLS: tuple[str, ...] = ("anyaudio", "reference")
Pooling = Literal["sum", "max"]
POOLINGS: tuple[str, ...] = ("sum", "max")
Resampler = Literal["soxr", "linear"]
RESAMPLERS: tuple[str, ...] = ("soxr", "linear")

JUDGE_MODES: tuple[str, ...] = ("logits", "generate", "holistic")


class ProtocolError(UserError, ValueError):
    """A protocol option that cannot be honoured; Inspect prints the message without a traceback."""


@dataclass(frozen=True)
class Protocol:
    name: str
    version: str  # changes whenever any text of the protocol changes
    language: str  # language of the judge prompts
    pooling: Pooling
    resampler: Resampler
    judge_systems: dict[str, str]  # mode -> system prompt
    item_text: Callable[[RubricItem], str]
    item_list_text: Callable[[Sequence[RubricItem]], str]
    holistic_text: Callable[[str], str]
    decompose_system: Callable[[str, str], str]  # (domain, rubric language) -> system prompt
    decompose_user: Callable[[str, str], str]  # (caption, domain) -> user message
    decompose_max_tokens: Callable[[str], int]
    clean_system: str
    clean_user: Callable[[str, Sequence[RubricItem]], str]
    clean_temperature: float = 0.0
    clean_max_tokens: int = prompts.CLEAN_MAX_TOKENS
    decompose_temperature: float = 0.0
    thresholds: dict[str, float] = field(default_factory=lambda: {m: 0.5 for m in JUDGE_MODES})
    rubric_language: str | None = None  # fixed by the protocol (reference: zh), else the caller's choice
    # Local judges apply the logits processors of the checkpoint's generation_config (the release reads
    # `generate()`'s processed first-step scores).
    generation_config_processors: bool = False
    source: dict[str, str] = field(default_factory=dict)  # provenance: commit, sha256, path

    def judge_system(self, mode: str) -> str:
        if mode not in self.judge_systems:
            raise ValueError(f"unknown judge mode {mode!r}; use one of {', '.join(JUDGE_MODES)}")
        return self.judge_systems[mode]

    def threshold(self, mode: str) -> float:
        return self.thresholds.get(mode, 0.5)

    def describe(self) -> dict[str, Any]:
        """What logs, cache keys and report rows record about the protocol."""
        return {
            "protocol": self.name,
            "protocol_version": self.version,
            "prompt_language": self.language,
            "pooling": self.pooling,
            "resampler": self.resampler,
            "generation_config_processors": self.generation_config_processors,
            **({"protocol_source": dict(self.source)} if self.source else {}),
        }

    # -- reading the protocol's own prompts back (providers of our own answer from the item text) --------

    def read_item(self, text: str) -> tuple[str, str] | None:
        """(dimension, question) of a single-item prompt of this protocol, or None."""
        for pattern in _item_patterns(self):
            m = pattern.fullmatch(text.strip())
            if m:
                return (m.groupdict().get("dim") or "", m.group("q").strip())
        return None

    def read_holistic(self, text: str) -> str | None:
        m = _holistic_pattern(self).fullmatch(text.strip())
        return m.group("q").strip() if m else None

    def read_item_list(self, text: str) -> list[tuple[str, str]] | None:
        head, lines = _list_patterns(self)
        stripped = text.strip()
        m = head.match(stripped)
        if not m:
            return None
        items = []
        for raw in stripped[m.end() :].splitlines():
            lm = next((found for p in lines if (found := p.fullmatch(raw.strip()))), None)
            if lm:
                items.append((lm.groupdict().get("dim") or "", lm.group("q").strip()))
        return items


# Sentinels rendered through a protocol's templates to turn them into patterns.
_DIM, _Q, _CAP = "\x01DIM\x01", "\x01Q\x01", "\x01CAP\x01"


def _pattern_of(rendered: str) -> str:
    out = re.escape(rendered)
    for sentinel, group in ((_DIM, "(?P<dim>.*?)"), (_Q, "(?P<q>.*)"), (_CAP, "(?P<q>.*)")):
        out = out.replace(re.escape(sentinel), group)
    return out


def _cached(protocol: Protocol, kind: str, build: Callable[[], Any]) -> Any:
    # Kept in the protocol object's own __dict__ (a frozen dataclass refuses attribute assignment), so a pattern
    # never outlives, or is mistaken for, the protocol it was built from.
    cache = protocol.__dict__.setdefault("_patterns", {})
    if kind not in cache:
        cache[kind] = build()
    return cache[kind]


def _item_patterns(protocol: Protocol) -> list[re.Pattern[str]]:
    def build() -> list[re.Pattern[str]]:
        with_dim = protocol.item_text(RubricItem(dimension=_DIM, question=_Q))
        without = protocol.item_text(RubricItem(dimension="", question=_Q))
        return [re.compile(_pattern_of(with_dim), re.DOTALL), re.compile(_pattern_of(without), re.DOTALL)]

    return _cached(protocol, "item", build)


def _holistic_pattern(protocol: Protocol) -> re.Pattern[str]:
    return _cached(protocol, "holistic", lambda: re.compile(_pattern_of(protocol.holistic_text(_CAP)), re.DOTALL))


def _list_patterns(protocol: Protocol) -> tuple[re.Pattern[str], list[re.Pattern[str]]]:
    """(head, item line) patterns from rendered one-item lists; the count and the id become digits."""

    def line_of(dimension: str) -> tuple[str, str]:
        rendered = protocol.item_list_text([RubricItem(dimension=dimension, question=_Q)]).strip()
        lines = rendered.splitlines()
        at = next(i for i, line in enumerate(lines) if _Q in line)
        return "\n".join(lines[:at]).strip(), _pattern_of(lines[at].strip()).replace("0", r"(?P<id>\d+)", 1)

    def build() -> tuple[re.Pattern[str], list[re.Pattern[str]]]:
        head, with_dim = line_of(_DIM)
        _, without = line_of("")
        head_pattern = re.escape(head).replace("1", r"\d+", 1)
        return re.compile(head_pattern), [re.compile(p, re.DOTALL) for p in (with_dim, without)]

    return _cached(protocol, "list", build)


# -- the anyaudio protocol ---------------------------------------------------------------------------------


def anyaudio_protocol(language: str = "zh", pooling: Pooling = "sum", resampler: Resampler = "soxr") -> Protocol:
    """Our own prompts in `language` (zh or en)."""
    prompts.check_language(language)
    return Protocol(
        name="anyaudio",
        version=prompts.PROMPT_VERSION,
        language=language,
        pooling=pooling,
        resampler=resampler,
        judge_systems={mode: prompts.judge_system_prompt(mode, language) for mode in JUDGE_MODES},
        item_text=lambda item: prompts.item_prompt(item, language),
        item_list_text=lambda items: prompts.item_list_prompt(items, language),
        holistic_text=lambda caption: prompts.holistic_prompt(caption, language),
        decompose_system=prompts.decompose_system_prompt,
        decompose_user=lambda caption, domain: prompts.decompose_user_prompt(caption),
        decompose_max_tokens=lambda domain: prompts.DECOMPOSE_MAX_TOKENS,
        clean_system=prompts.clean_system_prompt(),
        clean_user=prompts.clean_user_prompt,
    )


_ANYAUDIO: dict[tuple[str, str, str], Protocol] = {}


def _anyaudio(language: str, pooling: str, resampler: str) -> Protocol:
    key = (language, pooling, resampler)
    if key not in _ANYAUDIO:
        _ANYAUDIO[key] = anyaudio_protocol(language, pooling, resampler)  # type: ignore[arg-type]
    return _ANYAUDIO[key]


def default_protocol(language: str = "zh") -> Protocol:
    return _anyaudio(language, "sum", "soxr")


def check_protocol_args(protocol: str, pooling: str | None, resampler: str | None) -> None:
    if protocol not in PROTOCOLS:
        raise ProtocolError(f"unknown protocol {protocol!r}; use one of: {', '.join(PROTOCOLS)}")
    if pooling is not None and pooling not in POOLINGS:
        raise ProtocolError(f"unknown pooling {pooling!r}; use one of: {', '.join(POOLINGS)}")
    if resampler is not None and resampler not in RESAMPLERS:
        raise ProtocolError(f"unknown resampler {resampler!r}; use one of: {', '.join(RESAMPLERS)}")


def get_protocol(
    protocol: str = "anyaudio",
    prompt_language: str | None = None,
    pooling: str | None = None,
    resampler: str | None = None,
    reference: str | None = None,
    reference_sha256: str | None = None,
) -> Protocol:
    """The protocol a task asked for; run-level mistakes raise here, at task start.

    `reference` (a clone of the release or its prompts.py) and `reference_sha256` only apply to the
    reference protocol. Its prompts are Chinese only: `prompt_language=en` is refused.
    """
    check_protocol_args(protocol, pooling, resampler)
    if protocol == "anyaudio":
        if reference:
            raise ProtocolError("reference= only applies to protocol=reference")
        return _anyaudio(prompt_language or "zh", pooling or "sum", resampler or "soxr")
    if prompt_language not in (None, "zh"):
        raise ProtocolError(
            "the reference protocol's prompts are Chinese only: drop prompt_language (or use protocol=anyaudio "
            "for English prompts)"
        )
    from anyaudio_eval.rubric.reference import load_reference_protocol

    return load_reference_protocol(reference, reference_sha256, pooling=pooling, resampler=resampler)  # type: ignore[arg-type]


# Asks providers of our own (`audiollm/`) to apply the checkpoint's generation_config logits processors, as the
# release reads `generate()`'s processed scores. Sent (in `GenerateConfig.extra_body`) only to providers that
# declare `takes_protocol_hints`, never to an API that would reject an unknown field.
GENERATION_CONFIG_HINT = "anyaudio_generation_config_processors"
# A sample's item texts in one request (`GenerateConfig.extra_body`), for providers of our own that declare
# `judges_item_batches`: the request's messages carry the first item, the reply has one choice per item. Inspect
# then handles one generate() per sample instead of one per item.
ITEM_BATCH_KEY = "anyaudio_item_texts"

_RELEASED_JUDGE = re.compile(r"anyaudio[-_]?judge", re.IGNORECASE)
_WARNED: set[str] = set()


def warn_if_released_judge(model_name: str, protocol: Protocol) -> str | None:
    """Once per judge: a released AnyAudio-Judge checkpoint judged under another protocol than `reference`."""
    if protocol.name == "reference" or not _RELEASED_JUDGE.search(model_name) or model_name in _WARNED:
        return None
    _WARNED.add(model_name)
    message = (
        f"{model_name} looks like a released AnyAudio-Judge checkpoint, but the protocol is {protocol.name!r}: "
        "its numbers are not the authors' judge call. Add -T protocol=reference to reproduce the release."
    )
    import logging

    logging.getLogger("anyaudio_eval").warning(message)
    return message


_LOADED: dict[str, Protocol] = {}


def remember(protocol: Protocol) -> Protocol:
    """Keep a loaded protocol so that providers of our own can read its prompts back."""
    _LOADED[f"{protocol.name}:{protocol.version}"] = protocol
    return protocol


def known_protocols() -> list[Protocol]:
    """Every protocol whose prompts a provider may receive in this process (ours first)."""
    ours = [default_protocol(lang) for lang in prompts.PROMPT_LANGUAGES]
    return ours + [p for p in _LOADED.values() if p.name != "anyaudio"]


def read_any_item(text: str) -> tuple[str, str] | None:
    for protocol in known_protocols():
        found = protocol.read_item(text)
        if found is not None:
            return found
    return None


def read_any_holistic(text: str) -> str | None:
    for protocol in known_protocols():
        found = protocol.read_holistic(text)
        if found is not None:
            return found
    return None


def read_any_item_list(text: str) -> list[tuple[str, str]] | None:
    for protocol in known_protocols():
        found = protocol.read_item_list(text)
        if found is not None:
            return found
    return None
