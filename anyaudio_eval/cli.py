"""The `anyaudio` command."""

from __future__ import annotations

import argparse
import sys


def _report(args: argparse.Namespace) -> int:
    from anyaudio_eval.shards import ShardError

    try:
        return _report_logs(args)
    except ShardError as ex:  # shard logs that cannot make one run: say which, print no half-merged table
        print(f"anyaudio report: {ex}", file=sys.stderr)
        return 2


def _shards(args: argparse.Namespace) -> int:
    from anyaudio_eval.shards import launch

    command = args.command_line[1:] if args.command_line[:1] == ["--"] else args.command_line
    try:
        return launch(args.n, command)
    except (ValueError, OSError) as ex:
        print(f"anyaudio shards: {ex}", file=sys.stderr)
        return 2


def _report_logs(args: argparse.Namespace) -> int:
    from anyaudio_eval.report import find_logs, log_kind, render, render_table, summarise_log

    try:
        paths = find_logs(args.logs, latest=args.latest)
    except FileNotFoundError as ex:
        print(f"anyaudio report: {ex}", file=sys.stderr)
        return 2
    kinds: dict[str, list] = {"bench": [], "human_alignment": [], "generator": []}
    for p in paths:
        # A truncated log or a foreign file in the folder costs one line, not the whole report.
        try:
            kinds[log_kind(p)].append(p)
        except Exception as ex:  # read_eval_log raises zip, JSON and validation errors of many types
            reason = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
            print(f"anyaudio report: skipped {p}: not a readable Inspect log ({reason[:200]})", file=sys.stderr)
    summaries = []
    for path in kinds["bench"]:
        try:
            summary = summarise_log(path)
        except Exception as ex:  # a log whose header reads but whose samples do not
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
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    extra: list = []
    if kinds["human_alignment"]:
        from anyaudio_eval.report import alignment_forest, alignment_tables, summarise_alignment_log

        alignments = [summarise_alignment_log(p) for p in kinds["human_alignment"]]
        tables += alignment_tables(alignments)
        if args.plot and any(a.layout == "ratings" for a in alignments):
            extra.append(("human_alignment_forest.png", alignment_forest(alignments)))
    if kinds["generator"]:
        from anyaudio_eval.leaderboard import forest, leaderboard, leaderboard_tables, summarise_generator_log

        generators = [summarise_generator_log(p) for p in kinds["generator"]]
        if args.threshold is not None:
            for g in generators:
                g.threshold = args.threshold
        board = leaderboard(generators, seed=args.seed, tie_margin=args.tie_margin)
        tables += leaderboard_tables(board)
        if args.plot and board.rows:
            extra.append(("generators_forest.png", forest(board)))
    if not summaries and not tables:
        print("anyaudio report: none of the logs has bench, human_alignment or instruct scores", file=sys.stderr)
        return 2
    parts = [render(summaries, args.format, scores=args.scores)] if summaries else []
    for title, header, rows in tables:
        text = render_table(header, rows, args.format, title)
        parts.append(f"### {title}\n\n{text}" if args.format == "markdown" else text)
    out = "\n".join(parts)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    sys.stdout.flush()  # the table before the plots' "wrote ..." lines on stderr
    if args.plot:
        from anyaudio_eval.plots import write_report_plots

        for path in write_report_plots(summaries, args.plot, extra, [str(p) for p in kinds["generator"]]):
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

    from anyaudio_eval.bench.schema import RubricItem
    from anyaudio_eval.judge.checklist import decision_line, render_checklist
    from anyaudio_eval.reward import alignment_reward_async
    from anyaudio_eval.rubric.prompts import text_language
    from anyaudio_eval.rubric.reference import ReferenceError

    rubric = None
    if args.rubric:
        raw = json.loads(Path(args.rubric).read_text(encoding="utf-8"))
        rubric = raw.get("items", raw) if isinstance(raw, dict) else raw
    elif args.mode != "holistic" and not args.decomposer:
        what = "--caption alone" if args.caption else "a clip alone"
        print(
            f"anyaudio judge: {what} has no rubric to judge. Pass --rubric FILE (the items to check), or "
            "--decomposer MODEL (a text LLM that writes the rubric from --caption), or --mode holistic with "
            "--caption (one question: does the clip match it?; works offline with the acoustic judge).",
            file=sys.stderr,
        )
        return 2
    # Languages follow what the user wrote unless given: the rubric's for the judge prompt, the caption's for
    # decomposed questions.
    if rubric is not None:
        texts = [str(RubricItem.model_validate(i).question) for i in rubric if isinstance(i, dict)]
    else:
        texts = [args.caption or ""]
    prompt_language = args.prompt_language or text_language(texts)
    rubric_language = args.rubric_language or text_language([args.caption or ""])
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
                prompt_language=prompt_language,
                rubric_language=rubric_language,
                protocol=args.protocol,
                reference=args.reference,
                hard_answers=args.hard_answers,
            )
        )
    except (ValueError, OSError, ReferenceError) as ex:
        print(f"anyaudio judge: {ex}", file=sys.stderr)
        return 2
    threshold = args.threshold
    if threshold is None:
        from anyaudio_eval.rubric.protocol import get_protocol

        threshold = get_protocol(args.protocol, prompt_language, reference=args.reference).threshold(args.mode)
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        from rich.console import Console
        from rich.markdown import Markdown

        console = Console()
        console.print(Markdown(render_checklist(result, threshold, args.label)))
        console.print(decision_line(result, threshold, args.label), markup=False, highlight=False)
    return 0 if result.score is not None else 1


