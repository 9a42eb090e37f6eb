"""The lm-eval task pack: validation, the task logic with a fake audio LM, and agreement with the Inspect task."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from fixtures import balanced_bench

pytest.importorskip("lm_eval")

import lm_eval  # noqa: E402
from lm_eval.api.model import LM  # noqa: E402
from lm_eval.utils import handle_non_serializable  # noqa: E402

from anyaudio_eval.lmeval import GROUPS, TASKS, pack_path, task_manager  # noqa: E402
from anyaudio_eval.lmeval.__main__ import prepare_argv  # noqa: E402


class FakeAudioLM(LM):
    """Audio-aware stand-in: P(yes) 0.9 for audible clips, 0.2 for silence; replies JSON in generate mode."""

    MULTIMODAL = True

    def __init__(self, reply: str = ""):
        super().__init__()
        self.reply = reply
        self.audio_seen = 0

    def _p_yes(self, args) -> float:
        clips = args[-1]["audio"]
        assert len(clips) == 1 and clips[0]["sampling_rate"] == 16000
        wav = clips[0]["array"]
        assert wav.ndim == 1 and wav.dtype == np.float32
        self.audio_seen += 1
        return 0.9 if float(np.sqrt(np.mean(wav**2))) > 0.05 else 0.2

    def loglikelihood(self, requests, disable_tqdm=False):
        out = []
        for req in requests:
            p = self._p_yes(req.args)
            yes = req.args[1].strip() == "yes"
            out.append((float(np.log(p if yes else 1 - p)), yes == (p >= 0.5)))
        return out

    def generate_until(self, requests, disable_tqdm=False):
        for req in requests:
            self._p_yes(req.args)
        return [self.reply for _ in requests]

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError


def run(lm, root, tasks, **kwargs):
    return lm_eval.simple_evaluate(model=lm, tasks=tasks, task_manager=task_manager({"dataset": str(root)}), **kwargs)


@pytest.mark.slow
def test_pack_validates_with_lm_eval_through_the_wrapper():
    proc = subprocess.run(
        [sys.executable, "-m", "anyaudio_eval.lmeval", "validate", "--tasks", ",".join(TASKS + GROUPS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "All tasks found and valid" in proc.stdout + proc.stderr


def test_wrapper_adds_the_pack_to_the_include_path():
    pack = str(pack_path())
    assert prepare_argv(["run", "--tasks", "x"]) == ["run", "--tasks", "x", "--include_path", pack]
    assert prepare_argv(["--model", "m"]) == ["run", "--model", "m", "--include_path", pack]
    assert prepare_argv(["validate", "--include_path", "/mine"]) == [
        "validate",
        "--include_path",
        f"/mine:{pack}",
    ]
    assert (pack_path() / "anyaudio_judge_en.yaml").is_file()


def test_wrapper_refuses_use_cache():
    from anyaudio_eval.lmeval.__main__ import main

    assert main(["run", "--model", "anyaudio-judge", "--use_cache", "/tmp/c"]) == 2


def test_logits_task_averages_p_yes_thresholds_and_breaks_down(tmp_path):
    root = balanced_bench(tmp_path / "bench", "en", n_per_subset=4)
    lm = FakeAudioLM()
    res = run(lm, root, ["anyaudio_judge_en"], log_samples=True)
    r = res["results"]["anyaudio_judge_en"]
    assert lm.audio_seen == 8 * 2 * 2  # 8 samples x 2 items x (yes, no), every request with its clip
    assert r["sample_len"] == 8
    assert r["acc,none"] == 1.0 and r["acc_sound,none"] == 1.0 and r["acc_music,none"] == 1.0
    assert r["acc_macro,none"] == 1.0 and r["auroc,none"] == 1.0 and r["unscored_share,none"] == 0.0
    scores = {s["doc"]["uuid"]: s["auroc"][2] for s in res["samples"]["anyaudio_judge_en"]}
    assert scores["sound-0"] == pytest.approx(0.9) and scores["sound-1"] == pytest.approx(0.2)
    # The logged samples name the cached clip; no audio samples or bytes are written.
    dumped = json.dumps(res["samples"], default=handle_non_serializable, ensure_ascii=False)
    assert len(dumped) < 60_000 and "array" not in dumped and ".wav" in dumped


def test_threshold_comes_from_the_task_metadata(tmp_path):
    root = balanced_bench(tmp_path / "bench", "en", n_per_subset=2, subsets=("sound",))
    res = lm_eval.simple_evaluate(
        model=FakeAudioLM(),
        tasks=["anyaudio_judge_en"],
        task_manager=task_manager({"dataset": str(root), "threshold": 0.95}),
    )
    assert res["results"]["anyaudio_judge_en"]["acc,none"] == 0.5  # 0.9 is now a "no": only negatives right


def test_generate_task_parses_the_answer_list_and_leaves_bad_replies_unscored(tmp_path):
    root = balanced_bench(tmp_path / "bench", "en", n_per_subset=2, subsets=("sound",))
    reply = '```json\n[{"id": 0, "answer": "yes", "evidence": "a tone"}, {"id": 1, "answer": "no"}]\n```'
    r = run(FakeAudioLM(reply), root, ["anyaudio_judge_gen_en"])["results"]["anyaudio_judge_gen_en"]
    assert r["acc,none"] == 0.5  # score 0.5 >= 0.5 means yes: right for the positive only
    r = run(FakeAudioLM("I cannot tell"), root, ["anyaudio_judge_gen_en"])["results"]["anyaudio_judge_gen_en"]
    assert r["unscored_share,none"] == 1.0 and "acc,none" not in r


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    pytest.importorskip("torch")
    from anyaudio_eval.models.tiny import save_tiny

    return save_tiny(tmp_path_factory.mktemp("ckpt") / "omni", family="omni", vision_processors=False)


@pytest.mark.slow
def test_lm_eval_agrees_with_the_inspect_bench_task(tiny_checkpoint, tmp_path):
    from inspect_ai import eval

    from anyaudio_eval.lmeval import register
    from anyaudio_eval.tasks.bench import bench

    root = balanced_bench(tmp_path / "bench", "en", n_per_subset=4)
    balanced_bench(tmp_path / "bench", "zh", n_per_subset=2, subsets=("mix",))
    inspect_scores, inspect_metrics, n = {}, {}, {}
    for language in ("en", "zh"):
        log = eval(
            bench(dataset=str(root), language=language),
            model=f"audiollm/{tiny_checkpoint}",
            display="none",
            log_dir=str(tmp_path / "logs"),
        )[0]
        assert log.status == "success", log.error
        inspect_scores.update({s.id: s.scores["bench_alignment"].metadata["score"] for s in log.samples})
        inspect_metrics[language] = {k: v.value for k, v in log.results.scores[0].metrics.items()}
        n[language] = len(log.samples)

    register()
    from anyaudio_eval.lmeval.model import AnyAudioJudgeLM

    lm = AnyAudioJudgeLM(pretrained=str(tiny_checkpoint), device="cpu")
    res = run(lm, root, ["anyaudio_judge"], apply_chat_template=True, log_samples=True)
    for language in ("en", "zh"):
        task = f"anyaudio_judge_{language}"
        samples = res["samples"][task]
        assert len(samples) == n[language]
        for s in samples:  # the same p_yes mean per sample (float32 forwards)
            assert s["auroc"][2] == pytest.approx(inspect_scores[s["doc"]["uuid"]], abs=1e-5)
        r, m = res["results"][task], inspect_metrics[language]
        assert r["acc,none"] == pytest.approx(m["accuracy"])
        assert r["acc_macro,none"] == pytest.approx(m["macro_accuracy"])
        assert r["auroc,none"] == pytest.approx(m["auroc"], nan_ok=True)
        for subset in ("sound", "music", "mix"):
            if f"acc_{subset}" in m:
                assert r[f"acc_{subset},none"] == pytest.approx(m[f"acc_{subset}"])
    pooled = (inspect_metrics["en"]["accuracy"] * n["en"] + inspect_metrics["zh"]["accuracy"] * n["zh"]) / (
        n["en"] + n["zh"]
    )
    assert res["results"]["anyaudio_judge"]["acc,none"] == pytest.approx(pooled)
