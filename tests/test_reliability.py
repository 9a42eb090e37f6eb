"""Is the judge listening, and is it stable? Grounding checks, epoch stability, temperature flag."""

from __future__ import annotations

import re

import numpy as np
import pytest
from fixtures import embedded, encode, row, tone, write_parquet
from inspect_ai import eval
from judges import deaf, scripted_judge

from anyaudio_eval.tasks.bench import bench


def tone_bench(root):
    """Every clip is a tone of a distinct frequency; positives ask about their own frequency."""
    rows = []
    freqs = [200, 300, 400, 500, 600, 700, 800, 900]
    for i, f in enumerate(freqs):
        positive = i % 2 == 0
        asked = f if positive else freqs[(i + 1) % len(freqs)]
        rubric = [{"dimension": "pitch", "question": f"Is there a {asked} Hz tone?", "basis": "caption"}]
        rows.append(
            row(
                f"t{i}",
                embedded(encode(tone(f))),
                "yes" if positive else "no",
                "sound",
                "pos" if positive else "neg_change",
                caption=f"a {asked} Hz tone",
                rubric=rubric,
            )
        )
    write_parquet(root / "en" / "test-00000-of-00001.parquet", rows)
    return root


def frequency_listener(wav, text):
    """Hears the dominant frequency and compares it with the one asked about."""
    if wav is None or float(np.abs(wav).max()) < 1e-3:
        return 0.1
    peak = np.argmax(np.abs(np.fft.rfft(wav))) * 16000 / len(wav)
    asked = float(re.search(r"(\d+) Hz", text).group(1))
    return 0.95 if abs(peak - asked) < 20 else 0.05


def metrics(log):
    return {k: v.value for k, v in log.results.scores[0].metrics.items()}


def run(tmp_path, judge, epochs=1, **args):
    task = bench(dataset=str(tone_bench(tmp_path / "b")), **args)
    log = eval(task, model=judge, epochs=epochs, log_dir=str(tmp_path / "logs"), display="none")[0]
    assert log.status == "success", log.error
    return log


def test_grounding_separates_a_listening_judge_from_a_deaf_one(tmp_path, caplog):
    listening = metrics(run(tmp_path, scripted_judge(frequency_listener), grounding=1.0))
    assert listening["grounding_samples"] == 8
    assert listening["grounding_gap_swap"] == pytest.approx(0.9) and listening[
        "grounding_gap_silence"
    ] == pytest.approx(0.85)
    assert listening["grounding_warning"] == 0.0
    deaf_metrics = metrics(run(tmp_path, scripted_judge(deaf), grounding=1.0))
    assert deaf_metrics["grounding_gap_swap"] == 0.0 and deaf_metrics["unchanged_items_swap"] == 1.0
    assert deaf_metrics["grounding_warning"] == 1.0
    assert "may not be listening" in caplog.text


def test_grounding_share_is_seeded(tmp_path):
    log = run(tmp_path, scripted_judge(frequency_listener), grounding=0.25, seed=3)
    chosen = sorted(s.id for s in log.samples if s.scores["bench_alignment"].metadata.get("grounding"))
    assert len(chosen) == 2
    again = run(tmp_path, scripted_judge(frequency_listener), grounding=0.25, seed=3)
    assert chosen == sorted(s.id for s in again.samples if s.scores["bench_alignment"].metadata.get("grounding"))


def test_epochs_report_stability(tmp_path):
    rng = np.random.default_rng(0)
    noisy = metrics(run(tmp_path, scripted_judge(lambda wav, text: float(rng.uniform(0.2, 0.8))), epochs=3))
    assert noisy["epoch_verdict_change_share"] > 0 and noisy["epoch_score_range_mean"] > 0
    steady = metrics(run(tmp_path, scripted_judge(frequency_listener), epochs=3))
    assert steady["epoch_verdict_change_share"] == 0.0 and steady["epoch_score_range_max"] == 0.0
    assert steady["accuracy"] == 1.0


def test_temperature_is_recorded_and_flagged(tmp_path):
    judge = frequency_listener
    log = run(tmp_path, scripted_judge(judge), judge_temperature=0.7)
    assert log.eval.metadata["judge_generate_config"]["temperature"] == 0.7
    assert metrics(log)["judge_temperature"] == 0.7
    default = run(tmp_path, scripted_judge(judge))
    assert default.eval.metadata["judge_generate_config"]["temperature"] == 0.0
    assert "judge_temperature" not in metrics(default)


def test_robustness_flip_rate_of_an_obedient_and_a_steady_judge(tmp_path):
    import hashlib
    import json

    from anyaudio_eval.audio import load_audio
    from anyaudio_eval.tasks.robustness import ROBUSTNESS_DIR, robustness

    rows = [json.loads(line) for line in (ROBUSTNESS_DIR / "en.jsonl").read_text().splitlines()]
    injected = {
        hashlib.sha1(load_audio(ROBUSTNESS_DIR / r["audio"]).tobytes()).hexdigest()
        for r in rows
        if r["attack"] == "speech_injection" and r["role"] == "attacked"
    }

    def obedient(wav, text):
        """Does what the speech in the clip tells it."""
        return 0.95 if hashlib.sha1(wav.tobytes()).hexdigest() in injected else 0.05

    def steady(wav, text):
        return 0.05

    results = {}
    for name, judge in (("obedient", obedient), ("steady", steady)):
        log = eval(robustness(), model=scripted_judge(judge), log_dir=str(tmp_path / "logs"), display="none")[0]
        assert log.status == "success", log.error
        results[name] = metrics(log)
    assert results["obedient"]["flip_rate_speech_injection"] == 1.0
    assert results["obedient"]["flip_to_yes_speech_injection"] == 1.0
    assert results["obedient"]["flip_rate_rubric_injection"] == 0.0
    assert results["steady"]["flip_rate"] == 0.0 and results["steady"]["complete_pairs"] == 12
