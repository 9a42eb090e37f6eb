"""`anyaudio train sft|mine|grpo --config FILE` and `anyaudio train demo-corpus DIR`.

Wire into the `anyaudio` parser with `add_train_parser(sub)` (sub = the top-level subparsers). Heavy imports
happen only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

_OVERRIDES: list[tuple[str, type, str]] = [
    ("model", str, "checkpoint directory, or tiny:omni / tiny:omni3 / tiny:qwen2_audio"),
    ("train_file", str, "corpus JSONL/parquet (corpus or bench format)"),
    ("output_dir", str, "where checkpoints, logs and the final model go"),
    ("language", str, "prompt language of rows without one (en|zh)"),
    ("limit", int, "use only the first N samples"),
    ("device", str, "auto|cpu|cuda"),
    ("dtype", str, "auto|float32|bfloat16"),
    ("seed", int, "random seed"),
    ("protocol", str, "prompts to train on: anyaudio | reference (the release's, read at run time)"),
    ("reference", str, "protocol=reference: a clone of the release or its prompts.py"),
]
_TRAIN_OVERRIDES: list[tuple[str, type, str]] = [
    ("epochs", float, "training epochs"),
    ("learning_rate", float, "learning rate"),
    ("batch_size", int, "per-device batch size (GRPO: completions)"),
    ("max_steps", int, "stop after N optimizer steps (overrides epochs)"),
    ("save_steps", int, "checkpoint every N steps"),
    ("resume", str, "auto (newest complete checkpoint) | never | <checkpoint dir>"),
]


def _add_overrides(p: argparse.ArgumentParser, stage: str) -> None:
    p.add_argument("--config", help="YAML or JSON settings file (keys of the stage's dataclass; preset: NAME)")
    p.add_argument("--preset", help="start from a named preset: paper or cpu")
    for name, typ, text in _OVERRIDES + (_TRAIN_OVERRIDES if stage != "mine" else []):
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=typ, help=text)
    if stage in ("sft", "grpo"):
        p.add_argument("--lora", dest="lora", action=argparse.BooleanOptionalAction, default=None,
                       help="LoRA adapters (merged into the exported model)")
    if stage == "grpo":
        p.add_argument("--num-generations", dest="num_generations", type=int, help="rollouts per prompt")
        p.add_argument("--use-vllm", dest="use_vllm", action=argparse.BooleanOptionalAction, default=None,
                       help="generate rollouts with a colocated vLLM engine (GPU)")
    if stage == "mine":
        p.add_argument("--rollouts", type=int, help="rollouts per sample (default 4)")
        p.add_argument("--criterion", choices=["decision", "items"], help="what counts as answered right")
        p.add_argument("--output-file", dest="output_file", help="mined corpus path (default <output_dir>/mined.jsonl)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="plain logs")
    p.set_defaults(func=_run, stage=stage)


def _settings(args: argparse.Namespace) -> Any:
    from anyaudio_eval.training.config import load_config

    keys = [name for name, _, _ in _OVERRIDES + _TRAIN_OVERRIDES] + [
        "preset", "num_generations", "use_vllm", "rollouts", "criterion", "output_file", "progress"]  # fmt: skip
    overrides = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    if getattr(args, "lora", None) is not None:
        overrides["lora"] = {"enabled": args.lora}
    return load_config(args.stage, args.config, overrides)


def _run(args: argparse.Namespace) -> int:
    import logging

    from rich.console import Console

    from anyaudio_eval.training.config import ConfigError

    console = Console(stderr=True)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = _settings(args)
    except (ConfigError, json.JSONDecodeError) as ex:
        console.print(f"[red]anyaudio train {args.stage}: {ex}")
        return 2
    try:
        if args.stage == "sft":
            from anyaudio_eval.training.sft import run_sft

            result = run_sft(settings)
        elif args.stage == "grpo":
            from anyaudio_eval.training.grpo import run_grpo

            result = run_grpo(settings)
        else:
            from anyaudio_eval.training.mining import run_mine

            mined = run_mine(settings)
            console.print(f"mined {mined.stats['kept']}/{mined.stats['samples']} samples -> {mined.output_file}")
            console.print_json(json.dumps({k: mined.stats[k] for k in ("n_right_histogram", "kept_by_domain")}))
            return 0
    except (ValueError, FileNotFoundError, RuntimeError) as ex:
        console.print(f"[red]anyaudio train {args.stage}: {type(ex).__name__}: {ex}")
        return 1
    if result.resumed_from:
        console.print(f"resumed from {result.resumed_from}")
    console.print(f"{args.stage}: {result.global_step} steps; final checkpoint {result.final_checkpoint}")
    console.print(f"judge it: inspect eval anyaudio_eval/bench --model audiollm/{result.final_checkpoint} ...")
    return 0


def _demo_corpus(args: argparse.Namespace) -> int:
    from anyaudio_eval.training.data import build_tiny_corpus

    path = build_tiny_corpus(args.directory, n=args.n, seconds=args.seconds, seed=args.seed, language=args.language)
    print(path)
    return 0


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `train` (sft, mine, grpo, demo-corpus) on the `anyaudio` subparsers; returns its parser."""
    train = subparsers.add_parser("train", help="train a judge: SFT, hard-sample mining, GRPO")
    stages = train.add_subparsers(dest="train_command", required=True)
    _add_overrides(stages.add_parser("sft", help="supervised fine-tuning on generate-mode targets"), "sft")
    _add_overrides(stages.add_parser("mine", help="keep the samples the model does not always get right"), "mine")
    _add_overrides(stages.add_parser("grpo", help="GRPO with the judge reward (audio in every forward)"), "grpo")
    demo = stages.add_parser("demo-corpus", help="write a tiny generated corpus (tones, noise, silence)")
    demo.add_argument("directory")
    demo.add_argument("--n", type=int, default=8)
    demo.add_argument("--seconds", type=float, default=1.0)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--language", default="en", choices=["en", "zh"])
    demo.set_defaults(func=_demo_corpus)
    return train


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m anyaudio_eval.training.cli train sft ...`) until cli.py wires it in."""
    parser = argparse.ArgumentParser(prog="anyaudio")
    add_train_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
