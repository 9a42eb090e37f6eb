"""First-token distributions: one forward pass, the last position's logits (what greedy
`generate(max_new_tokens=1)` scores), with the system+audio prefix run once and reused.

The prefix of a request (everything up to the end of its last audio clip) is run once and its key/values kept
in an LRU cache keyed by the exact prefix token ids and the audio's hash; the text after it is scored against
the cached key/values, several requests of one prefix in one batch. `score_full` is the reference path: the
whole prompt, audio included, in one forward.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from anyaudio_eval.engine.checkpoint import CheckpointError, Family
from anyaudio_eval.engine.encoding import Prepared, audio_inputs
from anyaudio_eval.engine.generation_config import GenerationConfigError, first_step_processors


@dataclass
class ScoreResult:
    logprobs: Any  # float32 log-softmax over the vocabulary at the answer position (cpu tensor)
    prompt_tokens: int
    cached_tokens: int
    logits: Any = None  # the raw float32 logits behind `logprobs` (cpu tensor)


@dataclass
class ScoreRequest:
    """One request waiting in a batch: `Scorer.score_batch` fills in its result, or the error it raised."""

    prepared: Prepared
    result: ScoreResult | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class _PrefixEntry:
    kv: list[tuple[Any, Any]]  # per layer (keys, values), batch 1
    next_position: int  # position id of the first token after the prefix


def _new_stats() -> dict[str, int]:
    return {"prefix_hits": 0, "prefix_misses": 0, "forwards": 0}


@dataclass
class Scorer:
    """Forward passes of one model for first-token scores; not thread-safe (the engine holds its lock)."""

    model: Any
    family: Family
    device: str
    dtype: Any
    pad_token_id: int
    source: str  # the checkpoint, for error messages
    prefix_cache_size: int = 8
    prefixes: OrderedDict[tuple[str, tuple[int, ...]], _PrefixEntry] = field(default_factory=OrderedDict)
    stats: dict[str, int] = field(default_factory=_new_stats)

    def prefix_positions(self, prepared: Prepared) -> Any:
        """Position ids of the prefix, shaped as the model takes them ((3, 1, P) for M-RoPE)."""
        n = prepared.prefix_len
        if not self.family.mrope:
            return torch.arange(n, device=self.device).view(1, -1)
        ids = torch.tensor([prepared.ids[:n]], device=self.device)
        lengths = prepared.feature_mask.sum(-1).to(self.device) if prepared.feature_mask is not None else None
        pos, _ = self.model.get_rope_index(ids, None, None, torch.ones_like(ids), False, lengths, None)
        return pos

    @torch.inference_mode()
    def score_full(self, prepared: Prepared) -> ScoreResult:
        """The reference path: the whole prompt, audio included, in one forward."""
        ids = torch.tensor([prepared.ids], device=self.device)
        out = self.model(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            use_cache=False,
            **audio_inputs(prepared, self.device, self.dtype),
        )
        self.stats["forwards"] += 1
        logits = out.logits[0, -1].float()
        return ScoreResult(torch.log_softmax(logits, -1).cpu(), len(prepared.ids), 0, logits.cpu())

    def _prefix(self, prepared: Prepared) -> tuple[_PrefixEntry, bool]:
        key = prepared.prefix_key
        entry = self.prefixes.get(key)
        if entry is not None:
            self.prefixes.move_to_end(key)
            self.stats["prefix_hits"] += 1
            return entry, True
        self.stats["prefix_misses"] += 1
        positions = self.prefix_positions(prepared)
        p = prepared.prefix_len
        ids = torch.tensor([prepared.ids[:p]], device=self.device)
        out = self.model(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **audio_inputs(prepared, self.device, self.dtype),
        )
        self.stats["forwards"] += 1
        kv = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        entry = _PrefixEntry(kv=kv, next_position=int(positions.max()) + 1)
        if self.prefix_cache_size > 0:
            self.prefixes[key] = entry
            while len(self.prefixes) > self.prefix_cache_size:
                self.prefixes.popitem(last=False)
        return entry, False

    @torch.inference_mode()
    def score_with_prefix(self, group: Sequence[Prepared], batch_size: int) -> list[ScoreResult]:
        """Requests sharing one prefix: the prefix once (or from the cache), the suffixes batched."""
        from transformers import DynamicCache

        entry, hit = self._prefix(group[0])
        p = group[0].prefix_len
        step = max(1, batch_size)
        results: list[ScoreResult] = []
        for start in range(0, len(group), step):
            chunk = group[start : start + step]
            b = len(chunk)
            suffixes = [r.ids[p:] for r in chunk]
            width = max(len(s) for s in suffixes)
            ids = torch.full((b, width), self.pad_token_id, dtype=torch.long, device=self.device)
            mask = torch.zeros((b, p + width), dtype=torch.long, device=self.device)
            mask[:, :p] = 1
            for i, s in enumerate(suffixes):  # right padding: a real token never sees a pad (causal)
                ids[i, : len(s)] = torch.tensor(s, device=self.device)
                mask[i, p : p + len(s)] = 1
            # Text after the last audio continues at (largest prefix position + 1), in every M-RoPE axis too.
            pos = entry.next_position + torch.arange(width, device=self.device)
            pos = pos.view(1, 1, -1).expand(3, b, width) if self.family.mrope else pos.view(1, -1).expand(b, width)
            cache = DynamicCache(
                ddp_cache_data=[(k.expand(b, -1, -1, -1), v.expand(b, -1, -1, -1)) for k, v in entry.kv]
            )
            out = self.model(
                input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True
            )
            self.stats["forwards"] += 1
            last = torch.tensor([len(s) - 1 for s in suffixes], device=self.device)
            logits = out.logits[torch.arange(b, device=self.device), last].float()
            logprobs = torch.log_softmax(logits, -1).cpu()
            raw = logits.cpu()
            for i, r in enumerate(chunk):
                cached = p if (hit or start > 0 or i > 0) else 0
                results.append(ScoreResult(logprobs[i], len(r.ids), cached, raw[i]))
        return results

    def score_batch(self, requests: Sequence[ScoreRequest], batch_size: int, reuse: bool) -> None:
        """Score waiting requests, grouped by prefix when `reuse`; errors are stored per request."""
        groups: OrderedDict[tuple[Any, ...], list[ScoreRequest]] = OrderedDict()
        for item in requests:
            use_prefix = reuse and item.prepared.prefix_len > 0
            key = item.prepared.prefix_key if use_prefix else ("full", id(item))
            groups.setdefault(key, []).append(item)
        for key, items in groups.items():
            try:
                if key[0] == "full":
                    results = [self.score_full(item.prepared) for item in items]
                else:
                    results = self.score_with_prefix([item.prepared for item in items], batch_size)
                for item, res in zip(items, results, strict=True):
                    item.result = res
            except BaseException as ex:  # noqa: BLE001 - handed back to the awaiting request
                for item in items:
                    item.error = ex
            for item in items:
                item.done = True

    def processed_logprobs(self, prepared: Prepared, result: ScoreResult) -> Any:
        """Log-softmax of the first-step logits after the generation config's processors (reference path)."""
        try:
            process = first_step_processors(self.model.generation_config, len(prepared.ids))
        except GenerationConfigError as ex:
            raise CheckpointError(f"{self.source}: {ex}") from ex
        if process is None:
            return result.logprobs
        ids = torch.tensor([prepared.ids])
        logits = process(ids, result.logits.view(1, -1).clone())[0]
        return torch.log_softmax(logits, -1)
