"""`audiollm/<checkpoint dir>`: a local transformers audio-language model as an Inspect model.

Families (chosen from the checkpoint's config.json, `model_type`):

- Qwen2.5-Omni, full layout (`qwen2_5_omni`, e.g. `cucl2/AnyAudio-Judge-7B`) or thinker-only
  (`qwen2_5_omni_thinker`): only the thinker is loaded; the talker is never built or run;
- Qwen3-Omni MoE (`qwen3_omni_moe` / `qwen3_omni_moe_thinker`): the thinker;
- Qwen2-Audio (`qwen2_audio`).

With `logprobs=True` the provider answers one token: one forward pass, the last position's logits (what greedy
`generate(max_new_tokens=1)` scores), and the top logprobs always include every yes/no token variant of the
vocabulary (the tokens `rubric.parsing.token_answer` reads as yes or no), so p_yes is exact. The system+audio
prefix of a request is run once and its key/values are kept in an LRU cache keyed by the exact prefix token ids
and the audio's hash; the item text after it is scored against the cached key/values, several pending items
of one prefix in one batch. Without logprobs: greedy generation on the thinker (sampling only when a
temperature > 0 is asked for), honouring `max_tokens` (default 1024). Logprobs are the raw distribution
(no temperature), as vLLM's default `raw_logprobs`.

Under the reference protocol (a hint in `GenerateConfig.extra_body`) the logits first pass through the processors
the checkpoint's generation_config sets (`providers.generation_config`), as in the release's greedy
`generate()`, and tokens that print the same keep the larger logprob (the release's max rule reads strings).

Model args (`-M name=value`): device (auto|cpu|cuda|cuda:N), dtype (auto|float32|bfloat16|float16),
attn_implementation (sdpa|eager|flash_attention_2), max_audio_seconds, batch_size (items per forward),
prefix_cache (true|false; false = the reference path: features and the whole prompt per request),
prefix_cache_size (prefixes kept).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import torch
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    ContentAudio,
    ContentText,
    GenerateConfig,
    Logprob,
    Logprobs,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    TopLogprob,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from anyaudio_eval.audio import TARGET_SR, data_uri_bytes, decode_audio, to_mono_16k
from anyaudio_eval.providers.common import text_output
from anyaudio_eval.providers.generation_config import GenerationConfigError, first_step_processors
from anyaudio_eval.rubric.parsing import token_answer
from anyaudio_eval.rubric.protocol import GENERATION_CONFIG_HINT

logger = logging.getLogger(__name__)


# Batching window for concurrent logits requests: small next to a forward pass of a real judge.
BATCH_TICK_S = 0.002
BATCH_WINDOW_S = 0.02


class LocalJudgeError(RuntimeError):
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


# ---------------------------------------------------------------------------------------------------------
# checkpoint resolution and loading


def resolve_checkpoint(name: str) -> Path:
    """A local directory, or a hub id already in the local Hugging Face cache (never downloads)."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path.resolve()
    if path.exists():
        raise LocalJudgeError(f"audiollm checkpoint {name!r} is a file; pass the checkpoint directory")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:
        pass
    raise LocalJudgeError(
        f"audiollm checkpoint {name!r} is not a directory (and not a hub id in the local cache). Download it "
        f"first, e.g. `hf download {name} --local-dir ./{Path(name).name}`, then use --model audiollm/./{Path(name).name}"
    )


def read_family(path: Path) -> tuple[dict[str, Any], Family]:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise LocalJudgeError(f"corrupt or incomplete checkpoint {path}: no config.json")
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as ex:
        raise LocalJudgeError(f"corrupt checkpoint {path}: config.json is not valid JSON ({ex})") from ex
    if not isinstance(raw, dict):
        raise LocalJudgeError(f"corrupt checkpoint {path}: config.json is not a JSON object")
    model_type = raw.get("model_type")
    family = FAMILIES.get(str(model_type))
    if family is None:
        arch = ", ".join(raw.get("architectures") or []) or "none listed"
        raise LocalJudgeError(
            f"unsupported architecture in {path}: model_type={model_type!r} (architectures: {arch}). "
            f"The audiollm provider supports {SUPPORTED}. For other models use an OpenAI-compatible server "
            f"(vllm/, openai-api/)."
        )
    return raw, family


