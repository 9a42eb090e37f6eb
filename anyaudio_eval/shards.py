"""Process-level parallelism on one machine: a run split into N shards (`-T shard=k/N`), N processes, one row.

A row belongs to shard k of N when a stable hash of its uuid (sha256, not Python's salted `hash`) is k-1
modulo N, so the shards of one run cover every selected row exactly once, whatever the machine or the order
rows arrive in. Shards are chosen after filters, the seeded shuffle and `limit`, and before any audio is read.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class ShardError(ValueError):
    """Shard logs that cannot be merged into one run (overlapping, mixed or incomplete); says which."""


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    def keeps(self, uuid: str) -> bool:
        return shard_of(uuid, self.count) == self.index

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(uuid: str, count: int) -> int:
    """The 1-based shard of `uuid` among `count` shards."""
    digest = hashlib.sha256(str(uuid).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse_shard(value: str | None) -> Shard | None:
    """`k/n` with 1 <= k <= n (e.g. 1/4 ... 4/4); None or "" means the whole run."""
    if value is None or str(value).strip() == "":
        return None
    match = _SPEC.match(str(value))
    if not match:
        raise ValueError(f"shard must look like k/n (e.g. -T shard=1/4), got {value!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"shard {value!r}: shards are numbered 1/{max(count, 1)} to {max(count, 1)}/{max(count, 1)}")
    return Shard(index, count)


def select(items: Sequence[T], shard: Shard | None, uuid: Callable[[T], str]) -> list[T]:
    return list(items) if shard is None else [item for item in items if shard.keeps(uuid(item))]


def shard_metadata(shard: Shard | None, kept: int, selected: int) -> dict[str, Any] | None:
    """What a task records: which shard, how many rows it kept and how many the whole run selected."""
    if shard is None:
        return None
    return {"index": shard.index, "count": shard.count, "rows": kept, "of": selected}


# -- merging in `anyaudio report` ------------------------------------------------------------------------


@dataclass
class ShardedLog:
    """What the merge needs to know of one log."""

    path: str
    shard: dict[str, Any] | None  # task metadata "shard"
    run: str  # the run's identity: task and task args without the shard
    ids: set[str]


def run_identity(task: str, task_args: dict[str, Any] | None) -> str:
    args = {k: v for k, v in (task_args or {}).items() if k != "shard"}
    return json.dumps([task, args], sort_keys=True, default=str)


def choose_runs(
    logs: Sequence[T], key: Callable[[T], Hashable], info: Callable[[T], ShardedLog]
) -> dict[Hashable, list[T]]:
    """Per key (judge, protocol, language...): the logs of the run to report, oldest first in, as today a rerun
    replaces the earlier log; a sharded run is its complete shard set (a rerun of shard k replaces shard k).
    Raises ShardError when a key's shard logs overlap, mix runs, or leave shards missing."""
    groups: dict[Hashable, list[T]] = {}
    for log in logs:
        groups.setdefault(key(log), []).append(log)
    return {k: _one_run(group, info) for k, group in groups.items()}


def _one_run(group: list[T], info: Callable[[T], ShardedLog]) -> list[T]:
    infos = [info(log) for log in group]
    sharded = [(log, i) for log, i in zip(group, infos, strict=True) if i.shard]
    if not sharded:
        return [group[-1]]
    whole = [i.path for i in infos if not i.shard]
    if whole:
        raise ShardError(
            f"unsharded log(s) {', '.join(whole)} and shard logs {', '.join(i.path for _, i in sharded)} of the same "
            "judge overlap: report one run at a time (name its logs or put each run in its own --log-dir)"
        )
    shapes = {(i.run, int(i.shard["count"])) for _, i in sharded}  # type: ignore[index]
    if len(shapes) > 1:
        raise ShardError(
            "shard logs of different runs (other task options or shard counts) for the same judge: "
            + "; ".join(f"{i.path} (shard {i.shard['index']}/{i.shard['count']})" for _, i in sharded)  # type: ignore[index]
            + ". Report one run at a time (name its logs or put each run in its own --log-dir)"
        )
    count = int(sharded[0][1].shard["count"])  # type: ignore[index]
    newest: dict[int, tuple[T, ShardedLog]] = {}
    for log, i in sharded:
        newest[int(i.shard["index"])] = (log, i)  # type: ignore[index]
    missing = [k for k in range(1, count + 1) if k not in newest]
    if missing:
        have = ", ".join(f"{k}/{count} ({newest[k][1].path})" for k in sorted(newest))
        raise ShardError(
            f"incomplete shard set: shard(s) {', '.join(f'{k}/{count}' for k in missing)} missing; have {have}"
        )
    chosen = [newest[k] for k in range(1, count + 1)]
    seen: dict[str, str] = {}
    for _, i in chosen:
        for sample_id in i.ids:
            if sample_id in seen:
                raise ShardError(f"shard logs {seen[sample_id]} and {i.path} overlap: both judged sample {sample_id!r}")
            seen[sample_id] = i.path
    shard_info = [i.shard or {} for _, i in chosen]  # every chosen log is a shard (filtered above)
    selected = {int(info.get("of", -1)) for info in shard_info}
    kept = sum(int(info.get("rows", 0)) for info in shard_info)
    if len(selected) == 1 and kept != next(iter(selected)):
        raise ShardError(f"shards of {count} keep {kept} rows in all but the run selected {selected.pop()}: rows lost")
    return [log for log, _ in chosen]


# -- the launcher: `anyaudio shards N -- inspect eval ...` ------------------------------------------------


def shard_commands(count: int, command: Sequence[str]) -> list[list[str]]:
    """The command of each shard: the user's `inspect eval ...` plus `-T shard=k/N` (and a line-oriented
    display when none is chosen, since N live displays on one terminal are unreadable)."""
    if count < 1:
        raise ValueError("the number of shards must be at least 1")
    command = list(command)
    if not command:
        raise ValueError(
            "give the command to shard after --, e.g. anyaudio shards 4 -- inspect eval anyaudio_eval/bench ..."
        )
    if any(arg.startswith("shard=") for arg in command):
        raise ValueError("the command already has -T shard=...: the launcher adds it")
    if not any(arg == "--display" or arg.startswith("--display=") for arg in command):
        command += ["--display", "plain"]
    return [[*command, "-T", f"shard={k}/{count}"] for k in range(1, count + 1)]


def launch(count: int, command: Sequence[str], out=None) -> int:
    """Run the N shard processes at once, each output line prefixed with its shard; 0 when all succeed."""
    out = out or sys.stdout
    lock = threading.Lock()
    procs = []
    for argv in shard_commands(count, command):
        label = argv[-1].removeprefix("shard=")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        procs.append((label, proc))

    def pump(label: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with lock:
                out.write(f"[{label}] {line}")
                out.flush()

    threads = [threading.Thread(target=pump, args=p, daemon=True) for p in procs]
    for t in threads:
        t.start()
    codes = [(label, proc.wait()) for label, proc in procs]
    for t in threads:
        t.join()
    failed = [f"{label} (exit {code})" for label, code in codes if code != 0]
    if failed:
        out.write(f"anyaudio shards: failed: {', '.join(failed)}; rerun those shards alone, then `anyaudio report`\n")
        return 1
    out.write(f"anyaudio shards: all {count} shards finished; merge them with `anyaudio report <log dir>`\n")
    return 0
