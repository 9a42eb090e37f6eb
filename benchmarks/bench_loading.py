"""Bench loading throughput and memory: cold WAV cache vs warm WAV cache, side by side in one run.

Generates (seeded, in a temp dir) a bench of N rows of 30 s clips in the hub layout: one parquet file
`en/test-00000-of-00001.parquet` whose `audio` column is the hub's {bytes, path} struct holding 44.1 kHz
stereo PCM16 WAV bytes, so a cold load exercises decode + downmix + resample + WAV write. Row groups hold
100 rows, as `datasets` writes audio datasets. Then `load_bench` runs twice, each time in its own
subprocess so peak RSS (ru_maxrss) belongs to that run alone:

  cold:  a fresh `ANYAUDIO_CACHE` (every clip decoded, resampled and written); the audio column is streamed
         page by page, a clip at a time (`bench/parquet_stream.py`)
  warm:  the same cache again (the row index maps unchanged rows to cached clips: no audio is read)
  whole: another fresh cache, each row group's audio read whole by pyarrow (the loader's fallback, and its
         only path before streaming): memory bounded by a row group rather than a clip

    .venv/bin/python benchmarks/bench_loading.py              # 2000 x 30 s (about 10.6 GB of parquet)
    .venv/bin/python benchmarks/bench_loading.py --rows 300   # a quicker run
    .venv/bin/python benchmarks/bench_loading.py --rows 300 --content clean --dictionary   # other layouts
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import hub_schema, peak_rss, run_child  # beside this script (its folder is on sys.path)

SUBSETS = ("speech", "speech_gen", "sound", "sound_gen", "music", "music_gen", "mix")
RUBRIC = [
    {"dimension": "音色", "question": "是否有持续的音调？", "basis": "tone"},
    {"dimension": "响度", "question": "声音是否清晰可闻？", "basis": "audible"},
]
GB = 1e9


def _base_clip(seconds: float, sr: int, seed: int, content: str) -> np.ndarray:
    """A stereo int16 clip, different in each channel.

    noisy: a few tones plus noise (barely compressible: snappy stores it as literals);
    clean: syllable-like tone bursts over a faint noise floor with stretches of digital silence, like clean
    generated speech (snappy shrinks it to about 0.7 with many short copies: the slow case for streaming).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr), dtype=np.float32) / sr
    left = 0.2 * np.sin(2 * np.pi * 440.0 * t) + 0.1 * np.sin(2 * np.pi * 1234.5 * t)
    right = 0.2 * np.sin(2 * np.pi * 660.0 * t) + 0.05 * np.sin(2 * np.pi * 3100.0 * t)
    if content == "clean":
        envelope = np.sin(2 * np.pi * 3.0 * t) ** 8 * (np.sin(2 * np.pi * 0.2 * t) > -0.3)
        noise = rng.standard_normal((2, t.size)).astype(np.float32) * 0.0005 * (envelope > 0)
        left, right = left * envelope, right * envelope
    else:
        noise = rng.standard_normal((2, t.size)).astype(np.float32) * 0.02
    stereo = np.stack([left + noise[0], right + noise[1]], axis=1)
    return (np.clip(stereo, -1, 1) * 32767).astype(np.int16)


