"""Text generation on the thinker: greedy unless a temperature above 0 is asked for."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from anyaudio_eval.engine.encoding import Prepared, audio_inputs


class Generation(NamedTuple):
    text: str
    new_tokens: int
    truncated: bool  # cut at max_new_tokens before an end-of-sequence token


@torch.inference_mode()
def generate(
    model: Any,
    tokenizer: Any,
    prepared: Prepared,
    max_new_tokens: int,
    *,
    device: str,
    dtype: Any,
    temperature: float = 0.0,
    seed: int | None = None,
) -> Generation:
    """Generate after `prepared` on `model` (placed on `device`, computing in `dtype`); not thread-safe."""
    ids = torch.tensor([prepared.ids], device=device)
    gen_cfg = model.generation_config
    eos = gen_cfg.eos_token_id if gen_cfg is not None and gen_cfg.eos_token_id is not None else None
    if eos is None:
        eos = tokenizer.eos_token_id
    sampling: dict[str, Any] = {"do_sample": False}
    if temperature > 0:
        sampling = {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0}
        if seed is not None:
            torch.manual_seed(seed)
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new_tokens,
        **sampling,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        **audio_inputs(prepared, device, dtype),
    )
    new = out[0, ids.shape[1] :].tolist()
    eos_set = set(eos if isinstance(eos, list) else [eos])
    hit_eos = bool(new) and new[-1] in eos_set
    text = tokenizer.decode(new, skip_special_tokens=True)
    return Generation(text, len(new), not hit_eos and len(new) >= max_new_tokens)
