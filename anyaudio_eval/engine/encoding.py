"""A conversation with audio -> model inputs: the chat template rendered, each audio placeholder expanded to one
token per audio frame (what the family's processor does), and the clips' Whisper features.

A conversation is chat-template messages: `{"role", "content"}` where content is a string or a list of
`{"type": "text", "text"}` / `{"type": "audio", "audio": <name>}` parts, one audio part per clip, in order.
Clips are 16 kHz mono float32 samples.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anyaudio_eval.constants import SAMPLE_RATE
from anyaudio_eval.engine.checkpoint import Family, read_chat_template


@dataclass
class Prepared:
    """One request, tokenized and with audio features, split at the end of the last audio clip."""

    ids: list[int]
    prefix_len: int  # 0 when there is no audio (no reuse)
    features: Any | None  # input_features tensor (n_audio, mel, frames)
    feature_mask: Any | None  # feature_attention_mask (n_audio, frames)
    audio_key: str  # hash of the audio samples
    audio_seconds: float

    @property
    def prefix_key(self) -> tuple[str, tuple[int, ...]]:
        return (self.audio_key, tuple(self.ids[: self.prefix_len]))


def audio_inputs(prepared: Prepared, device: str, dtype: Any) -> dict[str, Any]:
    """The audio keyword arguments of a forward pass over `prepared` (none without audio)."""
    if prepared.features is None or prepared.feature_mask is None:
        return {}
    return {
        "input_features": prepared.features.to(device, dtype),
        "feature_attention_mask": prepared.feature_mask.to(device),
    }


def audio_token_id(model_config: Any, tokenizer: Any) -> int:
    """The audio placeholder token: from the model config (it is what the model scatters features into)."""
    for attr in ("audio_token_id", "audio_token_index"):
        value = getattr(model_config, attr, None)
        if isinstance(value, int):
            return value
    return int(tokenizer.convert_tokens_to_ids(getattr(tokenizer, "audio_token", "<|AUDIO|>")))


@dataclass
class PromptEncoder:
    """Renders and tokenizes conversations with audio for one checkpoint; no weights needed.

    The features of recent clips are kept (`feature_cache_size`), so a sample's items share one extraction.
    Safe to call from several threads.
    """

    family: Family
    tokenizer: Any
    feature_extractor: Any
    chat_template: str
    audio_token_id: int
    feature_cache_size: int = 16
    feature_cache: OrderedDict[str, tuple[Any, Any]] = field(default_factory=OrderedDict)
    feature_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of_checkpoint(
        cls, path: Path, family: Family, model_config: Any, tokenizer: Any, feature_extractor: Any
    ) -> PromptEncoder:
        """The encoder of a loaded checkpoint (`load_checkpoint`'s family, tokenizer and feature extractor)."""
        return cls(
            family=family,
            tokenizer=tokenizer,
            feature_extractor=feature_extractor,
            chat_template=read_chat_template(path, tokenizer),
            audio_token_id=audio_token_id(model_config, tokenizer),
        )

    @property
    def audio_end_id(self) -> int | None:
        token = getattr(self.tokenizer, "audio_eos_token", None) or "<|audio_eos|>"
        tid = self.tokenizer.convert_tokens_to_ids(token)
        return tid if isinstance(tid, int) and tid != self.tokenizer.unk_token_id else None

    def features(self, clips: Sequence[np.ndarray], max_seconds: float) -> tuple[Any, Any]:
        """(input_features, attention_mask) of the clips, padded as the family's processor pads them."""
        truncate = max_seconds <= 30.0 and self.family.max_seconds <= 30.0
        kwargs: dict[str, Any] = {
            "sampling_rate": SAMPLE_RATE,
            "return_attention_mask": True,
            "return_tensors": "pt",
        }
        if truncate:  # the Qwen2.5-Omni / Qwen2-Audio processors: pad (and cut) to 30 s
            kwargs.update(padding="max_length")
        else:  # the Qwen3-Omni processor (or a longer limit asked for): no truncation
            kwargs.update(padding=True, truncation=False)
        out = self.feature_extractor(list(clips), **kwargs)
        return out["input_features"], out["attention_mask"]

    def audio_token_counts(self, feature_mask: Any) -> list[int]:
        """Audio tokens each clip becomes in the model: the audio encoder's output length."""
        lengths = feature_mask.sum(-1)
        if self.family.model_class.startswith("Qwen3Omni"):
            from transformers.models.qwen3_omni_moe.processing_qwen3_omni_moe import (
                _get_feat_extract_output_lengths as qwen3_omni_output_lengths,
            )

            return [int(n) for n in qwen3_omni_output_lengths(lengths)]
        return [int(n) for n in ((lengths - 1) // 2 + 1 - 2) // 2 + 1]

    def prepare(
        self,
        conversation: list[dict[str, Any]],
        clips: list[np.ndarray],
        max_seconds: float,
        cache_features: bool = True,
    ) -> Prepared:
        """The token ids (placeholders expanded) and features of a conversation with `clips` as its audio."""
        text = self.tokenizer.apply_chat_template(
            conversation, chat_template=self.chat_template, tokenize=False, add_generation_prompt=True
        )
        ids = list(self.tokenizer(text).input_ids)
        audio_id = self.audio_token_id
        n_placeholders = ids.count(audio_id)
        if n_placeholders != len(clips):
            raise ValueError(
                f"the chat template rendered {n_placeholders} audio placeholder(s) for {len(clips)} clip(s)"
            )
        if not clips:
            return Prepared(ids, 0, None, None, "", 0.0)
        digest = hashlib.sha1(repr(max_seconds).encode())
        for clip in clips:
            digest.update(np.ascontiguousarray(clip, dtype=np.float32).tobytes())
            digest.update(b"|")
        audio_key = digest.hexdigest()
        features, mask = self._cached_features(audio_key, clips, max_seconds, cache_features)
        counts = iter(self.audio_token_counts(mask))
        expanded: list[int] = []
        for tid in ids:  # what the processors do: each placeholder becomes one token per audio frame
            expanded.extend([audio_id] * next(counts) if tid == audio_id else [tid])
        markers = (audio_id, self.audio_end_id)  # once: the property asks the tokenizer each time
        ends = [i for i, tid in enumerate(expanded) if tid in markers]
        prefix_len = ends[-1] + 1
        seconds = sum(len(c) for c in clips) / SAMPLE_RATE
        return Prepared(expanded, prefix_len, features, mask, audio_key, seconds)

    def _cached_features(
        self, audio_key: str, clips: Sequence[np.ndarray], max_seconds: float, use_cache: bool
    ) -> tuple[Any, Any]:
        with self.feature_lock:
            cached = self.feature_cache.get(audio_key) if use_cache else None
            if cached is not None:
                self.feature_cache.move_to_end(audio_key)
        if cached is None:
            cached = self.features(clips, max_seconds)
            if use_cache and self.feature_cache_size > 0:
                with self.feature_lock:
                    self.feature_cache[audio_key] = cached
                    while len(self.feature_cache) > self.feature_cache_size:
                        self.feature_cache.popitem(last=False)
        return cached
