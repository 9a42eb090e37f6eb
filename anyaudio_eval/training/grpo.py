"""GRPO for the audio judge: TRL's `GRPOTrainer` with audio in every forward.

Stock TRL 1.16 passes audio features to `generate()` but drops them from the log-prob and loss forwards, so the
policy is trained on audio placeholders with no audio. `AudioGRPOTrainer`:

- encodes each prompt with the local provider's request encoder (`Policy.encode`: same chat template, same
  placeholder expansion, same features as evaluation) from the row's `audio`, `system` and `prompt` columns;
- keeps `input_features` / `feature_attention_mask` per rollout row, hands them to HF generation, to the old/ref
  log-prob forwards and to the loss forward (through TRL's batch dict, so shuffles and splits keep rows aligned);
- computes log-probs with a plain (non-fused) LM head: TRL's fused head fails on the Omni thinker below
  transformers 5.21;
- with `use_vllm=True` (colocate), generates through the colocated vLLM engine with the audio as
  `multi_modal_data`, after syncing weights under checkpoint names (`vllm_bridge`).

Dataset rows (built by `grpo_rows`): prompt (the item list text), system, audio (path), gold (item labels),
label (overall gold), uuid, domain.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

import torch
from trl import GRPOTrainer
from trl.trainer.utils import entropy_from_logits, selective_log_softmax

from anyaudio_eval.training import vllm_bridge
from anyaudio_eval.training.config import ConfigError, GRPOStageConfig, peft_config
from anyaudio_eval.training.data import TrainSample
from anyaudio_eval.training.modeling import Policy

if TYPE_CHECKING:
    from anyaudio_eval.training.sft import TrainResult

logger = logging.getLogger(__name__)
AUDIO_KEYS = ("input_features", "feature_attention_mask")

# The TRL methods AudioGRPOTrainer overrides or wraps, with the parameters (names, kinds, defaults) of the TRL
# version it was written for. `trl_signature_drift()` compares the installed TRL against them (tests run it), so a
# TRL upgrade that changes one fails loudly instead of silently bypassing the audio path.
TRL_WRITTEN_FOR = "1.16.0"
TRL_OVERRIDDEN: dict[str, str] = {
    "GRPOTrainer._generate_and_score_completions": "(self, inputs)",
    "GRPOTrainer._tokenize_prompts": "(self, prompts)",
    "GRPOTrainer._generate_single_turn": "(self, prompt_ids, images, multimodal_fields, num_generations, "
    "has_tool_images=False)",
    "GRPOTrainer._compute_loss": "(self, model, inputs)",
    "GRPOTrainer._get_per_token_logps_and_entropies": (
        "(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, compute_entropy=False, "
        "compute_aux_loss=False, pixel_values=None, image_grid_thw=None, num_images=None, pixel_attention_mask=None, "
        "spatial_shapes=None, num_tiles=None, image_sizes=None, token_type_ids=None, mm_token_type_ids=None, "
        "image_position_ids=None)"
    ),  # the image arguments are taken and ignored (`**_image_kwargs`): the judge has audio only
    "VLLMGeneration._fix_param_name_to_vllm": "(self, name, extra_prefixes=None)",  # wrapped (vllm_bridge)
    "VLLMGeneration._iter_named_params": "(self)",  # wrapped (vllm_bridge)
    "VLLMGeneration.sync_weights": "(self)",
}


def parameters_text(function: Any) -> str:
    """A function's parameters as `(a, b=1, *args, **kw)`: names, kinds and defaults, without annotations."""
    params = inspect.signature(function).parameters.values()
    return str(inspect.Signature([p.replace(annotation=inspect.Parameter.empty) for p in params]))


def trl_signature_drift() -> list[str]:
    """One line per overridden TRL method whose parameters differ from `TRL_OVERRIDDEN` (or that is gone)."""
    import trl
    from trl.generation.vllm_generation import VLLMGeneration

    owners = {"GRPOTrainer": GRPOTrainer, "VLLMGeneration": VLLMGeneration}
    drift = []
    for qualified, expected in TRL_OVERRIDDEN.items():
        owner, name = qualified.split(".")
        method = getattr(owners[owner], name, None)
        actual = "missing" if method is None else parameters_text(method)
        if actual != expected:
            drift.append(
                f"TRL {trl.__version__} {qualified}{actual if method else ' is gone'}; AudioGRPOTrainer "
                f"was written for {qualified}{expected} (TRL {TRL_WRITTEN_FOR}): review its override"
            )
    return drift


