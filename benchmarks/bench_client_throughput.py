"""Client throughput of `inspect eval anyaudio_eval/bench` against an instant OpenAI-compatible judge on loopback.

Generates (seeded, in a temp dir) a bench of N samples x K rubric items with 10 s clips, warms the audio cache
once, starts an instant judge server in its own process (tests/fake_openai.py: keep-alive, no clip decoded, a
fixed yes/no answer with top logprobs), then runs the real command line side by side in one run:

  today      inspect eval anyaudio_eval/bench --model openai-api/local/judge ... (Inspect's defaults)
  realtime   today + --no-log-realtime
  lean       today + --no-log-realtime --no-log-images (the log keeps no audio: the viewer cannot play it)
  shards     anyaudio shards N -- <today's command>, --max-connections divided by N
  shards+lean  the same with the lean options
  fanout     --model fanout/judge: the same requests on the wire, a sample's items in one generate();
             --max-connections counts samples there, so it is divided by the items per sample (the same
             requests in flight)
  fanout+lean  fanout with the lean options
  best       2 shards of fanout/ with --no-log-realtime (the clips stay in the log)
  mock       the instant mock judge (tests/judges.py `instant/`, no HTTP), one generate() per item as today
  mock-batch   the same judge taking a sample's items in one generate()
  mock-batch+rt  mock-batch with --no-log-realtime
  (the mock runs call inspect_ai.eval() in a child process, which registers `instant/` by importing it)

Each run is timed from process start to exit (Inspect's start-up and the task build included) and by the
eval window the logs record; client CPU is user+sys of the inspect processes (all shards), server CPU is
read from /proc. items/s counts rubric items (= judge requests).

    .venv/bin/python benchmarks/bench_client_throughput.py                       # 80 samples x 8 items
    .venv/bin/python benchmarks/bench_client_throughput.py --samples 40 --runs today,shards
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import hub_schema  # beside this script (its folder is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
RUNS = (
    "today",
    "realtime",
    "lean",
    "shards",
    "shards+lean",
    "fanout",
    "fanout+lean",
    "best",
    "mock",
    "mock-batch",
    "mock-batch+rt",
)
LEAN = ["--no-log-realtime", "--no-log-images"]
# Per run: (model, sharded, extra Inspect options).
CONFIGS: dict[str, tuple[str, bool, list[str]]] = {
    "today": ("openai-api/local/judge", False, []),
    "realtime": ("openai-api/local/judge", False, ["--no-log-realtime"]),
    "lean": ("openai-api/local/judge", False, LEAN),
    "shards": ("openai-api/local/judge", True, []),
    "shards+lean": ("openai-api/local/judge", True, LEAN),
    "fanout": ("fanout/judge", False, []),
    "fanout+lean": ("fanout/judge", False, LEAN),
    "best": ("fanout/judge", True, ["--no-log-realtime"]),
    "mock": ("instant/judge", False, ["-M", "item_batches=false"]),
    "mock-batch": ("instant/judge", False, []),
    "mock-batch+rt": ("instant/judge", False, ["--no-log-realtime"]),
}


def generate(root: Path, samples: int, items: int, seconds: float, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import soundfile as sf

    rng = np.random.default_rng(seed)
    sr = 16_000
    t = np.arange(int(seconds * sr)) / sr
    schema, _ = hub_schema()
    path = root / "en" / "test-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    subsets = ("speech", "sound", "music", "mix")
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, samples, 100):
            batch: dict[str, list] = {name: [] for name in schema.names}
            for i in range(start, min(samples, start + 100)):
                freq = float(rng.uniform(150, 2000))
                wav = (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
                buf = io.BytesIO()
                sf.write(buf, wav, sr, format="WAV", subtype="PCM_16")
                batch["uuid"].append(f"s-{i:06d}")
                batch["audio"].append({"bytes": buf.getvalue(), "path": f"s-{i:06d}.wav"})
                batch["caption"].append(f"a steady tone near {freq:.0f} Hz")
                batch["label"].append("yes" if i % 2 == 0 else "no")
                batch["type"].append("pos" if i % 2 == 0 else "neg_change")
                batch["subset"].append(subsets[(i // 2) % len(subsets)])
                batch["rubric"].append(
                    [
                        {"dimension": f"维度{k}", "question": f"第{k}题：音频是否符合第{k}个特征？", "basis": f"f{k}"}
                        for k in range(items)
                    ]
                )
            writer.write_table(pa.table(batch, schema=schema))


def serve(port_file: str) -> None:
    """The instant judge: a fixed answer (p_yes varies with the item text), so only the client is timed."""
    import math
    import signal
    import zlib

    sys.path.insert(0, str(ROOT / "tests"))
    from fake_openai import FakeOpenAI, completion, text_of

    def reply(body, wav):
        p = 0.05 + 0.9 * (zlib.crc32(text_of(body).encode()) % 1000) / 1000
        return completion("yes" if p >= 0.5 else "no", {"yes": math.log(p), "no": math.log(1 - p)})

    server = FakeOpenAI(reply, record=False, decode_audio=False, keep_alive=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    with server:
        Path(port_file).write_text(server.base_url)
        signal.sigwait({signal.SIGTERM, signal.SIGINT})


def mock_eval(argv: list[str]) -> None:
    """`inspect eval` for the instant mock judge, in this process: its provider is registered by the import."""
    sys.path.insert(0, str(ROOT / "tests"))
    import judges  # noqa: F401
    from inspect_ai._cli.main import main as inspect_main

    sys.argv = ["inspect", "eval", *argv]
    inspect_main()


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def eval_window(log_dir: Path) -> tuple[float, int, int]:
    """(seconds from the first shard's start to the last one's end, samples, scored) from the logs."""
    from datetime import datetime

    from inspect_ai.log import read_eval_log

    starts, ends, samples, scored = [], [], 0, 0
    for path in log_dir.rglob("*.eval"):
        log = read_eval_log(str(path), header_only=True)
        starts.append(datetime.fromisoformat(log.stats.started_at))
        ends.append(datetime.fromisoformat(log.stats.completed_at))
        samples += log.results.total_samples if log.results else 0
        scored += (log.results.scores[0].scored_samples or 0) if log.results and log.results.scores else 0
    return ((max(ends) - min(starts)).total_seconds() if starts else float("nan")), samples, scored


def run(
    name: str,
    dataset: Path,
    work: Path,
    base_url: str,
    connections: int,
    shards: int,
    env: dict,
    extra: tuple[str, ...] = (),
    items: int = 8,
) -> dict:
    log_dir = work / f"logs-{name}"
    model, sharded, options = CONFIGS.get(name, CONFIGS["today"])
    per_process = max(1, connections // shards) if sharded else connections
    if model.startswith("fanout"):
        per_process = max(1, per_process // items)  # samples in flight, each sending its items at once
    args = [
        "anyaudio_eval/bench",
        "--model",
        model,
        "--model-base-url",
        base_url,
        "-T",
        f"dataset={dataset}",
        "--max-connections",
        str(per_process),
        "--log-dir",
        str(log_dir),
        "--display",
        "none",
        *options,
        *extra,
    ]
    if model.startswith("instant"):
        inspect_cmd = [sys.executable, __file__, "--mock-eval", "--", *args]
    else:
        inspect_cmd = [str(Path(sys.executable).with_name("inspect")), "eval", *args]
    if sharded:
        cmd = [sys.executable, "-m", "anyaudio_eval.cli", "shards", str(shards), "--", *inspect_cmd]
    else:
        cmd = inspect_cmd
    cpu0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    window, samples, scored = eval_window(log_dir)
    log_bytes = sum(p.stat().st_size for p in log_dir.rglob("*") if p.is_file())
    return {
        "wall": wall,
        "cpu": cpu,
        "window": window,
        "samples": samples,
        "scored": scored,
        "log_bytes": log_bytes,
        "per_process": per_process,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=80)
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=50, help="--max-connections in all (split over shards)")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of: {', '.join(RUNS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--mock-eval", action="store_true", help=argparse.SUPPRESS)
    if "--mock-eval" in sys.argv:
        mock_eval(sys.argv[sys.argv.index("--") + 1 :])
        return
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    names = [n for n in args.runs.split(",") if n]
    unknown = set(names) - set(RUNS)
    if unknown:
        raise SystemExit(f"unknown runs {sorted(unknown)}; use {', '.join(RUNS)}")

    work = Path(tempfile.mkdtemp(prefix="anyaudio-bench-client-"))
    server = None
    try:
        print(
            f"bench: {args.samples} samples x {args.items} items, {args.seconds:g} s clips (16 kHz mono), logits "
            f"mode, instant loopback judge; --max-connections {args.connections} in all; cpus: {os.cpu_count()}"
        )
        generate(work / "bench", args.samples, args.items, args.seconds, args.seed)
        env = dict(
            os.environ,
            ANYAUDIO_CACHE=str(work / "cache"),
            XDG_DATA_HOME=str(work / "xdg-data"),
            LOCAL_API_KEY="bench",
            HF_HUB_OFFLINE="1",
            HF_DATASETS_OFFLINE="1",
            PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        )
        # Warm the audio cache once, so every run starts alike (a cold cache would bill the first one).
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from anyaudio_eval.bench.loaders import load_bench; load_bench(sys.argv[1])",
                str(work / "bench"),
            ],
            env=env,
            check=True,
        )
        port_file = work / "port"
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file)], env=env)
        while not port_file.exists():
            time.sleep(0.05)
        base_url = port_file.read_text()
        # One sample alone: what a process costs before it judges anything (imports, task build, log writing).
        startup = run("startup", work / "bench", work, base_url, args.connections, 1, env, ("-T", "limit=1"))
        print(f"  start-up (1 sample): {startup['wall']:.1f} s, {startup['cpu']:.2f} s CPU", flush=True)
        results = {}
        for name in names:
            server_cpu0 = proc_cpu(server.pid)
            results[name] = run(
                name, work / "bench", work, base_url, args.connections, args.shards, env, items=args.items
            )
            results[name]["server_cpu"] = proc_cpu(server.pid) - server_cpu0
            r = results[name]
            print(f"  {name}: {r['wall']:.1f} s, {r['scored']}/{r['samples']} scored", flush=True)

        items = args.samples * args.items
        print()
        print(
            f"{'run':<12}{'procs':>6}{'conn/proc':>10}{'items/s':>9}{'(eval)':>8}{'client ms/item':>16}{'(net)':>7}"
            f"{'server ms/item':>16}{'log MB':>8}{'x today':>9}"
        )
        base = results.get("today")
        for name, r in results.items():
            procs = args.shards if CONFIGS[name][1] else 1
            ratio = f"{(items / r['wall']) / (items / base['wall']):.2f}x" if base else "-"
            print(
                f"{name:<12}{procs:>6}{r['per_process']:>10}{items / r['wall']:>9.1f}{items / r['window']:>8.1f}"
                f"{1000 * r['cpu'] / items:>16.2f}"
                f"{1000 * (r['cpu'] - procs * startup['cpu']) / (items - procs * args.items):>7.2f}"
                f"{1000 * r['server_cpu'] / items:>16.2f}"
                f"{r['log_bytes'] / 1e6:>8.1f}{ratio:>9}"
            )
        print()
        print("items/s: whole process (start-up, task build, eval); (eval): the eval window in the logs")
        print(
            f"client CPU: all inspect processes; (net): less one 1-sample run per process "
            f"({startup['cpu']:.2f} s: start-up)"
        )
        print(
            "targets (issue 19): >= 150 items/s, <= 6 ms client CPU per item (loopback server); "
            "<= 5 ms/item with the instant mock judge (mock runs: no server)"
        )
        ok = all(r["scored"] == r["samples"] == args.samples for r in results.values())
        print("all samples scored in every run" if ok else "WARNING: a run left samples unscored")
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
