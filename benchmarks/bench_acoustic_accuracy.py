"""Acoustic judge accuracy against gold item labels: on the bundled probes and on the real calibration set.

For each set it prints the answered-item accuracy, the share of items answered, and both per dimension, for
the judge with its speech tools (ASR + VAD, when the `asr` extra is installed) and, side by side, with signal
measurements alone (`--compare`).

    python scripts/build_calibration.py                      # once: extracts the real recordings (Debian)
    python benchmarks/bench_acoustic_accuracy.py [--asr auto] [--compare] [--sets probes,calibration]

The calibration set is `anyaudio_eval/data/calibration/manifest.jsonl` (labels and licence per clip) with its
audio under `$ANYAUDIO_CALIBRATION_AUDIO` (default: `calibration/` in the package's cache folder, where the
build script writes it).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from anyaudio_eval.acoustic import ClipFeatures, answer_item
from anyaudio_eval.acoustic.speech import SpeechTools
from anyaudio_eval.audio import TARGET_SR, load_audio
from anyaudio_eval.scorers.metrics import ItemRecord, item_summary
from anyaudio_eval.tasks.probes import PROBES_DIR

REPO = Path(__file__).resolve().parent.parent
CALIBRATION_MANIFEST = REPO / "anyaudio_eval" / "data" / "calibration" / "manifest.jsonl"


def calibration_audio_dir() -> Path:
    import os

    from anyaudio_eval.audio import cache_dir

    return Path(os.environ.get("ANYAUDIO_CALIBRATION_AUDIO") or cache_dir() / "calibration")


def load_set(name: str) -> list[tuple[Path, list[dict]]]:
    """(audio path, rubric items with gold labels) per clip."""
    if name == "probes":
        out = []
        for lang in ("en", "zh"):
            for line in (PROBES_DIR / f"{lang}.jsonl").read_text().splitlines():
                row = json.loads(line)
                out.append((PROBES_DIR / row["audio"], row["rubric"]))
        return out
    if name == "calibration":
        audio_dir = calibration_audio_dir()
        rows = [json.loads(line) for line in CALIBRATION_MANIFEST.read_text().splitlines() if line.strip()]
        missing = [r["audio"] for r in rows if not (audio_dir / r["audio"]).is_file()]
        if missing:
            raise SystemExit(
                f"{len(missing)} calibration clips missing under {audio_dir}: run scripts/build_calibration.py"
            )
        return [(audio_dir / r["audio"], r["rubric"]) for r in rows]
    raise SystemExit(f"unknown set {name!r}")


def judge_set(clips: list[tuple[Path, list[dict]]], tools: SpeechTools | None) -> tuple[list[ItemRecord], list[dict]]:
    records, wrong = [], []
    cache: dict[Path, ClipFeatures] = {}  # rows sharing a clip share its analysis, as in the provider
    for path, rubric in clips:
        if path not in cache:
            cache[path] = ClipFeatures(load_audio(path), TARGET_SR, tools=tools)
        features = cache[path]
        for item in rubric:
            ans = answer_item(features, item["question"], item.get("dimension"))
            records.append(ItemRecord(dimension=item.get("dimension", ""), gold=item["label"], p_yes=ans.p_yes))
            if ans.measured and (ans.p_yes >= 0.5) != (item["label"] == "yes"):
                wrong.append(
                    {
                        "audio": path.name,
                        "question": item["question"],
                        "gold": item["label"],
                        "p_yes": round(ans.p_yes, 3),
                        "evidence": ans.evidence,
                    }
                )
    return records, wrong


def table(records: list[ItemRecord]) -> list[str]:
    s = item_summary(records)
    by_dim: dict[str, list[ItemRecord]] = defaultdict(list)
    for r in records:
        by_dim[r.dimension or "?"].append(r)
    lines = [f"  {'dimension':<22} {'items':>5} {'answered':>8} {'accuracy':>8}"]
    for dim, xs in sorted(by_dim.items(), key=lambda kv: -len(kv[1])):
        answered = 1 - s.get(f"item_abstain_{dim}", 0.0)
        acc = s.get(f"item_acc_{dim}")
        lines.append(f"  {dim:<22} {len(xs):>5} {answered:>8.2f} {'-' if acc is None else f'{acc:.3f}':>8}")
    lines.append(
        f"  {'ALL':<22} {len(records):>5} {1 - s['item_abstention_share']:>8.2f} {s['item_accuracy_answered']:>8.3f}"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--asr", default="auto", help="auto, off, base, tiny.en or a model directory")
    parser.add_argument("--sets", default="probes,calibration")
    parser.add_argument("--compare", action="store_true", help="also run with signal measurements alone")
    parser.add_argument("--errors", type=int, default=0, help="print up to N wrong answers per set")
    args = parser.parse_args()
    configs = [("with speech tools", SpeechTools(asr=args.asr, vad=True))]
    if args.compare:
        configs.append(("signal measurements only", None))
    for name in args.sets.split(","):
        clips = load_set(name)
        for label, tools in configs:
            start = time.perf_counter()
            records, wrong = judge_set(clips, tools)
            took = time.perf_counter() - start
            desc = tools.describe() if tools else "ASR off, VAD off"
            print(f"\n{name}: {len(clips)} clips, {len(records)} items; {label} ({desc}); {took:.0f} s")
            print("\n".join(table(records)))
            for w in wrong[: args.errors]:
                print("   wrong:", json.dumps(w, ensure_ascii=False))


if __name__ == "__main__":
    main()
