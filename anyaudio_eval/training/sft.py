"""Supervised fine-tuning of the judge on generate-mode targets (`transformers.Trainer` + `SFTCollator`).

TRL's `SFTTrainer` is not used: it has no audio collator and its fused LM head fails on the Omni thinker below
transformers 5.21, so the stage's training settings are transformers' `TrainingArguments` (TRL's `SFTConfig` would
accept keys nothing reads). Resuming: with `resume_from_checkpoint: auto` (the default) a rerun continues from the
newest complete `checkpoint-N` in `output_dir` (model, optimizer, scheduler, RNG and data position). The final model
is exported to `<output_dir>/final` in the layout the `audiollm/` provider and vLLM load.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anyaudio_eval.training.config import JudgeTrainArguments, SFTStageConfig, StageConfig, peft_config

if TYPE_CHECKING:
    from anyaudio_eval.training.data import Corpus
    from anyaudio_eval.training.modeling import Policy

logger = logging.getLogger(__name__)
TrainStageConfig = StageConfig[JudgeTrainArguments, Any]  # SFT's or GRPO's: what every training stage's tail reads


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


def progress_callbacks(config: StageConfig[Any, Any]) -> list[Any]:
    if not config.judge.progress:
        return []
    from trl.trainer.callbacks import RichProgressCallback

    return [RichProgressCallback()]


def write_run_info(config: StageConfig[Any, Any], extra: dict[str, Any]) -> None:
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{config.stage}_config.json").write_text(
        json.dumps({"stage": config.stage, "settings": config.to_dict(), **extra}, indent=2, default=str),
        encoding="utf-8",
    )


def run_sft(config: SFTStageConfig, callbacks: list[Any] | None = None) -> TrainResult:
    """Fine-tune the stage's checkpoint on `config.judge.train_file`; returns where the final checkpoint is."""
    from peft import get_peft_model
    from transformers import Trainer

    from anyaudio_eval.training.collate import SFTCollator
    from anyaudio_eval.training.data import load_stage_corpus
    from anyaudio_eval.training.modeling import freeze_unused, stage_policy

    judge = config.judge
    corpus = load_stage_corpus(judge, "sft", "a corpus JSONL/parquet; try `anyaudio train demo-corpus DIR`")
    policy = stage_policy(config)
    model = policy.model
    freeze_unused(model, judge.train_audio_tower or config.model.use_peft)
    lora = peft_config(config)
    if lora is not None:
        model = get_peft_model(model, lora)
    trainer = Trainer(
        model=model,
        args=config.training,
        train_dataset=corpus.samples,  # a list is a map-style dataset; the collator encodes
        data_collator=SFTCollator(policy, shuffle_items=judge.shuffle_items, seed=config.training.seed),
        callbacks=progress_callbacks(config) + list(callbacks or []),
    )
    return train_and_export(trainer, policy, config, corpus)


def train_and_export(trainer: Any, policy: Policy, config: TrainStageConfig, corpus: Corpus) -> TrainResult:
    """Record the run, train (resuming from the newest complete checkpoint), export `final/`: every stage's tail.

    Under `accelerate launch` every process trains; only the main one writes the run record and the export."""
    from anyaudio_eval.training.modeling import resume_point, trainable_summary

    out = Path(config.output_dir)
    resume = resume_point(out, config.training.resume_from_checkpoint or "never")
    main = trainer.is_world_process_zero()
    if main:
        write_run_info(
            config,
            {
                "corpus": corpus.summary(),
                "model": trainable_summary(trainer.model),
                "base": str(policy.path),
                "resumed_from": resume,
                "world_size": trainer.args.world_size,
            },
        )
    if resume:
        logger.info("resuming %s from %s", config.stage, resume)
    trainer.train(resume_from_checkpoint=resume)
    final = export_final(trainer, policy, config)
    return TrainResult(out, final, trainer.state.global_step, resume, list(trainer.state.log_history))


def export_final(trainer: Any, policy: Policy, config: TrainStageConfig) -> Path:
    """`<output_dir>/final` in the layout the provider and vLLM load. With FSDP or DeepSpeed ZeRO-3 the weights
    are sharded over the processes: the trainer first gathers them into one checkpoint (a collective call),
    which the main process loads onto the CPU and exports."""
    from anyaudio_eval.training.modeling import export_checkpoint

    out = Path(config.output_dir)
    metadata = {"stage": config.stage, "global_step": trainer.state.global_step, "world_size": trainer.args.world_size}
    model = trainer.model
    if trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled:
        gathered = out / "gathered"
        trainer.save_model(str(gathered))
        model = _load_gathered(gathered, policy, config) if trainer.is_world_process_zero() else None
    if trainer.is_world_process_zero():
        export_checkpoint(model, policy, out / "final", config.judge.export_layout, metadata=metadata)
    trainer.accelerator.wait_for_everyone()
    return out / "final"


def _load_gathered(gathered: Path, policy: Policy, config: TrainStageConfig) -> Any:
    """A fresh CPU copy of the base with the gathered weights (full fine-tune) or adapters (LoRA) applied."""
    from anyaudio_eval.engine import load_checkpoint
    from anyaudio_eval.training.modeling import weights_dtype

    _, model, _, _ = load_checkpoint(policy.path, weights_dtype(config.dtype, "cpu"))
    if config.model.use_peft:
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(gathered))
    from safetensors.torch import load_file

    state: dict[str, Any] = {}
    for f in sorted(gathered.glob("*.safetensors")):
        state.update(load_file(str(f)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    trainable_missing = [k for k in missing if "visual" not in k]  # a frozen, unused vision tower may be left out
    if trainable_missing or unexpected:
        raise RuntimeError(
            f"gathered weights in {gathered} do not match the base: missing {trainable_missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    return model