def _dtype(name: str, device: str) -> torch.dtype:
    if name == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}  # fmt: skip
    if name not in table:
        raise ValueError(f"unknown dtype {name!r}; use auto, float32, bfloat16 or float16")
    return table[name]


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


# ---------------------------------------------------------------------------------------------------------
# requests


@dataclass
class Prepared:
    """One request, tokenized and with audio features, split at the end of the last audio clip."""

    ids: list[int]
    prefix_len: int  # 0 when there is no audio (no reuse)
    features: Any | None  # input_features tensor (n_audio, mel, frames)
    feature_mask: Any | None  # feature_attention_mask (n_audio, frames)
    audio_key: str  # hash of the audio samples
    audio_seconds: float

    @property
    def prefix_key(self) -> tuple[str, tuple[int, ...]]:
        return (self.audio_key, tuple(self.ids[: self.prefix_len]))


@dataclass
class ScoreResult:
    logprobs: Any  # float32 log-softmax over the vocabulary at the answer position (cpu tensor)
    prompt_tokens: int
    cached_tokens: int
    logits: Any = None  # the raw float32 logits behind `logprobs` (cpu tensor)


@dataclass
class _Pending:
    prepared: Prepared
    result: ScoreResult | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class _PrefixEntry:
    kv: list[tuple[Any, Any]]  # per layer (keys, values), batch 1
    next_position: int  # position id of the first token after the prefix


