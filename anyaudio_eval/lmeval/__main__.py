"""`python -m anyaudio_eval.lmeval ...`: lm-eval's CLI with the `anyaudio-judge` model registered and the pack found.

Every argument goes to lm-eval (`run`, `ls`, `validate`, ...). The pack's folder is added to `--include_path`
(after any folder given). `--use_cache` is refused: lm-eval 0.4.13 cannot hash audio requests.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from anyaudio_eval.lmeval import pack_path, register

_PATH_COMMANDS = {"run", "ls", "list", "validate"}


def prepare_argv(argv: Sequence[str]) -> list[str]:
    """lm-eval arguments with the pack added to `--include_path` (a `:`-separated list in lm-eval)."""
    args = list(argv)
    if not args:
        return args
    command = args[0]
    if command.startswith("-") and command not in ("-h", "--help"):
        args.insert(0, "run")  # lm-eval's legacy form (no subcommand) means run
        command = "run"
    if command not in _PATH_COMMANDS:
        return args
    pack = str(pack_path())
    for i, arg in enumerate(args):
        if arg == "--include_path" and i + 1 < len(args):
            args[i + 1] = f"{args[i + 1]}:{pack}"
            return args
        if arg.startswith("--include_path="):
            args[i] = f"{arg}:{pack}"
            return args
    return [*args, "--include_path", pack]


def main(argv: Sequence[str] | None = None) -> int:
    args = prepare_argv(sys.argv[1:] if argv is None else argv)
    if any(a == "--use_cache" or a.startswith("--use_cache=") for a in args):
        print(
            "anyaudio lm-eval: --use_cache is not supported for audio tasks (lm-eval 0.4.13 cannot hash audio "
            "requests); the judge's prefix cache already reuses each clip across its rubric items.",
            file=sys.stderr,
        )
        return 2
    register()
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["lm_eval", *args]
    try:
        cli_evaluate()
    except SystemExit as ex:  # argparse and lm-eval exit with a code
        return int(ex.code or 0) if not isinstance(ex.code, str) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
