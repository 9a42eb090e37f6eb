"""Per-sample overhead of the plugin around an instant judge: cold vs warm audio cache, side by side.

Generates (seeded, in a temp dir) a bench of N samples with K rubric items each (1 s, 44.1 kHz stereo
PCM16 clips embedded in hub-layout parquet), then runs the `bench` task in logits mode through
`inspect_ai.eval(..., display="none", log_dir=tmp)` with a mockllm judge that answers at once
(one yes/no token with first-token logprobs and usage, so Inspect never needs a tokenizer). Each run is a
subprocess so its peak RSS (ru_maxrss) is its own:

  cold: a fresh `ANYAUDIO_CACHE` (task construction decodes, resamples and caches every clip)
  warm: the same cache again

Everything the judge costs is ~0, so the figures are the plugin's + Inspect's overhead per item.

    .venv/bin/python benchmarks/bench_plugin_overhead.py                  # 2000 samples x 8 items
    .venv/bin/python benchmarks/bench_plugin_overhead.py --samples 500
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
GB = 1e9


def generate(root: Path, samples: int, items: int, seconds: float, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import soundfile as sf

    rng = np.random.default_rng(seed)
    sr = 44_100
    t = np.arange(int(seconds * sr)) / sr
    schema, audio_type = hub_schema()
    path = root / "en" / "test-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, samples, 200):
            batch: dict[str, list] = {name: [] for name in schema.names}
            for i in range(start, min(samples, start + 200)):
                freq = float(rng.uniform(150, 2000))
                mono = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
                stereo = np.stack([mono, 0.5 * mono], axis=1).astype(np.float32)
                buf = io.BytesIO()
                sf.write(buf, stereo, sr, format="WAV", subtype="PCM_16")
                positive = i % 2 == 0
                batch["uuid"].append(f"s-{i:06d}")
                batch["audio"].append({"bytes": buf.getvalue(), "path": f"s-{i:06d}.wav"})
                batch["caption"].append(f"a steady tone near {freq:.0f} Hz, clearly audible, no speech")
                batch["label"].append("yes" if positive else "no")
                batch["type"].append("pos" if positive else "neg_change")
                batch["subset"].append(SUBSETS[(i // 2) % len(SUBSETS)])
                batch["rubric"].append(
                    [
                        {
                            "dimension": f"维度{k}",
                            "question": f"第{k}题：音频是否符合描述的第{k}个特征？",
                            "basis": f"feature {k}",
                        }
                        for k in range(items)
                    ]
                )
            writer.write_table(pa.table(batch, schema=schema))


def instant_judge():
    """mockllm that answers one yes/no token at once, with first-token logprobs and usage."""
    import zlib

    from inspect_ai.model import GenerateConfig, ModelOutput, get_model

    from anyaudio_eval.providers.common import request_text, usage_for, yes_no_output

    def respond(input, tools, tool_choice, config: GenerateConfig) -> ModelOutput:
        text = request_text(input)
        p_yes = 0.05 + 0.9 * (zlib.crc32(text.encode()) % 1000) / 1000  # deterministic, no audio decoding
        return yes_no_output("mockllm/model", p_yes, config, usage_for(len(text), 1.0, 1))

    return get_model("mockllm/model", custom_outputs=respond)


def child(dataset: str, log_dir: str, items: int) -> None:
    from inspect_ai import eval as inspect_eval

    from anyaudio_eval.tasks.bench import bench

    t0 = time.perf_counter()
    task = bench(dataset=dataset, mode="logits")
    t1 = time.perf_counter()
    logs = inspect_eval(task, model=instant_judge(), display="none", log_dir=log_dir)
    t2 = time.perf_counter()
    log = logs[0]
    n = len(task.dataset)
    scored = 0
    if log.results is not None and log.results.scores:
        scored = log.results.scores[0].scored_samples or 0
    log_size = sum(p.stat().st_size for p in Path(log_dir).rglob("*") if p.is_file())
    print(
        json.dumps(
            {
                "status": log.status,
                "error": str(log.error.message)[:500] if log.error else None,
                "samples": n,
                "scored": scored,
                "items": n * items,
                "build": t1 - t0,
                "eval": t2 - t1,
                "log_bytes": log_size,
                **peak_rss(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--log-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.log_dir, args.items)
        return

    work = Path(tempfile.mkdtemp(prefix="anyaudio-bench-overhead-", dir=args.workdir))
    try:
        print(
            f"bench: {args.samples} samples x {args.items} rubric items, {args.seconds:g} s clips "
            f"(44.1 kHz stereo), logits mode, instant mockllm judge; cpus: {os.cpu_count()}"
        )
        t0 = time.perf_counter()
        generate(work / "bench", args.samples, args.items, args.seconds, args.seed)
        print(f"generated in {time.perf_counter() - t0:.1f} s")
        # Inspect's own scratch (sample buffer database) goes to the temp dir too.
        env = {"ANYAUDIO_CACHE": str(work / "cache"), "XDG_DATA_HOME": str(work / "xdg-data")}
        runs = {}
        for name in ("cold", "warm"):
            log_dir = work / f"logs-{name}"
            runs[name] = run_child(
                __file__, ["--child", str(work / "bench"), "--log-dir", str(log_dir), "--items", str(args.items)], env
            )

        print()
        print(
            f"{'run':<6}{'status':>9}{'scored':>8}{'build s':>9}{'eval s':>9}{'samples/s':>11}"
            f"{'ms/sample':>11}{'ms/item':>9}{'peak RSS MB':>13}{'log MB':>8}"
        )
        for name, r in runs.items():
            total = r["build"] + r["eval"]
            print(
                f"{name:<6}{r['status']:>9}{r['scored']:>8}{r['build']:>9.2f}{r['eval']:>9.2f}"
                f"{r['samples'] / total:>11.1f}{1000 * total / r['samples']:>11.2f}"
                f"{1000 * total / r['items']:>9.2f}{max(r['peak_rss'], r['vm_hwm']) / 1e6:>13.0f}"
                f"{r['log_bytes'] / 1e6:>8.1f}"
            )
            if r["error"]:
                print(f"  error: {r['error']}")
        cold, warm = runs["cold"], runs["warm"]
        print()
        print("samples/s and ms/item count task construction (audio caching) + eval; eval-only below")
        for name, r in runs.items():
            print(
                f"{name}: eval only {1000 * r['eval'] / r['items']:.2f} ms/item, build "
                f"{1000 * r['build'] / r['samples']:.2f} ms/sample"
            )
        print(f"ratio cold/warm total time: {(cold['build'] + cold['eval']) / (warm['build'] + warm['eval']):.2f}x")
        print(f"ratio cold/warm task build: {cold['build'] / warm['build']:.2f}x")
        print(f"ratio cold/warm eval:       {cold['eval'] / warm['eval']:.2f}x")
        for name, r in runs.items():
            per_item = 1000 * (r["build"] + r["eval"]) / r["items"]
            rss = max(r["peak_rss"], r["vm_hwm"])
            print(
                f"{name}: {per_item:.2f} ms/item -> {'under' if per_item < 10 else 'OVER'} the 10 ms target; "
                f"peak RSS {rss / GB:.2f} GB -> {'under' if rss < 2 * GB else 'OVER'} the 2 GB target"
            )
        ok = all(r["status"] == "success" and r["scored"] == r["samples"] for r in runs.values())
        print("all samples scored in both runs" if ok else "WARNING: a run failed or left samples unscored")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
