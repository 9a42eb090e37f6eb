"""SFT batches: judge prompt (as the local provider renders it) + generate-mode target, labels masked.

Labels are -100 on the whole prompt (system prompt, audio placeholders, item list, assistant header), on padding,
and on any audio placeholder token; only the target's tokens and the closing `<|im_end|>` are supervised. The
target is tokenized on its own, after the prompt, exactly as the model generates it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch

from anyaudio_eval.training.data import TrainSample
from anyaudio_eval.training.modeling import Policy

IGNORE = -100


def shuffled(sample: TrainSample, rng: random.Random) -> TrainSample:
    """The same sample with its rubric items in another order (the target follows the new order)."""
    items = list(sample.items)
    rng.shuffle(items)
    return sample.model_copy(update={"items": items})


class SFTCollator:
    def __init__(self, policy: Policy, shuffle_items: bool = False, seed: int = 0) -> None:
        self.policy = policy
        self.shuffle_items = shuffle_items
        self.rng = random.Random(seed)

    def target_ids(self, sample: TrainSample) -> list[int]:
        ids = self.policy.tokenizer(sample.target(), add_special_tokens=False).input_ids
        return list(ids) + [self.policy.end_token_id]

    def encode(self, sample: TrainSample) -> dict[str, Any]:
        if self.shuffle_items:
            sample = shuffled(sample, self.rng)
        prepared = self.policy.encode(sample.system_prompt(), sample.user_prompt(), sample.audio)
        target = self.target_ids(sample)
        return {
            "prompt_ids": prepared.ids,
            "target_ids": target,
            "input_features": prepared.features,
            "feature_attention_mask": prepared.feature_mask,
        }

    def __call__(self, samples: Sequence[TrainSample]) -> dict[str, torch.Tensor]:
        encoded = [self.encode(s) for s in samples]
        pad = self.policy.tokenizer.pad_token_id
        pad = pad if pad is not None else self.policy.end_token_id
        audio_id = self.policy.audio_token_id
        width = max(len(e["prompt_ids"]) + len(e["target_ids"]) for e in encoded)
        input_ids, attention, labels = [], [], []
        for e in encoded:
            ids = e["prompt_ids"] + e["target_ids"]
            lab = [IGNORE] * len(e["prompt_ids"]) + [t if t != audio_id else IGNORE for t in e["target_ids"]]
            n_pad = width - len(ids)
            input_ids.append(ids + [pad] * n_pad)
            attention.append([1] * len(ids) + [0] * n_pad)
            labels.append(lab + [IGNORE] * n_pad)
        return {
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "attention_mask": torch.tensor(attention, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "input_features": torch.cat([e["input_features"] for e in encoded]),
            "feature_attention_mask": torch.cat([e["feature_attention_mask"] for e in encoded]),
        }
