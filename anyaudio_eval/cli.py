"""The `anyaudio` command."""

from __future__ import annotations

import argparse
import sys


def _report(args: argparse.Namespace) -> int:
    from anyaudio_eval.report import find_logs, render, summarise_log

    try:
        paths = find_logs(args.logs, latest=args.latest)
    except FileNotFoundError as ex:
        print(f"anyaudio report: {ex}", file=sys.stderr)
        return 2
    summaries = []
    for path in paths:
        # A truncated log or a foreign file in the folder costs one line, not the whole report.
        try:
            summary = summarise_log(path)
        except Exception as ex:  # read_eval_log raises zip, JSON and validation errors of many types
            reason = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
            print(f"anyaudio report: skipped {path}: not a readable Inspect log ({reason[:200]})", file=sys.stderr)
            continue
        if summary.records or summary.unscored:
            summaries.append(summary)
        else:
            print(f"anyaudio report: skipped {path}: no bench_alignment scores", file=sys.stderr)
    if args.threshold is not None:  # re-threshold the logged continuous scores
        for s in summaries:
            s.threshold = args.threshold
    if not summaries:
        print("anyaudio report: none of the logs has bench_alignment scores", file=sys.stderr)
        return 2
    sys.stdout.write(render(summaries, args.format))
    if args.plot:
        from anyaudio_eval.plots import write_report_plots

        for path in write_report_plots(summaries, args.plot):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def _lmeval_path(args: argparse.Namespace) -> int:
    from anyaudio_eval.lmeval import pack_path

    print(pack_path())
    return 0


def _judge(args: argparse.Namespace) -> int:
    import asyncio
    import json
    from pathlib import Path

    from anyaudio_eval.judge.checklist import render_checklist
    from anyaudio_eval.reward import alignment_reward_async

    rubric = None
    if args.rubric:
        raw = json.loads(Path(args.rubric).read_text(encoding="utf-8"))
        rubric = raw.get("items", raw) if isinstance(raw, dict) else raw
    try:
        result = asyncio.run(
            alignment_reward_async(
                Path(args.audio),
                instruction=args.caption,
                rubric=rubric,
                judge=args.model,
                decomposer=args.decomposer,
                domain=args.domain,
                mode=args.mode,
                prompt_language=args.prompt_language,
                rubric_language=args.rubric_language,
                hard_answers=args.hard_answers,
            )
        )
    except (ValueError, OSError) as ex:
        print(f"anyaudio judge: {ex}", file=sys.stderr)
        return 2
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(render_checklist(result)))
    return 0 if result.score is not None else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anyaudio", description="AnyAudio-Judge evaluation tools")
    sub = parser.add_subparsers(dest="command", required=True)

    report = sub.add_parser("report", help="paper-style table from bench/probe logs")
    report.add_argument("logs", nargs="+", help="log files or folders of logs")
    report.add_argument("--format", choices=["table", "csv", "markdown"], default="table")
    report.add_argument("--threshold", type=float, help="decision threshold (default: the one each run used)")
    report.add_argument(
        "--plot",
        metavar="DIR",
        help="also write PNGs into DIR: ROC per subset, reliability diagram, accuracy per subset, failed dimensions",
    )
    report.add_argument("--latest", action="store_true", help="in a folder, use only the newest log")
    report.set_defaults(func=_report)

    from anyaudio_eval.training.cli import add_train_parser

    add_train_parser(sub)

    judge = sub.add_parser("judge", help="judge one clip against a caption or a rubric")
    judge.add_argument("audio", help="audio file (wav, flac, ogg, mp3)")
    judge.add_argument("--caption", help="the instruction the clip should follow")
    judge.add_argument("--rubric", help='JSON file: [{"dimension", "question", "basis"}] or {"items": [...]}')
    judge.add_argument("--model", default="acoustic/default", help="judge model (default: the offline acoustic judge)")
    judge.add_argument("--decomposer", help="text model that writes the rubric from --caption")
    judge.add_argument("--domain", default="mix", choices=["speech", "sound", "music", "mix"])
    judge.add_argument("--mode", default="logits", choices=["logits", "generate", "holistic"])
    judge.add_argument("--prompt-language", default="zh", choices=["zh", "en"])
    judge.add_argument("--rubric-language", default="zh", choices=["zh", "en"])
    judge.add_argument(
        "--hard-answers",
        default="unscored",
        choices=["unscored", "allow"],
        help="a one-word reply without logprobs: unparsed (default) or kept as a hard 0/1",
    )
    judge.add_argument("--json", action="store_true", help="print the full result as JSON")
    judge.set_defaults(func=_judge)
    lmeval_path = sub.add_parser("lmeval-path", help="print the folder of the lm-eval task pack (for --include_path)")
    lmeval_path.set_defaults(func=_lmeval_path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
