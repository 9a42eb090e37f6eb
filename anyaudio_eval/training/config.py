"""Settings of `anyaudio train sft|mine|grpo`: TRL's and transformers' own configs, plus ours for what they lack.

A stage is configured by a `--config` YAML (or JSON) file and command-line flags, parsed as TRL's `TrlParser` does
(the file's values become the parser's defaults, flags override them) into:

- `training`: transformers' `TrainingArguments` (SFT: the stage runs `transformers.Trainer`, so TRL's `SFTConfig`
  would accept keys nothing reads) or TRL's `GRPOConfig` (GRPO); none for mining;
- `model`: TRL's `ModelConfig` (checkpoint, load dtype, LoRA fields turned into PEFT's `LoraConfig` by TRL's
  `get_peft_config`);
- `judge`: one dataclass of ours per stage (corpus, audio limit, judge protocol, decision threshold, export).

Every value is typed on the way in, the file's too (`learning_rate: 1e-5`, which PyYAML reads as a string, is the
float 1e-05); a value of the wrong type or a key no config has is a `ConfigError` naming the key.

Defaults, each written once: a dataclass field's own default (TRL's, transformers' or ours), then `STAGE_DEFAULTS`
where this method's training differs from TRL's defaults (the paper's settings), then a preset (`preset: NAME` in
the file or `--preset NAME`), then the file, then the flags. Batch sizes are per device. For GRPO
`per_device_train_batch_size` counts completions: the paper's "batch 8, 8 generations" is one prompt with its 8
rollouts per step on one device.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypeVar, overload

from anyaudio_eval.constants import REWARD_TERMS
from anyaudio_eval.training.rewards import DEFAULT_THRESHOLD, DEFAULT_WEIGHTS

if TYPE_CHECKING:
    from transformers import TrainingArguments
    from trl import GRPOConfig, ModelConfig

Stage = Literal["sft", "mine", "grpo"]
STAGES: tuple[Stage, ...] = ("sft", "mine", "grpo")

# LLM linear layers only; version-agnostic (module paths changed in transformers 5.21). MoE experts (Qwen3-Omni)
# are left out: transformers 5 fuses them into one tensor per layer, which PEFT adapts only without dropout.
# One pattern: TRL's ModelConfig hands a one-element `lora_target_modules` to PEFT as a string, a regex.
LORA_TARGETS = r"^(?!.*(audio_tower|visual|experts)).*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$"


# -- our settings: what TRL's configs lack ------------------------------------------------------------


@dataclass
class CorpusArguments:
    """What every stage reads: the corpus, the audio limit and the judge protocol its prompts follow."""

    train_file: str = field(default="", metadata={"help": "corpus JSONL/parquet (corpus or bench format)"})
    language: Literal["en", "zh"] = field(default="en", metadata={"help": "prompt language of rows without one"})
    limit: int | None = field(default=None, metadata={"help": "use only the first N samples"})
    max_audio_seconds: float = field(default=30.0, metadata={"help": "clips are cut to this length"})
    protocol: Literal["anyaudio", "reference"] = field(
        default="anyaudio", metadata={"help": "prompts the judge is trained on: ours, or the release's (read at run)"}
    )
    reference: str | None = field(
        default=None, metadata={"help": "protocol=reference: a clone of the release or its prompts.py"}
    )
    progress: bool = field(default=True, metadata={"help": "a rich progress bar (false: plain logs)"})


@dataclass
class JudgeTrainArguments(CorpusArguments):
    """What the SFT and GRPO stages add: which weights train and how the final model is written."""

    train_audio_tower: bool = field(
        default=True, metadata={"help": "full fine-tune: false freezes the audio encoder (LoRA leaves it alone)"}
    )
    export_layout: Literal["auto", "full", "thinker"] = field(
        default="auto", metadata={"help": "layout of <output_dir>/final: auto is the full Omni layout for Omni bases"}
    )


@dataclass
class SFTJudgeArguments(JudgeTrainArguments):
    shuffle_items: bool = field(
        default=False, metadata={"help": "shuffle rubric order per sample (targets follow): a guard against position"}
    )


@dataclass
class GRPOJudgeArguments(JudgeTrainArguments):
    decision_threshold: float = field(
        default=DEFAULT_THRESHOLD, metadata={"help": "share of yes items at which the decision reward reads a match"}
    )


@dataclass
class MineArguments(CorpusArguments):
    """Hard-sample mining has no TRL trainer: its few settings are all ours."""

    output_dir: str = field(default="runs/mine", metadata={"help": "where the mined set and its statistics go"})
    output_file: str = field(default="", metadata={"help": "mined corpus path (default <output_dir>/mined.jsonl)"})
    use_cpu: bool = field(default=False, metadata={"help": "sample on the CPU even when a GPU is there"})
    rollouts: int = field(default=4, metadata={"help": "sampled rollouts per sample"})
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 1024
    batch_size: int = field(default=4, metadata={"help": "samples per generate call (each with all its rollouts)"})
    criterion: Literal["decision", "items"] = field(
        default="decision", metadata={"help": "what answered right means: the overall decision, or every item"}
    )
    decision_threshold: float = DEFAULT_THRESHOLD


# -- where this method differs from TRL's defaults, and the presets -------------------------------------

_TRAIN_DEFAULTS: dict[str, Any] = {
    "output_dir": None,  # per stage below
    "num_train_epochs": 1.0,
    "logging_steps": 10,
    "save_total_limit": 2,
    "seed": 0,
    "gradient_checkpointing": False,  # GRPOConfig turns it on; set it for full fine-tunes with long clips
    "remove_unused_columns": False,  # the collator and the reward read the corpus columns
    "disable_tqdm": True,  # the rich progress callback (or plain logs) instead
    "bf16": None,  # auto: bf16 mixed precision on GPUs that have it with a bf16 or auto load dtype; never on CPU
    "resume_from_checkpoint": "auto",  # auto (newest complete checkpoint in output_dir) | never | <checkpoint dir>
    "model_name_or_path": "tiny:omni",  # a checkpoint directory, or tiny:omni / tiny:omni3 / tiny:qwen2_audio
    "dtype": "auto",  # load dtype: auto keeps fp32 master weights (training.modeling.weights_dtype)
    "lora_target_modules": [LORA_TARGETS],
}
STAGE_DEFAULTS: dict[Stage, dict[str, Any]] = {
    # The paper's settings: SFT full fine-tune, 1 epoch, lr 1e-5, batch 4;
    "sft": {**_TRAIN_DEFAULTS, "output_dir": "runs/sft", "learning_rate": 1e-5, "per_device_train_batch_size": 4},
    "mine": {"model_name_or_path": "tiny:omni", "dtype": "auto"},
    # GRPO LoRA r16/alpha32 (ModelConfig's defaults), 8 generations, batch 8, lr 5e-6, 1 epoch.
    "grpo": {
        **_TRAIN_DEFAULTS,
        "output_dir": "runs/grpo",
        "learning_rate": 5e-6,
        "per_device_train_batch_size": 8,
        "max_completion_length": 1024,
        "use_peft": True,
        "reward_weights": [DEFAULT_WEIGHTS[term] for term in REWARD_TERMS],
    },
}
# The defaults are the paper's settings; `cpu`: minutes on 2 CPU cores with a tiny random model (smoke runs, CI).
PRESETS: dict[Stage, dict[str, dict[str, Any]]] = {
    "sft": {
        "paper": {},
        "cpu": {
            "max_steps": 8,
            "learning_rate": 1e-3,
            "per_device_train_batch_size": 2,
            "logging_steps": 1,
            "save_steps": 4,
        },
    },
    "mine": {"paper": {}, "cpu": {"rollouts": 2, "max_new_tokens": 24, "batch_size": 2}},
    "grpo": {
        "paper": {},
        "cpu": {
            "max_steps": 2,
            "learning_rate": 1e-4,
            "per_device_train_batch_size": 2,
            "num_generations": 2,
            "max_completion_length": 24,
            "logging_steps": 1,
            "save_steps": 1,
            "use_peft": False,
        },
    },
}
# ModelConfig fields the judge's loader does not read: setting one is an error, not a silent no-op.
UNREAD_MODEL_FIELDS = (
    "model_revision",
    "attn_implementation",
    "load_in_8bit",
    "load_in_4bit",
    "bnb_4bit_quant_type",
    "use_bnb_nested_quant",
    "bnb_4bit_quant_storage",
)


_NOT_SETTINGS = ("help", "config", "preset")  # the parser's own flags, not keys of a config


class ConfigError(ValueError):
    """A config file, flag or value that does not fit the stage's configs; the message names the key."""


