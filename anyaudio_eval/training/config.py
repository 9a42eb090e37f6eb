"""Configuration dataclasses for `anyaudio train sft|mine|grpo`, the paper presets, and YAML/JSON loading.

A config file is a mapping of these fields; `preset: paper` (or another name of `PRESETS[stage]`) starts from a
preset and the file's other keys override it. `lora` is a nested mapping.

Batch sizes are per device. For GRPO, `batch_size` counts completions (TRL's `per_device_train_batch_size`):
the paper's "batch 8, 8 generations" is one prompt with its 8 rollouts per step on one device.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# LLM linear layers only; version-agnostic (module paths changed in transformers 5.21). MoE experts (Qwen3-Omni)
# are left out: transformers 5 fuses them into one tensor per layer, which PEFT adapts only without dropout.
LORA_TARGETS = r"^(?!.*(audio_tower|visual|experts)).*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$"


@dataclass
class LoraSettings:
    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str = LORA_TARGETS


@dataclass
class CommonSettings:
    model: str = "tiny:omni"  # a checkpoint directory, or tiny:omni / tiny:omni3 / tiny:qwen2_audio (random)
    train_file: str = ""  # corpus JSONL/parquet (corpus or bench format)
    output_dir: str = "runs/judge"
    language: str = "en"  # default prompt language for rows without one
    limit: int | None = None  # use only the first N samples
    max_audio_seconds: float = 30.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto (bf16 on GPUs that have it, else fp32) | float32 | bfloat16
    protocol: str = "anyaudio"  # prompts the judge is trained on: anyaudio | reference (the release's)
    reference: str | None = None  # protocol=reference: a clone of the release or its prompts.py


@dataclass
class TrainSettings(CommonSettings):
    epochs: float = 1.0
    learning_rate: float = 1e-5
    batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_steps: int = -1  # > 0 overrides epochs
    warmup: float = 0.0  # steps (int) or a ratio of the total in [0, 1)
    weight_decay: float = 0.0
    lr_scheduler_type: str = "linear"
    gradient_checkpointing: bool = False
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int | None = 2
    resume: str = "auto"  # auto (last complete checkpoint in output_dir) | never | <checkpoint dir>
    export_layout: str = "auto"  # final checkpoint layout: auto (full for Omni) | full | thinker
    train_audio_tower: bool = True  # full fine-tune only: False freezes the audio encoder
    lora: LoraSettings = field(default_factory=LoraSettings)
    progress: bool = True  # rich progress bar


@dataclass
class SFTSettings(TrainSettings):
    shuffle_items: bool = False  # shuffle rubric order per sample (targets follow), a guard against position keys


@dataclass
class GRPOSettings(TrainSettings):
    learning_rate: float = 5e-6
    batch_size: int = 8
    num_generations: int = 8
    max_completion_length: int = 1024
    temperature: float = 1.0
    top_p: float = 1.0
    beta: float = 0.0  # KL coefficient (TRL default; the paper does not say)
    loss_type: str = "dapo"
    scale_rewards: str = "group"
    mask_truncated_completions: bool = False
    reward_weights: dict[str, float] = field(default_factory=lambda: {"format": 0.1, "decision": 0.2, "items": 0.7})
    decision_threshold: float = 0.8
    use_vllm: bool = False
    vllm_mode: str = "colocate"  # colocate (audio supported) | server (not supported for audio yet)
    vllm_gpu_memory_utilization: float = 0.3
    vllm_max_model_length: int | None = None
    lora: LoraSettings = field(default_factory=lambda: LoraSettings(enabled=True))


@dataclass
class MineSettings(CommonSettings):
    output_file: str = ""  # default: <output_dir>/mined.jsonl
    rollouts: int = 4
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 1024
    batch_size: int = 4  # samples per generate call (each with all its rollouts)
    criterion: str = "decision"  # decision | items: what "answered right" means
    decision_threshold: float = 0.8
    progress: bool = True


PAPER_SFT = SFTSettings(epochs=1.0, learning_rate=1e-5, batch_size=4, lora=LoraSettings(enabled=False))
PAPER_MINE = MineSettings(rollouts=4, temperature=1.0, criterion="decision")
PAPER_GRPO = GRPOSettings(
    epochs=1.0, learning_rate=5e-6, batch_size=8, num_generations=8, lora=LoraSettings(enabled=True, r=16, alpha=32)
)
# Minutes on 2 CPU cores with a tiny random model (smoke runs, CI).
CPU_SFT = SFTSettings(max_steps=8, learning_rate=1e-3, batch_size=2, logging_steps=1, save_steps=4)
CPU_MINE = MineSettings(rollouts=2, max_new_tokens=24, batch_size=2)
CPU_GRPO = GRPOSettings(
    max_steps=2, learning_rate=1e-4, batch_size=2, num_generations=2, max_completion_length=24, logging_steps=1,
    save_steps=1, lora=LoraSettings(enabled=False),
)
PRESETS: dict[str, dict[str, Any]] = {
    "sft": {"paper": PAPER_SFT, "cpu": CPU_SFT},
    "mine": {"paper": PAPER_MINE, "cpu": CPU_MINE},
    "grpo": {"paper": PAPER_GRPO, "cpu": CPU_GRPO},
}
STAGE_CLASSES = {"sft": SFTSettings, "mine": MineSettings, "grpo": GRPOSettings}


class ConfigError(ValueError):
    """A config file or override that does not fit the stage's dataclass; the message names the key."""


def _coerce(cls: type, data: dict[str, Any], where: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"unknown {where} key(s): {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    values = {}
    for key, value in data.items():
        if key == "lora" and isinstance(value, dict):
            value = _coerce(LoraSettings, value, "lora")
        values[key] = value
    return values


def merge(base: Any, overrides: dict[str, Any]) -> Any:
    """A copy of `base` with `overrides` (nested `lora` mappings merged key by key)."""
    values = _coerce(type(base), overrides, type(base).__name__)
    lora = overrides.get("lora")
    if isinstance(lora, dict) and hasattr(base, "lora"):
        values["lora"] = dataclasses.replace(base.lora, **_coerce(LoraSettings, lora, "lora"))
    return dataclasses.replace(base, **values)


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings")
    return data


def load_config(stage: str, path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Any:
    """The settings of `stage` from a preset, a file and command-line overrides (later wins)."""
    if stage not in STAGE_CLASSES:
        raise ConfigError(f"unknown stage {stage!r}; use sft, mine or grpo")
    data = read_config_file(path) if path else {}
    preset = data.pop("preset", None)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    preset = overrides.pop("preset", preset)
    if preset is None:
        base = STAGE_CLASSES[stage]()
    elif preset in PRESETS[stage]:
        base = dataclasses.replace(PRESETS[stage][preset])
    else:
        raise ConfigError(f"unknown {stage} preset {preset!r}; use one of {', '.join(PRESETS[stage])}")
    return merge(merge(base, data), overrides)


def to_dict(settings: Any) -> dict[str, Any]:
    return dataclasses.asdict(settings)
