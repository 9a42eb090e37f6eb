"""Supervised fine-tuning of the judge on generate-mode targets (`transformers.Trainer` + `SFTCollator`).

TRL's `SFTTrainer` is not used: it has no audio collator and its fused LM head fails on the Omni thinker below
transformers 5.21. Resuming: with `resume: auto` a rerun continues from the newest complete `checkpoint-N` in
`output_dir` (model, optimizer, scheduler, RNG and data position). The final model is exported to
`<output_dir>/final` in the layout the `audiollm/` provider and vLLM load.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anyaudio_eval.training.config import SFTSettings, TrainSettings, to_dict

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    output_dir: Path
    final_checkpoint: Path
    global_step: int
    resumed_from: str | None
    log_history: list[dict[str, Any]]

    @property
    def losses(self) -> list[float]:
        return [row["loss"] for row in self.log_history if "loss" in row]


def training_arguments(settings: TrainSettings, cls: Any = None, **extra: Any) -> Any:
    """TrainingArguments (or a subclass, e.g. TRL's GRPOConfig) from our settings."""
    import torch
    from transformers import TrainingArguments

    cls = cls or TrainingArguments
    on_gpu = settings.device != "cpu" and torch.cuda.is_available()
    bf16 = on_gpu and torch.cuda.is_bf16_supported() and settings.dtype in ("auto", "bfloat16", "bf16")
    return cls(
        output_dir=settings.output_dir,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        warmup_steps=settings.warmup,
        weight_decay=settings.weight_decay,
        lr_scheduler_type=settings.lr_scheduler_type,
        gradient_checkpointing=settings.gradient_checkpointing,
        logging_steps=settings.logging_steps,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=settings.save_total_limit,
        seed=settings.seed,
        data_seed=settings.seed,
        report_to=[],
        use_cpu=not on_gpu,
        bf16=bf16,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=settings.progress,  # replaced by the rich progress callback
        **extra,
    )


def progress_callbacks(settings: TrainSettings) -> list[Any]:
    if not settings.progress:
        return []
    from trl.trainer.callbacks import RichProgressCallback

    return [RichProgressCallback()]


def write_run_info(settings: Any, stage: str, extra: dict[str, Any]) -> None:
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stage}_config.json").write_text(
        json.dumps({"stage": stage, "settings": to_dict(settings), **extra}, indent=2, default=str), encoding="utf-8"
    )


def run_sft(settings: SFTSettings, callbacks: list[Any] | None = None) -> TrainResult:
    """Fine-tune `settings.model` on `settings.train_file`; returns where the final checkpoint is."""
    from peft import get_peft_model
    from transformers import Trainer

    from anyaudio_eval.training.collate import SFTCollator
    from anyaudio_eval.training.data import load_stage_corpus
    from anyaudio_eval.training.modeling import freeze_unused, load_policy, lora_config

    corpus = load_stage_corpus(settings, "sft", "a corpus JSONL/parquet; try `anyaudio train demo-corpus DIR`")
    out = Path(settings.output_dir)
    policy = load_policy(settings.model, out, settings.device, settings.dtype, settings.max_audio_seconds)
    model = policy.model
    freeze_unused(model, settings.train_audio_tower or settings.lora.enabled)
    if settings.lora.enabled:
        model = get_peft_model(model, lora_config(settings.lora))
    trainer = Trainer(
        model=model,
        args=training_arguments(settings),
        train_dataset=corpus.samples,  # a list is a map-style dataset; the collator encodes
        data_collator=SFTCollator(policy, shuffle_items=settings.shuffle_items, seed=settings.seed),
        callbacks=progress_callbacks(settings) + list(callbacks or []),
    )
    return train_and_export(trainer, policy, settings, "sft", corpus)


def train_and_export(trainer: Any, policy: Any, settings: Any, stage: str, corpus: Any) -> TrainResult:
    """Record the run, train (resuming from the newest complete checkpoint), export `final/`: every stage's tail.

    Under `accelerate launch` every process trains; only the main one writes the run record and the export."""
    from anyaudio_eval.training.modeling import resume_point, trainable_summary

    out = Path(settings.output_dir)
    resume = resume_point(out, settings.resume)
    main = trainer.is_world_process_zero()
    if main:
        write_run_info(settings, stage, {"corpus": corpus.summary(), "model": trainable_summary(trainer.model),
                                         "base": str(policy.path), "resumed_from": resume,
                                         "world_size": trainer.args.world_size})
    if resume:
        logger.info("resuming %s from %s", stage, resume)
    trainer.train(resume_from_checkpoint=resume)
    final = export_final(trainer, policy, settings, stage)
    return TrainResult(out, final, trainer.state.global_step, resume, list(trainer.state.log_history))


def export_final(trainer: Any, policy: Any, settings: Any, stage: str) -> Path:
    """`<output_dir>/final` in the layout the provider and vLLM load. With FSDP or DeepSpeed ZeRO-3 the weights
    are sharded over the processes: the trainer first gathers them into one checkpoint (a collective call),
    which the main process loads onto the CPU and exports."""
    from anyaudio_eval.training.modeling import export_checkpoint

    out = Path(settings.output_dir)
    metadata = {"stage": stage, "global_step": trainer.state.global_step, "world_size": trainer.args.world_size}
    model = trainer.model
    if trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled:
        gathered = out / "gathered"
        trainer.save_model(str(gathered))
        model = _load_gathered(gathered, policy, settings) if trainer.is_world_process_zero() else None
    if trainer.is_world_process_zero():
        export_checkpoint(model, policy, out / "final", settings.export_layout, metadata=metadata)
    trainer.accelerator.wait_for_everyone()
    return out / "final"


def _load_gathered(gathered: Path, policy: Any, settings: Any) -> Any:
    """A fresh CPU copy of the base with the gathered weights (full fine-tune) or adapters (LoRA) applied."""
    import torch

    from anyaudio_eval.engine import load_checkpoint

    dtype = torch.bfloat16 if settings.dtype in ("bfloat16", "bf16") else torch.float32
    _, model, _, _ = load_checkpoint(policy.path, dtype)
    if settings.lora.enabled:
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(gathered))
    from safetensors.torch import load_file

    state: dict[str, Any] = {}
    for f in sorted(gathered.glob("*.safetensors")):
        state.update(load_file(str(f)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    trainable_missing = [k for k in missing if "visual" not in k]  # a frozen, unused vision tower may be left out
    if trainable_missing or unexpected:
        raise RuntimeError(f"gathered weights in {gathered} do not match the base: missing {trainable_missing[:5]}, "
                           f"unexpected {unexpected[:5]}")
    return model