@dataclass
class Engine:
    """Weights, tokenizer, feature extractor and prefix cache of one (checkpoint, device, dtype)."""

    path: Path
    family: Family
    model: Any
    tokenizer: Any
    feature_extractor: Any
    chat_template: str
    device: str
    dtype: Any
    answer_ids: list[int]  # every token id whose string reads as yes or no
    prefix_cache_size: int = 8
    lock: threading.Lock = field(default_factory=threading.Lock)
    prefixes: OrderedDict = field(default_factory=OrderedDict)
    # audio hash -> (features, mask): a sample's items share one feature extraction
    feature_cache: OrderedDict = field(default_factory=OrderedDict)
    feature_cache_size: int = 16
    feature_lock: threading.Lock = field(default_factory=threading.Lock)  # requests are prepared in threads
    stats: dict[str, int] = field(
        default_factory=lambda: {"prefix_hits": 0, "prefix_misses": 0, "forwards": 0}
    )

    # -- preparing requests ---------------------------------------------------------------------------

    @property
    def audio_token_id(self) -> int:
        cfg = self.model.config
        for attr in ("audio_token_id", "audio_token_index"):
            value = getattr(cfg, attr, None)
            if isinstance(value, int):
                return value
        return int(self.tokenizer.convert_tokens_to_ids(getattr(self.tokenizer, "audio_token", "<|AUDIO|>")))

    @property
    def audio_end_id(self) -> int | None:
        token = getattr(self.tokenizer, "audio_eos_token", None) or "<|audio_eos|>"
        tid = self.tokenizer.convert_tokens_to_ids(token)
        return tid if isinstance(tid, int) and tid != self.tokenizer.unk_token_id else None

    def features(self, clips: Sequence[np.ndarray], max_seconds: float) -> tuple[Any, Any]:
        truncate = max_seconds <= 30.0 and self.family.max_seconds <= 30.0
        kwargs: dict[str, Any] = {
            "sampling_rate": TARGET_SR,
            "return_attention_mask": True,
            "return_tensors": "pt",
        }
        if truncate:  # the Qwen2.5-Omni / Qwen2-Audio processors: pad (and cut) to 30 s
            kwargs.update(padding="max_length")
        else:  # the Qwen3-Omni processor (or a longer limit asked for): no truncation
            kwargs.update(padding=True, truncation=False)
        out = self.feature_extractor(list(clips), **kwargs)
        return out["input_features"], out["attention_mask"]

    def audio_token_counts(self, feature_mask: Any) -> list[int]:
        lengths = feature_mask.sum(-1)
        if self.family.model_class.startswith("Qwen3Omni"):
            from transformers.models.qwen3_omni_moe.processing_qwen3_omni_moe import (
                _get_feat_extract_output_lengths,
            )

            return [int(n) for n in _get_feat_extract_output_lengths(lengths)]
        return [int(n) for n in ((lengths - 1) // 2 + 1 - 2) // 2 + 1]

    def prepare(
        self,
        conversation: list[dict[str, Any]],
        clips: list[np.ndarray],
        max_seconds: float,
        cache_features: bool = True,
    ) -> Prepared:
        text = self.tokenizer.apply_chat_template(
            conversation, chat_template=self.chat_template, tokenize=False, add_generation_prompt=True
        )
        ids = list(self.tokenizer(text).input_ids)
        audio_id = self.audio_token_id
        n_placeholders = ids.count(audio_id)
        if n_placeholders != len(clips):
            raise ValueError(
                f"the chat template rendered {n_placeholders} audio placeholder(s) for {len(clips)} clip(s)"
            )
        if not clips:
            return Prepared(ids, 0, None, None, "", 0.0)
        digest = hashlib.sha1(repr(max_seconds).encode())
        for clip in clips:
            digest.update(np.ascontiguousarray(clip, dtype=np.float32).tobytes())
            digest.update(b"|")
        audio_key = digest.hexdigest()
        with self.feature_lock:
            cached = self.feature_cache.get(audio_key) if cache_features else None
            if cached is not None:
                self.feature_cache.move_to_end(audio_key)
        if cached is None:
            cached = self.features(clips, max_seconds)
            if cache_features and self.feature_cache_size > 0:
                with self.feature_lock:
                    self.feature_cache[audio_key] = cached
                    while len(self.feature_cache) > self.feature_cache_size:
                        self.feature_cache.popitem(last=False)
        features, mask = cached
        counts = iter(self.audio_token_counts(mask))
        expanded: list[int] = []
        for tid in ids:  # what the processors do: each placeholder becomes one token per audio frame
            expanded.extend([audio_id] * next(counts) if tid == audio_id else [tid])
        ends = [i for i, tid in enumerate(expanded) if tid in (audio_id, self.audio_end_id)]
        prefix_len = ends[-1] + 1
        seconds = sum(len(c) for c in clips) / TARGET_SR
        return Prepared(expanded, prefix_len, features, mask, audio_key, seconds)

    # -- positions ------------------------------------------------------------------------------------

    def prefix_positions(self, prepared: Prepared) -> Any:
        """Position ids of the prefix, shaped as the model takes them ((3, 1, P) for M-RoPE)."""
        n = prepared.prefix_len
        if not self.family.mrope:
            return torch.arange(n, device=self.device).view(1, -1)
        ids = torch.tensor([prepared.ids[:n]], device=self.device)
        lengths = prepared.feature_mask.sum(-1).to(self.device) if prepared.feature_mask is not None else None
        pos, _ = self.model.get_rope_index(ids, None, None, torch.ones_like(ids), False, lengths, None)
        return pos

    # -- scoring --------------------------------------------------------------------------------------

    def _audio_inputs(self, prepared: Prepared) -> dict[str, Any]:
        if prepared.features is None:
            return {}
        return {
            "input_features": prepared.features.to(self.device, self.dtype),
            "feature_attention_mask": prepared.feature_mask.to(self.device),
        }

    @torch.inference_mode()
    def score_full(self, prepared: Prepared) -> ScoreResult:
        """The reference path: the whole prompt, audio included, in one forward."""
        ids = torch.tensor([prepared.ids], device=self.device)
        out = self.model(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            use_cache=False,
            **self._audio_inputs(prepared),
        )
        self.stats["forwards"] += 1
        logits = out.logits[0, -1].float()
        return ScoreResult(torch.log_softmax(logits, -1).cpu(), len(prepared.ids), 0, logits.cpu())

    def _prefix(self, prepared: Prepared) -> tuple[_PrefixEntry, bool]:
        key = prepared.prefix_key
        entry = self.prefixes.get(key)
        if entry is not None:
            self.prefixes.move_to_end(key)
            self.stats["prefix_hits"] += 1
            return entry, True
        self.stats["prefix_misses"] += 1
        positions = self.prefix_positions(prepared)
        p = prepared.prefix_len
        ids = torch.tensor([prepared.ids[:p]], device=self.device)
        out = self.model(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **self._audio_inputs(prepared),
        )
        self.stats["forwards"] += 1
        cache = out.past_key_values
        kv = [(layer.keys, layer.values) for layer in cache.layers]
        entry = _PrefixEntry(kv=kv, next_position=int(positions.max()) + 1)
        if self.prefix_cache_size > 0:
            self.prefixes[key] = entry
            while len(self.prefixes) > self.prefix_cache_size:
                self.prefixes.popitem(last=False)
        return entry, False

    @torch.inference_mode()
    def score_with_prefix(self, group: Sequence[Prepared], batch_size: int) -> list[ScoreResult]:
        """Requests sharing one prefix: the prefix once (or from the cache), the suffixes batched."""
        from transformers import DynamicCache

        entry, hit = self._prefix(group[0])
        p = group[0].prefix_len
        results: list[ScoreResult] = []
        for start in range(0, len(group), max(1, batch_size)):
            chunk = group[start : start + max(1, batch_size)]
            b = len(chunk)
            suffixes = [r.ids[p:] for r in chunk]
            width = max(len(s) for s in suffixes)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            ids = torch.full((b, width), pad, dtype=torch.long, device=self.device)
            mask = torch.zeros((b, p + width), dtype=torch.long, device=self.device)
            mask[:, :p] = 1
            for i, s in enumerate(suffixes):  # right padding: a real token never sees a pad (causal)
                ids[i, : len(s)] = torch.tensor(s, device=self.device)
                mask[i, p : p + len(s)] = 1
            # Text after the last audio continues at (largest prefix position + 1), in every M-RoPE axis too.
            pos = entry.next_position + torch.arange(width, device=self.device)
            pos = (
                pos.view(1, 1, -1).expand(3, b, width)
                if self.family.mrope
                else pos.view(1, -1).expand(b, width)
            )
            cache = DynamicCache(
                ddp_cache_data=[(k.expand(b, -1, -1, -1), v.expand(b, -1, -1, -1)) for k, v in entry.kv]
            )
            out = self.model(
                input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True
            )
            self.stats["forwards"] += 1
            last = torch.tensor([len(s) - 1 for s in suffixes], device=self.device)
            logits = out.logits[torch.arange(b, device=self.device), last].float()
            logprobs = torch.log_softmax(logits, -1).cpu()
            raw = logits.cpu()
            for i, r in enumerate(chunk):
                cached = p if (hit or start > 0 or i > 0) else 0
                results.append(ScoreResult(logprobs[i], len(r.ids), cached, raw[i]))
        return results

    def score_batch(self, pending: Sequence[_Pending], batch_size: int, reuse: bool) -> None:
        """Score pending requests (runs in a worker thread); errors are stored per request."""
        with self.lock:
            groups: OrderedDict[Any, list[_Pending]] = OrderedDict()
            for item in pending:
                use_prefix = reuse and item.prepared.prefix_len > 0
                key = item.prepared.prefix_key if use_prefix else ("full", id(item))
                groups.setdefault(key, []).append(item)
            for key, items in groups.items():
                try:
                    if key[0] == "full":
                        results = [self.score_full(item.prepared) for item in items]
                    else:
                        results = self.score_with_prefix([item.prepared for item in items], batch_size)
                    for item, res in zip(items, results, strict=True):
                        item.result = res
                except BaseException as ex:  # noqa: BLE001 - handed back to the awaiting request
                    for item in items:
                        item.error = ex
                for item in items:
                    item.done = True

    # -- generation -----------------------------------------------------------------------------------

    @torch.inference_mode()
    def generate(
        self, prepared: Prepared, max_new_tokens: int, temperature: float = 0.0, seed: int | None = None
    ) -> tuple[str, int, bool]:
        """Greedy (temperature 0) generation on the thinker; returns (text, new tokens, cut at max_new_tokens)."""
        with self.lock:
            ids = torch.tensor([prepared.ids], device=self.device)
            gen_cfg = self.model.generation_config
            eos = gen_cfg.eos_token_id if gen_cfg is not None and gen_cfg.eos_token_id is not None else None
            if eos is None:
                eos = self.tokenizer.eos_token_id
            sampling: dict[str, Any] = {"do_sample": False}
            if temperature > 0:
                sampling = {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0}
                if seed is not None:
                    torch.manual_seed(seed)
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                **sampling,
                eos_token_id=eos,
                pad_token_id=self.tokenizer.pad_token_id,
                **self._audio_inputs(prepared),
            )
            new = out[0, ids.shape[1] :].tolist()
            eos_set = set(eos if isinstance(eos, list) else [eos])
            hit_eos = bool(new) and new[-1] in eos_set
            text = self.tokenizer.decode(new, skip_special_tokens=True)
            return text, len(new), (not hit_eos and len(new) >= max_new_tokens)

    # -- token strings --------------------------------------------------------------------------------

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        return [self.tokenizer.decode([int(i)]) for i in ids]

    def processed_logprobs(self, prepared: Prepared, result: ScoreResult) -> Any:
        """Log-softmax of the first-step logits after the generation config's processors (reference path)."""
        try:
            process = first_step_processors(self.model.generation_config, len(prepared.ids))
        except GenerationConfigError as ex:
            raise LocalJudgeError(f"{self.path}: {ex}") from ex
        if process is None:
            return result.logprobs
        ids = torch.tensor([prepared.ids])
        logits = process(ids, result.logits.view(1, -1).clone())[0]
        return torch.log_softmax(logits, -1)


_ENGINES: dict[tuple[str, str, str, str], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _chat_template(path: Path, tokenizer: Any) -> str:
    # The processor's template renders audio parts; prefer it over a text-only tokenizer template.
    json_file = path / "chat_template.json"
    if json_file.is_file():
        try:
            template = json.loads(json_file.read_text(encoding="utf-8")).get("chat_template")
            if template:
                return str(template)
        except json.JSONDecodeError as ex:
            raise LocalJudgeError(f"corrupt checkpoint {path}: chat_template.json is not valid JSON") from ex
    jinja = path / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.chat_template)
    raise LocalJudgeError(
        f"checkpoint {path} has no chat template (chat_template.json/.jinja or in the tokenizer)"
    )


def _answer_ids(tokenizer: Any) -> list[int]:
    vocab_size = len(tokenizer)
    strings = tokenizer.batch_decode([[i] for i in range(vocab_size)])
    ids = [i for i, s in enumerate(strings) if token_answer(s) is not None]
    sides = {token_answer(strings[i]) for i in ids}
    if sides != {"yes", "no"}:
        raise LocalJudgeError(
            "the tokenizer has no single token for 'yes' and 'no'; logprobs mode cannot work"
        )
    return ids


def load_engine(
    checkpoint: str,
    device: str = "auto",
    dtype: str = "auto",
    attn_implementation: str = "sdpa",
    prefix_cache_size: int = 8,
) -> Engine:
    """Load (once per process) the model of a checkpoint; every caller with the same key shares it."""

    path = resolve_checkpoint(checkpoint)
    dev = _device(device)
    torch_dtype = _dtype(dtype, dev)
    key = (str(path), dev, str(torch_dtype), attn_implementation)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is not None:
            engine.prefix_cache_size = max(engine.prefix_cache_size, prefix_cache_size)
            return engine
        family, model, tokenizer, feature_extractor = load_checkpoint(path, torch_dtype, attn_implementation)
        model.to(dev).eval()
        engine = Engine(
            path=path,
            family=family,
            model=model,
            tokenizer=tokenizer,
            feature_extractor=feature_extractor,
            chat_template=_chat_template(path, tokenizer),
            device=dev,
            dtype=torch_dtype,
            answer_ids=_answer_ids(tokenizer),
            prefix_cache_size=prefix_cache_size,
        )
        _ENGINES[key] = engine
        logger.info("audiollm: loaded %s (%s) on %s as %s", path, family.name, dev, torch_dtype)
        return engine


def load_checkpoint(
    path: Path, torch_dtype: torch.dtype, attn_implementation: str | None = None
) -> tuple[Family, Any, Any, Any]:
    """(family, model, tokenizer, feature extractor) of a checkpoint directory, on the CPU.

    The thinker alone for Omni checkpoints. Missing weights are an error: from_pretrained would fill them
    with random values. Shared by this provider and training.
    """
    import transformers

    _, family = read_family(path)
    cls = getattr(transformers, family.model_class, None)
    if cls is None:
        raise LocalJudgeError(
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
        raise LocalJudgeError(f"cannot load checkpoint {path} ({family.name}): {type(ex).__name__}: {ex}") from ex
    missing = [k for k in info.get("missing_keys", []) if "talker" not in k and "token2wav" not in k]
    if missing:
        shown = ", ".join(sorted(missing)[:5])
        raise LocalJudgeError(
            f"corrupt or incomplete checkpoint {path}: {len(missing)} weight(s) missing ({shown}"
            f"{', ...' if len(missing) > 5 else ''})"
        )
    return family, model, tokenizer, feature_extractor


def clear_engines() -> None:
    """Drop every loaded model (tests, notebooks)."""
    with _ENGINES_LOCK:
        _ENGINES.clear()


# ---------------------------------------------------------------------------------------------------------
# Inspect messages -> chat template input


def _load_clip(ref: str, max_seconds: float) -> np.ndarray:
    data, sr = decode_audio(data_uri_bytes(ref) if ref.startswith("data:") else ref)
    # 16 kHz clips (what the tasks send) are used as they are, float samples unclipped: the linear pipeline
    # of the reference protocol hands over exactly what the release's judge would compute.
    wav = data.mean(axis=1) if sr == TARGET_SR else to_mono_16k(data, sr, max_seconds=math.inf)
    return wav[: int(max_seconds * TARGET_SR)]


def conversation_of(messages: Sequence[ChatMessage]) -> tuple[list[dict[str, Any]], list[str]]:
    """Chat-template messages (audio as {"type": "audio"} parts) and the audio references in order."""
    conversation: list[dict[str, Any]] = []
    audio: list[str] = []
    for message in messages:
        if isinstance(message.content, str):
            conversation.append({"role": message.role, "content": message.content})
            continue
        parts: list[dict[str, Any]] = []
        for content in message.content:
            if isinstance(content, ContentText):
                parts.append({"type": "text", "text": content.text})
            elif isinstance(content, ContentAudio):
                parts.append({"type": "audio", "audio": f"audio-{len(audio)}"})
                audio.append(content.audio)
            elif getattr(content, "type", None) == "reasoning":
                continue
            else:
                raise ValueError(
                    f"the audiollm provider takes text and audio only, got {content.type!r} content"
                )
        if message.role == "system" and all(p["type"] == "text" for p in parts):
            conversation.append({"role": "system", "content": "".join(p["text"] for p in parts)})
        else:
            conversation.append({"role": message.role, "content": parts})
    return conversation, audio


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class LocalAudioLLM(ModelAPI):
    """`audiollm/<checkpoint dir>`: see the module docstring."""

    takes_protocol_hints = True  # the judging procedure may send GENERATION_CONFIG_HINT in extra_body

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        device: str = "auto",
        dtype: str = "auto",
        attn_implementation: str = "sdpa",
        max_audio_seconds: float | None = None,
        batch_size: int = 8,
        prefix_cache: bool | str = True,
        prefix_cache_size: int = 8,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        if model_args:
            raise ValueError(
                f"unknown audiollm model args: {', '.join(model_args)} (known: device, dtype, attn_implementation, "
                "max_audio_seconds, batch_size, prefix_cache, prefix_cache_size)"
            )
        self.engine = load_engine(model_name, device, dtype, attn_implementation, int(prefix_cache_size))
        limit = self.engine.family.max_seconds if max_audio_seconds is None else float(max_audio_seconds)
        if limit > 30.0 and self.engine.family.model_class == "Qwen2AudioForConditionalGeneration":
            raise ValueError("Qwen2-Audio's encoder takes at most 30 s of audio: use max_audio_seconds <= 30")
        self.max_audio_seconds = limit
        self.batch_size = max(1, int(batch_size))
        self.reuse = _bool(prefix_cache) and int(prefix_cache_size) > 0
        self._pending: list[_Pending] = []
        self._lock: anyio.Lock | None = None
        self._preparing = 0  # requests whose prompt is being prepared in a worker thread

    def max_connections(self) -> int:
        return 32

    def prepare(self, messages: Sequence[ChatMessage]) -> Prepared:
        conversation, refs = conversation_of(messages)
        clips = [_load_clip(ref, self.max_audio_seconds) for ref in refs]
        # prefix_cache=false is the reference path: features and the whole prompt per request
        return self.engine.prepare(conversation, clips, self.max_audio_seconds, cache_features=self.reuse)

    async def score(self, prepared: Prepared) -> ScoreResult:
        """Queue one request; whoever holds the lock scores everything pending (grouped by prefix)."""
        item = _Pending(prepared)
        self._pending.append(item)
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if not item.done:
                await self._gather_siblings()
                batch, self._pending = self._pending, []
                await anyio.to_thread.run_sync(self.engine.score_batch, batch, self.batch_size, self.reuse)
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    async def _gather_siblings(self) -> None:
        """Let requests issued together (a sample's items, still being prepared in threads) join the batch:
        wait while the queue grows or prompts are being prepared, a tick at a time, at most BATCH_WINDOW_S."""
        waited, size = 0.0, -1
        while (len(self._pending) != size or self._preparing) and waited < BATCH_WINDOW_S:
            size = len(self._pending)
            await anyio.sleep(BATCH_TICK_S)
            waited += BATCH_TICK_S

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        self._preparing += 1
        try:
            prepared = await anyio.to_thread.run_sync(self.prepare, input)
        finally:
            self._preparing -= 1
        name = self.model_name
        if config.logprobs:
            result = await self.score(prepared)
            if (config.extra_body or {}).get(GENERATION_CONFIG_HINT):
                logprobs = await anyio.to_thread.run_sync(self.engine.processed_logprobs, prepared, result)
                return self._logprobs_output(result, config.top_logprobs, logprobs, merge_max=True)
            return self._logprobs_output(result, config.top_logprobs)
        max_new = config.max_tokens if config.max_tokens is not None else 1024
        text, n_new, truncated = await anyio.to_thread.run_sync(
            self.engine.generate, prepared, max(1, max_new), float(config.temperature or 0.0), config.seed
        )
        usage = ModelUsage(
            input_tokens=len(prepared.ids), output_tokens=n_new, total_tokens=len(prepared.ids) + n_new
        )
        output = text_output(name, text, usage)
        if truncated:
            output.choices[0].stop_reason = "max_tokens"
        return output

    def _logprobs_output(
        self, result: ScoreResult, top_logprobs: int | None, logprobs: Any = None, merge_max: bool = False
    ) -> ModelOutput:
        lp = result.logprobs if logprobs is None else logprobs
        k = min(int(top_logprobs or 20), lp.shape[-1])
        top_ids = torch.topk(lp, k).indices.tolist()
        ids = list(dict.fromkeys(top_ids + self.engine.answer_ids))
        strings = self.engine.token_strings(ids)
        # Tokens that print the same (rare) are merged, so a reader keyed by string loses no mass.
        merged: dict[str, float] = {}
        for tid, s in zip(ids, strings, strict=True):
            value = float(lp[tid])
            if s in merged:
                merged[s] = max(merged[s], value) if merge_max else float(np.logaddexp(merged[s], value))
            else:
                merged[s] = value
        top = sorted((TopLogprob(token=s, logprob=v) for s, v in merged.items()), key=lambda t: -t.logprob)
        best = self.engine.token_strings([top_ids[0]])[0]
        chosen = Logprob(token=best, logprob=merged[best], top_logprobs=top)
        message = ChatMessageAssistant(content=best, model=self.model_name, source="generate")
        usage = ModelUsage(
            input_tokens=result.prompt_tokens,
            output_tokens=1,
            total_tokens=result.prompt_tokens + 1,
            input_tokens_cache_read=result.cached_tokens or None,
        )
        return ModelOutput(
            model=self.model_name,
            choices=[
                ChatCompletionChoice(
                    message=message, stop_reason="max_tokens", logprobs=Logprobs(content=[chosen])
                )
            ],
            usage=usage,
        )
