"""Offline acoustic judge: measurements on known signals, question parsing, abstention."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("scipy")
pytest.importorskip("pyloudnorm")

from anyaudio_eval.acoustic import ClipFeatures, answer_item, parse_question  # noqa: E402

SR = 16000


def _tone(freq: float, dur: float = 3.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(dur * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _clicks(bpm: float, dur: float = 8.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros(int(dur * SR), np.float32)
    for b in np.arange(0, dur, 60.0 / bpm):
        i = int(b * SR)
        n = min(200, len(x) - i)
        x[i : i + n] += (rng.standard_normal(n) * np.exp(-np.arange(n) / 30)).astype(np.float32) * 0.5
    return x


def _normalise(x: np.ndarray, lufs: float) -> np.ndarray:
    import pyloudnorm

    cur = pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64))
    return (x * 10 ** ((lufs - cur) / 20)).astype(np.float32)


def _pink(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    return np.fft.irfft(spec / np.sqrt(f), n).astype(np.float32)


def test_tone_f0_is_220_hz():
    f = ClipFeatures(_tone(220.0))
    assert f.pitch.median_hz == pytest.approx(220.0, abs=3.0)
    assert f.pitch.range_semitones < 0.5


def test_click_track_tempo_is_120_bpm():
    bpm, _conf = ClipFeatures(_clicks(120.0)).tempo
    assert bpm == pytest.approx(120.0, abs=2.0)


@pytest.mark.parametrize("bpm", [90.0, 140.0])
def test_click_track_other_tempi_octave_tolerant(bpm):
    f = ClipFeatures(_clicks(bpm))
    ans = answer_item(f, f"Is the tempo about {bpm:g} BPM?")
    assert ans.measured and ans.p_yes > 0.8, ans.evidence
    assert answer_item(f, f"Is the tempo about {bpm * 1.3:.0f} BPM?").p_yes < 0.2


@pytest.mark.parametrize("kind", ["white", "pink"])
def test_noise_normalised_to_minus_20_lufs(kind):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(4 * SR).astype(np.float32) if kind == "white" else _pink(4 * SR)
    f = ClipFeatures(_normalise(x, -20.0))
    assert f.loudness_lufs == pytest.approx(-20.0, abs=1.0)
    assert answer_item(f, "Is it noise?").p_yes > 0.8


def test_two_seconds_of_silence():
    x = np.concatenate([_tone(440.0, 1.0), np.zeros(2 * SR, np.float32), _tone(440.0, 1.0)])
    f = ClipFeatures(x)
    assert f.silence["longest_pause"] == pytest.approx(2.0, abs=0.1)
    assert answer_item(f, "Is there a pause in the middle?").p_yes > 0.9
    assert answer_item(f, "中间没有停顿吗？").p_yes < 0.1
    lead = ClipFeatures(np.concatenate([np.zeros(2 * SR, np.float32), _tone(440.0, 1.0)]))
    assert lead.silence["leading"] == pytest.approx(2.0, abs=0.1)
    assert answer_item(lead, "Is there silence at the beginning?").p_yes > 0.9


def test_no_speech_in_tone_noise_clicks():
    rng = np.random.default_rng(5)
    for x in (
        _tone(220.0),
        _tone(180.0) * np.abs(np.sin(np.linspace(0, 40, 3 * SR))).astype(np.float32),
        (0.1 * rng.standard_normal(3 * SR)).astype(np.float32),
        _clicks(120.0),
    ):
        f = ClipFeatures(x)
        assert not f.speech_present, f.summary()
        assert answer_item(f, "Is someone speaking?").p_yes < 0.2
        assert answer_item(f, "音频中没有人声吗？").p_yes > 0.8
        # a speaker attribute on a clip without speech does not match
        assert answer_item(f, "Is the speaker male?").p_yes < 0.5


def test_fades_and_counts():
    n = 3 * SR
    x = (np.random.default_rng(0).standard_normal(n) * 0.1).astype(np.float32)
    up = ClipFeatures(x * np.linspace(0, 1, n).astype(np.float32) ** 2)
    down = ClipFeatures(x * np.linspace(1, 0, n).astype(np.float32) ** 2)
    assert answer_item(up, "Does it get louder over time?").p_yes > 0.9
    assert answer_item(up, "Does the sound fade out?").p_yes < 0.1
    assert answer_item(down, "声音逐渐变弱吗？").p_yes > 0.9
    beeps = np.concatenate(
        [np.concatenate([_tone(1000.0, 0.2), np.zeros(int(0.3 * SR), np.float32)]) for _ in range(4)]
    )
    f = ClipFeatures(beeps)
    assert f.event_count == 4
    assert answer_item(f, "Are there four beeps?").p_yes > 0.8
    assert answer_item(f, "是否有三声哔声？").p_yes < 0.2
    assert answer_item(f, "Are the beeps high-pitched?").p_yes > 0.8


def test_loudness_direction():
    loud = ClipFeatures(_normalise(_pink(3 * SR), -12.0))
    quiet = ClipFeatures(_normalise(_pink(3 * SR), -38.0))
    assert answer_item(loud, "Is it loud?").p_yes > 0.9
    assert answer_item(quiet, "Is it loud?").p_yes < 0.1
    assert answer_item(quiet, "音量小吗？").p_yes > 0.9
    assert "LUFS" in answer_item(quiet, "音量小吗？").evidence


@pytest.mark.parametrize(
    "question,key,direction,negated",
    [
        ("Is the speaker speaking fast?", "speaking_rate", "fast", False),
        ("语速慢吗？", "speaking_rate", "slow", False),
        ("Is the speech slow and unhurried?", "speaking_rate", "slow", False),
        ("Is the music fast-paced?", "tempo", "fast", False),
        ("音乐节奏缓慢吗？", "tempo", "slow", False),
        ("说话人是男性吗？", "gender", "male", False),
        ("Is this a woman's voice?", "gender", "female", False),
        ("是不是女声？", "gender", "female", False),
        ("Is the voice deep?", "pitch", "low", False),
        ("音调高吗？", "pitch", "high", False),
        ("Does the speaker whisper?", "loudness", "quiet", False),
        ("是大声说话吗？", "loudness", "loud", False),
        ("Is the voice not too loud?", "loudness", "loud", True),
        ("Is there no obvious pause?", "silence", "present", True),
        ("中间有停顿吗？", "silence", "present", False),
        ("Is the clip free of speech?", "speech_presence", "present", True),
        ("音频中没有人声吗？", "speech_presence", "present", True),
        ("有没有人说话？", "speech_presence", "present", False),
        ("Is the sound muffled?", "brightness", "dark", False),
        ("音色明亮吗？", "brightness", "bright", False),
        ("Is there background noise?", "noise", "noisy", False),
        ("录音干净吗？", "noise", "clean", False),
        ("Does the sound fade out?", "dynamics", "decreasing", False),
        ("声音是否逐渐变大？", "dynamics", "increasing", False),
    ],
)
def test_parse_directions(question, key, direction, negated):
    q = parse_question(question)
    assert q is not None, question
    assert (q.key, q.direction, q.negated) == (key, direction, negated)


def test_parse_values_and_degree():
    assert parse_question("Is the tempo about 120 BPM?").value == 120
    assert parse_question("速度约为每分钟一百二十拍吗？").value == 120
    q = parse_question("Does the sound last about three seconds?")
    assert (q.key, q.value) == ("duration", 3.0)
    assert parse_question("时长约为三秒吗？").value == 3.0
    assert parse_question("Are there exactly four beeps?").value == 4
    assert parse_question("一共敲了五下吗？").value == 5
    assert parse_question("Is the piece in C major?").target == "C major"
    assert parse_question("这段音乐是降B小调吗？").target == "A# minor"
    assert parse_question("Is the music in a minor key?").target == "minor"
    assert parse_question("Is the speaker speaking very fast?").degree > 1
    assert parse_question("语速非常快吗？").degree > 1
    assert parse_question("语速非常快吗？").negated is False  # 非常 is not a negation
    assert parse_question("Is the voice slightly high-pitched?").degree < 1


@pytest.mark.parametrize(
    "question",
    [
        "Is the speaker sad?",
        "说话人情绪悲伤吗？",
        "Is the melody played on a violin?",
        "是否没有背景音乐？",
        "Is this a dog barking?",
        'Is the song titled "Blue Moon"?',
        'Does she sing "la la la"?',
        "Does the speaker have a British accent?",
    ],
)
def test_unmeasurable_abstains(question):
    f = ClipFeatures(_tone(220.0))
    ans = answer_item(f, question)
    assert parse_question(question) is None
    assert ans.p_yes == 0.5 and ans.measured is False and ans.dimension_key is None
    assert "abstain" in ans.evidence


@pytest.mark.parametrize(
    "question, key, target, negated",
    [
        ('Does the speaker say "good morning to you"?', "speech_content", "good morning to you", False),
        ("说话内容是“你好”吗？", "speech_content", "你好", False),
        ("Does the narrator not say 'see you tomorrow'?", "speech_content", "see you tomorrow", True),
        ("Is the speech in English?", "language", "en", False),
        ("说话人讲的是普通话吗？", "language", "zh", False),
        ("Is the speaker not speaking Spanish?", "language", "es", True),
        ("说的是粤语吗？", "language", "yue", False),
    ],
)
def test_parse_spoken_content_and_language(question, key, target, negated):
    q = parse_question(question)
    assert (q.key, q.target, q.negated) == (key, target, negated)


@pytest.mark.parametrize("question", ['Does the speaker say "good morning to you"?', "Is the speech in English?"])
def test_content_and_language_abstain_without_asr(question):
    ans = answer_item(ClipFeatures(_tone(220.0)), question)
    assert ans.p_yes == 0.5 and not ans.measured and ans.tool == "asr"
    assert ans.evidence.startswith("[asr]") and "ASR is off" in ans.evidence


def test_evidence_names_its_tool():
    ans = answer_item(ClipFeatures(_tone(220.0)), "Is the tone high-pitched?")
    assert ans.tool == "dsp" and ans.evidence.startswith("[dsp] ")


def test_degree_tightens_threshold():
    fast = ClipFeatures(_clicks(125.0))
    assert answer_item(fast, "Is the tempo very fast?").p_yes < answer_item(fast, "Is the tempo fast?").p_yes


def test_unmeasurable_pitch_on_silence_abstains():
    ans = answer_item(ClipFeatures(np.zeros(2 * SR, np.float32)), "Is the tone high-pitched?")
    assert ans.measured is False and ans.p_yes == 0.5 and ans.dimension_key == "pitch"


def test_all_items_fast_on_10_s_clip():
    rng = np.random.default_rng(0)
    x = (_tone(220.0, 10.0) + 0.05 * rng.standard_normal(10 * SR)).astype(np.float32)
    qs = [
        "Is someone speaking?",
        "Is the speaker male?",
        "Is the voice high-pitched?",
        "Is it loud?",
        "语速快吗？",
        "Is the tempo about 120 BPM?",
        "Is the piece in C major?",
        "Does it last about 10 seconds?",
        "Is there a pause?",
        "Is the sound bright?",
        "Is there background noise?",
        "Does it fade out?",
        "Are there 3 beeps?",
    ]
    ClipFeatures(x).summary()  # warm imports
    t0 = time.perf_counter()
    f = ClipFeatures(x)
    answers = [answer_item(f, q) for q in qs]
    assert time.perf_counter() - t0 < 0.5
    assert all(0.02 <= a.p_yes <= 0.98 for a in answers)


def test_ordinary_level_abstains():
    # -18 LUFS is how ordinary speech is published: level alone cannot say "loud" or "shouting"
    ordinary = ClipFeatures(_normalise(_pink(3 * SR), -18.0))
    ans = answer_item(ordinary, "Is the sound loud?")
    assert ans.p_yes == 0.5 and not ans.measured and "ordinary level" in ans.evidence
    assert answer_item(ClipFeatures(_normalise(_pink(3 * SR), -10.0)), "Is the sound loud?").p_yes > 0.8
    assert answer_item(ClipFeatures(_normalise(_pink(3 * SR), -38.0)), "Is the sound quiet?").p_yes > 0.8
