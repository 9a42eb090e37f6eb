"""The one base of the mistakes a user makes in what they ask for (a wrong option, a missing dataset, a bad
reference release): Inspect prints such an error as its message, without a traceback. Each layer raises its own
subclass (`DatasetError`, `TaskOptionError`, `ProtocolError`, `ReferenceError`); this module sits below them all.
"""

from __future__ import annotations

import sys

try:  # Inspect prints these as a message, without a traceback
    from inspect_ai._util.error import PrerequisiteError as _Prerequisite
except ImportError:  # pragma: no cover - a future Inspect without it
    _Prerequisite = Exception  # type: ignore[misc,assignment]


class UserError(_Prerequisite):
    """A mistake in what the user asked for: `inspect eval` prints the message, without a traceback."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        _say_when_quiet(message)

    # Read-only over Inspect's attribute on purpose: always the exception's own text, whichever base ran __init__.
    @property
    def message(self) -> str:  # type: ignore[override]  # what Inspect prints
        return str(self)


def _say_when_quiet(message: str) -> None:
    # Under `--display none` Inspect quiets the console it prints these messages through, so the run would
    # end with exit code 1 and no word of why: say it on stderr in that one case.
    try:
        from inspect_ai.util import display_type

        quiet = display_type() == "none"
    except Exception:  # pragma: no cover - Inspect internals moved
        quiet = False
    if quiet:
        print(f"\n{message}\n", file=sys.stderr, flush=True)
