"""The loaded judge: a checkpoint's weights with its prompt encoder and scorer, loaded once per process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anyaudio_eval.engine import generation
from anyaudio_eval.engine.checkpoint import (
    Family,
    answer_token_ids,
    load_checkpoint,
    resolve_checkpoint,
    resolve_device,
    resolve_dtype,
)
from anyaudio_eval.engine.encoding import Prepared, PromptEncoder
from anyaudio_eval.engine.scoring import Scorer, ScoreRequest, ScoreResult

logger = logging.getLogger(__name__)


@dataclass
class Engine:
    """Weights, prompt encoder and scorer of one (checkpoint, device, dtype, attention implementation).

    `lock` guards the model: `score_batch` and `generate` hold it; whoever calls `scorer` directly holds it too.
    """

    path: Path
    family: Family
    model: Any
    encoder: PromptEncoder
    scorer: Scorer
    device: str
    dtype: Any
    answer_ids: list[int]  # every token id whose string reads as yes or no
    lock: threading.Lock = field(default_factory=threading.Lock)
    token_texts: dict[int, str] = field(default_factory=dict)  # a token id's text never changes: decoded once

    @property
    def tokenizer(self) -> Any:
        return self.encoder.tokenizer

    @property
    def chat_template(self) -> str:
        return self.encoder.chat_template

    @property
    def stats(self) -> dict[str, int]:
        """Prefix-cache hits and misses, and forward passes, since loading."""
        return self.scorer.stats

    def prepare(
        self,
        conversation: list[dict[str, Any]],
        clips: list[np.ndarray],
        max_seconds: float,
        cache_features: bool = True,
    ) -> Prepared:
        return self.encoder.prepare(conversation, clips, max_seconds, cache_features)

    def score_batch(self, requests: Sequence[ScoreRequest], batch_size: int, reuse: bool) -> None:
        """Score waiting requests (from a worker thread); each gets its result or its error."""
        with self.lock:
            self.scorer.score_batch(requests, batch_size, reuse)

    def processed_logprobs(self, prepared: Prepared, result: ScoreResult) -> Any:
        return self.scorer.processed_logprobs(prepared, result)

    def generate(
        self, prepared: Prepared, max_new_tokens: int, temperature: float = 0.0, seed: int | None = None
    ) -> generation.Generation:
        """Greedy (temperature 0) generation on the thinker."""
        with self.lock:
            return generation.generate(
                self.model, self.tokenizer, prepared, max_new_tokens,
                device=self.device, dtype=self.dtype, temperature=temperature, seed=seed,
            )  # fmt: skip

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        """Each token's text (top logprobs of every item name ~30 tokens: decoded once per id, not per item)."""
        texts = self.token_texts
        for i in ids:
            if int(i) not in texts:
                texts[int(i)] = self.tokenizer.decode([int(i)])
        return [texts[int(i)] for i in ids]

    def clear_caches(self) -> None:
        """Forget cached prefixes and audio features (benchmarks time the cold path)."""
        with self.lock:
            self.scorer.prefixes.clear()
        with self.encoder.feature_lock:
            self.encoder.feature_cache.clear()


_ENGINES: dict[tuple[str, str, str, str], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def load_engine(
    checkpoint: str,
    device: str = "auto",
    dtype: str = "auto",
    attn_implementation: str = "sdpa",
    prefix_cache_size: int = 8,
) -> Engine:
    """Load (once per process) the model of a checkpoint; every caller with the same key shares it.

    `device` and `dtype` are resolved by `resolve_device` and `resolve_dtype` ("auto": CUDA when present,
    bfloat16 there when supported, else float32 on the CPU).
    """
    path = resolve_checkpoint(checkpoint)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    key = (str(path), dev, str(torch_dtype), attn_implementation)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is not None:
            engine.scorer.prefix_cache_size = max(engine.scorer.prefix_cache_size, prefix_cache_size)
            return engine
        family, model, tokenizer, feature_extractor = load_checkpoint(path, torch_dtype, attn_implementation)
        model.to(dev).eval()
        encoder = PromptEncoder.of_checkpoint(path, family, model.config, tokenizer, feature_extractor)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        scorer = Scorer(model, family, dev, torch_dtype, pad, str(path), prefix_cache_size=prefix_cache_size)
        engine = Engine(
            path=path,
            family=family,
            model=model,
            encoder=encoder,
            scorer=scorer,
            device=dev,
            dtype=torch_dtype,
            answer_ids=answer_token_ids(tokenizer),
        )
        _ENGINES[key] = engine
        logger.info("audiollm: loaded %s (%s) on %s as %s", path, family.name, dev, torch_dtype)
        return engine


def clear_engines() -> None:
    """Drop every loaded model (tests, notebooks)."""
    with _ENGINES_LOCK:
        _ENGINES.clear()