# -- the parsed settings -------------------------------------------------------------------------------

JudgeT = TypeVar("JudgeT", bound=CorpusArguments, covariant=True)
TrainingT = TypeVar("TrainingT", covariant=True)


@dataclass(frozen=True)
class StageConfig(Generic[JudgeT, TrainingT]):
    """One stage's settings: ours (`judge`), TRL's `ModelConfig` (`model`) and the trainer's args (`training`)."""

    stage: Stage
    judge: JudgeT
    model: ModelConfig
    training: TrainingT

    @property
    def model_path(self) -> str:
        if not self.model.model_name_or_path:
            raise ConfigError("model_name_or_path is not set (a checkpoint directory, or tiny:omni)")
        return self.model.model_name_or_path

    @property
    def dtype(self) -> str:
        """The load dtype (`ModelConfig.dtype`): auto keeps fp32 master weights, bf16 is mixed precision."""
        return self.model.dtype or "auto"

    @property
    def output_dir(self) -> str:
        out = getattr(self.training, "output_dir", None) or getattr(self.judge, "output_dir", None)
        if not out:
            raise ConfigError("output_dir is not set")
        return str(out)

    @property
    def device(self) -> str:
        """What the policy loader takes: cpu when the trainer (or the miner) runs on the CPU, else auto."""
        use_cpu = getattr(self.training, "use_cpu", None)
        return "cpu" if (use_cpu if use_cpu is not None else getattr(self.judge, "use_cpu", False)) else "auto"

    @property
    def reward_weights(self) -> dict[str, float]:
        """GRPO: the weight of each reward term, by name (TRL keeps them as a list in `REWARD_TERMS` order)."""
        weights = getattr(self.training, "reward_weights", None) or []
        return dict(zip(REWARD_TERMS, (float(w) for w in weights), strict=True))

    def to_dict(self) -> dict[str, Any]:
        training = self.training.to_dict() if hasattr(self.training, "to_dict") else None
        return {"judge": dataclasses.asdict(self.judge), "model": dataclasses.asdict(self.model), "training": training}


