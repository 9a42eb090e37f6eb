"""The released full-Omni checkpoint layout: the thinker's weights under `thinker.*`, no talker.

Released Qwen2.5-Omni and Qwen3-Omni checkpoints, and vLLM, use this layout; our provider and trainer work
on the thinker alone. One writer serves the tiny-model builder and the training export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# thinker class -> (full config class, full model class) in transformers
_FULL = {
    "Qwen2_5OmniThinkerForConditionalGeneration": ("Qwen2_5OmniConfig", "Qwen2_5OmniForConditionalGeneration"),
    "Qwen3OmniMoeThinkerForConditionalGeneration": ("Qwen3OmniMoeConfig", "Qwen3OmniMoeForConditionalGeneration"),
}


def has_full_layout(thinker_class: str) -> bool:
    return thinker_class in _FULL


def save_full_omni(thinker: Any, out_dir: str | Path) -> Path:
    """Save an Omni thinker in the full layout (`enable_audio_output=False`: only `thinker.*` is written)."""
    import torch
    import transformers

    names = _FULL.get(type(thinker).__name__)
    if names is None:
        raise ValueError(f"{type(thinker).__name__} has no full-Omni layout (Qwen2.5-Omni and Qwen3-Omni do)")
    config_cls, model_cls = (getattr(transformers, n) for n in names)
    config = config_cls(thinker_config=thinker.config.to_dict(), enable_audio_output=False)
    with torch.device("meta"):  # nothing but the wrapper is built; the thinker is ours
        full = model_cls(config)
    full.thinker = thinker
    full.generation_config = thinker.generation_config
    full.save_pretrained(out_dir)
    return Path(out_dir)
