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
    summaries = [summarise_log(p) for p in paths]
    summaries = [s for s in summaries if s.records or s.unscored]
    if args.threshold is not None:  # re-threshold the logged continuous scores
        for s in summaries:
            s.threshold = args.threshold
    if not summaries:
        print("anyaudio report: none of the logs has bench_alignment scores", file=sys.stderr)
        return 2
    sys.stdout.write(render(summaries, args.format))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anyaudio", description="AnyAudio-Judge evaluation tools")
    sub = parser.add_subparsers(dest="command", required=True)

    report = sub.add_parser("report", help="paper-style table from bench/probe logs")
    report.add_argument("logs", nargs="+", help="log files or folders of logs")
    report.add_argument("--format", choices=["table", "csv", "markdown"], default="table")
    report.add_argument("--threshold", type=float, help="decision threshold (default: the one each run used)")
    report.add_argument("--latest", action="store_true", help="in a folder, use only the newest log")
    report.set_defaults(func=_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