SFTStageConfig: TypeAlias = "StageConfig[SFTJudgeArguments, TrainingArguments]"
GRPOStageConfig: TypeAlias = "StageConfig[GRPOJudgeArguments, GRPOConfig]"
MineStageConfig: TypeAlias = "StageConfig[MineArguments, None]"


# -- the parser --------------------------------------------------------------------------------------


def _admits(hint: Any, kind: type) -> bool:
    """Whether a field's annotation takes values of `kind` (list or dict) as they are."""
    origin = typing.get_origin(hint)
    if hint is kind or origin is kind:
        return True
    return any(_admits(arg, kind) for arg in typing.get_args(hint)) if origin is not None else False


def _stage_dataclasses(stage: Stage) -> tuple[Any, ...]:
    from trl import GRPOConfig, ModelConfig

    if stage == "sft":
        from transformers import TrainingArguments

        return (SFTJudgeArguments, ModelConfig, TrainingArguments)
    if stage == "grpo":
        return (GRPOJudgeArguments, ModelConfig, GRPOConfig)
    return (MineArguments, ModelConfig)


def _judge_parser_class() -> type:
    """`JudgeArgumentParser`, defined on first use so that `trl` is imported only when a stage runs."""
    from trl import TrlParser

    class JudgeArgumentParser(TrlParser):
        """TRL's parser, strict: every value from a file or a layer of defaults is typed like a flag of its key,
        an unknown key or flag is a `ConfigError`, and the stage's presets sit between its defaults and the file."""

        def __init__(self, stage: Stage, **kwargs: Any) -> None:
            super().__init__(_stage_dataclasses(stage), prog=f"anyaudio train {stage}", allow_abbrev=False, **kwargs)
            self.stage = stage
            self.preset: str | None = None
            self.hints = {f.name: f.type for d in self.dataclass_types for f in dataclasses.fields(d) if f.init}
            self.add_argument("--config", help="YAML or JSON settings file (keys of the configs below; preset: NAME)")
            self.add_argument(
                "--preset",
                choices=sorted(PRESETS[stage]),
                help="start from a preset (file and flags override it); the defaults are the paper's settings",
            )
            self.apply(STAGE_DEFAULTS[stage], "stage defaults")

        def error(self, message: str) -> typing.NoReturn:
            raise ConfigError(message)

        def _action(self, key: str, where: str) -> argparse.Action:
            known = [a for a in self._actions if a.option_strings and a.dest not in _NOT_SETTINGS]
            for action in known:
                if action.dest == key:
                    return action
            close = difflib.get_close_matches(key, [a.dest for a in known], n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")

        def typed(self, key: str, value: Any, where: str) -> Any:
            """`value` as the flag `--key` would give it; ConfigError if it is not one."""
            action = self._action(key, where)
            if key == "reward_weights" and isinstance(value, Mapping):
                unknown = sorted(set(value) - set(REWARD_TERMS))
                if unknown:
                    raise ConfigError(
                        f"{where}: reward_weights: unknown reward term(s) {unknown}; the terms are "
                        f"{', '.join(REWARD_TERMS)}"
                    )
                value = [value.get(term, 0.0) for term in REWARD_TERMS]  # a term left out weighs 0
            hint = self.hints.get(key)
            many = action.nargs in ("+", "*")
            if value is None or (isinstance(value, Mapping) and _admits(hint, dict)):
                return value
            if isinstance(value, list | tuple) and not many:
                if _admits(hint, list):
                    return list(value)
                raise ConfigError(f"{where}: {key} takes one value, not a list ({value!r})")
            if isinstance(value, Mapping):
                raise ConfigError(f"{where}: {key} takes a value, not a mapping ({value!r})")
            if many:
                return [
                    self._convert(action, key, v, where)
                    for v in (value if isinstance(value, list | tuple) else [value])
                ]
            return self._convert(action, key, value, where)

        def _convert(self, action: argparse.Action, key: str, value: Any, where: str) -> Any:
            convert = action.type if callable(action.type) else str
            try:
                out = convert(value if isinstance(value, str) else str(value))
            except (TypeError, ValueError, argparse.ArgumentTypeError):
                name = getattr(convert, "__name__", "value")
                raise ConfigError(f"{where}: {key}: {value!r} is not a valid {name}") from None
            if action.choices is not None and out not in action.choices:
                choices = ", ".join(map(str, action.choices))
                raise ConfigError(f"{where}: {key}: {value!r} is not one of {choices}")
            return out

        def apply(self, values: Mapping[str, Any], where: str) -> None:
            """Make `values` (typed) the defaults: a layer between the fields' defaults and the flags."""
            typed = {key: self.typed(key, value, where) for key, value in values.items()}
            for action in self._actions:
                if action.dest in typed:
                    action.default = typed[action.dest]
                    action.required = False

        def apply_preset(self, name: str | None) -> None:
            if name is None:
                return
            if name not in PRESETS[self.stage]:
                raise ConfigError(f"unknown {self.stage} preset {name!r}; use one of {', '.join(PRESETS[self.stage])}")
            self.apply(PRESETS[self.stage][name], f"preset {name}")

        def set_defaults_with_config(self, **kwargs: Any) -> list[str]:
            """TrlParser hands the config file's mapping here: its preset first, then its values."""
            preset = kwargs.pop("preset", None)
            self.apply_preset(self.preset or preset)
            self.apply(kwargs, "config file")
            return []

        def parse_args_into_dataclasses(
            self,
            args: Any = None,
            return_remaining_strings: Any = False,
            look_for_args_file: Any = False,
            args_filename: Any = None,
            args_file_flag: Any = None,
        ) -> tuple[Any, ...]:
            """The parsed flags (the file's values are their defaults) as the stage's configs; no `.args` files."""
            namespace, unknown = self.parse_known_args(args=list(args or []))
            if unknown:
                raise ConfigError(f"unknown argument(s): {' '.join(unknown)}")
            _resolve_auto(vars(namespace))
            outputs = []
            for dtype in self.dataclass_types:
                keys = [f.name for f in dataclasses.fields(dtype) if f.init]
                try:
                    outputs.append(dtype(**{k: getattr(namespace, k) for k in keys}))
                except (TypeError, ValueError) as ex:
                    raise ConfigError(f"{dtype.__name__}: {ex}") from None
            return (*outputs, []) if return_remaining_strings else tuple(outputs)

    return JudgeArgumentParser


def _resolve_auto(values: dict[str, Any]) -> None:
    """Device and precision `auto`, before the configs validate them: on a machine without a GPU the trainer runs on
    the CPU (`use_cpu`) in fp32; on a GPU, bf16 mixed precision when the GPU has it and the load dtype is bf16/auto."""
    import torch

    if "use_cpu" not in values:
        return
    on_gpu = not values["use_cpu"] and torch.cuda.is_available()
    values["use_cpu"] = not on_gpu
    if values.get("bf16") is None and "bf16" in values:
        values["bf16"] = on_gpu and torch.cuda.is_bf16_supported() and values.get("dtype") in ("auto", "bfloat16")


def stage_parser(stage: Stage) -> Any:
    """The stage's `TrlParser` (for `--help` and for callers that parse flags themselves)."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; use sft, mine or grpo")
    return _judge_parser_class()(stage)


def _check(config: StageConfig[Any, Any]) -> None:
    from trl import ModelConfig

    _ = config.model_path  # raises if unset
    defaults = ModelConfig()
    for name in UNREAD_MODEL_FIELDS:
        if getattr(config.model, name) != getattr(defaults, name):
            raise ConfigError(f"{name}: not supported by the judge's model loader; leave it unset")
    if config.stage == "mine" and config.model.use_peft:
        raise ConfigError("use_peft: mining samples from a checkpoint; LoRA settings belong to sft and grpo")
    if config.stage == "grpo":
        weights = config.training.reward_weights or []
        if len(weights) != len(REWARD_TERMS):
            raise ConfigError(
                f"reward_weights: {len(weights)} weight(s) for the {len(REWARD_TERMS)} reward terms "
                f"({', '.join(REWARD_TERMS)}), in that order"
            )


@overload
def load_config(stage: Literal["sft"], argv: Iterable[str] = ()) -> SFTStageConfig: ...
@overload
def load_config(stage: Literal["grpo"], argv: Iterable[str] = ()) -> GRPOStageConfig: ...
@overload
def load_config(stage: Literal["mine"], argv: Iterable[str] = ()) -> MineStageConfig: ...
@overload
def load_config(stage: Stage, argv: Iterable[str] = ()) -> StageConfig[Any, Any]: ...
def load_config(stage: Stage, argv: Iterable[str] = ()) -> StageConfig[Any, Any]:
    """The settings of `stage` from `argv` (`--config FILE`, `--preset NAME` and flags, as on the command line).

    `--help` prints every setting with its default and exits (SystemExit), as argparse does."""
    import yaml

    parser = stage_parser(stage)
    args = list(argv)
    parser.preset = _pop_flag(args, "--preset")  # applied before the file's values, which override it
    if "--config" not in args:
        parser.apply_preset(parser.preset)
    try:
        parsed = parser.parse_args_and_config(args)
    except FileNotFoundError as ex:
        raise ConfigError(f"config file {ex.filename} not found") from None
    except yaml.YAMLError as ex:
        raise ConfigError(f"config file: {ex}") from None
    except ValueError as ex:  # TrlParser: a file that is not a mapping, an `env` that is not one
        raise ConfigError(str(ex)) from None
    judge, model, *rest = parsed
    config: StageConfig[Any, Any] = StageConfig(stage, judge, model, rest[0] if rest else None)
    _check(config)
    return config


def _pop_flag(args: list[str], flag: str) -> str | None:
    """Remove `flag VALUE` (or `flag=VALUE`) from `args`; the last one's value."""
    value = None
    for i in reversed(range(len(args))):
        if args[i] == flag:
            if i + 1 >= len(args):
                raise ConfigError(f"{flag} needs a value")
            value = value if value is not None else args[i + 1]
            del args[i : i + 2]
        elif args[i].startswith(flag + "="):
            value = value if value is not None else args[i].split("=", 1)[1]
            del args[i]
    return value


def peft_config(config: StageConfig[Any, Any]) -> Any:
    """PEFT's `LoraConfig` from the stage's `ModelConfig` (TRL's `get_peft_config`); None without `use_peft`."""
    from trl import get_peft_config

    return get_peft_config(config.model)
