"""The logits processors a checkpoint's `generation_config.json` sets, applied to first-step logits.

The release reads the first-step scores of greedy `generate()`, which transformers has already passed through
the processors the generation config asks for (a repetition penalty changes p_yes). Under the reference
protocol the engine reproduces that on its own forward pass (`Scorer.processed_logprobs`). Greedy decoding
applies no warpers (temperature, top-k, top-p), so only processors are read; a setting whose effect on the first
step is not reproduced here is refused by name rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Settings that change first-step greedy scores and that `first_step_processors` applies.
APPLIED = (
    "repetition_penalty",
    "no_repeat_ngram_size",
    "bad_words_ids",
    "suppress_tokens",
    "begin_suppress_tokens",
    "min_length",
    "min_new_tokens",
)
# Settings that would change them and are not reproduced (the judge call is refused).
REFUSED = ("encoder_repetition_penalty", "encoder_no_repeat_ngram_size", "sequence_bias", "forced_bos_token_id",
           "forced_eos_token_id", "exponential_decay_length_penalty", "guidance_scale", "watermarking_config",
           "remove_invalid_values", "renormalize_logits")  # fmt: skip


class GenerationConfigError(ValueError):
    """A generation config whose first-step effect the reference path does not reproduce."""


def _set(config: Any, name: str) -> Any:
    value = getattr(config, name, None)
    if name in ("repetition_penalty", "encoder_repetition_penalty") and value == 1.0:
        return None
    if name in ("no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "min_new_tokens", "min_length"):
        return value or None
    if name in ("renormalize_logits", "remove_invalid_values"):
        return value or None
    return value if value not in ([], {}) else None


def first_step_processors(config: Any, prompt_length: int, device: str = "cpu") -> Callable[[Any, Any], Any] | None:
    """f(input_ids (1, n), logits (1, vocab)) -> processed logits, or None when the config sets nothing."""
    if config is None:
        return None
    refused = [name for name in REFUSED if _set(config, name) is not None]
    if refused:
        raise GenerationConfigError(
            f"generation_config sets {', '.join(refused)}: the reference protocol's first-step scores under these "
            "are not reproduced by the audiollm provider (remove them from generation_config.json to proceed)"
        )
    import transformers as tf

    eos = config.eos_token_id
    steps: list[Any] = []
    if (penalty := _set(config, "repetition_penalty")) is not None:
        steps.append(tf.RepetitionPenaltyLogitsProcessor(penalty=float(penalty)))
    if (n := _set(config, "no_repeat_ngram_size")) is not None:
        steps.append(tf.NoRepeatNGramLogitsProcessor(int(n)))
    if (bad := _set(config, "bad_words_ids")) is not None:
        steps.append(tf.NoBadWordsLogitsProcessor(bad, eos))
    if eos is not None and (n := _set(config, "min_length")) is not None:
        steps.append(tf.MinLengthLogitsProcessor(int(n), eos, device=device))
    if eos is not None and (n := _set(config, "min_new_tokens")) is not None:
        steps.append(tf.MinNewTokensLengthLogitsProcessor(prompt_length, int(n), eos, device=device))
    if (tokens := _set(config, "suppress_tokens")) is not None:
        steps.append(tf.SuppressTokensLogitsProcessor(tokens, device=device))
    if (tokens := _set(config, "begin_suppress_tokens")) is not None:
        steps.append(tf.SuppressTokensAtBeginLogitsProcessor(tokens, prompt_length, device=device))
    if not steps:
        return None
    processors = tf.LogitsProcessorList(steps)
    return lambda ids, logits: processors(ids, logits)
