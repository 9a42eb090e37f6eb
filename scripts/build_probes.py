#!/usr/bin/env python
"""Build the bundled probe set (anyaudio_eval/data/probes/) from synthesized audio.

Every clip is made by this script from known parameters (numpy signals, espeak-ng speech, fluidsynth renders
of MIDI written here), and every gold label -- row and rubric item -- is computed from those parameters,
never from a judge. The run is seeded; rerunning it gives the same manifests and the same numpy-made audio.

    python scripts/build_probes.py [--out anyaudio_eval/data/probes] [--seed 7]

Needs espeak-ng, fluidsynth and a GM soundfont (/usr/share/sounds/sf2/TimGM6mb.sf2); without fluidsynth the
music is synthesized with numpy. Python: numpy, soundfile, soxr, pyloudnorm.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000
SEED = 7
SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "anyaudio_eval" / "data" / "probes"


# ============================================================================ audio helpers
def loudness(x: np.ndarray) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64)))


def normalize_lufs(x: np.ndarray, target: float) -> np.ndarray:
    cur = loudness(x)
    y = x * 10 ** ((target - cur) / 20)
    peak = np.max(np.abs(y))
    if peak > 0.99:  # keep it unclipped (loud clips may end up a little under target)
        y = y * 0.99 / peak
    return y.astype(np.float32)


def resample(x: np.ndarray, sr: int) -> np.ndarray:
    if sr == SR:
        return x.astype(np.float32)
    import soxr

    return soxr.resample(x, sr, SR).astype(np.float32)


def fade(x: np.ndarray, kind: str) -> np.ndarray:
    n = len(x)
    if kind == "fade_in":
        env = np.linspace(0.0, 1.0, n) ** 2
    elif kind == "fade_out":
        env = np.linspace(1.0, 0.0, n) ** 2
    else:
        env = np.ones(n)
    ramp = min(160, n // 4)
    env[:ramp] *= np.linspace(0, 1, ramp)
    env[-ramp:] *= np.linspace(1, 0, ramp)
    return (x * env).astype(np.float32)


def colored_noise(rng: np.random.Generator, n: int, color: str) -> np.ndarray:
    w = rng.standard_normal(n)
    spec = np.fft.rfft(w)
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    if color == "pink":
        spec = spec / np.sqrt(f)
    elif color == "brown":  # dark: 1/f^2 with a low-pass
        spec = spec / f * (f < 1200)
    elif color == "white":  # bright: emphasise highs
        spec = spec * (f > 1500)
    y = np.fft.irfft(spec, n)
    return (y / (np.std(y) + 1e-12)).astype(np.float32)


def pad_min(x: np.ndarray, sec: float = 2.0) -> np.ndarray:
    """Append silence so the clip lasts at least ``sec`` seconds."""
    n = int(sec * SR)
    return x if len(x) >= n else np.concatenate([x, np.zeros(n - len(x), np.float32)])


def tone(freq: float, dur: float, harmonics: int = 1) -> np.ndarray:
    t = np.arange(int(dur * SR)) / SR
    y = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, harmonics + 1))
    return np.asarray(y, dtype=np.float32)


# ============================================================================ espeak-ng
def espeak(voice: str, text: str, rate: int, pitch: int) -> np.ndarray:
    out = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-a", "100", "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    x, sr = sf.read(io.BytesIO(out), dtype="float32")
    return resample(x, sr)


# ============================================================================ MIDI writer + fluidsynth
def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def write_midi(notes: list[tuple[float, float, int, int, int]], bpm: float, programs: dict[int, int]) -> bytes:
    """Format-0 MIDI. notes: (start_beat, dur_beats, channel, pitch, velocity); programs: channel -> GM program."""
    tpq = 480
    ev: list[tuple[int, bytes]] = [(0, b"\xff\x51\x03" + int(60e6 / bpm).to_bytes(3, "big"))]
    for ch, prog in programs.items():
        ev.append((0, bytes([0xC0 | ch, prog])))
    for start, dur, ch, pitch, vel in notes:
        on, off = int(start * tpq), int((start + dur) * tpq)
        ev.append((on, bytes([0x90 | ch, pitch, vel])))
        ev.append((off - 1, bytes([0x80 | ch, pitch, 0])))
    ev.sort(key=lambda e: (e[0], e[1][0] & 0xF0 == 0x90))
    data, last = b"", 0
    for t, msg in ev:
        data += _vlq(t - last) + msg
        last = t
    data += _vlq(tpq) + b"\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq) + b"MTrk" + struct.pack(">I", len(data)) + data


def render_midi(midi: bytes, dur: float) -> np.ndarray | None:
    if not (shutil.which("fluidsynth") and SOUNDFONT.exists()):
        return None
    with tempfile.TemporaryDirectory() as td:
        mid, wav = Path(td) / "a.mid", Path(td) / "a.wav"
        mid.write_bytes(midi)
        subprocess.run(
            [
                "fluidsynth",
                "-ni",
                "-g",
                "0.8",
                "-R",
                "0",
                "-C",
                "0",
                "-r",
                str(SR),
                "-F",
                str(wav),
                str(SOUNDFONT),
                str(mid),
            ],
            capture_output=True,
            check=True,
        )
        x, sr = sf.read(wav, dtype="float32")
    if x.ndim == 2:
        x = x.mean(axis=1)
    x = resample(x, sr)[: int(dur * SR)]
    return fade_tail(x)


def fade_tail(x: np.ndarray, sec: float = 0.05) -> np.ndarray:
    n = min(len(x), int(sec * SR))
    x = x.copy()
    x[-n:] *= np.linspace(1, 0, n)
    return x


NOTE_NAMES = {
    "C": 0,
    "C#": 1,
    "D": 2,
    "D#": 3,
    "Eb": 3,
    "E": 4,
    "F": 5,
    "F#": 6,
    "G": 7,
    "G#": 8,
    "A": 9,
    "Bb": 10,
    "A#": 10,
    "B": 11,
}
MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]


def music_notes(
    rng: np.random.Generator, tonic: str, mode: str, beats: int
) -> list[tuple[float, float, int, int, int]]:
    """Tonic-heavy melody (quarter notes, channel 0) over a bass + triad accompaniment (channel 1)."""
    root = 60 + NOTE_NAMES[tonic]
    if root > 66:
        root -= 12
    scale = MAJOR if mode == "major" else MINOR
    degrees = [0, 3, 4, 0] if mode == "major" else [0, 3, 4, 0]  # I IV V I / i iv v i
    notes = []
    for bar in range(beats // 4):
        deg = degrees[bar % 4]
        chord = [
            scale[deg % 7],
            scale[(deg + 2) % 7] + (12 if deg + 2 >= 7 else 0),
            scale[(deg + 4) % 7] + (12 if deg + 4 >= 7 else 0),
        ]
        for k in range(4):
            b = bar * 4 + k
            notes.append((b, 1.0, 1, root - 12 + chord[0], 70))  # bass each beat
            if k in (0, 2):
                for c in chord:
                    notes.append((b, 2.0, 1, root + c, 50))
            mel = chord[int(rng.integers(0, 3))] + 12
            notes.append((b, 0.9, 0, root + mel, 95))
    return notes


def numpy_music(notes, bpm: float, dur: float) -> np.ndarray:
    """Fallback synth: decaying harmonic tones."""
    y = np.zeros(int(dur * SR) + SR, dtype=np.float32)
    for start, d, _ch, pitch, vel in notes:
        f = 440 * 2 ** ((pitch - 69) / 12)
        s, n = int(start * 60 / bpm * SR), int(d * 60 / bpm * SR)
        if s >= len(y):
            continue
        seg = tone(f, n / SR, 4) * np.exp(-np.arange(n) / (0.3 * SR)) * vel / 127
        y[s : s + n] += seg[: len(y) - s]
    return fade_tail(y[: int(dur * SR)])


def drum_loop(rng: np.random.Generator, bpm: float, dur: float) -> np.ndarray:
    """Kick on every beat, snare on 2 and 4, closed hats on eighths (numpy, deterministic)."""
    n = int(dur * SR)
    y = np.zeros(n + SR, dtype=np.float32)
    beat = 60.0 / bpm
    t = np.arange(int(0.25 * SR)) / SR
    kick = np.sin(2 * np.pi * (50 + 90 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
    snare = colored_noise(rng, len(t), "pink") * 0.4 * np.exp(-t * 25) + 0.3 * np.sin(2 * np.pi * 190 * t) * np.exp(
        -t * 20
    )
    hat = colored_noise(rng, len(t), "white") * 0.15 * np.exp(-t * 80)
    k = 0
    while k * beat / 2 < dur:
        s = int(k * beat / 2 * SR)
        y[s : s + len(t)] += hat
        if k % 2 == 0:
            y[s : s + len(t)] += kick * 0.9
            if (k // 2) % 2 == 1:
                y[s : s + len(t)] += snare
        k += 1
    return fade_tail(y[:n])


# ============================================================================ rubric items
@dataclass
class Item:
    attr: str
    value: object
    dim_en: str
    dim_zh: str
    q_en: list[str]
    q_zh: list[str]
    basis_en: str
    basis_zh: str


@dataclass
class Clip:
    cid: str
    subset: str
    kind: str
    attrs: dict
    items: list[Item]  # items of the positive caption
    cap_en: str
    cap_zh: str
    wav: np.ndarray = field(repr=False, default=None)
    source: str = ""


ZH_NUM = {1: "一", 2: "两", 3: "三", 4: "四", 5: "五", 6: "六", 7: "七", 8: "八"}
ZH_KEY = {"major": "大调", "minor": "小调"}


def zh_key(key: str) -> str:
    tonic, mode = key.split()
    return f"{tonic}{ZH_KEY[mode]}"


def item(attr: str, value) -> Item:
    """Rubric item (questions in en and zh, several phrasings) asserting attr == value; yes = matches."""
    v = value
    T = {
        ("gender", "male"): (
            "gender",
            "性别",
            ["Is the speaker male?", "Is this a man's voice?", "Does a male voice speak?"],
            ["说话人是男性吗？", "这是男声吗？", "是一位男性在说话吗？"],
        ),
        ("gender", "female"): (
            "gender",
            "性别",
            ["Is the speaker female?", "Is this a woman's voice?", "Does a female voice speak?"],
            ["说话人是女性吗？", "这是女声吗？", "是一位女性在说话吗？"],
        ),
        ("rate", "fast"): (
            "speaking rate",
            "语速",
            ["Does the speaker talk fast?", "Is the speaking rate fast?", "Is the speech delivered quickly?"],
            ["语速快吗？", "说话速度快吗？", "说话人讲得很快吗？"],
        ),
        ("rate", "slow"): (
            "speaking rate",
            "语速",
            ["Does the speaker talk slowly?", "Is the speaking rate slow?", "Is the speech slow and unhurried?"],
            ["语速慢吗？", "说话速度缓慢吗？", "说话人讲得很慢吗？"],
        ),
        ("volume", "loud"): (
            "volume",
            "音量",
            ["Is the voice loud?", "Does the speaker talk loudly?", "Is the speech loud?"],
            ["音量大吗？", "说话声音响亮吗？", "是大声说话吗？"],
        ),
        ("volume", "quiet"): (
            "volume",
            "音量",
            ["Is the voice quiet?", "Does the speaker talk softly?", "Is the speech quiet?"],
            ["音量小吗？", "是轻声说话吗？", "说话声音很小吗？"],
        ),
        ("pitch", "high"): (
            "pitch",
            "音高",
            ["Is the voice high-pitched?", "Is the pitch of the voice high?"],
            ["音调高吗？", "嗓音偏高吗？"],
        ),
        ("pitch", "low"): (
            "pitch",
            "音高",
            ["Is the voice low-pitched?", "Is the voice deep?"],
            ["声音低沉吗？", "音调低吗？"],
        ),
        ("speech", True): (
            "speech",
            "人声",
            ["Is someone speaking?", "Does the clip contain speech?"],
            ["有人说话吗？", "音频中有人声吗？"],
        ),
        ("speech", False): (
            "speech",
            "人声",
            ["Is the clip free of speech?", "Is there no speech in the clip?"],
            ["音频中没有人声吗？", "没有人说话吗？"],
        ),
        ("beep_pitch", "high"): (
            "pitch",
            "音高",
            ["Are the beeps high-pitched?", "Is it a high-pitched beep sound?"],
            ["哔声音调高吗？", "是高音调的提示音吗？"],
        ),
        ("beep_pitch", "low"): (
            "pitch",
            "音高",
            ["Are the beeps low-pitched?", "Is it a low-pitched beep sound?"],
            ["哔声音调低吗？", "是低音调的提示音吗？"],
        ),
        ("tone_pitch", "high"): (
            "pitch",
            "音高",
            ["Is the tone high-pitched?", "Is it a high-pitched tone?"],
            ["这个音音调高吗？", "是高音调的声音吗？"],
        ),
        ("tone_pitch", "low"): (
            "pitch",
            "音高",
            ["Is the tone low-pitched?", "Is it a low-pitched tone?"],
            ["这个音音调低吗？", "是低音调的声音吗？"],
        ),
        ("noisy", True): (
            "noise",
            "噪声",
            ["Is it noise?", "Does it sound like hiss or static noise?"],
            ["这是噪声吗？", "听起来是嘶嘶的噪音吗？"],
        ),
        ("timbre", "bright"): (
            "timbre",
            "音色",
            ["Is the sound bright?", "Does it sound bright and crisp?"],
            ["音色明亮吗？", "声音清脆明亮吗？"],
        ),
        ("timbre", "dark"): (
            "timbre",
            "音色",
            ["Is the sound muffled?", "Is the timbre dark?"],
            ["声音沉闷吗？", "音色暗吗？"],
        ),
        ("dynamics", "fade_in"): (
            "dynamics",
            "响度变化",
            ["Does the sound fade in?", "Does it get louder over time?"],
            ["声音是否逐渐变大？", "是淡入的吗？"],
        ),
        ("dynamics", "fade_out"): (
            "dynamics",
            "响度变化",
            ["Does the sound fade out?", "Does it get quieter towards the end?"],
            ["声音逐渐变弱吗？", "是否淡出？"],
        ),
        ("dynamics", "steady"): (
            "dynamics",
            "响度变化",
            ["Is the volume steady throughout?", "Does it keep a constant volume level?"],
            ["音量平稳吗？", "音量是否保持稳定一致？"],
        ),
        ("pause", True): (
            "pause",
            "停顿",
            ["Is there a pause in the middle?", "Is there a clear gap of silence in the middle?"],
            ["中间有停顿吗？", "中间有明显的静音间隙吗？"],
        ),
        ("pause", False): (
            "pause",
            "停顿",
            ["Is the sound continuous, with no pause?", "Does it play without any gap?"],
            ["声音是连续的、没有停顿吗？", "中间没有停顿吗？"],
        ),
        ("tempo", "fast"): (
            "tempo",
            "速度",
            ["Is the tempo fast?", "Is the music fast-paced?", "Does the piece move at a quick tempo?"],
            ["节奏快吗？", "音乐速度快吗？", "是快节奏的音乐吗？"],
        ),
        ("tempo", "slow"): (
            "tempo",
            "速度",
            ["Is the tempo slow?", "Is the music slow-paced?", "Does the piece move at a slow tempo?"],
            ["节奏慢吗？", "音乐速度缓慢吗？", "是慢节奏的音乐吗？"],
        ),
        ("noise_bg", True): (
            "background",
            "背景",
            ["Is there background noise?", "Is the speech accompanied by background noise?"],
            ["有背景噪声吗？", "说话时有背景噪音吗？"],
        ),
        ("noise_bg", False): (
            "background",
            "背景",
            ["Is the recording free of background noise?", "Is there no background noise?"],
            ["没有背景噪声吗？", "录音没有背景噪音吗？"],
        ),
    }
    if (attr, v) in T:
        de, dz, qe, qz = T[(attr, v)]
    elif attr == "count":
        n = int(v)
        de, dz = "count", "次数"
        qe = [f"Are there {n} beeps?", f"Does it beep {n} times?", f"Can you hear exactly {n} beeps?"]
        qz = [f"一共有{ZH_NUM[n]}声哔声吗？", f"是否响了{ZH_NUM[n]}声？"]
    elif attr == "knocks":
        n = int(v)
        de, dz = "count", "次数"
        qe = [f"Are there {n} knocks?", f"Does someone knock {n} times?"]
        qz = [f"一共敲了{ZH_NUM[n]}下吗？", f"是否有{ZH_NUM[n]}次敲击声？"]
    elif attr == "duration":
        de, dz = "duration", "时长"
        qe = [f"Does the sound last about {v:g} seconds?", f"Is the clip roughly {v:g} seconds long?"]
        qz = [f"声音持续大约{v:g}秒吗？", f"时长约为{v:g}秒吗？"]
    elif attr == "bpm":
        de, dz = "tempo", "速度"
        qe = [f"Is the tempo about {v} BPM?", f"Is the beat around {v} beats per minute?"]
        qz = [f"速度约为每分钟{v}拍吗？", f"节奏大约是{v} BPM吗？"]
    elif attr == "key":
        de, dz = "key", "调性"
        qe = [f"Is the piece in {v}?", f"Is the music in the key of {v}?"]
        qz = [f"这段音乐是{zh_key(v)}吗？", f"乐曲的调性是{zh_key(v)}吗？"]
    elif attr == "mode":
        de, dz = "mode", "调式"
        qe = [f"Is the music in a {v} key?", f"Does the piece use a {v} tonality?"]
        qz = [f"这段音乐是{ZH_KEY[v]}吗？", f"乐曲是{ZH_KEY[v]}调式吗？"]
    # ---- attributes the acoustic judge cannot measure (it should abstain)
    elif attr == "text":
        en_text, zh_text = v
        de, dz = "content", "内容"
        qe = [f'Does the speaker say "{en_text}"?']
        qz = [f"说话内容是“{zh_text}”吗？"]
    elif attr == "lang":
        de, dz = "language", "语言"
        qe = [{"en": "Is the speech in English?", "zh": "Is the speech in Mandarin Chinese?"}[v]]
        qz = [{"en": "说的是英语吗？", "zh": "说的是普通话吗？"}[v]]
    elif attr == "instrument":
        de, dz = "instrument", "乐器"
        qe = [f"Is the melody played on a {INSTRUMENTS[v][0]}?", f"Is the lead instrument a {INSTRUMENTS[v][0]}?"]
        qz = [f"旋律是由{INSTRUMENTS[v][1]}演奏的吗？", f"主奏乐器是{INSTRUMENTS[v][1]}吗？"]
    elif attr == "bg_music":
        de, dz = "background", "背景"
        qe = ["Is there background music behind the voice?"]
        qz = ["说话声后面有背景音乐吗？"]
    else:
        raise KeyError((attr, v))
    return Item(attr, v, de, dz, qe, qz, "", "")


INSTRUMENTS = {
    0: ("piano", "钢琴"),
    40: ("violin", "小提琴"),
    73: ("flute", "长笛"),
    24: ("guitar", "吉他"),
    19: ("organ", "管风琴"),
}

EN_TEXTS = [
    ("The garden is full of yellow flowers and green trees.", "The garden is full of yellow flowers and green trees."),
    ("Please open the window before dinner tonight.", "Please open the window before dinner tonight."),
    ("My brother works at the train station in the city.", "My brother works at the train station in the city."),
    ("We will meet again next Monday morning.", "We will meet again next Monday morning."),
    ("The coffee on the table is still warm.", "The coffee on the table is still warm."),
    ("She bought three apples at the market yesterday.", "She bought three apples at the market yesterday."),
]
ZH_TEXTS = [  # (tone-numbered pinyin for espeak, Hanzi for captions)
    ("jin1 tian1 tian1 qi4 hen3 hao3, wo3 men5 qu4 gong1 yuan2 san4 bu4.", "今天天气很好，我们去公园散步。"),
    ("qing3 ni3 ming2 tian1 zao3 shang4 dao4 ban4 gong1 shi4 lai2.", "请你明天早上到办公室来。"),
    ("zhe4 shi4 yi4 ben3 hen3 you3 yi4 si1 de5 shu1.", "这是一本很有意思的书。"),
    ("wo3 xi3 huan1 he1 lü4 cha2, ye3 xi3 huan1 chi1 shui3 guo3.", "我喜欢喝绿茶，也喜欢吃水果。"),
    ("huo3 che1 zhan4 li2 zhe4 li3 bu2 tai4 yuan3.", "火车站离这里不太远。"),
    ("ta1 men5 zheng4 zai4 tu2 shu1 guan3 kan4 shu1.", "他们正在图书馆看书。"),
]


# ============================================================================ clip makers
RATES = {"en": {"slow": 80, "normal": 165, "fast": 300}, "zh": {"slow": 110, "normal": 170, "fast": 300}}
PITCHES = {"male": {"low": 20, "normal": 50, "high": 80}, "female": {"low": 30, "normal": 50, "high": 85}}
VOLUMES = {"quiet": -36.0, "normal": -23.0, "loud": -13.0}


def speech_caption(a: dict, lang_out: str) -> tuple[str, str]:
    g_en = {"male": "A man", "female": "A woman"}[a["gender"]]
    g_zh = {"male": "一位男性", "female": "一位女性"}[a["gender"]]
    lang_en = {"en": "English", "zh": "Mandarin"}[a["lang"]]
    lang_zh = {"en": "英语", "zh": "普通话"}[a["lang"]]
    mods_en, mods_zh = [], []
    if a["pitch"] != "normal":
        mods_en.append({"high": "in a high-pitched voice", "low": "in a deep, low-pitched voice"}[a["pitch"]])
        mods_zh.append({"high": "用较高的音调", "low": "用低沉的嗓音"}[a["pitch"]])
    if a["rate"] != "normal":
        mods_en.append({"fast": "quickly", "slow": "slowly"}[a["rate"]])
        mods_zh.append({"fast": "语速很快地", "slow": "语速缓慢地"}[a["rate"]])
    if a["volume"] != "normal":
        mods_en.append({"loud": "loudly", "quiet": "quietly"}[a["volume"]])
        mods_zh.append({"loud": "大声地", "quiet": "轻声地"}[a["volume"]])
    en = (
        f"{g_en} speaks {lang_en} {' and '.join(mods_en)}".strip()
        + f', saying "{a["text"][1] if a["lang"] == "en" else a["text"][1]}".'
    )
    zh = f"{g_zh}{'、'.join(mods_zh)}用{lang_zh}说：“{a['text'][1]}”。"
    return en, zh


def speech_items(a: dict, rng) -> list[Item]:
    its = [item("gender", a["gender"])]
    for k in ("pitch", "rate", "volume"):
        if a[k] != "normal":
            its.append(item(k, a[k]))
    extra = rng.random()
    if extra < 0.4:
        its.append(item("text", a["text"]))
    elif extra < 0.6:
        its.append(item("lang", a["lang"]))
    else:
        its.append(item("speech", True))
    return its


def make_speech(rng, n_per_lang: int) -> list[Clip]:
    clips = []
    combos = []
    for g in ("male", "female"):
        for r in ("slow", "normal", "fast"):
            combos.append((g, r))
    for lang, texts in (("en", EN_TEXTS), ("zh", ZH_TEXTS)):
        for i in range(n_per_lang):
            g, r = combos[i % len(combos)]
            pitch = ["normal", "high", "low"][int(rng.integers(0, 3))] if i % 2 else "normal"
            vol = ["normal", "loud", "quiet"][int(rng.integers(0, 3))]
            if r == "normal" and pitch == "normal" and vol == "normal":
                vol = "loud" if i % 4 else "quiet"
            text = texts[i % len(texts)]
            voice = f"{'en-us' if lang == 'en' else 'cmn-latn-pinyin'}+{'m3' if g == 'male' else 'f3'}"
            x = espeak(voice, text[0], RATES[lang][r], PITCHES[g][pitch])
            x = np.concatenate([np.zeros(int(0.15 * SR), np.float32), x, np.zeros(int(0.1 * SR), np.float32)])
            x = normalize_lufs(x[: int(6 * SR)], VOLUMES[vol])
            a = {"gender": g, "rate": r, "pitch": pitch, "volume": vol, "lang": lang, "text": text, "speech": True}
            en, zh = speech_caption(a, "en")
            clips.append(
                Clip(
                    f"speech_{lang}_{i:02d}",
                    "speech",
                    "speech",
                    a,
                    speech_items(a, rng),
                    en,
                    zh,
                    x,
                    f"espeak-ng -v {voice} -s {RATES[lang][r]} -p {PITCHES[g][pitch]}; "
                    f"normalised to {VOLUMES[vol]} LUFS",
                )
            )
    return clips


def make_sound(rng, n_each: int) -> list[Clip]:
    clips = []
    # beeps with a known count and pitch
    for i in range(n_each):
        n = int(rng.integers(2, 6))
        hi = i % 2 == 0
        f = float(rng.choice([1200.0, 1500.0, 1800.0])) if hi else float(rng.choice([220.0, 260.0, 300.0]))
        bl, gap = 0.2, float(rng.uniform(0.3, 0.45))
        parts = [np.zeros(int(0.2 * SR), np.float32)]
        for _ in range(n):
            b = tone(f, bl, 3 if not hi else 1)
            parts += [fade(b, "none"), np.zeros(int(gap * SR), np.float32)]
        x = pad_min(normalize_lufs(np.concatenate(parts), -20.0))
        a = {"count": n, "beep_pitch": "high" if hi else "low", "speech": False}
        its = [item("count", n), item("beep_pitch", a["beep_pitch"])]
        if i % 3 == 0:
            its.append(item("speech", False))
        en = f"{n} {'high' if hi else 'low'}-pitched beeps, separated by short silences."
        zh = f"{ZH_NUM[n]}声{'高' if hi else '低'}音调的哔声，中间有短暂的静音。"
        clips.append(
            Clip(
                f"sound_beeps_{i:02d}",
                "sound",
                "beeps",
                a,
                its,
                en,
                zh,
                x,
                f"numpy: {n} beeps of {bl} s at {f:g} Hz, gaps {gap:.2f} s",
            )
        )
    # noise with colour (timbre), dynamics and duration
    dyns = ["fade_in", "fade_out", "steady"]
    for i in range(n_each):
        color = "white" if i % 2 == 0 else "brown"
        dyn = dyns[i % 3]
        dur = float([2.0, 3.0, 5.0][int(rng.integers(0, 3))])
        x = fade(colored_noise(rng, int(dur * SR), color), dyn)
        x = normalize_lufs(x, -22.0)
        timbre = "bright" if color == "white" else "dark"
        a = {"noisy": True, "timbre": timbre, "dynamics": dyn, "duration": dur, "speech": False}
        its = [item("noisy", True), item("timbre", timbre), item("dynamics", dyn), item("duration", dur)]
        d_en = {"fade_in": "fading in", "fade_out": "fading out", "steady": "at a steady volume"}[dyn]
        d_zh = {"fade_in": "逐渐变大", "fade_out": "逐渐减弱", "steady": "音量平稳"}[dyn]
        kind = "Bright, hissing" if timbre == "bright" else "Dark, muffled"
        en = f"{kind} noise {d_en}, lasting about {dur:g} seconds."
        zh = f"{'明亮的嘶嘶' if timbre == 'bright' else '沉闷的'}噪声，{d_zh}，持续约{dur:g}秒。"
        clips.append(
            Clip(
                f"sound_noise_{i:02d}",
                "sound",
                "noise",
                a,
                its,
                en,
                zh,
                x,
                f"numpy: {'high-passed white' if color == 'white' else 'low-passed brown'} noise, {dyn}, {dur:g} s",
            )
        )
    # a tone, with or without a pause in the middle
    for i in range(n_each):
        hi = i % 2 == 1
        pause = i % 4 in (0, 1)
        f = float(rng.choice([1000.0, 1300.0])) if hi else float(rng.choice([180.0, 240.0]))
        seg = tone(f, 1.2, 2)
        if pause:
            x = np.concatenate([fade(seg, "none"), np.zeros(int(1.0 * SR), np.float32), fade(seg, "none")])
        else:
            x = fade(tone(f, 3.4, 2), "none")
        x = normalize_lufs(x, -20.0)
        a = {"tone_pitch": "high" if hi else "low", "pause": pause, "speech": False}
        its = [item("tone_pitch", a["tone_pitch"]), item("pause", pause)]
        if i % 3 == 1:
            its.append(item("speech", False))
        en = f"A {'high' if hi else 'low'}-pitched tone" + (
            " that stops for a one-second pause and then returns." if pause else " held continuously without a break."
        )
        zh = f"一个{'高' if hi else '低'}音调的持续音" + (
            "，中间停顿一秒后再次响起。" if pause else "，连续不断，没有停顿。"
        )
        clips.append(
            Clip(
                f"sound_tone_{i:02d}",
                "sound",
                "tone",
                a,
                its,
                en,
                zh,
                x,
                f"numpy: {f:g} Hz tone (2 harmonics){', 1 s pause' if pause else ''}",
            )
        )
    # knocks with a known count
    for i in range(n_each):
        n = int(rng.integers(2, 7))
        t = np.arange(int(0.12 * SR)) / SR
        parts = [np.zeros(int(0.15 * SR), np.float32)]
        for _ in range(n):
            k = (np.sin(2 * np.pi * 160 * t) * 0.8 + colored_noise(rng, len(t), "brown") * 0.3) * np.exp(-t * 45)
            parts += [k.astype(np.float32), np.zeros(int(rng.uniform(0.25, 0.4) * SR), np.float32)]
        x = pad_min(normalize_lufs(np.concatenate(parts), -20.0))
        a = {"knocks": n, "speech": False, "timbre": "dark"}
        its = [item("knocks", n), item("speech", False) if i % 2 else item("timbre", "dark")]
        en = f"Someone knocks on a wooden door {n} times."
        zh = f"有人敲了{ZH_NUM[n]}下木门。"
        clips.append(
            Clip(f"sound_knock_{i:02d}", "sound", "knocks", a, its, en, zh, x, f"numpy: {n} decaying 160 Hz knocks")
        )
    return clips


KEYS = ["C major", "G major", "F major", "D major", "A minor", "E minor", "D minor", "C minor"]


def make_music(rng, n_tonal: int, n_drums: int) -> list[Clip]:
    clips = []
    for i in range(n_tonal):
        fast = i % 2 == 0
        bpm = int(rng.choice([132, 140, 150])) if fast else int(rng.choice([66, 72, 80]))
        key = KEYS[i % len(KEYS)]
        tonic, mode = key.split()
        prog = list(INSTRUMENTS)[i % len(INSTRUMENTS)]
        dur = 6.0 if not fast else 5.0
        beats = int(np.ceil(dur * bpm / 60 / 4)) * 4
        notes = music_notes(rng, tonic, mode, beats)
        x = render_midi(write_midi(notes, bpm, {0: prog, 1: 0 if prog != 0 else 48}), dur)
        how = f"fluidsynth TimGM6mb: program {prog} melody + piano/strings accompaniment"
        if x is None or np.max(np.abs(x)) < 1e-4:
            x, how = numpy_music(notes, bpm, dur), "numpy additive synthesis"
        x = normalize_lufs(x, -20.0)
        tempo = "fast" if fast else "slow"
        a = {"tempo": tempo, "bpm": bpm, "key": key, "mode": mode, "instrument": prog, "speech": False}
        its = [item("tempo", tempo)]
        its.append(item("key", key) if i % 3 != 2 else item("mode", mode))
        its.append(item("instrument", prog))
        if i % 4 == 1:
            its.append(item("speech", False))
        iname, izh = INSTRUMENTS[prog]
        en = f"A {'fast, lively' if fast else 'slow, calm'} {iname} piece in {key}."
        zh = f"一段{'快节奏' if fast else '慢节奏'}的{izh}曲子，{zh_key(key)}。"
        clips.append(Clip(f"music_tonal_{i:02d}", "music", "tonal", a, its, en, zh, x, f"{how}; {bpm} BPM; {key}"))
    for i in range(n_drums):
        bpm = [90, 120, 140, 100][i % 4] + int(rng.integers(-2, 3))
        x = normalize_lufs(drum_loop(rng, bpm, 5.0), -18.0)
        a = {"bpm": bpm, "speech": False, "tempo": "fast" if bpm >= 115 else "slow" if bpm <= 92 else "medium"}
        its = [item("bpm", bpm), item("speech", False)]
        en = f"A drum loop (kick, snare and hi-hats) at about {bpm} BPM, with no vocals."
        zh = f"一段约每分钟{bpm}拍的鼓点循环（底鼓、军鼓和踩镲），没有人声。"
        clips.append(Clip(f"music_drums_{i:02d}", "music", "drums", a, its, en, zh, x, f"numpy drum loop at {bpm} BPM"))
    return clips


def make_mix(rng, n: int, speech_pool: list[Clip]) -> list[Clip]:
    clips = []
    for i in range(n):
        lang = "en" if i % 2 == 0 else "zh"
        g = "male" if (i // 2) % 2 == 0 else "female"
        text = (EN_TEXTS if lang == "en" else ZH_TEXTS)[(i + 3) % 6]
        voice = f"{'en-us' if lang == 'en' else 'cmn-latn-pinyin'}+{'m3' if g == 'male' else 'f3'}"
        sp = espeak(voice, text[0], RATES[lang]["normal"], 50)
        sp = normalize_lufs(sp, -23.0)
        dur = len(sp) / SR + 0.8
        bg_kind = "noise" if i % 2 == 0 else "music"
        if bg_kind == "noise":
            bg = colored_noise(rng, int(dur * SR), "pink")
        else:
            key = KEYS[i % len(KEYS)]
            notes = music_notes(rng, *key.split(), beats=int(np.ceil(dur * 100 / 60 / 4)) * 4)
            bg = render_midi(write_midi(notes, 100, {0: 0, 1: 48}), dur)
            if bg is None or np.max(np.abs(bg)) < 1e-4:
                bg = numpy_music(notes, 100, dur)
        bg = normalize_lufs(bg[: int(dur * SR)], -36.0 if bg_kind == "noise" else -33.0)
        x = bg.copy()
        s0 = int(0.4 * SR)
        x[s0 : s0 + len(sp)] += sp[: len(x) - s0]
        x = np.clip(x, -0.99, 0.99).astype(np.float32)
        a = {
            "gender": g,
            "speech": True,
            "noise_bg": bg_kind == "noise",
            "bg_music": bg_kind == "music",
            "lang": lang,
            "text": text,
        }
        its = [item("speech", True), item("gender", g)]
        if bg_kind == "noise":
            its.append(item("noise_bg", True))
        else:
            its.append(item("bg_music", True))
        if i % 3 == 0:
            its.append(item("text", text))
        g_en, g_zh = ("A man", "一位男性") if g == "male" else ("A woman", "一位女性")
        bg_en = "over steady background noise" if bg_kind == "noise" else "over soft background piano music"
        bg_zh = "背景有持续的噪声" if bg_kind == "noise" else "背景有轻柔的钢琴音乐"
        en = f'{g_en} speaks {bg_en}, saying "{text[1]}".'
        zh = f"{g_zh}在说话，{bg_zh}，内容是“{text[1]}”。"
        clips.append(
            Clip(
                f"mix_{i:02d}",
                "mix",
                f"mix_{bg_kind}",
                a,
                its,
                en,
                zh,
                x,
                f"espeak-ng -v {voice} at -23 LUFS over {bg_kind} at {-36 if bg_kind == 'noise' else -33} LUFS",
            )
        )
    return clips


# ============================================================================ negatives
FLIPS = {
    "gender": {"male": "female", "female": "male"},
    "rate": {"fast": "slow", "slow": "fast"},
    "volume": {"loud": "quiet", "quiet": "loud"},
    "pitch": {"high": "low", "low": "high"},
    "beep_pitch": {"high": "low", "low": "high"},
    "tone_pitch": {"high": "low", "low": "high"},
    "timbre": {"bright": "dark", "dark": "bright"},
    "dynamics": {"fade_in": "fade_out", "fade_out": "fade_in", "steady": "fade_out"},
    "pause": {True: False, False: True},
    "tempo": {"fast": "slow", "slow": "fast"},
    "mode": {"major": "minor", "minor": "major"},
    "noise_bg": {True: False, False: True},
}
MEASURABLE = set(FLIPS) | {"count", "knocks", "duration", "bpm", "key", "speech", "noisy"}


def flip_value(attr: str, v, rng):
    if attr in FLIPS:
        return FLIPS[attr][v]
    if attr in ("count", "knocks"):
        return v + 2 if v <= 3 else v - 2
    if attr == "duration":
        return 5.0 if v <= 3.0 else 2.0
    if attr == "bpm":
        return int(round(v * (1.3 if v < 110 else 0.75)))
    if attr == "key":
        tonic, mode = v.split()
        return f"{tonic} {'minor' if mode == 'major' else 'major'}"  # parallel key
    raise KeyError(attr)


def changed_caption(clip: Clip, attr: str, old, new) -> tuple[str, str]:
    """Rewrite the positive caption with one attribute changed."""
    a = dict(clip.attrs)
    a[attr] = new
    if clip.kind == "speech":
        return speech_caption(a, "en")
    en, zh = clip.cap_en, clip.cap_zh
    rep = {
        "beep_pitch": [
            ("high-pitched", "low-pitched"),
            ("low-pitched", "high-pitched"),
            ("高音调", "低音调"),
            ("低音调", "高音调"),
        ],
        "tone_pitch": [
            ("high-pitched", "low-pitched"),
            ("low-pitched", "high-pitched"),
            ("高音调", "低音调"),
            ("低音调", "高音调"),
        ],
        "timbre": [
            ("Bright, hissing", "Dark, muffled"),
            ("Dark, muffled", "Bright, hissing"),
            ("明亮的嘶嘶", "沉闷的"),
            ("沉闷的", "明亮的嘶嘶"),
        ],
        "tempo": [
            ("fast, lively", "slow, calm"),
            ("slow, calm", "fast, lively"),
            ("快节奏", "慢节奏"),
            ("慢节奏", "快节奏"),
        ],
        "gender": [("A man", "A woman"), ("A woman", "A man"), ("一位男性", "一位女性"), ("一位女性", "一位男性")],
        "noise_bg": [
            ("over steady background noise", "in a quiet room with no background noise"),
            ("背景有持续的噪声", "背景安静，没有噪声"),
        ],
    }
    if attr in rep:
        done_en = done_zh = False
        for a_, b_ in rep[attr]:
            if not done_en and a_ in en and a_.isascii():
                en, done_en = en.replace(a_, b_), True
            if not done_zh and a_ in zh and not a_.isascii():
                zh, done_zh = zh.replace(a_, b_), True
        return en, zh
    if attr == "count":
        return (en.replace(f"{old} ", f"{new} ", 1), zh.replace(f"{ZH_NUM[old]}声", f"{ZH_NUM[new]}声", 1))
    if attr == "knocks":
        return (en.replace(f"{old} times", f"{new} times"), zh.replace(f"{ZH_NUM[old]}下", f"{ZH_NUM[new]}下"))
    if attr == "duration":
        return (
            en.replace(f"about {old:g} seconds", f"about {new:g} seconds"),
            zh.replace(f"约{old:g}秒", f"约{new:g}秒"),
        )
    if attr == "dynamics":
        m_en = {"fade_in": "fading in", "fade_out": "fading out", "steady": "at a steady volume"}
        m_zh = {"fade_in": "逐渐变大", "fade_out": "逐渐减弱", "steady": "音量平稳"}
        return en.replace(m_en[old], m_en[new]), zh.replace(m_zh[old], m_zh[new])
    if attr == "pause":
        if old:
            return (
                en.replace(
                    " that stops for a one-second pause and then returns.", " held continuously without a break."
                ),
                zh.replace("，中间停顿一秒后再次响起。", "，连续不断，没有停顿。"),
            )
        return (
            en.replace(" held continuously without a break.", " that stops for a one-second pause and then returns."),
            zh.replace("，连续不断，没有停顿。", "，中间停顿一秒后再次响起。"),
        )
    if attr == "bpm":
        return en.replace(f"about {old} BPM", f"about {new} BPM"), zh.replace(f"每分钟{old}拍", f"每分钟{new}拍")
    if attr == "key":
        return en.replace(old, new), zh.replace(zh_key(old), zh_key(new))
    if attr == "mode":
        k_old = clip.attrs["key"]
        k_new = f"{k_old.split()[0]} {new}"
        return en.replace(k_old, k_new), zh.replace(zh_key(k_old), zh_key(k_new))
    raise KeyError(attr)


def gold(clip: Clip, it: Item) -> str:
    """Gold label of one rubric item for one clip, from generation parameters."""
    if it.attr not in clip.attrs:
        # the clip has no such attribute: a question presupposing it does not match
        return "no" if it.value not in (False,) else "yes"
    v = clip.attrs[it.attr]
    if it.attr == "key" and isinstance(v, str):
        return "yes" if v == it.value else "no"
    if it.attr == "bpm":
        return (
            "yes"
            if abs(v / it.value - 1) < 0.05 or abs(2 * v / it.value - 1) < 0.05 or abs(v / (2 * it.value) - 1) < 0.05
            else "no"
        )
    if it.attr == "text":
        return "yes" if tuple(v) == tuple(it.value) else "no"
    return "yes" if v == it.value else "no"


def rows_for(clips: list[Clip], rng) -> list[dict]:
    """Positive row per clip and as many negatives (alternating neg_change / neg_swap), per subset."""
    out = []
    by_subset: dict[str, list[Clip]] = {}
    for c in clips:
        by_subset.setdefault(c.subset, []).append(c)
    for cs in by_subset.values():
        for c in cs:
            its = [(it, "yes") for it in c.items]
            out.append(dict(clip=c, cap=(c.cap_en, c.cap_zh), items=its, type="pos", label="yes"))
        for j, c in enumerate(cs):
            neg = None
            if j % 2 == 1:  # neg_swap with a same-kind clip whose caption does not fit
                partners = [p for p in cs if p.kind == c.kind and p is not c]
                rng.shuffle(partners)
                for p in partners:
                    its = [(it, gold(c, it)) for it in p.items]
                    if any(g == "no" for it, g in its if it.attr in MEASURABLE):
                        neg = dict(clip=c, cap=(p.cap_en, p.cap_zh), items=its, type="neg_swap", label="no")
                        break
            if neg is None:  # neg_change: exactly one measurable attribute of the caption changed
                cand = [
                    k for k, it in enumerate(c.items) if it.attr in MEASURABLE and it.attr not in ("speech", "noisy")
                ]
                k = cand[int(rng.integers(0, len(cand)))]
                it = c.items[k]
                new = flip_value(it.attr, it.value, rng)
                cap = changed_caption(c, it.attr, it.value, new)
                its = [(item(it.attr, new), "no") if kk == k else (ii, "yes") for kk, ii in enumerate(c.items)]
                neg = dict(clip=c, cap=cap, items=its, type="neg_change", label="no")
            out.append(neg)
    return out


def basis(it: Item, lang: str) -> str:
    return f"caption states {it.dim_en}" if lang == "en" else f"描述中提到{it.dim_zh}"


def write_manifest(rows: list[dict], lang: str, path: Path, rng_seed: int) -> None:
    rng = np.random.default_rng(rng_seed)
    with path.open("w", encoding="utf-8") as fh:
        for n, r in enumerate(rows, 1):
            rubric = []
            for it, g in r["items"]:
                qs = it.q_en if lang == "en" else it.q_zh
                rubric.append(
                    {
                        "dimension": it.dim_en if lang == "en" else it.dim_zh,
                        "question": qs[int(rng.integers(0, len(qs)))],
                        "basis": basis(it, lang),
                        "label": g,
                    }
                )
            obj = {
                "uuid": f"probe-{lang}-{n:04d}",
                "audio": f"audios/{r['clip'].cid}.flac",
                "caption": r["cap"][0 if lang == "en" else 1],
                "label": r["label"],
                "type": r["type"],
                "subset": r["clip"].subset,
                "rubric": rubric,
            }
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")


def numpy_clips(seed: int = SEED) -> list[Clip]:
    """The clips made with numpy alone (sound subset and drum loops): used by the determinism test."""
    rng = np.random.default_rng([seed, 2])
    clips = make_sound(rng, 7)
    rng = np.random.default_rng([seed, 3])
    clips += make_music(rng, 0, 6)
    return clips


def flac_bytes(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1, 1), SR, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def tool_version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except Exception:
        return None


def build(out: Path, seed: int = SEED) -> dict:
    speech = make_speech(np.random.default_rng([seed, 1]), 12)
    sound = make_sound(np.random.default_rng([seed, 2]), 7)
    rng_m = np.random.default_rng([seed, 3])
    drums = make_music(rng_m, 0, 6)
    tonal = make_music(np.random.default_rng([seed, 4]), 14, 0)
    mix = make_mix(np.random.default_rng([seed, 5]), 16, speech)
    clips = speech + sound + tonal + drums + mix
    audios = out / "audios"
    if audios.exists():
        shutil.rmtree(audios)
    audios.mkdir(parents=True)
    for c in clips:
        (audios / f"{c.cid}.flac").write_bytes(flac_bytes(c.wav))
    rows = rows_for(clips, np.random.default_rng([seed, 6]))
    for lang in ("en", "zh"):
        write_manifest(rows, lang, out / f"{lang}.jsonl", seed * 100 + (1 if lang == "en" else 2))
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        d = counts.setdefault(r["clip"].subset, {})
        d[r["type"]] = d.get(r["type"], 0) + 1
    info = {
        "seed": seed,
        "script": "scripts/build_probes.py",
        "sample_rate": SR,
        "n_clips": len(clips),
        "rows_per_language": len(rows),
        "rows_by_subset_and_type": counts,
        "n_items": sum(len(r["items"]) for r in rows),
        "n_items_unmeasurable": sum(1 for r in rows for it, _ in r["items"] if it.attr not in MEASURABLE),
        "tools": {
            "espeak-ng": tool_version(["espeak-ng", "--version"]),
            "fluidsynth": tool_version(["fluidsynth", "--version"]),
            "soundfont": SOUNDFONT.name if SOUNDFONT.exists() else None,
            "numpy": np.__version__,
            "soundfile": sf.__version__,
        },
        "clips": {
            c.cid: {
                "source": c.source,
                "attrs": {k: (list(v) if isinstance(v, tuple) else v) for k, v in c.attrs.items()},
            }
            for c in clips
        },
    }
    (out / "build_info.json").write_text(json.dumps(info, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (out / "LICENSE.md").write_text(LICENSE_TEXT, encoding="utf-8")
    return info


LICENSE_TEXT = """# Probe set: provenance and licence

