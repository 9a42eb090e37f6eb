"""Checkpoints: which family a directory holds, where it runs (device, dtype), and loading its parts.

Families (chosen from the checkpoint's config.json, `model_type`):

- Qwen2.5-Omni, full layout (`qwen2_5_omni`, e.g. `cucl2/AnyAudio-Judge-7B`) or thinker-only
  (`qwen2_5_omni_thinker`): only the thinker is loaded; the talker is never built or run;
- Qwen3-Omni MoE (`qwen3_omni_moe` / `qwen3_omni_moe_thinker`): the thinker;
- Qwen2-Audio (`qwen2_audio`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from anyaudio_eval.rubric.parsing import token_answer


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, corrupt or of an unsupported architecture."""


@dataclass(frozen=True)
class Family:
    name: str
    model_class: str  # transformers class loaded (always the thinker for Omni models)
    sub_config: str | None  # config attribute holding the thinker's config in the full layout
    mrope: bool  # 3-D rotary positions (Omni) or plain 1-D (Qwen2-Audio)
    max_seconds: float  # what the family's processor keeps by default


_OMNI25 = Family("Qwen2.5-Omni", "Qwen2_5OmniThinkerForConditionalGeneration", None, True, 30.0)
_OMNI3 = Family("Qwen3-Omni MoE", "Qwen3OmniMoeThinkerForConditionalGeneration", None, True, 600.0)
FAMILIES: dict[str, Family] = {
    "qwen2_5_omni": Family(_OMNI25.name, _OMNI25.model_class, "thinker_config", True, 30.0),
    "qwen2_5_omni_thinker": _OMNI25,
    "qwen3_omni_moe": Family(_OMNI3.name, _OMNI3.model_class, "thinker_config", True, 600.0),
    "qwen3_omni_moe_thinker": _OMNI3,
    "qwen2_audio": Family("Qwen2-Audio", "Qwen2AudioForConditionalGeneration", None, False, 30.0),
}
SUPPORTED = (
    "Qwen2.5-Omni (model_type qwen2_5_omni or qwen2_5_omni_thinker; thinker only), "
    "Qwen3-Omni MoE (qwen3_omni_moe or qwen3_omni_moe_thinker; thinker only), "
    "Qwen2-Audio (qwen2_audio)"
)


def resolve_checkpoint(name: str) -> Path:
    """A local directory, or a hub id already in the local Hugging Face cache (never downloads)."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path.resolve()
    if path.exists():
        raise CheckpointError(f"audiollm checkpoint {name!r} is a file; pass the checkpoint directory")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:
        pass
    raise CheckpointError(
        f"audiollm checkpoint {name!r} is not a directory (and not a hub id in the local cache). Download it "
        f"first, e.g. `hf download {name} --local-dir ./{Path(name).name}`, "
        f"then use --model audiollm/./{Path(name).name}"
    )


def read_family(path: Path) -> tuple[dict[str, Any], Family]:
    """The raw config.json of a checkpoint directory and the family it belongs to."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"corrupt or incomplete checkpoint {path}: no config.json")
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as ex:
        raise CheckpointError(f"corrupt checkpoint {path}: config.json is not valid JSON ({ex})") from ex
    if not isinstance(raw, dict):
        raise CheckpointError(f"corrupt checkpoint {path}: config.json is not a JSON object")
    model_type = raw.get("model_type")
    family = FAMILIES.get(str(model_type))
    if family is None:
        arch = ", ".join(raw.get("architectures") or []) or "none listed"
        raise CheckpointError(
            f"unsupported architecture in {path}: model_type={model_type!r} (architectures: {arch}). "
            f"The audiollm provider supports {SUPPORTED}. For other models use an OpenAI-compatible server "
            f"(vllm/, openai-api/)."
        )
    return raw, family


# -- where a model runs -------------------------------------------------------------------------------


