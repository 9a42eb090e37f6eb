"""vLLM rollouts with audio, and weight names vLLM understands. vLLM is imported lazily (GPU machines only).

TRL 1.16's vLLM paths send images only. For audio GRPO in colocate mode:

- requests are `{"prompt_token_ids": ids, "multi_modal_data": {"audio": [(wav, 16000)]}}`, with the prompt ids
  the trainer scores (placeholders expanded by our encoder) or, with `collapse=True`, each run of audio
  placeholders collapsed back to one token so vLLM's own processor expands it;
- weights are synced under checkpoint names: TRL hands in-memory parameter names (transformers >= 5.21 regroups
  them under `model.language_model.` / `model.audio_tower.` / `model.visual.`); vLLM's Omni loader knows the
  released full-Omni names (`thinker.model.*`, `thinker.audio_tower.*`, `thinker.lm_head.*`), so
  `checkpoint_name` undoes the regrouping and adds `thinker.` for the full Omni layout, and
  `wrap_param_iterator` splits fused MoE expert tensors (Qwen3-Omni) into the per-expert checkpoint tensors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from anyaudio_eval.constants import SAMPLE_RATE

# transformers >= 5.21 in-memory prefixes -> checkpoint prefixes (no-ops on <= 5.20 names).
_REGROUPED = (("model.language_model.", "model."), ("model.audio_tower.", "audio_tower."), ("model.visual.", "visual."))


def checkpoint_name(name: str, full_omni: bool) -> str:
    """The checkpoint (safetensors) name of an in-memory parameter name of the thinker / Qwen2-Audio model."""
    for old, new in _REGROUPED:
        if name.startswith(old):
            name = new + name[len(old) :]
            break
    return f"thinker.{name}" if full_omni else name


def wrap_name_fixer(fix: Callable[..., str], full_omni: bool) -> Callable[..., str]:
    """Wrap TRL's `VLLMGeneration._fix_param_name_to_vllm` (called on every sync path) with `checkpoint_name`."""

    def fixed(name: str, extra_prefixes: list[str] | None = None) -> str:
        return checkpoint_name(fix(name, extra_prefixes=extra_prefixes), full_omni)

    fixed.__wrapped__ = fix  # type: ignore[attr-defined]
    return fixed


# transformers >= 5 keeps MoE experts fused in memory (one tensor per layer); checkpoints and vLLM's loader
# name each expert's projections separately.
_FUSED_EXPERTS = re.compile(r"\.experts\.(gate_up_proj|down_proj)$")


def wrap_param_iterator(
    iterate: Callable[[], Iterator[tuple[str, Any]]], model: Any
) -> Callable[[], Iterator[tuple[str, Any]]]:
    """Wrap TRL's `VLLMGeneration._iter_named_params` so fused expert tensors (Qwen3-Omni MoE) are synced as
    the per-expert checkpoint tensors vLLM loads, split by transformers' own save-time conversion."""

    def checkpoint_tensors() -> Iterator[tuple[str, Any]]:
        from transformers.core_model_loading import revert_weight_conversion

        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        for name, tensor in iterate():
            if _FUSED_EXPERTS.search(name):
                yield from revert_weight_conversion(base, {name: tensor}).items()
            else:
                yield name, tensor

    checkpoint_tensors.__wrapped__ = iterate  # type: ignore[attr-defined]
    return checkpoint_tensors


def collapse_placeholders(ids: Sequence[int], audio_token_id: int) -> list[int]:
    """Each run of audio placeholder tokens becomes one placeholder (the unexpanded prompt)."""
    out: list[int] = []
    for tid in ids:
        if tid == audio_token_id and out and out[-1] == audio_token_id:
            continue
        out.append(int(tid))
    return out


def audio_requests(
    prompt_ids: Sequence[Sequence[int]],
    clips: Sequence[np.ndarray],
    audio_token_id: int | None = None,
    collapse: bool = False,
) -> list[dict[str, Any]]:
    """vLLM prompts with audio as multi-modal data, one per row (one clip per row)."""
    if len(prompt_ids) != len(clips):
        raise ValueError(f"{len(prompt_ids)} prompts but {len(clips)} clips")
    requests = []
    for ids, wav in zip(prompt_ids, clips, strict=True):
        ids = list(ids)
        if collapse:
            if audio_token_id is None:
                raise ValueError("collapse=True needs audio_token_id")
            ids = collapse_placeholders(ids, audio_token_id)
        wav = np.ascontiguousarray(wav, dtype=np.float32)
        requests.append({"prompt_token_ids": ids, "multi_modal_data": {"audio": [(wav, SAMPLE_RATE)]}})
    return requests


def sampling_kwargs(
    temperature: float,
    top_p: float,
    top_k: int | None,
    min_p: float | None,
    max_tokens: int | None,  # None: up to the model's context, as vLLM reads it
    repetition_penalty: float = 1.0,
    suppress_ids: Sequence[int] = (),
) -> dict[str, Any]:
    """Keyword arguments of `vllm.SamplingParams` for one rollout per request, with sampled-token logprobs."""
    kwargs: dict[str, Any] = {
        "n": 1,
        "temperature": temperature,
        "top_p": top_p,
        "top_k": -1 if top_k in (None, 0) else top_k,
        "min_p": 0.0 if min_p is None else min_p,
        "max_tokens": max_tokens,
        "repetition_penalty": repetition_penalty,
        "logprobs": 0,
    }
    if suppress_ids:  # never sample multimodal placeholders (the trainer's forward would reject them)
        kwargs["logit_bias"] = {int(t): -100.0 for t in suppress_ids}
    return kwargs


def parse_outputs(outputs: Sequence[Any]) -> tuple[list[list[int]], list[list[float]]]:
    """(completion ids, sampled-token logprobs) from vLLM `RequestOutput`s (one completion each)."""
    completion_ids: list[list[int]] = []
    logprobs: list[list[float]] = []
    for request in outputs:
        for completion in request.outputs:
            ids = list(completion.token_ids)
            completion_ids.append(ids)
            lps = []
            for tid, entry in zip(ids, completion.logprobs or [None] * len(ids), strict=False):
                lp = entry.get(tid) if isinstance(entry, dict) else None
                lps.append(float(lp.logprob) if lp is not None else float("nan"))
            lps += [float("nan")] * (len(ids) - len(lps))
            logprobs.append(lps)
    return completion_ids, logprobs


def generate(
    llm: Any, requests: list[dict[str, Any]], sampling: dict[str, Any], sampling_params_cls: Any = None
) -> tuple[list[list[int]], list[list[float]]]:
    """Run a colocated `vllm.LLM` on audio requests."""
    if sampling_params_cls is None:
        from vllm import SamplingParams  # lazy: vllm is GPU-only and optional

        sampling_params_cls = SamplingParams
    outputs = llm.generate(requests, sampling_params=sampling_params_cls(**sampling), use_tqdm=False)
    return parse_outputs(outputs)