def _wav_bytes(frames: np.ndarray, sr: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, frames, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def generate(
    root: Path, rows: int, seconds: float, sr: int, seed: int, row_group: int, content: str, dictionary: bool
) -> dict[str, float]:
    """Write the bench in batches of `row_group` rows: memory is bounded by one row group, whatever N."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    base = _base_clip(seconds, sr, seed, content)
    schema, audio_type = hub_schema()
    path = root / "en" / "test-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    source_bytes = 0
    # Dictionary encoding is pyarrow's (and datasets') default: the row group's audio then sits in one dictionary
    # page instead of one data page; --dictionary measures the loader on that layout.
    with pq.ParquetWriter(path, schema, use_dictionary=dictionary) as writer:
        for start in range(0, rows, row_group):
            indices = range(start, min(rows, start + row_group))
            clips = []
            for i in indices:
                frames = np.roll(base, int(rng.integers(0, base.shape[0])), axis=0)
                frames[0] = (i % 32768, i // 32768)  # distinct bytes per row: no accidental cache hits
                clips.append(_wav_bytes(frames, sr))
            source_bytes += sum(len(c) for c in clips)
            clip_array = pa.array(clips, pa.binary())
            del clips
            uuids = [f"row-{i:06d}" for i in indices]
            audio = pa.StructArray.from_arrays(
                [clip_array, pa.array([f"{u}.wav" for u in uuids], pa.string())], fields=list(audio_type)
            )
            del clip_array
            columns = {
                "uuid": uuids,
                "audio": audio,
                "caption": ["a steady pair of tones over light noise"] * len(indices),
                "label": ["yes" if i % 2 == 0 else "no" for i in indices],
                "type": ["pos" if i % 2 == 0 else "neg_change" for i in indices],
                "subset": [SUBSETS[(i // 2) % len(SUBSETS)] for i in indices],
                "rubric": [RUBRIC] * len(indices),
            }
            table = pa.table(columns, schema=schema)
            del audio, columns
            writer.write_table(table)
            del table
    return {"source_bytes": source_bytes, "parquet_bytes": path.stat().st_size}


def child(dataset: str, max_seconds: float, whole_row_groups: bool) -> None:
    """One measured run (in its own process): load the bench, print JSON."""
    from anyaudio_eval.bench import load_bench, loaders

    if whole_row_groups:
        loaders.STREAM_ABOVE_BYTES = 1 << 62

    start = time.perf_counter()
    load = load_bench(dataset, language="en", max_seconds=max_seconds)
    wall = time.perf_counter() - start
    print(json.dumps({"wall": wall, "rows": len(load.rows), "skipped": len(load.skipped), **peak_rss()}))


def gen_child(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    result = generate(
        Path(args.gen_child), args.rows, args.seconds, args.sr, args.seed, args.row_group, args.content, args.dictionary
    )
    print(json.dumps({**result, "wall": time.perf_counter() - start, **peak_rss()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--sr", type=int, default=44_100)
    parser.add_argument("--row-group", type=int, default=100, help="rows per parquet row group (datasets: 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--content", choices=["noisy", "clean"], default="noisy", help="see _base_clip")
    parser.add_argument("--dictionary", action="store_true", help="dictionary-encoded audio (datasets' default)")
    parser.add_argument("--workdir", type=Path, default=None, help="where to generate (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated bench and cache")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--gen-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--max-seconds", type=float, default=600.0, help=argparse.SUPPRESS)
    parser.add_argument("--whole-row-groups", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.max_seconds, args.whole_row_groups)
        return
    if args.gen_child:
        gen_child(args)
        return

    work = Path(tempfile.mkdtemp(prefix="anyaudio-bench-loading-", dir=args.workdir))
    try:
        print(
            f"bench: {args.rows} rows x {args.seconds:g} s, {args.sr} Hz stereo PCM16 embedded in parquet "
            f"(row groups of {args.row_group}{', dictionary-encoded' if args.dictionary else ''}), {args.content} "
            f"content, "
            f"seed {args.seed}; cpus: {os.cpu_count()}"
        )
        shape = ["--rows", str(args.rows), "--seconds", str(args.seconds), "--sr", str(args.sr)]
        shape += ["--seed", str(args.seed), "--row-group", str(args.row_group), "--content", args.content]
        shape += ["--dictionary"] if args.dictionary else []
        gen = run_child(__file__, ["--gen-child", str(work / "bench"), *shape])
        print(
            f"generated in {gen['wall']:.1f} s: source audio {gen['source_bytes'] / 1e6:.0f} MB, "
            f"parquet {gen['parquet_bytes'] / 1e6:.0f} MB (snappy), generator peak RSS {gen['peak_rss'] / 1e6:.0f} MB"
        )
        cache = work / "cache"
        max_seconds = str(max(600.0, args.seconds + 1))
        load = ["--child", str(work / "bench"), "--max-seconds", max_seconds]
        runs = {}
        for name in ("cold", "warm"):
            runs[name] = run_child(__file__, load, {"ANYAUDIO_CACHE": str(cache)})
        runs["whole"] = run_child(__file__, [*load, "--whole-row-groups"], {"ANYAUDIO_CACHE": str(work / "cache2")})
        cache_bytes = sum(p.stat().st_size for p in cache.rglob("*.wav"))
        mb = gen["source_bytes"] / 1e6

        print()
        print(
            f"{'run':<6}{'rows':>7}{'skipped':>9}{'wall s':>10}{'clips/s':>10}{'MB/s':>9}"
            f"{'peak RSS MB':>13}{'VmHWM MB':>10}"
        )
        for name, r in runs.items():
            print(
                f"{name:<6}{r['rows']:>7}{r['skipped']:>9}{r['wall']:>10.2f}{r['rows'] / r['wall']:>10.1f}"
                f"{mb / r['wall']:>9.1f}{r['peak_rss'] / 1e6:>13.0f}{r['vm_hwm'] / 1e6:>10.0f}"
            )
        cold, warm, whole = runs["cold"], runs["warm"], runs["whole"]
        print()
        print(f"ratio whole-row-group/streamed cold peak RSS: {whole['peak_rss'] / cold['peak_rss']:.2f}x")
        print(f"ratio whole-row-group/streamed cold wall time: {whole['wall'] / cold['wall']:.2f}x")
        print(
            f"cache written: {cache_bytes / 1e6:.0f} MB of 16 kHz mono WAV ({cache_bytes / gen['source_bytes']:.3f} "
            f"of source)"
        )
        print(f"ratio cold/warm wall time: {cold['wall'] / warm['wall']:.2f}x")
        print(f"ratio cold/warm peak RSS:  {cold['peak_rss'] / warm['peak_rss']:.2f}x")
        print(
            f"per clip: cold {1000 * cold['wall'] / cold['rows']:.1f} ms, warm "
            f"{1000 * warm['wall'] / warm['rows']:.1f} ms"
        )
        for name in ("cold", "warm"):  # the loader as shipped; `whole` is the fallback, for comparison
            r = runs[name]
            verdict = "under" if max(r["peak_rss"], r["vm_hwm"]) < GB else "OVER"
            print(f"peak RSS {name}: {r['peak_rss'] / GB:.2f} GB -> {verdict} the 1 GB target")
        ok = all(r["rows"] == args.rows and r["skipped"] == 0 for r in runs.values())
        print("all rows loaded in every run" if ok else "WARNING: rows missing or skipped")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