def resolve_device(name: str = "auto") -> str:
    """The torch device a model runs on.

    "auto" is "cuda" when a CUDA device is visible, else "cpu". A bare "cuda" under a distributed launch
    (`LOCAL_RANK` set, as torchrun and accelerate set it) is that process's own GPU, "cuda:LOCAL_RANK".
    Anything else ("cpu", "cuda:1", "mps") is used as given.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return name


_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}  # fmt: skip


def resolve_dtype(name: str, device: str) -> torch.dtype:
    """The dtype a model computes in on `device` (a resolved device, see `resolve_device`).

    "auto" is bfloat16 on a CUDA device that supports it, float32 everywhere else (CPU, older GPUs, MPS):
    bf16 halves the memory of a judge at no cost to its answers where the hardware has it, and float32 is the
    only dtype every CPU kernel has. Training keeps float32 master weights under "auto" and computes in this
    dtype through the trainer's mixed precision (`training.modeling.weights_dtype`).
    """
    if name == "auto":
        if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if name not in _DTYPES:
        raise ValueError(f"unknown dtype {name!r}; use auto, float32, bfloat16 or float16")
    return _DTYPES[name]


# -- loading --------------------------------------------------------------------------------------------


def load_checkpoint(
    path: Path, torch_dtype: torch.dtype, attn_implementation: str | None = None
) -> tuple[Family, Any, Any, Any]:
    """(family, model, tokenizer, feature extractor) of a checkpoint directory, on the CPU.

    The thinker alone for Omni checkpoints. Missing weights are an error: from_pretrained would fill them
    with random values. Shared by the judge engine and training.
    """
    import transformers

    _, family = read_family(path)
    cls = getattr(transformers, family.model_class, None)
    if cls is None:
        raise CheckpointError(
            f"{family.name} needs transformers with {family.model_class}; installed transformers "
            f"{transformers.__version__} lacks it"
        )
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    try:
        config = transformers.AutoConfig.from_pretrained(path)
        if family.sub_config:
            config = getattr(config, family.sub_config)
        model, info = cls.from_pretrained(path, config=config, dtype=torch_dtype, output_loading_info=True, **extra)
        tokenizer = transformers.AutoTokenizer.from_pretrained(path)
        feature_extractor = transformers.WhisperFeatureExtractor.from_pretrained(path)
    except Exception as ex:
        raise CheckpointError(f"cannot load checkpoint {path} ({family.name}): {type(ex).__name__}: {ex}") from ex
    missing = [k for k in info.get("missing_keys", []) if "talker" not in k and "token2wav" not in k]
    if missing:
        shown = ", ".join(sorted(missing)[:5])
        raise CheckpointError(
            f"corrupt or incomplete checkpoint {path}: {len(missing)} weight(s) missing ({shown}"
            f"{', ...' if len(missing) > 5 else ''})"
        )
    return family, model, tokenizer, feature_extractor


def read_chat_template(path: Path, tokenizer: Any) -> str:
    """The checkpoint's chat template: the processor's (it renders audio parts) before the tokenizer's."""
    json_file = path / "chat_template.json"
    if json_file.is_file():
        try:
            template = json.loads(json_file.read_text(encoding="utf-8")).get("chat_template")
            if template:
                return str(template)
        except json.JSONDecodeError as ex:
            raise CheckpointError(f"corrupt checkpoint {path}: chat_template.json is not valid JSON") from ex
    jinja = path / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.chat_template)
    raise CheckpointError(f"checkpoint {path} has no chat template (chat_template.json/.jinja or in the tokenizer)")


def answer_token_ids(tokenizer: Any) -> list[int]:
    """Every token id whose string reads as yes or no (`rubric.parsing.token_answer`)."""
    strings = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    ids = [i for i, s in enumerate(strings) if token_answer(s) is not None]
    if {token_answer(strings[i]) for i in ids} != {"yes", "no"}:
        raise CheckpointError("the tokenizer has no single token for 'yes' and 'no'; logprobs mode cannot work")
    return ids
