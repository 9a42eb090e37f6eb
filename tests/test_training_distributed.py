"""`anyaudio train sft` under `accelerate launch --num_processes 2` (gloo, CPU) trains like one process on the same
global batch: the same losses step by step and the same exported weights (gradients are all-reduced, each
process gets its own half of every global batch, only rank 0 writes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("accelerate")

from anyaudio_eval.training.cli import accelerate_config_path  # noqa: E402
from anyaudio_eval.training.data import build_tiny_corpus  # noqa: E402

pytestmark = pytest.mark.slow

# float32 on CPU; the two runs differ only in how the batch is split and the all-reduce order of the sums.
LOSS_RTOL = 1e-4
LEARNING_RATE = 1e-3
# Adam moves each weight by about the learning rate per step whatever the size of its gradient, so an element whose
# gradient is near zero (a rarely seen embedding row) moves differently with the summation order: measured 2.0e-5
# in 1 of 209K weights, mean 5e-10 (the update itself: 7.8e-4 mean). A missing or wrong all-reduce moves most weights
# by O(learning rate) and fails both bounds.
WEIGHT_ATOL = 0.05 * LEARNING_RATE
WEIGHT_MEAN_ATOL = 1e-4 * LEARNING_RATE


def _losses(output_dir: Path, step: int) -> list[float]:
    state = json.loads((output_dir / f"checkpoint-{step}" / "trainer_state.json").read_text())
    return [row["loss"] for row in state["log_history"] if "loss" in row]


def _weights(final: Path):
    from safetensors.torch import load_file

    out = {}
    for f in sorted(final.glob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


def test_two_processes_train_like_one_on_the_same_global_batch(tmp_path):
    from anyaudio_eval.training.modeling import resolve_model

    corpus = build_tiny_corpus(tmp_path / "corpus", n=8)
    base = resolve_model("tiny:omni", tmp_path / "base")
    config = tmp_path / "sft.yaml"
    # Two steps of 4 samples: the second step's loss depends on the first update, so it checks the all-reduce.
    config.write_text(
        f"preset: cpu\nmodel_name_or_path: {base}\ntrain_file: {corpus}\nuse_cpu: true\nprogress: false\nmax_steps: 2\n"
        f"save_steps: 2\nlogging_steps: 1\nlearning_rate: {LEARNING_RATE}\nseed: 0\n"
    )
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]),
    )
    train = [sys.executable, "-m", "anyaudio_eval.cli", "train", "sft", "--config", str(config)]
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or "accelerate"

    one = subprocess.run(
        [*train, "--output-dir", str(tmp_path / "one"), "--per-device-train-batch-size", "4"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run(
        [
            accelerate,
            "launch",
            "--config_file",
            accelerate_config_path("cpu"),
            "--num_processes",
            "2",
            *train[1:],
            "--output-dir",
            str(tmp_path / "two"),
            "--per-device-train-batch-size",
            "2",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]

    run_info = json.loads((tmp_path / "two" / "sft_config.json").read_text())
    assert run_info["world_size"] == 2
    loss_one, loss_two = _losses(tmp_path / "one", 2), _losses(tmp_path / "two", 2)
    assert len(loss_one) == len(loss_two) == 2
    assert loss_two == pytest.approx(loss_one, rel=LOSS_RTOL), (loss_one, loss_two)
    assert loss_one[1] != pytest.approx(loss_one[0], rel=1e-3)  # the update did something

    w_one, w_two = _weights(tmp_path / "one" / "final"), _weights(tmp_path / "two" / "final")
    assert w_one.keys() == w_two.keys() and w_one
    gaps = [(w_one[k].float() - w_two[k].float()).abs() for k in w_one]
    worst, mean = max(float(g.max()) for g in gaps), sum(float(g.sum()) for g in gaps) / sum(g.numel() for g in gaps)
    assert worst < WEIGHT_ATOL and mean < WEIGHT_MEAN_ATOL, (worst, mean)
    base_w = _weights(base)
    assert any(not base_w[k].equal(w_one[k]) for k in w_one if k in base_w)  # the run changed the weights
