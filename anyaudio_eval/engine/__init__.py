"""The local model runtime: a checkpoint's audio LLM as a judge, for Inspect, lm-eval and training alike.

- `checkpoint`: family table, checkpoint resolution, device and dtype, loading weights, tokenizer, feature
  extractor and chat template;
- `encoding`: a conversation with audio -> token ids with expanded audio placeholders and Whisper features;
- `scoring`: first-token distributions, with the system+audio prefix cached and the items after it batched;
- `generation`: greedy (or sampled) generation;
- `generation_config`: the first-step logits processors a checkpoint's generation config sets;
- `runtime`: `Engine`, the above bound to one loaded model, and `load_engine` (once per process).

Import the names below from `anyaudio_eval.engine`, not from its modules. Needs the `hf` extra (torch).
"""

from anyaudio_eval.engine.checkpoint import (
    FAMILIES,
    SUPPORTED,
    CheckpointError,
    Family,
    answer_token_ids,
    load_checkpoint,
    read_chat_template,
    read_family,
    resolve_checkpoint,
    resolve_device,
    resolve_dtype,
)
from anyaudio_eval.engine.encoding import Prepared, PromptEncoder, audio_inputs, audio_token_id
from anyaudio_eval.engine.generation import Generation, generate
from anyaudio_eval.engine.generation_config import GenerationConfigError, first_step_processors
from anyaudio_eval.engine.runtime import Engine, clear_engines, load_engine
from anyaudio_eval.engine.scoring import Scorer, ScoreRequest, ScoreResult

__all__ = [
    "FAMILIES",
    "SUPPORTED",
    "CheckpointError",
    "Engine",
    "Family",
    "Generation",
    "GenerationConfigError",
    "Prepared",
    "PromptEncoder",
    "ScoreRequest",
    "ScoreResult",
    "Scorer",
    "answer_token_ids",
    "audio_inputs",
    "audio_token_id",
    "clear_engines",
    "first_step_processors",
    "generate",
    "load_checkpoint",
    "load_engine",
    "read_chat_template",
    "read_family",
    "resolve_checkpoint",
    "resolve_device",
    "resolve_dtype",
]
