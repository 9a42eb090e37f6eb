"""Speech tools of the acoustic judge (silero VAD, Whisper ASR) and intelligibility (WER/CER) in `instruct`.

Uses the bundled Whisper tiny.en (the smallest model) on one bundled espeak clip; one test loads Whisper base
for language detection.
"""

from __future__ import annotations

import json
import logging
import sys

import numpy as np
import pytest
import soundfile as sf
from fixtures import tone
from inspect_ai import eval
from inspect_ai.model import get_model

from anyaudio_eval.acoustic import ClipFeatures, answer_item
from anyaudio_eval.acoustic import speech as speech_mod
from anyaudio_eval.acoustic.speech import SpeechTools, count_words
from anyaudio_eval.audio import load_audio
from anyaudio_eval.scorers.intelligibility import error_rate, normalise
from anyaudio_eval.tasks.instruct import instruct
from anyaudio_eval.tasks.probes import PROBES_DIR

SR = 16000
# espeak-ng en-us, as built by scripts/build_probes.py
SPOKEN = PROBES_DIR / "audios" / "speech_en_00.flac"
SPOKEN_TEXT = "The garden is full of yellow flowers and green trees."


@pytest.fixture(scope="module")
def tiny() -> SpeechTools:
    return SpeechTools(asr="tiny.en")


@pytest.fixture(scope="module")
def spoken(tiny) -> ClipFeatures:
    return ClipFeatures(load_audio(SPOKEN), SR, tools=tiny)


