"""`anyaudio-judge`: the local transformers judge (the `audiollm/` Inspect provider's engine) as an lm-eval model.

    --model anyaudio-judge --model_args pretrained=<checkpoint dir>[,device=cpu,dtype=float32,batch_size=8]

It runs the weights, tokenizer, chat template, audio features and prefix-cached scoring of
`anyaudio_eval.engine` (`load_engine`, `Engine.prepare`, `Engine.score_batch`, `Engine.generate`), the
runtime the `audiollm/` provider runs, so a request scores exactly as the Inspect judge scores the same prompt.

- `apply_chat_template` renders lm-eval's chat history with the checkpoint's template; `<audio>` in a message
  becomes an audio part (the template's audio placeholder).
- `loglikelihood`: a continuation that reads as yes or no (`rubric.parsing.token_answer`: yes, " yes", Yes, ...)
  is scored as its *answer class*: the log of the summed probability of every yes (or no) token variant at the
  answer position, the mass the Inspect judge reads from its top logprobs. So
  p_yes = e^ll(yes) / (e^ll(yes) + e^ll(no)) is the Inspect p_yes. Any other continuation gets the usual sum of
  token log-probabilities. One forward serves a context's yes and no requests; the system + audio prefix of a
  sample is run once for all its items.
- `generate_until`: greedy generation on the thinker, cut at the `until` strings.
- Audio comes as lm-eval's `{"array", "sampling_rate"}` (the pack's `AudioRef` loads it lazily); it is
  down-mixed and resampled to 16 kHz mono when needed.

Not supported: `loglikelihood_rolling` (perplexity), lm-eval's `--use_cache` (it cannot hash audio).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from anyaudio_eval.audio import to_mono_16k
from anyaudio_eval.constants import SAMPLE_RATE
from anyaudio_eval.engine import (
    Engine,
    Prepared,
    PromptEncoder,
    ScoreRequest,
    ScoreResult,
    audio_inputs,
    load_engine,
)
from anyaudio_eval.lmeval import MODEL_NAME
from anyaudio_eval.lmeval.task import AUDIO_MARKER
from anyaudio_eval.rubric.parsing import token_answer

logger = logging.getLogger(__name__)

# Renders a conversation's single message verbatim: lets the prompt encoder tokenize an already rendered prompt.
_VERBATIM_TEMPLATE = "{{- messages[0]['content'] -}}"


def conversation(chat_history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """lm-eval chat messages -> chat-template messages, `<audio>` becoming audio parts (as the provider does)."""
    out: list[dict[str, Any]] = []
    n_audio = 0
    for message in chat_history:
        content = str(message["content"])
        if AUDIO_MARKER not in content:
            out.append({"role": message["role"], "content": content})
            continue
        parts: list[dict[str, Any]] = []
        for i, piece in enumerate(content.split(AUDIO_MARKER)):
            if i > 0:
                parts.append({"type": "audio", "audio": f"audio-{n_audio}"})
                n_audio += 1
            if piece:
                parts.append({"type": "text", "text": piece})
        out.append({"role": message["role"], "content": parts})
    return out


def clip_of(audio: dict[str, Any], max_seconds: float) -> np.ndarray:
    """16 kHz mono float32 samples of one lm-eval audio dict, cut at `max_seconds` (as the provider cuts)."""
    array = np.asarray(audio["array"], dtype=np.float32)
    sr = int(audio.get("sampling_rate") or SAMPLE_RATE)
    if array.ndim != 1 or sr != SAMPLE_RATE:
        frames = array[:, None] if array.ndim == 1 else (array.T if array.shape[0] < array.shape[-1] else array)
        array = to_mono_16k(frames, sr, max_seconds=math.inf)
    return array[: int(max_seconds * SAMPLE_RATE)]


def _audio_list(args: tuple[Any, ...]) -> list[dict[str, Any]]:
    extra = args[-1] if args and isinstance(args[-1], dict) else {}
    audio = extra.get("audio") or []
    return list(audio) if isinstance(audio, (list, tuple)) else [audio]


@register_model(MODEL_NAME)
class AnyAudioJudgeLM(LM):
    """See the module docstring."""

    MULTIMODAL = True

    def __init__(
        self,
        pretrained: str,
        device: str | None = "auto",
        dtype: str = "auto",
        attn_implementation: str = "sdpa",
        batch_size: int | str | None = 8,
        max_audio_seconds: float | None = None,
        prefix_cache_size: int = 8,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        known_ignored = {"max_batch_size", "trust_remote_code"}
        unknown = set(kwargs) - known_ignored
        if unknown:
            raise ValueError(
                f"unknown {MODEL_NAME} model args: {', '.join(sorted(unknown))} (known: pretrained, device, dtype, "
                "attn_implementation, batch_size, max_audio_seconds, prefix_cache_size)"
            )
        self.engine: Engine = load_engine(
            str(pretrained), device or "auto", dtype, attn_implementation, int(prefix_cache_size)
        )
        # the engine's encoder with another template (its feature cache shared)
        self._verbatim: PromptEncoder = dataclasses.replace(self.engine.encoder, chat_template=_VERBATIM_TEMPLATE)
        limit = self.engine.family.max_seconds if max_audio_seconds is None else float(max_audio_seconds)
        self.max_audio_seconds = limit
        try:
            self.batch_size = max(1, int(batch_size)) if batch_size is not None else 8
        except ValueError:  # "auto"
            self.batch_size = 8
        strings = self.engine.token_strings(self.engine.answer_ids)
        self._sides: dict[str, list[int]] = {"yes": [], "no": []}
        for tid, s in zip(self.engine.answer_ids, strings, strict=True):
            side = token_answer(s)
            if side is not None:
                self._sides[side].append(tid)
        self._device = self.engine.device

    @classmethod
    def create_from_arg_obj(
        cls, arg_dict: dict[str, Any], additional_config: dict[str, Any] | None = None
    ) -> AnyAudioJudgeLM:
        """`--model_args` win over lm-eval's run options (`--device`, `--batch_size`, which it always sends).

        lm-eval sends `device="cuda:0"` even when none is asked for; without CUDA that becomes the CPU.
        """
        extra = {k: v for k, v in (additional_config or {}).items() if v is not None and k not in arg_dict}
        device = extra.get("device")
        if isinstance(device, str) and device.startswith("cuda") and not torch.cuda.is_available():
            logger.warning("%s: no CUDA device here; running on the CPU (pass device=... in --model_args)", MODEL_NAME)
            extra["device"] = "cpu"
        return cls(**arg_dict, **extra)

    @classmethod
    def create_from_arg_string(
        cls, arg_string: str, additional_config: dict[str, Any] | None = None
    ) -> AnyAudioJudgeLM:
        from lm_eval.utils import simple_parse_args_string

        return cls.create_from_arg_obj(simple_parse_args_string(arg_string), additional_config)

    # -- chat template -----------------------------------------------------------------------------

    @property
    def tokenizer_name(self) -> str:
        return str(self.engine.path).replace("/", "__")

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        return self.engine.chat_template

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        return self.engine.tokenizer.apply_chat_template(
            conversation(chat_history),
            chat_template=self.engine.chat_template,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
        )

    # -- requests -> prepared inputs ----------------------------------------------------------------

    def _prepare(self, context: str, clips: list[np.ndarray]) -> Prepared:
        # A context not rendered with our template (run without --apply_chat_template) becomes one user turn.
        if AUDIO_MARKER in context:
            turn = conversation([{"role": "user", "content": context}])
            return self.engine.prepare(turn, clips, self.max_audio_seconds)
        return self._verbatim.prepare([{"role": "user", "content": context}], clips, self.max_audio_seconds)

    def _clips(self, args: tuple[Any, ...]) -> list[np.ndarray]:
        return [clip_of(a, self.max_audio_seconds) for a in _audio_list(args)]

    @staticmethod
    def _audio_key(args: tuple[Any, ...]) -> Any:
        audio = _audio_list(args)
        return tuple(str(a.get("path")) if a.get("path") else id(a) for a in audio)

    # -- loglikelihood -----------------------------------------------------------------------------

    def _class_ll(self, logprobs: Any, side: str) -> tuple[float, bool]:
        ids = self._sides[side]
        ll = float(torch.logsumexp(logprobs[ids], dim=-1))
        top = int(torch.argmax(logprobs))
        return ll, token_answer(self.engine.token_strings([top])[0]) == side

    @torch.inference_mode()
    def _continuation_ll(self, prepared: Prepared, continuation: str) -> tuple[float, bool]:
        engine = self.engine
        cont = list(engine.tokenizer(continuation, add_special_tokens=False).input_ids)
        if not cont:
            return 0.0, True
        ids = torch.tensor([prepared.ids + cont], device=engine.device)
        audio = audio_inputs(prepared, engine.device, engine.dtype)
        with engine.lock:
            out = engine.model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False, **audio)
        n = len(prepared.ids)
        logprobs = torch.log_softmax(out.logits[0, n - 1 : n - 1 + len(cont)].float(), -1)
        target = torch.tensor(cont, device=logprobs.device)
        ll = float(logprobs.gather(-1, target[:, None]).sum())
        return ll, bool((logprobs.argmax(-1) == target).all())

    def _score_contexts(self, prepared: list[Prepared]) -> list[ScoreResult]:
        """Next-token log-probabilities after each context: prefix-cached and batched as the provider does."""
        requests = [ScoreRequest(p) for p in prepared]
        self.engine.score_batch(requests, self.batch_size, reuse=True)
        for r in requests:
            if r.error is not None:
                raise r.error
        return [r.result for r in requests if r.result is not None]

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        out: list[tuple[float, bool] | None] = [None] * len(requests)
        # One sample (one clip) at a time, so features and key/values of one clip only are in memory.
        by_audio: OrderedDict[Any, list[int]] = OrderedDict()
        for i, req in enumerate(requests):
            by_audio.setdefault(self._audio_key(req.args), []).append(i)
        for indices in by_audio.values():
            clips = self._clips(requests[indices[0]].args)
            contexts: OrderedDict[str, Prepared] = OrderedDict()
            for i in indices:
                ctx = requests[i].args[0]
                if ctx not in contexts:
                    contexts[ctx] = self._prepare(ctx, clips)
            class_requests = [i for i in indices if token_answer(requests[i].args[1]) is not None]
            needed = list(dict.fromkeys(requests[i].args[0] for i in class_requests))
            scored = dict(zip(needed, self._score_contexts([contexts[c] for c in needed]), strict=True))
            for i in indices:
                ctx, continuation = requests[i].args[0], requests[i].args[1]
                side = token_answer(continuation)
                if side is not None:
                    out[i] = self._class_ll(scored[ctx].logprobs, side)
                else:
                    out[i] = self._continuation_ll(contexts[ctx], continuation)
        return [o for o in out if o is not None]

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError(
            f"{MODEL_NAME} judges audio (yes/no loglikelihoods and generation); it has no rolling loglikelihood"
        )

    # -- generation --------------------------------------------------------------------------------

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        out = []
        for req in requests:
            context, gen_kwargs = req.args[0], dict(req.args[1] or {})
            until = gen_kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(gen_kwargs.get("max_gen_toks") or 256)
            if gen_kwargs.get("do_sample") or float(gen_kwargs.get("temperature") or 0.0) > 0:
                logger.warning("%s decodes greedily; do_sample/temperature are ignored", MODEL_NAME)
            prepared = self._prepare(context, self._clips(req.args))
            text, _, _ = self.engine.generate(prepared, max(1, max_new))
            for stop in until:
                if stop and stop in text:
                    text = text.split(stop)[0]
            out.append(text)
        return out
