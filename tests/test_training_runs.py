"""Training runs on a tiny random model (offline, CPU, seconds each): SFT, GRPO with audio, resume, CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("trl")

from anyaudio_eval.training.config import load_config  # noqa: E402
from anyaudio_eval.training.data import build_tiny_corpus, load_corpus  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    return build_tiny_corpus(tmp_path_factory.mktemp("corpus"), n=4)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """One tiny full-layout Omni checkpoint shared by the runs (built once)."""
    from anyaudio_eval.training.modeling import resolve_model

    return str(resolve_model("tiny:omni", tmp_path_factory.mktemp("base")))


@pytest.fixture(scope="module")
def bases(base, tmp_path_factory):
    """Both Omni bases of the method: Qwen2.5-Omni (the released 7B) and Qwen3-Omni MoE (the paper's 30B)."""
    from anyaudio_eval.training.modeling import resolve_model

    return {"omni": base, "omni3": str(resolve_model("tiny:omni3", tmp_path_factory.mktemp("base3")))}


def _argv(settings):
    return [item for key, value in settings.items() for item in (f"--{key}", str(value))]


def _sft(corpus_file, base, out, **overrides):
    settings = {
        "preset": "cpu",
        "model_name_or_path": base,
        "train_file": str(corpus_file),
        "output_dir": str(out),
        "use_cpu": True,
        "progress": False,
        **overrides,
    }
    return load_config("sft", _argv(settings))


@pytest.mark.parametrize(("family", "exported_type"), [("omni", "qwen2_5_omni"), ("omni3", "qwen3_omni_moe")])
def test_sft_lowers_the_loss_on_a_repeated_batch(corpus_file, bases, tmp_path, family, exported_type):
    from anyaudio_eval.training.sft import run_sft

    result = run_sft(
        _sft(corpus_file, bases[family], tmp_path, limit=2, per_device_train_batch_size=2, max_steps=6, save_steps=100)
    )
    losses = result.losses
    assert len(losses) == 6 and losses[-1] < 0.8 * losses[0], losses
    # the exported model is what the audiollm/ provider and vLLM load (the full Omni layout)
    cfg = json.loads((result.final_checkpoint / "config.json").read_text())
    assert cfg["model_type"] == exported_type


class _Crash(Exception):
    pass


def test_an_interrupted_run_resumes_from_its_last_complete_checkpoint(corpus_file, base, tmp_path):
    from transformers import TrainerCallback

    from anyaudio_eval.training.sft import run_sft

    class KillAtStep3(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise _Crash("killed")

    settings = _sft(corpus_file, base, tmp_path, max_steps=4, save_steps=2)
    with pytest.raises(_Crash):
        run_sft(settings, callbacks=[KillAtStep3()])
    assert (tmp_path / "checkpoint-2" / "trainer_state.json").is_file()
    assert not (tmp_path / "final").exists()
    (tmp_path / "checkpoint-3").mkdir()  # a checkpoint cut off while being written: never resumed from
    result = run_sft(settings)
    assert result.resumed_from == str(tmp_path / "checkpoint-2")
    assert result.global_step == 4
    steps = [row["step"] for row in result.log_history if "loss" in row]
    assert steps == [1, 2, 3, 4]  # steps 1-2 restored from the checkpoint's history, 3-4 trained again
    assert (tmp_path / "final" / "model.safetensors").is_file()


def test_a_yaml_learning_rate_trains_as_a_float_and_a_flag_overrides_the_file(corpus_file, base, tmp_path):
    from transformers import TrainerCallback

    from anyaudio_eval.training.sft import run_sft

    cfg = tmp_path / "sft.yaml"
    cfg.write_text(
        f"preset: cpu\nmodel_name_or_path: {base}\ntrain_file: {corpus_file}\nuse_cpu: true\n"
        "progress: false\nlearning_rate: 1e-5\nlr_scheduler_type: constant\nmax_steps: 8\n"
    )
    assert yaml.safe_load(cfg.read_text())["learning_rate"] == "1e-5"  # what PyYAML alone makes of it

    class Seen(TrainerCallback):
        rates: list = []

        def on_train_begin(self, args, state, control, **kwargs):
            self.rates.append(args.learning_rate)

    config = load_config("sft", ["--config", str(cfg), "--output_dir", str(tmp_path / "out"), "--max_steps", "2"])
    result = run_sft(config, callbacks=[Seen()])
    assert Seen.rates == [1e-5] and type(Seen.rates[0]) is float  # the trainer's args
    assert result.global_step == 2  # the flag, not the file's 8
    assert [row["learning_rate"] for row in result.log_history if "loss" in row] == [1e-5, 1e-5]


@pytest.mark.parametrize("family", ["omni", "omni3"])
def test_grpo_step_feeds_audio_to_every_forward_and_trains_the_audio_encoder(corpus_file, bases, tmp_path, family):
    from anyaudio_eval.training.grpo import build_trainer
    from anyaudio_eval.training.modeling import load_policy
    from anyaudio_eval.training.rewards import completion_text

    base = bases[family]
    settings = load_config(
        "grpo",
        _argv(
            {
                "preset": "cpu",
                "model_name_or_path": base,
                "train_file": str(corpus_file),
                "output_dir": str(tmp_path),
                "use_cpu": True,
                "progress": False,
                "per_device_train_batch_size": 4,
                "num_generations": 4,
                "max_completion_length": 8,
                "max_steps": 1,
                "learning_rate": 1e-3,
                "save_steps": 100,
            }
        ),
    )
    policy = load_policy(base, tmp_path, device="cpu")
    samples = load_corpus(corpus_file).samples
    trainer = build_trainer(settings, policy, samples)
    # rewards that differ between rollouts, so the advantages (and the gradient) are not zero
    trainer.reward_funcs = [
        lambda completions, **_: [float(sum(map(ord, completion_text(c))) % 7) for c in completions]
    ]
    trainer.reward_func_names = ["spread"]
    trainer.reward_weights = torch.ones(1)
    trainer.reward_processing_classes = [None]

    model = policy.model
    calls = []
    model.register_forward_pre_hook(
        lambda mod, args, kwargs: calls.append(
            {
                "features": kwargs.get("input_features") is not None,
                "grad": torch.is_grad_enabled(),
                "cached": kwargs.get("past_key_values") is not None and kwargs["past_key_values"].get_seq_length() > 0,
            }
        ),
        with_kwargs=True,
    )
    audio_calls = []
    model.audio_tower.register_forward_hook(lambda *a: audio_calls.append(torch.is_grad_enabled()))
    before = {n: p.detach().clone() for n, p in model.named_parameters() if "audio_tower" in n}
    trainer.train()

    prompt_forwards = [c for c in calls if not c["cached"]]  # generation's decode steps reuse cached audio keys
    assert prompt_forwards and all(c["features"] for c in prompt_forwards), prompt_forwards
    assert any(c["grad"] for c in prompt_forwards)  # the loss forward had the audio
    assert True in audio_calls  # the audio encoder ran with grad enabled
    changed = [n for n, p in model.named_parameters() if "audio_tower" in n and not torch.equal(p, before[n])]
    assert changed, "the audio encoder received no gradient"
    assert "judge/pred_yes_rate" not in trainer.state.log_history[0]  # replaced reward: no judge metrics


def test_cli_sft_then_grpo_end_to_end_and_the_bench_task_judges_the_result(corpus_file, base, tmp_path):
    from inspect_ai import eval as inspect_eval

    from anyaudio_eval.tasks.bench import bench
    from anyaudio_eval.training.cli import main

    common = ["--preset", "cpu", "--use-cpu", "--no-progress", "--train-file", str(corpus_file)]
    assert (
        main(
            ["train", "sft", "--model-name-or-path", base, "--output-dir", str(tmp_path / "sft"), "--max-steps", "2"]
            + common
        )
        == 0
    )
    cfg = tmp_path / "grpo.yaml"
    cfg.write_text(
        f"preset: cpu\nmodel_name_or_path: {tmp_path / 'sft' / 'final'}\nmax_completion_length: 8\n"
        "reward_weights: {format: 0.1, decision: 0.2, items: 0.7}\n"
    )
    assert (
        main(
            ["train", "grpo", "--config", str(cfg), "--output-dir", str(tmp_path / "grpo"), "--max-steps", "1"] + common
        )
        == 0
    )
    final = tmp_path / "grpo" / "final"
    history = json.loads((tmp_path / "grpo" / "checkpoint-1" / "trainer_state.json").read_text())["log_history"]
    assert "judge/pred_yes_rate" in history[0] and "judge/gold_yes_rate" in history[0]

    # the trained checkpoint, judged by the bench task through the audiollm/ provider
    rows = []
    for s in load_corpus(corpus_file).samples:
        rel = str(Path(s.audio).relative_to(corpus_file.parent))  # the bench loader keeps audio under its root
        rows.append(
            {
                "uuid": s.uuid,
                "audio": rel,
                "caption": s.caption,
                "label": s.label,
                "type": "pos" if s.label == "yes" else "neg_change",
                "subset": "sound",
                "rubric": [i.model_dump(include={"dimension", "question", "basis"}) for i in s.items],
            }
        )
    manifest = corpus_file.parent / "bench.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    log = inspect_eval(
        bench(dataset=str(manifest), language="en", prompt_language="en"),
        model=f"audiollm/{final}",
        display="none",
        log_dir=str(tmp_path / "logs"),
    )[0]
    assert log.status == "success", log.error
    assert len(log.samples) == 4
    assert all(0.0 <= s.scores["bench_alignment"].metadata["score"] <= 1.0 for s in log.samples)