def grpo_rows(samples: list[TrainSample]) -> list[dict[str, Any]]:
    return [
        {
            "prompt": s.user_prompt(),
            "system": s.system_prompt(),
            "audio": s.audio,
            "gold": s.gold,
            "label": s.label,
            "uuid": s.uuid,
            "domain": s.domain,
        }
        for s in samples
    ]


class AudioGRPOTrainer(GRPOTrainer):
    """`GRPOTrainer` that feeds the audio features to every forward; see the module docstring."""

    def __init__(self, *args: Any, policy: Policy, vllm_collapse_placeholders: bool = False, **kwargs: Any) -> None:
        self.policy = policy
        self.vllm_collapse_placeholders = vllm_collapse_placeholders
        self._audio_ctx: dict[str, torch.Tensor] | None = None
        self._batch_rows: list[dict[str, Any]] | None = None
        self._batch_clips: list[Any] | None = None
        super().__init__(*args, **kwargs)
        if self.use_vllm:
            if self.vllm_mode != "colocate":
                raise ValueError("audio rollouts through vLLM are supported in colocate mode only (vllm_mode=colocate)")
            gen = self.vllm_generation
            # TRL has no hook for the weight sync's names: the instance's methods are wrapped (TRL_OVERRIDDEN pins them)
            gen._fix_param_name_to_vllm = vllm_bridge.wrap_name_fixer(  # type: ignore[method-assign]
                gen._fix_param_name_to_vllm, policy.is_omni
            )
            gen._iter_named_params = vllm_bridge.wrap_param_iterator(  # type: ignore[method-assign]
                gen._iter_named_params, gen.model
            )

    # -- prompts ---------------------------------------------------------------------------------------

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        self._batch_rows = inputs
        try:
            output = super()._generate_and_score_completions(inputs)
            assert self._audio_ctx is not None, "prompts were not encoded with audio"
            output.update(self._audio_ctx)
            return output
        finally:
            self._audio_ctx = None
            self._batch_rows = None
            self._batch_clips = None

    def _tokenize_prompts(self, prompts: list[Any]) -> tuple[list[list[int]], None, dict[str, torch.Tensor]]:
        rows = self._batch_rows
        if rows is None or len(rows) != len(prompts):
            raise RuntimeError("AudioGRPOTrainer needs the batch rows (audio, system) of every prompt")
        cache: dict[tuple[str, str, str], Any] = {}
        prepared = []
        clips = []
        for row, prompt in zip(rows, prompts, strict=True):
            key = (row["audio"], row["system"], prompt)
            if key not in cache:
                clip = self.policy.clip(row["audio"])
                conv = self.policy.conversation(row["system"], prompt)
                cache[key] = (self.policy.encoder.prepare(conv, [clip], self.policy.max_audio_seconds), clip)
            prepared.append(cache[key][0])
            clips.append(cache[key][1])
        device = self.accelerator.device
        features = torch.cat([p.features for p in prepared]).to(device)
        mask = torch.cat([p.feature_mask for p in prepared]).to(device)
        self._audio_ctx = {"input_features": features, "feature_attention_mask": mask}
        self._batch_clips = clips
        return [list(p.ids) for p in prepared], None, dict(self._audio_ctx)

    # -- rollouts through vLLM (colocate) --------------------------------------------------------------

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        if not self.use_vllm:
            return super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images
            )
        gen = self.vllm_generation
        if self.state.global_step != self._last_loaded_step:
            gen.sync_weights()
            self._last_loaded_step = self.state.global_step
        requests = vllm_bridge.audio_requests(
            prompt_ids, self._batch_clips or [], self.policy.audio_token_id, collapse=self.vllm_collapse_placeholders
        )
        sampling = vllm_bridge.sampling_kwargs(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            min_p=self.min_p,
            max_tokens=self.max_completion_length,
            repetition_penalty=self.repetition_penalty,
            suppress_ids=self.policy.special_ids(),
        )
        return vllm_bridge.generate(gen.llm, requests, sampling)

    # -- log-probs with audio --------------------------------------------------------------------------

    def _compute_loss(self, model, inputs):
        self._audio_ctx = {k: inputs[k] for k in AUDIO_KEYS}
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._audio_ctx = None

    def _get_per_token_logps_and_entropies(
        self,
        model,
        input_ids,
        attention_mask,
        logits_to_keep,
        batch_size=None,
        compute_entropy=False,
        compute_aux_loss=False,
        **_image_kwargs,
    ):
        ctx = self._audio_ctx
        if ctx is None:
            raise RuntimeError("log-prob forward without audio features (AudioGRPOTrainer bug)")
        batch_size = batch_size or input_ids.size(0)
        all_logps, all_entropies, all_aux = [], [], []
        for start in range(0, input_ids.size(0), batch_size):
            end = min(start + batch_size, input_ids.size(0))
            ids = input_ids[start:end]
            kwargs: dict[str, Any] = {
                "input_ids": ids,
                "attention_mask": attention_mask[start:end],
                "input_features": ctx["input_features"][start:end],
                "feature_attention_mask": ctx["feature_attention_mask"][start:end],
                "use_cache": False,
            }
            if compute_aux_loss:
                kwargs["output_router_logits"] = True
            with self.accelerator.autocast():
                out = model(**kwargs)
            logits = out.logits[:, -logits_to_keep - 1 : -1, :].float() / self.temperature
            targets = ids[:, -logits_to_keep:]
            all_logps.append(selective_log_softmax(logits, targets))
            if compute_entropy:
                with torch.no_grad():
                    all_entropies.append(entropy_from_logits(logits))
            if compute_aux_loss:
                all_aux.append(out.aux_loss)
        logps = torch.cat(all_logps)
        entropies = torch.cat(all_entropies) if compute_entropy else None
        aux = torch.stack(all_aux).mean() if compute_aux_loss else None
        return logps, entropies, aux


