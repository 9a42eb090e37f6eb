"""The policy being trained: loading (same families and rules as the local `audiollm/` provider), LoRA, export.

Model loading is the judge's own (`anyaudio_eval.engine`: checkpoint resolution, family detection, device and
dtype, chat template) and prompts are encoded by its `PromptEncoder`, so training, mining, GRPO rollouts and
evaluation tokenize a judge request identically. `tiny:omni` / `tiny:qwen2_audio` first writes a tiny random
checkpoint with `anyaudio_eval.models.tiny.save_tiny` (Omni in the full layout) and then loads it like any other.

Exported checkpoints (`export_checkpoint`) use the layout the provider and vLLM load: for Qwen2.5-Omni the
full-Omni layout (`model_type=qwen2_5_omni`, weights under `thinker.*`, no talker), LoRA merged; tokenizer,
feature extractor, processor and chat-template files are copied from the base checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from anyaudio_eval.audio import load_audio
from anyaudio_eval.constants import SAMPLE_RATE
from anyaudio_eval.engine import (
    Family,
    Prepared,
    PromptEncoder,
    load_checkpoint,
    resolve_checkpoint,
    resolve_device,
    resolve_dtype,
)
from anyaudio_eval.judge.procedure import judge_messages
from anyaudio_eval.models.layout import has_full_layout, save_full_omni
from anyaudio_eval.providers.local import conversation_of

if TYPE_CHECKING:
    from anyaudio_eval.training.config import StageConfig

logger = logging.getLogger(__name__)

# Files of a checkpoint that are not weights or the model config: copied into every export.
_PROCESSOR_FILES = re.compile(
    r"^(tokenizer.*|vocab\.json|merges\.txt|special_tokens_map\.json|added_tokens\.json|chat_template.*|"
    r"preprocessor_config\.json|processor_config\.json|video_preprocessor_config\.json|spk_dict\.pt|"
    r"tiny_model\.json)$"
)


@dataclass
class Policy:
    model: Any  # the trainable transformers model (the thinker for Omni); PEFT-wrapped after apply_lora
    path: Path  # the checkpoint it was loaded from
    encoder: PromptEncoder  # the judge's request encoder for this checkpoint (tokenizer, template, family)
    max_audio_seconds: float = 30.0

    @property
    def tokenizer(self) -> Any:
        return self.encoder.tokenizer

    @property
    def feature_extractor(self) -> Any:
        return self.encoder.feature_extractor

    @property
    def chat_template(self) -> str:
        return self.encoder.chat_template

    @property
    def family(self) -> Family:
        return self.encoder.family

    @property
    def is_omni(self) -> bool:
        """Qwen2.5-Omni or Qwen3-Omni: exported, and named for vLLM, in the full-Omni layout."""
        return has_full_layout(self.family.model_class)

    @property
    def audio_token_id(self) -> int:
        return self.encoder.audio_token_id

    @property
    def end_token_id(self) -> int:
        tid = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(tid, int) and tid != self.tokenizer.unk_token_id:
            return tid
        return int(self.tokenizer.eos_token_id)

    def special_ids(self) -> list[int]:
        """Multimodal placeholder and boundary tokens a completion must never contain."""
        names = ["<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>", "<|IMAGE|>", "<|VIDEO|>", "<|vision_bos|>",
                 "<|vision_eos|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]  # fmt: skip
        ids = {self.audio_token_id}
        for name in names:
            tid = self.tokenizer.convert_tokens_to_ids(name)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id and tid < len(self.tokenizer):
                ids.add(tid)
        return sorted(ids)

    # -- the judge request, exactly as the local provider renders it -----------------------------------

    def conversation(self, system: str, user: str) -> list[dict[str, Any]]:
        conversation, _ = conversation_of(judge_messages("audio-0", user, system))
        return conversation

    def clip(self, audio_path: str) -> np.ndarray:
        wav = load_audio(audio_path, max_seconds=float("inf"))
        return wav[: int(self.max_audio_seconds * SAMPLE_RATE)]

    def encode(self, system: str, user: str, audio_path: str) -> Prepared:
        """Token ids (audio placeholders expanded) and audio features of one judge request."""
        return self.encoder.prepare(self.conversation(system, user), [self.clip(audio_path)], self.max_audio_seconds)


def resolve_model(spec: str, work_dir: str | Path) -> Path:
    """A checkpoint directory for `spec`; `tiny:<family>` writes a tiny random one under `work_dir` once."""
    if spec.startswith("tiny:"):
        from anyaudio_eval.models.tiny import save_tiny

        family = spec.split(":", 1)[1] or "omni"
        path = Path(work_dir) / f"base-tiny-{family}"
        if not (path / "config.json").is_file():
            # Written aside and renamed into place: the processes of a distributed launch may race to build it.
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            save_tiny(tmp, family=family, layout="thinker" if family == "qwen2_audio" else "full")  # type: ignore[arg-type]
            try:
                os.rename(tmp, path)
            except OSError:  # another process got there first: its copy is the same tiny model
                shutil.rmtree(tmp, ignore_errors=True)
        return path.resolve()
    return resolve_checkpoint(spec)


def sharded_launch() -> bool:
    """`accelerate launch` with FSDP or DeepSpeed: the weights are sharded by the trainer, so every process
    keeps its full copy on the CPU until then (8 full copies of a 30B model would not fit on the GPUs)."""
    flags = ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED")
    return any(os.environ.get(k, "").lower() in ("1", "true") for k in flags)


def load_policy(
    spec: str, work_dir: str | Path, device: str = "auto", dtype: str = "auto", max_audio_seconds: float = 30.0
) -> Policy:
    """Load a trainable model and its tokenizer/feature extractor from a checkpoint or `tiny:<family>`.

    Device and dtype are the judge engine's (`resolve_device`, `resolve_dtype`); the weights' dtype is
    `weights_dtype`'s (float32 under "auto").
    """
    path = resolve_model(spec, work_dir)
    device = resolve_device(device)
    torch_dtype = weights_dtype(dtype, device)
    family, model, tokenizer, feature_extractor = load_checkpoint(path, torch_dtype)
    model.to("cpu" if sharded_launch() else device)
    if getattr(model.config, "image_token_id", None) is None:
        # TRL reads config.image_token_id for any processor-based model; Qwen2-Audio has none.
        model.config.image_token_id = getattr(model.config, "audio_token_index", None)
    encoder = PromptEncoder.of_checkpoint(path, family, model.config, tokenizer, feature_extractor)
    return Policy(model, path, encoder, max_audio_seconds)


def stage_policy(config: StageConfig[Any, Any]) -> Policy:
    """The policy a training stage starts from: its checkpoint, device and load dtype, its audio limit; a tiny
    base is written under the stage's output directory."""
    return load_policy(
        config.model_path, config.output_dir, config.device, config.dtype, config.judge.max_audio_seconds
    )


