"""Acoustic judge throughput on the bundled probe set, as a real-time factor (audio seconds judged per second).

Side by side: (a) one analysis per clip shared by all its items (what the `acoustic/` provider does) and
(b) a fresh analysis for every item. Prints both RTFs and the ratio.

    python benchmarks/bench_acoustic.py [--language en]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from anyaudio_eval.acoustic import ClipFeatures, answer_item
from anyaudio_eval.audio import TARGET_SR, load_audio
from anyaudio_eval.tasks.probes import PROBES_DIR


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--language", default="en", choices=["en", "zh"])
    args = parser.parse_args()
    rows = [json.loads(line) for line in (PROBES_DIR / f"{args.language}.jsonl").read_text().splitlines()]
    clips = {r["audio"]: load_audio(Path(PROBES_DIR) / r["audio"]) for r in rows}
    audio_seconds = sum(len(clips[r["audio"]]) / TARGET_SR for r in rows)
    n_items = sum(len(r["rubric"]) for r in rows)

    start = time.perf_counter()
    for r in rows:
        features = ClipFeatures(clips[r["audio"]], TARGET_SR)
        for item in r["rubric"]:
            answer_item(features, item["question"], item.get("dimension"))
    shared = time.perf_counter() - start

    start = time.perf_counter()
    for r in rows:
        for item in r["rubric"]:
            answer_item(ClipFeatures(clips[r["audio"]], TARGET_SR), item["question"], item.get("dimension"))
    fresh = time.perf_counter() - start

    print(f"probe set ({args.language}): {len(rows)} rows, {n_items} items, {audio_seconds:.0f} s of audio judged")
    print(
        f"(a) shared analysis per clip: {shared:6.2f} s  RTF {audio_seconds / shared:7.1f}x real time  "
        f"{1000 * shared / n_items:5.1f} ms/item"
    )
    print(
        f"(b) fresh analysis per item:  {fresh:6.2f} s  RTF {audio_seconds / fresh:7.1f}x real time  "
        f"{1000 * fresh / n_items:5.1f} ms/item"
    )
    print(f"ratio (b)/(a): {fresh / shared:.2f}x")


if __name__ == "__main__":
    main()