All audio under `audios/` was synthesized by `scripts/build_probes.py` (seeded; see `build_info.json` for
the seed, tool versions and the generation parameters of every clip). No recorded or third-party audio is
included. The audio, the manifests (`en.jsonl`, `zh.jsonl`) and `build_info.json` are dedicated to the public
domain under **CC0 1.0** (https://creativecommons.org/publicdomain/zero/1.0/).

How the clips were made:

- `speech_*`: speech synthesized with **espeak-ng** (English `en-us`, Mandarin `cmn-latn-pinyin` from
  tone-numbered pinyin; voice variants `+m3` male and `+f3` female; rate `-s`, pitch `-p`), resampled to
  16 kHz and loudness-normalised (pyloudnorm, BS.1770) to a quiet / normal / loud target.
- `sound_*`: numpy signals: sine beeps with a known count and frequency, high-passed white / low-passed brown
  noise with fades and known duration, tones with or without a 1 s pause, decaying knocks with a known count.
- `music_tonal_*`: MIDI written by the script (tempo, key, instrument known) and rendered with **fluidsynth**
  and the TimGM6mb General MIDI soundfont (numpy additive synthesis when fluidsynth is absent).
  `music_drums_*`: numpy drum loops (kick, snare, hi-hat) at a known BPM.
- `mix_*`: espeak-ng speech at -23 LUFS mixed with numpy pink noise or a fluidsynth piano/strings background.

Tools: espeak-ng is GPL-3.0-or-later, fluidsynth LGPL-2.1, the TimGM6mb soundfont GPL-2. These licences cover
the tools and the soundfont, not the audio they output; the outputs here are released as CC0 by the authors
of this package. espeak-ng itself is not part of this package and is only needed to rebuild the set.

Gold labels (row `label` and each rubric item's `label`) come from the generation parameters, never from a
judge. `neg_change` rows change exactly one measurable attribute of the caption (that item is gold "no");
`neg_swap` rows take the caption of another clip of the same kind, with each item's gold computed from this
clip's parameters. Items about the words spoken, the language, the instrument and background music are
included on purpose: the offline acoustic judge cannot measure them and should abstain.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    if not shutil.which("espeak-ng"):
        raise SystemExit("espeak-ng is required: apt-get install espeak-ng")
    args.out.mkdir(parents=True, exist_ok=True)
    info = build(args.out, args.seed)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(
        f"wrote {info['n_clips']} clips, {info['rows_per_language']} rows per language, "
        f"{size / 1e6:.2f} MB -> {args.out}"
    )


if __name__ == "__main__":
    main()