def weights_dtype(dtype: str, device: str) -> torch.dtype:
    """The dtype a trainable model's weights are loaded in.

    "auto" keeps float32 master weights: the trainer's mixed precision computes in `resolve_dtype`'s dtype
    (bfloat16 on GPUs that have it). Asked for by name, float32 or bfloat16 is what is loaded; float16 weights
    do not train stably and are refused.
    """
    if dtype == "auto":
        return torch.float32
    try:
        torch_dtype: torch.dtype | None = resolve_dtype(dtype, device)
    except ValueError:
        torch_dtype = None
    if torch_dtype is None or torch_dtype not in (torch.float32, torch.bfloat16):
        raise ValueError(f"unknown dtype {dtype!r}; use auto, float32 or bfloat16")
    return torch_dtype


def freeze_unused(model: Any, train_audio_tower: bool = True) -> None:
    """The vision tower is never used by an audio judge: freeze it; optionally the audio encoder too."""
    for name, param in model.named_parameters():
        if "visual" in name or (not train_audio_tower and "audio_tower" in name):
            param.requires_grad_(False)


def trainable_summary(model: Any) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"parameters": total, "trainable": trainable}


def _merged(model: Any) -> Any:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover - peft is part of the train extra
        return model
    if isinstance(model, PeftModel):
        return model.merge_and_unload()
    return model


def export_checkpoint(
    model: Any, policy: Policy, out_dir: str | Path, layout: str = "auto", metadata: dict[str, Any] | None = None
) -> Path:
    """Write `model` (LoRA merged) where the local provider and vLLM can load it; returns the directory.

    layout "auto": Omni models in the full-Omni layout (`thinker.*`), others as they are.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = _merged(model)
    if layout == "auto":
        layout = "full" if policy.is_omni else "thinker"
    if layout == "full":
        if not policy.is_omni:
            raise ValueError("layout='full' exists only for the Omni families")
        save_full_omni(model, out)
    elif layout == "thinker":
        model.save_pretrained(out)
    else:
        raise ValueError(f"unknown layout {layout!r}; use auto, full or thinker")
    for item in policy.path.iterdir():
        if item.is_file() and _PROCESSOR_FILES.match(item.name):
            shutil.copy2(item, out / item.name)
    if not any((out / name).exists() for name in ("chat_template.json", "chat_template.jinja")):
        (out / "chat_template.jinja").write_text(policy.chat_template, encoding="utf-8")
    (out / "anyaudio_training.json").write_text(
        json.dumps({"base": str(policy.path), "layout": layout, **(metadata or {})}, indent=2, default=str),
        encoding="utf-8",
    )
    return out


# -- checkpoints for resuming ---------------------------------------------------------------------------

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def last_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete Trainer checkpoint (one with trainer_state.json, written last); None if none."""
    root = Path(output_dir)
    if not root.is_dir():
        return None
    found = []
    for child in root.iterdir():
        m = _CHECKPOINT.match(child.name)
        if m and child.is_dir() and (child / "trainer_state.json").is_file():
            found.append((int(m.group(1)), child))
    return max(found)[1] if found else None


def resume_point(output_dir: str | Path, resume: str) -> str | None:
    if resume == "never":
        return None
    if resume == "auto":
        found = last_checkpoint(output_dir)
        return str(found) if found else None
    path = Path(resume)
    if not (path / "trainer_state.json").is_file():
        raise FileNotFoundError(f"resume checkpoint {path} has no trainer_state.json (not a complete checkpoint)")
    return str(path)
