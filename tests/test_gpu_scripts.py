"""The prepared GPU checks, rehearsed on the CPU so the first task with a device can run them unattended.

`benchmarks/gpu_check.sh` and `gpu_train_check.sh` need vLLM and CUDA; here they are parsed by bash, and the
throughput step's own commands (`gpu_throughput.py make`, `anyaudio shards N -- inspect eval ... --model fanout/`,
`gpu_throughput.py summarise` and `ceiling`) run against the loopback judge in place of `vllm serve`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


@pytest.mark.parametrize("script", ["gpu_check.sh", "gpu_train_check.sh"])
def test_the_gpu_scripts_parse(script):
    done = subprocess.run(["bash", "-n", str(BENCHMARKS / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_no_command_we_document_passes_the_server_as_a_model_arg():
    # Inspect's CLI always passes --model-base-url to get_model() as `base_url`, so `-M base_url=...` fails with
    # "got multiple values for keyword argument 'base_url'" (Inspect 0.3.285) before anything runs
    found = []
    for path in [ROOT / "README.md", *sorted(BENCHMARKS.glob("*.sh")), *sorted((ROOT / "anyaudio_eval").rglob("*.py"))]:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "-M base_url" in line:
                found.append(f"{path.relative_to(ROOT)}:{n}")
    assert not found, "use --model-base-url, not -M base_url: " + ", ".join(found)


@pytest.mark.slow
def test_the_throughput_step_runs_end_to_end_against_a_loopback_judge(tmp_path):
    env = dict(os.environ)
    # `anyaudio shards` starts `inspect` from the PATH, as the GPU script does inside its venv
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    python = sys.executable
    rows, items = 6, 2
    bench, logs = tmp_path / "tp-bench", tmp_path / "tp-logs"
    made = run([python, str(BENCHMARKS / "gpu_throughput.py"), "make", str(bench), "--rows", str(rows),
                "--items", str(items), "--seconds", "1"], env)  # fmt: skip
    assert f"{rows} rows x {items} items" in made

    smi = tmp_path / "smi.csv"
    with FakeOpenAI(record=False) as server:
        run([python, "-m", "anyaudio_eval.cli", "shards", "2", "--", "inspect", "eval", "anyaudio_eval/bench",
             "-T", f"dataset={bench}", "-T", "language=en", "--model", "fanout/tiny-omni", "-M", "api_key=k",
             "--max-connections", "1", "--model-base-url", server.base_url, "--no-log-realtime",
             "--log-dir", str(logs), "--display", "none"], env)  # fmt: skip
        # nvidia-smi's CSV as the script samples it: one row inside the eval window (its first second: logs
        # stamp whole seconds), one long before it
        from datetime import datetime

        from inspect_ai.log import list_eval_logs, read_eval_log

        starts = [read_eval_log(i.name, header_only=True).stats.started_at for i in list_eval_logs(str(logs))]
        inside = min(datetime.fromisoformat(t) for t in starts).astimezone()
        smi.write_text(f"{inside:%Y/%m/%d %H:%M:%S.%f}, 87, 1024\n2001/01/01 00:00:00.000, 5, 10\n")
        summary = run([python, str(BENCHMARKS / "gpu_throughput.py"), "summarise", str(logs), str(smi)], env)
        ceiling = run([python, str(BENCHMARKS / "gpu_throughput.py"), "ceiling", server.base_url, "tiny-omni",
                       str(bench), "--requests", "8", "--connections", "4", "--api-key", "k"], env)  # fmt: skip

    result = json.loads(summary.splitlines()[0])
    assert result["logs"] == 2 and result["samples"] == rows and result["scored"] == rows
    assert result["items"] == rows * items and result["items_per_s"] > 0
    assert result["gpu_util_mean"] == 87.0 and result["gpu_samples"] == 1
    assert "items/s" in ceiling and "8 items" in ceiling