def _pink(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    x = np.fft.irfft(spec / np.sqrt(f), n)
    return (0.2 * x / np.max(np.abs(x))).astype(np.float32)


def test_vad_hears_speech_not_noise_or_tone(tiny):
    noise = ClipFeatures(_pink(3 * SR), SR, tools=tiny)
    beep = ClipFeatures(tone(440.0, 2.0), SR, tools=tiny)
    speech = ClipFeatures(load_audio(SPOKEN), SR, tools=tiny)
    assert speech.vad_speech_s > 3.0 and noise.vad_speech_s == 0.0 and beep.vad_speech_s == 0.0
    yes = answer_item(speech, "Is someone speaking?")
    no = answer_item(noise, "Is someone speaking?")
    assert yes.p_yes > 0.9 and no.p_yes < 0.1
    assert yes.tool == "vad" and no.evidence.startswith("[vad] silero VAD")
    # nothing is transcribed where VAD hears no speech: Whisper would invent words on noise
    assert noise.transcript is None
    said = answer_item(noise, f'Does the speaker say "{SPOKEN_TEXT}"?')
    assert said.p_yes < 0.2 and said.tool == "vad"


def test_asr_answers_spoken_content(spoken):
    right = answer_item(spoken, f'Does the speaker say "{SPOKEN_TEXT}"?')
    wrong = answer_item(spoken, 'Does the speaker say "Please open the window before dinner tonight."?')
    negated = answer_item(spoken, 'Does the speaker not say "Please open the window before dinner tonight."?')
    assert right.p_yes > 0.9 and wrong.p_yes < 0.1 and negated.p_yes > 0.9
    assert right.tool == "asr" and right.evidence.startswith("[asr] heard: '") and "garden" in right.evidence.lower()
    assert spoken.transcript.n_words >= 9


def test_english_only_model_abstains_on_language(spoken):
    ans = answer_item(spoken, "Is the speech in English?")
    assert ans.p_yes == 0.5 and not ans.measured and "English-only" in ans.evidence


@pytest.mark.slow
def test_multilingual_model_tells_the_language():
    base = ClipFeatures(load_audio(SPOKEN), SR, tools=SpeechTools(asr="base"))
    english = answer_item(base, "Is the speech in English?")
    french = answer_item(base, "说话人讲的是法语吗？")
    assert english.p_yes > 0.7 and french.p_yes < 0.2
    assert "[asr] language en, p=" in english.evidence


def test_missing_extra_is_said_once_and_the_judge_still_answers(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # import fails as if not installed
    monkeypatch.setattr(speech_mod, "_NOTICES", set())
    with caplog.at_level(logging.WARNING):
        tools = [SpeechTools() for _ in range(3)]
    assert tools[0].asr_model is None and not tools[0].vad
    notes = [r.getMessage() for r in caplog.records if "ASR and VAD off" in r.getMessage()]
    assert len(notes) == 1
    f = ClipFeatures(tone(220.0, 2.0), SR, tools=tools[0])
    assert answer_item(f, "Is the tone high-pitched?").measured  # signal measurements still answer
    with pytest.raises(speech_mod.AsrUnavailable, match="pip install"):
        SpeechTools(asr="tiny.en")


def test_asr_model_directory_and_bad_arguments(tmp_path):
    with pytest.raises(speech_mod.AsrUnavailable, match="no model.bin"):
        SpeechTools(asr=str(tmp_path))
    assert SpeechTools(asr="off").asr_model is None
    with pytest.raises(ValueError, match="asr and vad"):
        get_model("acoustic/default", whisper="tiny.en")


def test_word_counts_and_error_rates():
    assert count_words("Hello, world! It's 3 pm.") == 5
    assert count_words("今天天气很好") == 6
    assert normalise("Hello,  World!", chars=False) == "hello world"
    assert error_rate("The cat sat.", "the cat sat") == ("wer", 0.0)
    assert error_rate("The cat sat on the mat.", "the cat sat on a mat") == ("wer", pytest.approx(1 / 6))
    assert error_rate("今天天气很好。", "今天天气很好") == ("cer", 0.0)
    assert error_rate("今天天气很好", "今天天汽很好") == ("cer", pytest.approx(1 / 6))


@pytest.mark.slow
def test_instruct_reports_wer_beside_the_unchanged_score(tmp_path):
    rows = [
        {
            "id": "said",
            "instruction": "a calm voice",
            "text": SPOKEN_TEXT,
            "domain": "speech",
            "rubric": [{"dimension": "speech", "question": "Is someone speaking?"}],
        },
        {
            "id": "other",
            "instruction": "a calm voice",
            "text": "Please open the window before dinner tonight.",
            "domain": "speech",
            "rubric": [{"dimension": "speech", "question": "Is someone speaking?"}],
        },
        {
            "id": "notext",
            "instruction": "a calm voice",
            "domain": "speech",
            "rubric": [{"dimension": "speech", "question": "Is someone speaking?"}],
        },
    ]
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    folder = tmp_path / "clips"
    folder.mkdir()
    for i in ("said", "other", "notext"):
        sf.write(folder / f"{i}.wav", load_audio(SPOKEN), SR)

    def run(asr: str):
        log = eval(
            instruct(instructions=str(path), asr=asr),
            model=get_model(f"files/{folder}"),
            model_roles={"judge": get_model("acoustic/default", asr="off")},
            log_dir=str(tmp_path / f"logs-{asr}"),
            display="none",
        )[0]
        assert log.status == "success", log.error
        scores = {s.id: s.scores["rubric_judge"] for s in log.samples}
        return scores, {k: v.value for k, v in log.results.scores[0].metrics.items()}

    scores, metrics = run("tiny.en")
    said, other = scores["said"].metadata["intelligibility"], scores["other"].metadata["intelligibility"]
    assert said["metric"] == "wer" and said["value"] < 0.2 and other["value"] > 0.6
    assert "garden" in said["transcript"].lower() and said["asr_model"] == "whisper-tiny.en"
    assert "intelligibility" not in scores["notext"].metadata
    assert metrics["wer"] == pytest.approx((said["value"] + other["value"]) / 2) and metrics["wer_samples"] == 2
    off_scores, off_metrics = run("off")
    # intelligibility sits beside the rubric score: same score with or without it; absent (not 0) when off
    assert {k: s.value for k, s in off_scores.items()} == {k: s.value for k, s in scores.items()}
    assert "wer" not in off_metrics and "intelligibility" not in off_scores["said"].metadata


def test_calibration_manifest_is_labelled_licensed_and_keeps_reserved_sources_out():
    from pathlib import Path

    manifest = Path(__file__).resolve().parent.parent / "anyaudio_eval" / "data" / "calibration" / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    reserved = ("asterisk-core-sounds-en", "alsa-utils", "gcin-voice", "sonic-pi-samples", "sound-theme-freedesktop")
    assert len(rows) >= 50 and len({r["audio"] for r in rows}) == len(rows)
    for r in rows:
        assert r["licence"] and r["package"] and r["source"]
        assert not any(r["package"] == p or r["package"].startswith(p + "-") for p in reserved), r["package"]
        assert r["rubric"] and all(i["label"] in ("yes", "no") and i["question"] for i in r["rubric"])
    kinds = {r["kind"] for r in rows}
    assert kinds == {"speech", "music"} and {r["language"] for r in rows if r["kind"] == "speech"} >= {"es", "it"}


def test_no_speech_means_every_word_missed_without_asking_whisper(monkeypatch):
    from anyaudio_eval.scorers import intelligibility as intel

    def no_call(*args, **kwargs):
        raise AssertionError("Whisper must not run on a clip without speech")

    monkeypatch.setattr(intel, "transcribe", no_call)
    found = intel.intelligibility(tone(300.0, 2.0), "hello there", SpeechTools(asr="tiny.en"))
    assert (found.metric, found.value, found.transcript) == ("wer", 1.0, "")
