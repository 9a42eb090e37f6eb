"""Shared by the benchmark scripts: the bench parquet schema, peak memory, measured child runs."""

from __future__ import annotations

from typing import Any


def hub_schema() -> tuple[Any, Any]:
    """(schema, audio struct type) of a bench parquet in the hub layout."""
    import pyarrow as pa

    audio_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    item_type = pa.struct([("basis", pa.string()), ("dimension", pa.string()), ("question", pa.string())])
    schema = pa.schema(
        [
            ("uuid", pa.string()),
            ("audio", audio_type),
            ("caption", pa.string()),
            ("label", pa.string()),
            ("type", pa.string()),
            ("subset", pa.string()),
            ("rubric", pa.list_(item_type)),
        ]
    )
    return schema, audio_type


def peak_rss() -> dict[str, int]:
    """ru_maxrss (KiB on Linux) and, as a cross-check, VmHWM of /proc/self/status.

    ru_maxrss survives execve, so a child started by a big parent would report the parent's peak: the
    parents here stay small (heavy work runs in subprocesses), and VmHWM is per address space.
    """
    import resource
    from pathlib import Path

    out = {"peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "vm_hwm": 0}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["vm_hwm"] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def run_child(script: str, args: list[str], env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `script` again as a measured child (offline) and return the JSON it prints last."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", **(env_extra or {}))
    proc = subprocess.run([sys.executable, script, *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
