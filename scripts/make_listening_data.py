"""Write small synthetic listening-test data that runs offline with the acoustic judge.

    python scripts/make_listening_data.py runs/listening

writes, under the output folder:

- `clips/*.wav`, `ratings.jsonl`: tones that vary in loudness, pitch and length, all rated against one caption
  ("a loud, high-pitched tone lasting about 2 seconds") by simulated listeners. A listener's 1-10 score is
  1 + 9 x (how loud, how high and how close to 2 s the tone is, averaged) plus the listener's own bias and
  seeded noise, so the "human" score has a known relation to properties the acoustic judge measures. Each
  row carries the caption's three rubric items, so no decomposer is needed.
- `pairs.jsonl`: pairs of those clips with the listeners' preference (the higher mean score; a tie when the
  means are within half a point).
- `instructions.jsonl`, `generators/<name>/<id>.wav`: instructions for the `instruct` task and the clips of
  three simulated generators (`precise` follows every instruction, `sloppy` misses the length half the time,
  `random` ignores the instruction), for `inspect eval anyaudio_eval/instruct --model files/<folder>`.

Everything is generated from the seed (numpy); there is no third-party audio. The files are CC0.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16_000
CAPTION = "a loud, high-pitched tone lasting about 2 seconds"
RUBRIC = [
    {"dimension": "loudness", "question": "Is the sound loud?", "basis": "loud"},
    {"dimension": "pitch", "question": "Is the tone high-pitched?", "basis": "high-pitched"},
    {"dimension": "duration", "question": "Does the clip last about 2 seconds?", "basis": "about 2 seconds"},
]
AMP = (0.01, 0.5)
FREQ = (150.0, 1500.0)
DURATION = (0.6, 4.0)


def tone(freq: float, seconds: float, amp: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)  # 20 ms fades: no clicks
    return (amp * ramp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _position(x: float, lo: float, hi: float) -> float:
    return float(np.clip((np.log(x) - np.log(lo)) / (np.log(hi) - np.log(lo)), 0.0, 1.0))


def match_quality(amp: float, freq: float, seconds: float) -> float:
    """How well a tone fits the caption, in [0, 1]: the mean of loudness, pitch and length closeness."""
    loud = _position(amp, *AMP)
    high = _position(freq, *FREQ)
    length = 1.0 - min(1.0, abs(seconds - 2.0) / 1.5)
    return (loud + high + length) / 3


def write_ratings(out: Path, n_clips: int = 40, n_raters: int = 4, noise: float = 1.0, seed: int = 0) -> Path:
    """Clips and one row per (clip, rater); returns the ratings file."""
    rng = np.random.default_rng(seed)
    clips = out / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    biases = rng.normal(0.0, 0.5, n_raters)
    rows = []
    for i in range(n_clips):
        amp = float(np.exp(rng.uniform(np.log(AMP[0]), np.log(AMP[1]))))
        freq = float(np.exp(rng.uniform(np.log(FREQ[0]), np.log(FREQ[1]))))
        seconds = float(rng.uniform(*DURATION))
        name = f"clip_{i:03d}.wav"
        sf.write(clips / name, tone(freq, seconds, amp), SR, subtype="PCM_16")
        quality = match_quality(amp, freq, seconds)
        for r in range(n_raters):
            score = float(np.clip(np.round(1 + 9 * quality + biases[r] + rng.normal(0.0, noise)), 1, 10))
            rows.append(
                {"audio": f"clips/{name}", "text": CAPTION, "score": score, "rater": f"listener_{r}", "rubric": RUBRIC}
            )
    path = out / "ratings.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_pairs(out: Path, ratings: Path, n_pairs: int = 30, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed + 1)
    means: dict[str, list[float]] = {}
    for line in ratings.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        means.setdefault(row["audio"], []).append(row["score"])
    names = sorted(means)
    rows = []
    for k in range(n_pairs):
        a, b = rng.choice(len(names), size=2, replace=False)
        ma, mb = np.mean(means[names[a]]), np.mean(means[names[b]])
        preferred = "tie" if abs(ma - mb) < 0.5 else ("a" if ma > mb else "b")
        rows.append(
            {
                "id": f"pair_{k:03d}",
                "audio_a": names[a],
                "audio_b": names[b],
                "text": CAPTION,
                "preferred": preferred,
                "rubric": RUBRIC,
            }
        )
    path = out / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_generators(out: Path, n_instructions: int = 24, seed: int = 0) -> Path:
    """Instructions asking for a tone of a given length, pitch and loudness, and three generators' clips."""
    rng = np.random.default_rng(seed + 2)
    rows = []
    for name in ("precise", "sloppy", "random"):
        (out / "generators" / name).mkdir(parents=True, exist_ok=True)
    for i in range(n_instructions):
        seconds = float(rng.choice([1.0, 2.0, 3.0]))
        high, loud = bool(rng.integers(2)), bool(rng.integers(2))
        pitch_word, loud_word = ("high-pitched" if high else "low-pitched"), ("loud" if loud else "quiet")
        row_id = f"tone_{i:03d}"
        rows.append(
            {
                "id": row_id,
                "instruction": f"a {loud_word}, {pitch_word} tone lasting about {seconds:g} seconds",
                "domain": "sound",
                "rubric": [
                    {"dimension": "loudness", "question": f"Is the sound {loud_word}?"},
                    {"dimension": "pitch", "question": f"Is the tone {pitch_word}?"},
                    {"dimension": "duration", "question": f"Does the clip last about {seconds:g} seconds?"},
                ],
            }
        )
        freq, amp = (1200.0 if high else 180.0), (0.5 if loud else 0.01)
        sloppy_seconds = seconds + (float(rng.choice([-0.8, 1.5])) if rng.random() < 0.5 else 0.0)
        clips = {
            "precise": tone(freq, seconds, amp),
            "sloppy": tone(freq, sloppy_seconds, amp),
            "random": tone(float(rng.uniform(150, 1500)), float(rng.uniform(0.6, 4.0)), float(rng.uniform(0.01, 0.5))),
        }
        for name, wav in clips.items():
            sf.write(out / "generators" / name / f"{row_id}.wav", wav, SR, subtype="PCM_16")
    path = out / "instructions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--raters", type=int, default=4)
    parser.add_argument("--noise", type=float, default=1.0, help="sd of each listener's noise, in scale points")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ratings = write_ratings(args.out, args.clips, args.raters, args.noise, args.seed)
    pairs = write_pairs(args.out, ratings, seed=args.seed)
    instructions = write_generators(args.out, seed=args.seed)
    for path in (ratings, pairs, instructions):
        print(path)


if __name__ == "__main__":
    main()
