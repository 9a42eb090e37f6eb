"""Helpers of the throughput step of benchmarks/gpu_check.sh (all CPU-only; the script runs vLLM itself).

python benchmarks/gpu_throughput.py make DIR --rows 2000 --items 8 --seconds 5   # bench + warm audio cache
python benchmarks/gpu_throughput.py ceiling URL MODEL DIR --requests 2000      # bare AsyncOpenAI loop
python benchmarks/gpu_throughput.py summarise LOG_DIR SMI_CSV                    # items/s, GPU utilisation
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import json
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_client_throughput import generate  # noqa: E402  (the same synthetic bench as the client benchmark)


def make(args: argparse.Namespace) -> None:
    from anyaudio_eval.bench.loaders import load_bench

    t0 = time.perf_counter()
    generate(Path(args.dir), args.rows, args.items, args.seconds, args.seed)
    load = load_bench(args.dir)  # decode and cache every clip now, so the timed run reads no audio bytes
    print(
        f"bench: {len(load.rows)} rows x {args.items} items ({len(load.rows) * args.items} judge requests), "
        f"{args.seconds:g} s clips, made and cached in {time.perf_counter() - t0:.1f} s"
    )


def ceiling(args: argparse.Namespace) -> None:
    """The server's own rate: the bench's first requests sent by a bare concurrent client (no Inspect)."""
    from openai import AsyncOpenAI

    from anyaudio_eval.bench.loaders import load_bench
    from anyaudio_eval.rubric.prompts import item_prompt, judge_system_prompt

    system = judge_system_prompt("logits", "zh")
    requests = []
    for row in load_bench(args.dir).rows:
        b64 = base64.b64encode(Path(row.audio).read_bytes()).decode(
            "ascii"
        )  # the cached 16 kHz WAV, as Inspect sends it
        requests += [(b64, item_prompt(item, "zh")) for item in row.rubric]
        if len(requests) >= args.requests:
            break
    client = AsyncOpenAI(base_url=args.url, api_key=args.api_key)
    gate = asyncio.Semaphore(args.connections)

    async def one(b64: str, text: str) -> None:
        async with gate:
            await client.chat.completions.create(
                model=args.model,
                max_tokens=1,
                temperature=0,
                logprobs=True,
                top_logprobs=20,
                messages=[
                    {"role": "system", "content": system},
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_audio", "input_audio": {"data": b64, "format": "wav"}},
                            {"type": "text", "text": text},
                        ],
                    },
                ],
            )

    async def run() -> float:
        await one(*requests[0])
        t0 = time.perf_counter()
        await asyncio.gather(*(one(*r) for r in requests))
        return time.perf_counter() - t0

    seconds = asyncio.run(run())
    print(
        f"ceiling (bare AsyncOpenAI, {args.connections} connections): {len(requests)} items in {seconds:.1f} s = "
        f"{len(requests) / seconds:.1f} items/s"
    )


def summarise(args: argparse.Namespace) -> None:
    from inspect_ai.log import read_eval_log

    from anyaudio_eval.scorers.values import alignment_score

    # An eval's own stamps are whole seconds; its samples' are exact. The window runs from the first eval's start
    # (start-up included) to the last moment anything finished, so a short run never reads as 0 seconds.
    starts, ends, samples, scored, items = [], [], 0, 0, 0
    for path in sorted(Path(args.log_dir).rglob("*.eval")):
        log = read_eval_log(str(path))
        if log.status != "success":
            raise SystemExit(f"{path}: {log.status} {log.error.message if log.error else ''}")
        starts.append(datetime.fromisoformat(log.stats.started_at))
        ends.append(datetime.fromisoformat(log.stats.completed_at))
        for s in log.samples or []:
            samples += 1
            if s.completed_at:
                ends.append(datetime.fromisoformat(s.completed_at))
            score = (s.scores or {}).get("bench_alignment")
            items += int(((score.metadata or {}) if score else {}).get("n_items", 0))
            scored += alignment_score(score) is not None
    if not starts:
        raise SystemExit(f"no logs under {args.log_dir}")
    t0, t1 = min(starts), max(ends)
    window = (t1 - t0).total_seconds()
    util, mem = [], []
    if Path(args.smi_csv).is_file():
        with open(args.smi_csv, newline="") as f:
            for row in csv.reader(f):
                try:
                    stamp = datetime.strptime(row[0].strip(), "%Y/%m/%d %H:%M:%S.%f").astimezone()
                    if t0 <= stamp <= t1:
                        util.append(float(row[1]))
                        mem.append(float(row[2]))
                except (ValueError, IndexError):
                    continue
    result = {
        "logs": len(starts),
        "samples": samples,
        "scored": scored,
        "items": items,
        "eval_seconds": round(window, 1),
        "items_per_s": round(items / window, 1) if window else None,
        "gpu_util_mean": round(sum(util) / len(util), 1) if util else None,
        "gpu_util_max": max(util) if util else None,
        "gpu_mem_mib_max": max(mem) if mem else None,
        "gpu_samples": len(util),
    }
    print(json.dumps(result))
    print(
        f"end to end: {items} items in {window:.1f} s = {result['items_per_s']} items/s over {len(starts)} "
        f"process(es); "
        f"GPU utilisation mean {result['gpu_util_mean']}% max {result['gpu_util_max']}% ({len(util)} samples)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make")
    p.add_argument("dir")
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--items", type=int, default=8)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=make)
    p = sub.add_parser("ceiling")
    p.add_argument("url")
    p.add_argument("model")
    p.add_argument("dir")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--connections", type=int, default=256)
    p.add_argument("--api-key", default="inspectai")
    p.set_defaults(func=ceiling)
    p = sub.add_parser("summarise")
    p.add_argument("log_dir")
    p.add_argument("smi_csv")
    p.set_defaults(func=summarise)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