class _DefaultsHelp(argparse.HelpFormatter):
    """Shows each option's default, unless it has none or its help already says what it is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "(default" not in text:
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anyaudio", description="AnyAudio-Judge evaluation tools")
    sub = parser.add_subparsers(dest="command", required=True)

    report = sub.add_parser(
        "report", help="tables from logs: bench/probe accuracy, agreement with listeners, generator leaderboard"
    )
    report.add_argument("logs", nargs="+", help="log files or folders of logs")
    report.add_argument("--format", choices=["table", "csv", "markdown"], default="table")
    report.add_argument("--threshold", type=float, help="decision threshold (default: the one each run used)")
    report.add_argument(
        "--plot",
        metavar="DIR",
        help="also write PNGs into DIR: ROC per subset, reliability diagram, accuracy per subset, failed dimensions, "
        "forest plots of the CIs (generators, human alignment)",
    )
    report.add_argument("--latest", action="store_true", help="in a folder, use only the newest log")
    report.add_argument(
        "--scores",
        action="store_true",
        help="print the mean score per subset instead (what the release's logits-mode script reports)",
    )
    report.add_argument("--seed", type=int, default=0, help="bootstrap seed of the generator leaderboard")
    report.add_argument(
        "--tie-margin", type=float, default=0.0, help="paired comparisons: score differences within this are ties"
    )
    report.set_defaults(func=_report)

    shards = sub.add_parser(
        "shards",
        help="run an inspect eval as N shard processes on this machine (-T shard=k/N each); report merges them",
        description="Runs N copies of the command at once, each with -T shard=k/N appended (and --display plain "
        "unless a display is given); their output lines are prefixed with the shard. Each process opens its own "
        "connections: divide --max-connections by N. Example: anyaudio shards 4 -- inspect eval "
        "anyaudio_eval/bench --model vllm/<judge> --log-dir logs/run1, then anyaudio report logs/run1",
    )
    shards.add_argument("n", type=int, help="number of shards (processes)")
    shards.add_argument("command_line", nargs=argparse.REMAINDER, help="-- inspect eval <task> [options]")
    shards.set_defaults(func=_shards)

    from anyaudio_eval.training.cli import add_train_parser

    add_train_parser(sub)

    judge = sub.add_parser(
        "judge",
        help="judge one clip against a caption or a rubric",
        formatter_class=_DefaultsHelp,
    )
    judge.add_argument("audio", help="audio file (wav, flac, ogg, mp3)")
    judge.add_argument("--caption", help="the instruction the clip should follow")
    judge.add_argument("--rubric", help='JSON file: [{"dimension", "question", "basis"}] or {"items": [...]}')
    judge.add_argument(
        "--model", default="acoustic/default", help="judge model; acoustic/default is the offline acoustic judge"
    )
    judge.add_argument("--decomposer", help="text model that writes the rubric from --caption")
    judge.add_argument(
        "--domain", default="mix", choices=["speech", "sound", "music", "mix"], help="decomposition prompt"
    )
    judge.add_argument("--mode", default="logits", choices=["logits", "generate", "holistic"], help="judging mode")
    judge.add_argument(
        "--prompt-language", choices=["zh", "en"], help="judge prompt language (default: the rubric's, detected)"
    )
    judge.add_argument(
        "--rubric-language", choices=["zh", "en"], help="language of decomposed questions (default: the caption's)"
    )
    judge.add_argument("--threshold", type=float, help="decision threshold (default: the protocol's for the mode)")
    judge.add_argument("--label", choices=["yes", "no"], help="the known answer: the last line says right or wrong")
    judge.add_argument(
        "--protocol",
        default="anyaudio",
        choices=["anyaudio", "reference"],
        help="anyaudio (our prompts) or reference (the authors' released judge call)",
    )
    judge.add_argument("--reference", help="protocol=reference: a clone of the release or its prompts.py")
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