def build_trainer(
    config: GRPOStageConfig, policy: Policy, samples: list[TrainSample], callbacks: list[Any] | None = None
) -> AudioGRPOTrainer:
    """The trainer for `config`; its `training` (TRL's GRPOConfig) gets the policy's special ids suppressed in
    generation, beside any `generation_kwargs` it has."""
    from datasets import Dataset
    from peft import get_peft_model

    from anyaudio_eval.training.modeling import freeze_unused
    from anyaudio_eval.training.rewards import trl_reward_functions
    from anyaudio_eval.training.sft import progress_callbacks

    args = config.training
    extra = args.generation_kwargs or {}  # GRPOConfig has parsed a JSON string into a mapping
    if not isinstance(extra, dict):
        raise ConfigError(f"generation_kwargs: a mapping, not {extra!r}")
    args.generation_kwargs = {**extra, "suppress_tokens": policy.special_ids()}
    model = policy.model
    freeze_unused(model, config.judge.train_audio_tower)
    lora = peft_config(config)
    if lora is not None:
        model = get_peft_model(model, lora)
    return AudioGRPOTrainer(
        model=model,
        reward_funcs=trl_reward_functions(config.judge.decision_threshold),
        args=args,
        train_dataset=Dataset.from_list(grpo_rows(samples)),
        processing_class=policy.tokenizer,
        callbacks=progress_callbacks(config) + list(callbacks or []),
        policy=policy,
    )


def run_grpo(config: GRPOStageConfig, callbacks: list[Any] | None = None) -> TrainResult:
    from anyaudio_eval.training.data import load_stage_corpus
    from anyaudio_eval.training.modeling import stage_policy
    from anyaudio_eval.training.sft import train_and_export

    judge = config.judge
    corpus = load_stage_corpus(judge, "grpo", "the mined set from `anyaudio train mine`, or any corpus")
    policy = stage_policy(config)
    trainer = build_trainer(config, policy, corpus.samples, callbacks)
    return train_and_export(trainer, policy, config, corpus)
