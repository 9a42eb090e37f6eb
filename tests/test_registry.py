"""The package is an Inspect AI plugin: entry point, registry names, the `inspect` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent
INSPECT = VENV_BIN / "inspect"


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        INSPECT_LOG_DIR=str(tmp_path / "logs"),
        ANYAUDIO_CACHE=str(tmp_path / "cache"),
        PYTHONPATH="",  # only what is installed in the venv
    )
    return env


def test_inspect_ai_entry_point_points_to_the_registry_module():
    eps = {ep.name: ep for ep in entry_points(group="inspect_ai")}
    assert "anyaudio_eval" in eps, f"inspect_ai entry points: {sorted(eps)}"
    ep = eps["anyaudio_eval"]
    assert ep.value == "anyaudio_eval._registry"
    module = ep.load()
    assert module.__name__ == "anyaudio_eval._registry"


REPO_ROOT = Path(__file__).resolve().parent.parent

LOOKUP = """
import sys
{prelude}
from inspect_ai._util.registry import registry_info, registry_lookup
task = registry_lookup("task", "anyaudio_eval/bench")
scorer = registry_lookup("scorer", "anyaudio_eval/bench_alignment")
missing = registry_lookup("task", "anyaudio_eval/no_such_task")
print("task", registry_info(task).name if task is not None else None)
print("scorer", scorer is not None)
print("missing", missing is None)
"""


def _lookup(tmp_path: Path, cwd: Path, prelude: str) -> dict[str, str]:
    # `python -c` puts the cwd first on sys.path, exactly like `python -m pytest` / `python -m inspect_ai`.
    proc = subprocess.run(
        [sys.executable, "-c", LOOKUP.format(prelude=prelude)],
        cwd=cwd,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines())


@pytest.mark.parametrize(
    "prelude", ["import anyaudio_eval._registry", ""], ids=["after-importing-registry", "entry-point-only"]
)
def test_registry_lookup_finds_the_bench_task_and_scorer(tmp_path, prelude):
    """From an unrelated directory, the task and scorer are registered under the `anyaudio_eval/` prefix.

    With no import at all, `registry_lookup` loads the entry point by itself (what `inspect eval` does).
    """
    found = _lookup(tmp_path, tmp_path, prelude)
    assert found == {"task": "anyaudio_eval/bench", "scorer": "True", "missing": "True"}


def test_registry_lookup_from_the_repo_root(tmp_path):
    found = _lookup(tmp_path, REPO_ROOT, "import anyaudio_eval._registry")
    assert found["task"] == "anyaudio_eval/bench"


@pytest.mark.slow
def test_inspect_list_tasks_lists_the_bench_task_of_the_installed_package(tmp_path):
    """`inspect list tasks` scans files (it does not list registry names), so point it at the installed package.

    Run from the package's parent folder, the listing names the task as `anyaudio_eval/tasks/bench.py@bench`.
    """
    import anyaudio_eval

    package_dir = Path(anyaudio_eval.__file__).parent
    proc = subprocess.run(
        [str(INSPECT), "list", "tasks", package_dir.name],
        cwd=package_dir.parent,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    listed = proc.stdout.split()
    assert "anyaudio_eval/tasks/bench.py@bench" in listed, proc.stdout


@pytest.mark.slow
def test_inspect_eval_resolves_anyaudio_eval_bench_from_any_directory(tmp_path):
    """`inspect eval anyaudio_eval/bench` from an unrelated cwd reaches our task (its own error proves it)."""
    missing = tmp_path / "no-such-bench"
    proc = subprocess.run(
        [
            str(INSPECT),
            "eval",
            "anyaudio_eval/bench",
            "-T",
            f"dataset={missing}",
            "--model",
            "mockllm/model",
            "--display",
            "none",
        ],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    # our task's own message, printed without a traceback even under --display none
    assert "neither an existing path nor a hub id" in out and "Traceback" not in out, out[-3000:]
