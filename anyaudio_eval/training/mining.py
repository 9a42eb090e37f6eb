"""Hard-sample mining: k sampled rollouts per sample with the SFT model; keep the samples not always right.

"Right" (`criterion`): `decision` = the overall match decision read from the answer (share of yes >= threshold)
equals the gold one; `items` = every item answered and equal to its gold label. Malformed answers are wrong.

Writes the kept samples in corpus format (`mined.jsonl`, ready for `anyaudio train grpo`), one line per sample
with every rollout's verdicts (`mined_rollouts.jsonl`) and the statistics (`mined_stats.json`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from anyaudio_eval.training.config import MineArguments, MineStageConfig
from anyaudio_eval.training.data import TrainSample, load_stage_corpus, write_corpus
from anyaudio_eval.training.rewards import DEFAULT_THRESHOLD, is_right, judge_reward


class Sampler(Protocol):
    def __call__(self, samples: Sequence[TrainSample], k: int) -> list[list[str]]:
        """k completions (texts) for each sample."""
        ...


@dataclass
class MineResult:
    kept: list[TrainSample]
    stats: dict[str, Any]
    output_file: Path | None


def hf_sampler(policy: Any, settings: MineArguments) -> Sampler:
    """Sampled rollouts from a transformers model (the same request encoding as the provider)."""
    import torch

    from anyaudio_eval.engine import audio_inputs

    model = policy.model
    model.eval()
    suppress = policy.special_ids()
    eos = [policy.end_token_id]
    if policy.tokenizer.pad_token_id is not None:
        eos.append(policy.tokenizer.pad_token_id)

    @torch.inference_mode()
    def sample(samples: Sequence[TrainSample], k: int) -> list[list[str]]:
        texts = []
        for s in samples:
            prepared = policy.encode(s.system_prompt(), s.user_prompt(), s.audio)
            ids = torch.tensor([prepared.ids], device=model.device)
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                **audio_inputs(prepared, model.device, model.dtype),
                do_sample=True,
                temperature=settings.temperature,
                top_p=settings.top_p,
                max_new_tokens=settings.max_new_tokens,
                num_return_sequences=k,
                suppress_tokens=suppress,
                eos_token_id=eos,
                pad_token_id=eos[-1],
            )
            texts.append(policy.tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True))
        return texts

    return sample


def mine(
    samples: Sequence[TrainSample],
    sampler: Sampler,
    k: int = 4,
    criterion: str = "decision",
    threshold: float = DEFAULT_THRESHOLD,
    batch_size: int = 4,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[TrainSample], list[dict[str, Any]], dict[str, Any]]:
    """(kept samples, per-sample records, statistics)."""
    kept: list[TrainSample] = []
    records: list[dict[str, Any]] = []
    for start in range(0, len(samples), max(1, batch_size)):
        chunk = list(samples[start : start + max(1, batch_size)])
        rollouts = sampler(chunk, k)
        if len(rollouts) != len(chunk) or any(len(r) != k for r in rollouts):
            raise RuntimeError(f"the sampler returned {[len(r) for r in rollouts]} rollouts, expected {k} per sample")
        for s, texts in zip(chunk, rollouts, strict=True):
            right = [is_right(t, s.gold, s.label, criterion, threshold) for t in texts]
            rewards = [round(judge_reward(t, s.gold, s.label, threshold=threshold), 4) for t in texts]
            n_right = sum(right)
            keep = n_right < k
            if keep:
                kept.append(s)
            records.append(
                {
                    "uuid": s.uuid,
                    "domain": s.domain,
                    "label": s.label,
                    "n_right": n_right,
                    "kept": keep,
                    "right": right,
                    "rewards": rewards,
                    "completions": texts,
                }
            )
        if progress:
            progress(len(chunk))
    n = len(records)
    hist = Counter(r["n_right"] for r in records)
    stats = {
        "samples": n,
        "kept": len(kept),
        "kept_rate": len(kept) / n if n else None,
        "rollouts_per_sample": k,
        "criterion": criterion,
        "threshold": threshold,
        "n_right_histogram": {str(i): hist.get(i, 0) for i in range(k + 1)},
        "always_right": hist.get(k, 0),
        "never_right": hist.get(0, 0),
        "mean_reward": (sum(sum(r["rewards"]) for r in records) / (n * k)) if n else None,
        "kept_by_domain": dict(Counter(s.domain for s in kept)),
        "kept_by_label": dict(Counter(s.label for s in kept)),
    }
    return kept, records, stats


def run_mine(config: MineStageConfig, sampler: Sampler | None = None) -> MineResult:
    settings = config.judge
    out_dir = Path(config.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    corpus = load_stage_corpus(settings, "mine", "the SFT corpus")
    if sampler is None:
        from anyaudio_eval.training.modeling import stage_policy

        policy = stage_policy(config)
        sampler = hf_sampler(policy, settings)
    progress_cm: Any = None
    advance: Callable[[int], None] | None = None
    if settings.progress:
        from rich.progress import Progress

        progress_cm = Progress()
        task = progress_cm.add_task("mining", total=len(corpus.samples))
        progress_cm.start()

        def advance(n: int) -> None:
            progress_cm.advance(task, n)

    try:
        kept, records, stats = mine(
            corpus.samples,
            sampler,
            settings.rollouts,
            settings.criterion,
            settings.decision_threshold,
            settings.batch_size,
            advance,
        )
    finally:
        if progress_cm is not None:
            progress_cm.stop()
    stats.update(
        {
            "source": corpus.source,
            "skipped_rows": len(corpus.skipped),
            "model": config.model.model_name_or_path,
            "settings": config.to_dict(),
        }
    )
    output = Path(settings.output_file) if settings.output_file else out_dir / "mined.jsonl"
    write_corpus(kept, output)
    with (output.parent / (output.stem + "_rollouts.jsonl")).open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    (output.parent / (output.stem + "_stats.json")).write_text(
        json.dumps(stats, indent=2, default=str), encoding="utf-8"
    )
    return MineResult(kept, stats, output)
