"""Instruction -> rubric: decompose with an LLM, clean out ungrounded items, fall back to one holistic item.

The prompts, budgets and temperatures are the protocol's. Rubrics are cached on disk by (caption, domain,
rubric language, decomposer, protocol and its version), so scoring several generators on the same
instructions decomposes each instruction once.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from inspect_ai.model import ChatMessage, ChatMessageSystem, ChatMessageUser, GenerateConfig, Model
from pydantic import BaseModel, Field

from anyaudio_eval.audio import cache_dir
from anyaudio_eval.bench.schema import RubricItem
from anyaudio_eval.constants import SUBSET_DOMAIN  # noqa: F401  (re-exported: bench subsets -> domains)
from anyaudio_eval.rubric.parsing import parse_clean_reply, parse_rubric_reply
from anyaudio_eval.rubric.prompts import HOLISTIC_DIMENSION
from anyaudio_eval.rubric.protocol import Protocol, default_protocol


class Decomposition(BaseModel):
    items: list[RubricItem] = Field(default_factory=list)
    removed: list[RubricItem] = Field(default_factory=list)
    holistic_fallback: bool = False
    error: str | None = None
    notes: list[str] = Field(default_factory=list)
    cached: bool = False


def rubric_cache_key(
    caption: str, domain: str, language: str, decomposer: str, protocol: Protocol | None = None
) -> str:
    protocol = protocol or default_protocol()
    parts = [caption, domain, language, decomposer, protocol.version]
    if protocol.name != "anyaudio":  # keys of the anyaudio protocol stay as they were
        parts.append(protocol.name)
    payload = json.dumps(parts, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def _cache_path(key: str, directory: Path | None) -> Path:
    return (directory or cache_dir()) / "rubrics" / key[:2] / f"{key}.json"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def decompose(
    model: Model,
    caption: str,
    domain: str = "mix",
    language: str = "zh",
    clean: bool = True,
    use_cache: bool = True,
    cache_directory: Path | None = None,
    protocol: Protocol | None = None,
) -> Decomposition:
    """Rubric items for `caption`; a reply that cannot be parsed is retried once, then reported as an error.

    A protocol that fixes the rubric language (reference: Chinese) overrides `language`.
    """
    protocol = protocol or default_protocol()
    language = protocol.rubric_language or language
    key = rubric_cache_key(caption, domain, language, str(model), protocol)
    path = _cache_path(key, cache_directory)
    if use_cache and path.is_file():
        try:
            cached = Decomposition.model_validate_json(path.read_text(encoding="utf-8"))
            cached.cached = True
            return cached
        except ValueError:
            path.unlink(missing_ok=True)  # unreadable entry: rebuild it

    result = Decomposition()
    messages: list[ChatMessage] = [
        ChatMessageSystem(content=protocol.decompose_system(domain, language)),
        ChatMessageUser(content=protocol.decompose_user(caption, domain)),
    ]
    decompose_config = GenerateConfig(
        temperature=protocol.decompose_temperature, max_tokens=protocol.decompose_max_tokens(domain)
    )
    raw_items = None
    for attempt in range(2):
        output = await model.generate(messages, config=decompose_config)
        raw_items = parse_rubric_reply(output.completion)
        if raw_items is not None:
            break
        result.notes.append(f"attempt {attempt + 1}: decomposer reply not in the documented JSON shape")
    if raw_items is None:
        result.error = "decomposer reply could not be parsed after a retry"
        return result  # not cached: a later run may succeed

    items = [RubricItem.model_validate(item) for item in raw_items]
    if items and clean:
        output = await model.generate(
            [
                ChatMessageSystem(content=protocol.clean_system),
                ChatMessageUser(content=protocol.clean_user(caption, items)),
            ],
            config=GenerateConfig(temperature=protocol.clean_temperature, max_tokens=protocol.clean_max_tokens),
        )
        remove = parse_clean_reply(output.completion, len(items))
        if remove is None:
            result.notes.append("cleaning reply could not be parsed; all items kept")
        else:
            result.removed = [item for i, item in enumerate(items) if i in remove]
            items = [item for i, item in enumerate(items) if i not in remove]
    if not items:
        result.holistic_fallback = True
        items = [RubricItem(dimension=HOLISTIC_DIMENSION.get(language, "overall"), question=caption, basis=caption)]
    result.items = items
    if use_cache:
        _write_atomic(path, result.model_dump_json())
    return result


class RubricChoice(BaseModel):
    """The rubric a caption is judged with, how it was obtained (`context`, logged), or why there is none."""

    items: list[RubricItem] = Field(default_factory=list)
    error: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)


async def rubric_for(
    caption: str,
    rubric: Sequence[RubricItem] | None,
    decomposer: Callable[[], Model],
    domain: str = "mix",
    language: str = "zh",
    holistic: bool = False,
    clean: bool = True,
    protocol: Protocol | None = None,
) -> RubricChoice:
    """Holistic judging needs no rubric; else the given one; else one decomposed from the caption (cached).
    `decomposer` is called only when a rubric must be written, so a missing decomposer role costs nothing."""
    if holistic:
        return RubricChoice(context={"rubric_source": "holistic"})
    if rubric:
        return RubricChoice(items=list(rubric), context={"rubric_source": "dataset"})
    decomposition = await decompose(decomposer(), caption, domain, language, clean=clean, protocol=protocol)
    context = {
        "rubric_source": "cache" if decomposition.cached else "decomposer",
        "holistic_fallback": decomposition.holistic_fallback,
        "removed_items": [i.model_dump(exclude_none=True) for i in decomposition.removed],
    }
    return RubricChoice(items=decomposition.items, error=decomposition.error, context=context)
