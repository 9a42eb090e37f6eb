"""`anyaudio train sft|mine|grpo --config FILE` and `anyaudio train demo-corpus DIR`.

Wire into the `anyaudio` parser with `add_train_parser(sub)` (sub = the top-level subparsers). Heavy imports
happen only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

STAGE_HELP = {
    "sft": "supervised fine-tuning on generate-mode targets",
    "mine": "keep the samples the model does not always get right",
    "grpo": "GRPO with the judge reward (audio in every forward)",
}


class _TrainParser(argparse.ArgumentParser):
    """A parser under `anyaudio train`. A stage's (`stage` set) hands every argument after the stage name to that
    stage's own typed parser (`training.config.load_config`, TRL's `TrlParser`), which knows the settings."""

    def __init__(self, *args: Any, stage: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stage = stage

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self.stage is None:
            return super().parse_known_args(args, namespace)
        namespace = namespace if namespace is not None else argparse.Namespace()
        namespace.func, namespace.stage, namespace.argv = _run, self.stage, list(args or [])
        return namespace, []


def _run(args: argparse.Namespace) -> int:
    import logging

    from rich.console import Console

    from anyaudio_eval.training.config import ConfigError, load_config

    console = Console(stderr=True)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.stage, args.argv)
    except ConfigError as ex:
        console.print(f"[red]anyaudio train {args.stage}: {ex}", highlight=False)
        console.print(f"every setting and its default: anyaudio train {args.stage} --help", highlight=False)
        return 2
    try:
        if args.stage == "sft":
            from anyaudio_eval.training.sft import run_sft

            result = run_sft(config)
        elif args.stage == "grpo":
            from anyaudio_eval.training.grpo import run_grpo

            result = run_grpo(config)
        else:
            from anyaudio_eval.training.mining import run_mine

            mined = run_mine(config)
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


ACCELERATE_CONFIGS = ("ddp", "fsdp", "zero3", "cpu")


def accelerate_config_path(name: str) -> str:
    """The shipped `accelerate launch --config_file` for `name` (ddp, fsdp, zero3, cpu)."""
    from pathlib import Path

    if name not in ACCELERATE_CONFIGS:
        raise ValueError(f"unknown accelerate config {name!r}; use one of {', '.join(ACCELERATE_CONFIGS)}")
    return str(Path(__file__).resolve().parent / "accelerate" / f"{name}.yaml")


def _accelerate_config(args: argparse.Namespace) -> int:
    print(accelerate_config_path(args.name))
    return 0


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `train` (sft, mine, grpo, demo-corpus) on the `anyaudio` subparsers; returns its parser."""
    train = subparsers.add_parser("train", help="train a judge: SFT, hard-sample mining, GRPO")
    stages = train.add_subparsers(dest="train_command", required=True, parser_class=_TrainParser)
    for stage, text in STAGE_HELP.items():  # `anyaudio train <stage> --help` lists the stage's settings
        stages.add_parser(
            stage, help=f"{text}; --config FILE, --preset paper|cpu, --<setting> VALUE", stage=stage, add_help=False
        )
    demo = stages.add_parser("demo-corpus", help="write a tiny generated corpus (tones, noise, silence)")
    demo.add_argument("directory")
    demo.add_argument("--n", type=int, default=8)
    demo.add_argument("--seconds", type=float, default=1.0)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--language", default="en", choices=["en", "zh"])
    demo.set_defaults(func=_demo_corpus)
    acc = stages.add_parser(
        "accelerate-config",
        help='print the path of a shipped accelerate config: accelerate launch --config_file "$(anyaudio train '
        'accelerate-config fsdp)" -m anyaudio_eval.cli train sft ...',
    )
    acc.add_argument("name", choices=ACCELERATE_CONFIGS, help="ddp | fsdp (FSDP2) | zero3 (DeepSpeed) | cpu (gloo, CI)")
    acc.set_defaults(func=_accelerate_config)
    return train


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m anyaudio_eval.training.cli train sft ...`) until cli.py wires it in."""
    parser = argparse.ArgumentParser(prog="anyaudio")
    add_train_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
