"""Tiny random audio-language models for tests, benchmarks and smoke training (no downloads).

Three families, built from hand-made small configs, seeded and deterministic:

- Qwen2.5-Omni thinker (`Qwen2_5OmniThinkerForConditionalGeneration`), saved either thinker-only
  (`model_type=qwen2_5_omni_thinker`) or in the full-Omni layout (`model_type=qwen2_5_omni`, weights under
  `thinker.*`, no talker: what vLLM and the released checkpoints use);
- Qwen3-Omni MoE thinker (`Qwen3OmniMoeThinkerForConditionalGeneration`, 4 experts, 2 per token), the
  paper's 30B base, in the same two layouts (`qwen3_omni_moe_thinker`, `qwen3_omni_moe`);
- Qwen2-Audio (`Qwen2AudioForConditionalGeneration`).

Each comes with a byte-level BPE tokenizer made in memory (``yes``/``no``/``Yes``/``No`` and their
leading-space forms are single tokens; the Qwen special tokens; a chat template that renders audio parts as
``<|audio_bos|><|AUDIO|><|audio_eos|>``) and a ``WhisperFeatureExtractor(feature_size=128)``.
``save_*`` writes a directory with ``save_pretrained`` that loads back like a downloaded checkpoint.

    from anyaudio_eval.models.tiny import save_tiny
    path = save_tiny(tmp_path / "omni", family="omni")          # or family="qwen2_audio", layout="full"
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from transformers import (
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Qwen2AudioConfig,
    Qwen2AudioForConditionalGeneration,
    Qwen2Tokenizer,
    WhisperFeatureExtractor,
)

from anyaudio_eval.constants import SAMPLE_RATE

Family = Literal["omni", "omni3", "qwen2_audio"]
Layout = Literal["thinker", "full"]

# Qwen's special tokens, appended to the byte alphabet in this order.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|AUDIO|>",
    "<|audio_bos|>",
    "<|audio_eos|>",
    "<|IMAGE|>",
    "<|VIDEO|>",
    "<|vision_bos|>",
    "<|vision_eos|>",
]
# Merges in byte-level symbols (Ġ is the space): each answer word becomes one token.
_MERGES = [
    ("y", "e"), ("ye", "s"), ("Y", "e"), ("Ye", "s"), ("n", "o"), ("N", "o"),
    ("Ġ", "yes"), ("Ġ", "Yes"), ("Ġ", "no"), ("Ġ", "No"),
]  # fmt: skip
ANSWER_TOKENS = ["yes", "Yes", "no", "No", "Ġyes", "ĠYes", "Ġno", "ĠNo"]

# A Qwen-style template; audio parts in any of the forms HF, vLLM and OpenAI clients use.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] in ('audio', 'audio_url', 'input_audio') or 'audio' in part -%}"
    "{{- '<|audio_bos|><|AUDIO|><|audio_eos|>' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

# Sizes: "tiny" is for CPU tests (head_dim 16); "small" has head_dim 64 everywhere (GPU kernels want it).
SIZES: dict[str, dict[str, int]] = {
    "tiny": {
        "hidden": 64,
        "inter": 128,
        "layers": 2,
        "heads": 4,
        "kv_heads": 2,
        "audio_d": 32,
        "audio_heads": 2,
    },
    "small": {
        "hidden": 128,
        "inter": 256,
        "layers": 2,
        "heads": 2,
        "kv_heads": 1,
        "audio_d": 128,
        "audio_heads": 2,
    },
}
# Larger than the usual 0.02 so a random model's answer visibly depends on the audio and the text.
INIT_RANGE = 0.2


@dataclass
class TinyModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    feature_extractor: WhisperFeatureExtractor
    family: Family


def _byte_alphabet() -> list[str]:
    # GPT-2 bytes_to_unicode order, so ids 0..255 are the byte symbols.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def build_tokenizer() -> Qwen2Tokenizer:
    """Byte-level BPE tokenizer made in memory: 256 bytes + answer words + Qwen special tokens."""
    vocab: dict[str, int] = {}
    for symbol in _byte_alphabet():
        vocab[symbol] = len(vocab)
    for a, b in _MERGES:
        vocab.setdefault(a + b, len(vocab))
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    tok = Qwen2Tokenizer(
        vocab=vocab,
        merges=list(_MERGES),  # type: ignore[arg-type]  # tokenizers' BPE takes pairs; transformers annotates strings
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,  # type: ignore[arg-type]  # no unknown token: byte-level BPE covers every input
        bos_token=None,
        extra_special_tokens={
            "audio_token": "<|AUDIO|>",
            "audio_bos_token": "<|audio_bos|>",
            "audio_eos_token": "<|audio_eos|>",
            "image_token": "<|IMAGE|>",
            "video_token": "<|VIDEO|>",
            "vision_bos_token": "<|vision_bos|>",
            "vision_eos_token": "<|vision_eos|>",
        },
    )
    tok.add_tokens(SPECIAL_TOKENS, special_tokens=True)
    tok.chat_template = CHAT_TEMPLATE
    for word in ("yes", "no", "Yes", "No", " yes", " no"):
        ids = tok(word, add_special_tokens=False).input_ids
        if len(ids) != 1:  # a tokenizers upgrade changed BPE behaviour: fail here, not in a test far away
            raise RuntimeError(f"tiny tokenizer splits {word!r} into {ids}")
    return tok


def build_feature_extractor() -> WhisperFeatureExtractor:
    return WhisperFeatureExtractor(feature_size=128, sampling_rate=SAMPLE_RATE, return_attention_mask=True)


def _ids(tok: PreTrainedTokenizerBase) -> dict[str, int]:
    # one token in, one id out: transformers annotates the return without the overload that says so
    return {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}  # type: ignore[misc]


def _text_config(tok: PreTrainedTokenizerBase, size: dict[str, int], mrope: bool) -> dict[str, Any]:
    ids = _ids(tok)
    head_dim = size["hidden"] // size["heads"]
    rope: dict[str, Any] = {"rope_type": "default", "rope_theta": 1_000_000.0}
    if mrope:
        half = head_dim // 2
        t = half // 4
        rope["mrope_section"] = [t, (half - t) // 2, half - t - (half - t) // 2]
    return {
        "vocab_size": len(tok),
        "hidden_size": size["hidden"],
        "intermediate_size": size["inter"],
        "num_hidden_layers": size["layers"],
        "num_attention_heads": size["heads"],
        "num_key_value_heads": size["kv_heads"],
        "max_position_embeddings": 32768,
        "rope_parameters": rope,
        "initializer_range": INIT_RANGE,
        "pad_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "tie_word_embeddings": False,
    }


def _audio_config(size: dict[str, int], output_dim: int | None) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "num_mel_bins": 128,
        "encoder_layers": 1,
        "encoder_attention_heads": size["audio_heads"],
        "encoder_ffn_dim": 2 * size["audio_d"],
        "d_model": size["audio_d"],
        "max_source_positions": 1500,
        "initializer_range": INIT_RANGE,
    }
    if output_dim is not None:  # Omni: the encoder projects to the LLM width itself
        cfg.update({"output_dim": output_dim, "n_window": 100})
    return cfg


def _omni_parts(tok: PreTrainedTokenizerBase, size: dict[str, int], **vision: Any) -> dict[str, Any]:
    """What both Omni thinker configs share: a one-block vision tower and the token ids of the markers."""
    ids = _ids(tok)
    return {
        "vision_config": {
            "depth": 1,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": size["hidden"],
            **vision,
        },
        "audio_start_token_id": ids["<|audio_bos|>"],
        # Qwen3-Omni's signature omits the next three, but its rope index reads them (as in the released config).
        "audio_end_token_id": ids["<|audio_eos|>"],
        "vision_start_token_id": ids["<|vision_bos|>"],
        "vision_end_token_id": ids["<|vision_eos|>"],
        "user_token_id": tok("user", add_special_tokens=False).input_ids[0],
        "initializer_range": INIT_RANGE,
    }


def omni_thinker_config(tok: PreTrainedTokenizerBase, size: str = "tiny") -> Any:
    from transformers import Qwen2_5OmniThinkerConfig

    s = SIZES[size]
    ids = _ids(tok)
    return Qwen2_5OmniThinkerConfig(
        audio_config=_audio_config(s, output_dim=s["hidden"]),
        text_config=_text_config(tok, s, mrope=True),
        audio_token_index=ids["<|AUDIO|>"],
        image_token_index=ids["<|IMAGE|>"],
        video_token_index=ids["<|VIDEO|>"],
        position_id_per_seconds=25,
        seconds_per_chunk=2,
        **_omni_parts(tok, s, fullatt_block_indexes=[0]),
    )


def omni3_thinker_config(tok: PreTrainedTokenizerBase, size: str = "tiny") -> Any:
    from transformers import Qwen3OmniMoeThinkerConfig

    s = SIZES[size]
    ids = _ids(tok)
    text = _text_config(tok, s, mrope=True)
    text.update({"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": s["inter"] // 4})
    text["rope_parameters"]["mrope_interleaved"] = True
    audio = _audio_config(s, output_dim=s["hidden"])
    audio.update({"n_window": 50, "n_window_infer": 800, "downsample_hidden_size": 16})
    return Qwen3OmniMoeThinkerConfig(
        audio_config=audio,
        text_config=text,
        audio_token_id=ids["<|AUDIO|>"],
        image_token_id=ids["<|IMAGE|>"],
        video_token_id=ids["<|VIDEO|>"],
        position_id_per_seconds=13,
        **_omni_parts(tok, s, deepstack_visual_indexes=[0], num_position_embeddings=64),
    )


def qwen2_audio_config(tok: PreTrainedTokenizerBase, size: str = "tiny") -> Qwen2AudioConfig:
    s = SIZES[size]
    return Qwen2AudioConfig(
        audio_config=_audio_config(s, output_dim=None),
        text_config={"model_type": "qwen2", **_text_config(tok, s, mrope=False)},
        audio_token_index=_ids(tok)["<|AUDIO|>"],
    )


def _generation_config(tok: PreTrainedTokenizerBase) -> GenerationConfig:
    ids = _ids(tok)
    return GenerationConfig(
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )


def build_tiny(family: Family = "omni", seed: int = 0, size: str = "tiny") -> TinyModel:
    """A random model of `family` with its tokenizer and feature extractor; same seed, same weights."""
    tok = build_tokenizer()
    fe = build_feature_extractor()
    torch.manual_seed(seed)
    if family == "omni":
        from transformers import Qwen2_5OmniThinkerForConditionalGeneration

        model: PreTrainedModel = Qwen2_5OmniThinkerForConditionalGeneration(omni_thinker_config(tok, size))
    elif family == "omni3":
        from transformers import Qwen3OmniMoeThinkerForConditionalGeneration

        model = Qwen3OmniMoeThinkerForConditionalGeneration(omni3_thinker_config(tok, size))
    elif family == "qwen2_audio":
        model = Qwen2AudioForConditionalGeneration(qwen2_audio_config(tok, size))
    else:
        raise ValueError(f"unknown tiny family {family!r}; use omni, omni3 or qwen2_audio")
    model.generation_config = _generation_config(tok)
    model.eval()
    return TinyModel(model=model, tokenizer=tok, feature_extractor=fe, family=family)


def _save_processor(tiny: TinyModel, path: Path, vision_processors: bool | None) -> None:
    tok, fe = tiny.tokenizer, tiny.feature_extractor
    if tiny.family == "qwen2_audio":
        from transformers import Qwen2AudioProcessor

        Qwen2AudioProcessor(feature_extractor=fe, tokenizer=tok, chat_template=CHAT_TEMPLATE).save_pretrained(path)
        return
    # The Omni processor needs image and video processors (pillow, torchvision). A GPU machine has them and
    # vLLM needs the full processor; a CPU test box may not, and our provider needs only these two parts.
    if vision_processors is not False and tiny.family == "omni":
        try:
            from transformers import Qwen2_5OmniProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

            processor = Qwen2_5OmniProcessor(
                image_processor=Qwen2VLImageProcessor(),
                video_processor=Qwen2VLVideoProcessor(),
                feature_extractor=fe,
                tokenizer=tok,
                chat_template=CHAT_TEMPLATE,
            )
            processor.save_pretrained(path)
            return
        except Exception:
            if vision_processors:
                raise
    tok.save_pretrained(path)
    fe.save_pretrained(path)


def save_tiny(
    path: str | Path,
    family: Family = "omni",
    layout: Layout = "thinker",
    seed: int = 0,
    size: str = "tiny",
    vision_processors: bool | None = None,
) -> Path:
    """Build a tiny model and write it as a checkpoint directory; returns the directory.

    layout="full" (Omni families only) writes the released layout: the full Omni config with the thinker under
    `thinker_config`, `enable_audio_output=False` and weights named `thinker.*` (no talker).
    vision_processors: None = save the full Omni processor when pillow/torchvision allow it.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tiny = build_tiny(family, seed=seed, size=size)
    if layout == "full":
        if family == "qwen2_audio":
            raise ValueError("layout='full' exists only for the Omni families")
        from anyaudio_eval.models.layout import save_full_omni

        save_full_omni(tiny.model, path)
    elif layout == "thinker":
        tiny.model.save_pretrained(path)
    else:
        raise ValueError(f"unknown layout {layout!r}; use thinker or full")
    _save_processor(tiny, path, vision_processors)
    (path / "tiny_model.json").write_text(json.dumps({"family": family, "layout": layout, "seed": seed, "size": size}))
    return path


def test_clip(seconds: float = 2.0, kind: str = "tone", freq: float = 440.0, seed: int = 0) -> np.ndarray:
    """16 kHz mono float32 audio: a tone, white noise or silence (for tests and benchmarks)."""
    n = int(seconds * SAMPLE_RATE)
    if kind == "tone":
        t = np.arange(n) / SAMPLE_RATE
        return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    if kind == "noise":
        return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)
    if kind == "silence":
        return np.zeros(n, dtype=np.float32)
    raise ValueError(f"unknown clip kind {kind!r}")


test_clip.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
