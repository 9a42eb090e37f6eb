"""Local judge: full prompt per item (the reference approach) vs shared-prefix reuse, side by side in one run.

A tiny random Qwen2.5-Omni thinker (built in a temp dir with `anyaudio_eval.models.tiny`) on CPU judges
S samples, each a 10 s clip with 8 rubric items, in logits mode with the bench's own prompts:

  (a) full:   per item, extract the audio features and run the whole prompt (system + audio + item) once,
              as the reference code does;
  (b) reuse:  the `audiollm` provider's path: features and the system+audio prefix once per clip (LRU cache
              of key/values), the 8 item suffixes scored against it in batches.

Both run through the judge engine (`anyaudio_eval.engine`, no Inspect overhead), through
`get_model("audiollm/...")` with prefix_cache=false/true and one request per item, and end to end through
`inspect eval anyaudio_eval/bench` (the same clips and items as a bench parquet): (a) prefix_cache=false
item_batches=false, one generate() per item, against (b) the defaults, prefix reuse and a sample's items in one
generate(). Prints wall times, the
ratios and max |p_yes(a) - p_yes(b)|.

    .venv/bin/python benchmarks/bench_prefix_reuse.py                  # 4 samples x 8 items, 10 s clips
    .venv/bin/python benchmarks/bench_prefix_reuse.py --samples 8 --threads 2 --size small
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", default="tiny", choices=["tiny", "small"], help="tiny-model size preset")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3, help="best of N for each engine-level and inspect eval timing")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from inspect_ai.model import get_model

    import anyaudio_eval.providers  # noqa: F401  (registers audiollm)
    from anyaudio_eval.audio import audio_from_reference, wav_data_uri
    from anyaudio_eval.bench.schema import RubricItem
    from anyaudio_eval.engine import ScoreRequest, load_engine
    from anyaudio_eval.judge.procedure import LOGITS_CONFIG, judge_messages
    from anyaudio_eval.models.tiny import save_tiny, test_clip
    from anyaudio_eval.providers.local import conversation_of
    from anyaudio_eval.rubric.parsing import p_yes_from_top_logprobs
    from anyaudio_eval.rubric.prompts import item_prompt, judge_system_prompt

    questions = [
        ("音高", "是否有一个持续稳定的音调？"), ("响度", "声音是否清晰可闻、音量适中？"),
        ("节奏", "节奏是否明快？"), ("音色", "音色是否明亮？"), ("环境", "是否有明显的背景噪声？"),
        ("人声", "是否有人在说话？"), ("情绪", "整体情绪是否平静？"), ("时长", "声音是否持续到结尾？"),
    ]  # fmt: skip
    items = [RubricItem(dimension=d, question=q, basis="") for d, q in (questions * 4)[: args.items]]
    system = judge_system_prompt("logits", "zh")
    kinds = ["tone", "noise"]
    clips = [
        audio_from_reference(wav_data_uri(test_clip(args.seconds, kinds[s % 2], 220.0 + 55 * s, seed=s)))
        for s in range(args.samples)
    ]
    uris = [wav_data_uri(c) for c in clips]

    with tempfile.TemporaryDirectory() as tmp:
        path = save_tiny(Path(tmp) / "omni", family="omni", layout="full", size=args.size)
        engine = load_engine(str(path), device="cpu", dtype="float32")
        n_params = sum(p.numel() for p in engine.model.parameters())

        def prepared(s: int, item: RubricItem, cache_features: bool):
            conversation, _ = conversation_of(judge_messages(uris[s], item_prompt(item, "zh"), system))
            return engine.prepare(conversation, [clips[s]], 30.0, cache_features=cache_features)

        def p_yes(logprobs) -> float:
            pairs = [(engine.tokenizer.decode([i]), float(logprobs[i])) for i in engine.answer_ids]
            value = p_yes_from_top_logprobs(pairs)
            assert value is not None
            return value

        def run_full() -> list[float]:
            out = []
            for s in range(args.samples):
                for item in items:  # the reference: features + whole prompt, per item
                    out.append(p_yes(engine.scorer.score_full(prepared(s, item, cache_features=False)).logprobs))
            return out

        def run_reuse() -> list[float]:
            engine.clear_caches()
            out = []
            for s in range(args.samples):  # one sample's items arrive together (the judging procedure)
                pending = [ScoreRequest(prepared(s, item, cache_features=True)) for item in items]
                engine.score_batch(pending, args.batch_size, reuse=True)
                for p in pending:
                    if p.error is not None:
                        raise p.error
                    out.append(p_yes(p.result.logprobs))
            return out

        run_full(), run_reuse()  # warm-up (allocator, kernels)
        timings = {}
        results = {}
        for name, fn in (("full", run_full), ("reuse", run_reuse)):
            best = math.inf
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                results[name] = fn()
                best = min(best, time.perf_counter() - t0)
            timings[name] = best

        # End to end through Inspect's model API (concurrent requests, as the bench task sends them).
        async def through_inspect(reuse: bool) -> tuple[float, list[float]]:
            model = get_model(f"audiollm/{path}", device="cpu", dtype="float32", prefix_cache=reuse,
                              batch_size=args.batch_size)  # fmt: skip
            engine.clear_caches()
            t0 = time.perf_counter()
            values = []
            for s in range(args.samples):
                outs = await asyncio.gather(
                    *[
                        model.generate(judge_messages(uris[s], item_prompt(i, "zh"), system), config=LOGITS_CONFIG)
                        for i in items
                    ]  # fmt: skip
                )
                for o in outs:
                    top = o.choices[0].logprobs.content[0].top_logprobs
                    values.append(p_yes_from_top_logprobs([(t.token, t.logprob) for t in top]))
            return time.perf_counter() - t0, values

        # inspect-level: includes WAV decoding and Inspect's generate machinery; second of two runs (warm)
        for _ in range(2):
            t_a, v_a = asyncio.run(through_inspect(False))
            t_b, v_b = asyncio.run(through_inspect(True))

        # End to end: `inspect eval` of the bench task on these clips and items.
        bench_dir = write_bench(Path(tmp) / "bench", clips, items)

        def through_eval(fast: bool) -> tuple[float, list[float]]:
            from inspect_ai import eval as inspect_eval

            from anyaudio_eval.tasks.bench import bench

            model = get_model(f"audiollm/{path}", device="cpu", dtype="float32", prefix_cache=fast,
                              item_batches=fast, batch_size=args.batch_size)  # fmt: skip
            engine.clear_caches()
            t0 = time.perf_counter()
            log = inspect_eval(bench(dataset=str(bench_dir)), model=model, display="none",
                               log_dir=str(Path(tmp) / "logs"))[0]  # fmt: skip
            elapsed = time.perf_counter() - t0
            assert log.status == "success" and log.samples, log.error
            samples = sorted(log.samples, key=lambda s: str(s.id))
            return elapsed, [i["p_yes"] for s in samples for i in s.scores["bench_alignment"].metadata["items"]]

        # warm once, then the best of --repeats for each path (one run of each is noisy on a shared machine)
        through_eval(False)
        e_a = e_b = math.inf
        for _ in range(args.repeats):
            t, w_a = through_eval(False)
            e_a = min(e_a, t)
            t, w_b = through_eval(True)
            e_b = min(e_b, t)

    n = args.samples * args.items
    diff = float(np.max(np.abs(np.array(results["full"]) - np.array(results["reuse"]))))
    diff_inspect = float(np.max(np.abs(np.array(v_a) - np.array(v_b))))
    print(f"tiny Qwen2.5-Omni thinker ({args.size}, {n_params / 1e3:.0f}K params), CPU, {args.threads} thread(s)")
    print(
        f"{args.samples} samples x {args.items} items, {args.seconds:.0f} s clips, float32, "
        f"batch_size {args.batch_size}"
    )
    print()
    print(f"{'path':<34}{'(a) full prompt':>18}{'(b) prefix reuse':>18}{'ratio a/b':>11}")
    print(f"{'engine, best of ' + str(args.repeats):<34}{timings['full']:>16.3f} s{timings['reuse']:>16.3f} s"
          f"{timings['full'] / timings['reuse']:>10.2f}x")  # fmt: skip
    print(f"{'per item':<34}{1e3 * timings['full'] / n:>15.1f} ms{1e3 * timings['reuse'] / n:>15.1f} ms")
    print(f"{'inspect get_model().generate':<34}{t_a:>16.3f} s{t_b:>16.3f} s{t_a / t_b:>10.2f}x")
    print(f"{'inspect eval (b: + item batches)':<34}{e_a:>16.3f} s{e_b:>16.3f} s{e_a / e_b:>10.2f}x")
    print()
    diff_eval = float(np.max(np.abs(np.array(w_a) - np.array(w_b))))
    print(f"max |p_yes(a) - p_yes(b)|: engine {diff:.2e}, inspect {diff_inspect:.2e}, eval {diff_eval:.2e}"
          "  (target < 1e-4)")  # fmt: skip
    print(f"p_yes range: {min(results['full']):.4f} .. {max(results['full']):.4f}")


def write_bench(root: Path, clips: list, items: list) -> Path:
    """The clips as a bench parquet (hub layout), every row with the same rubric."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from _common import hub_schema

    from anyaudio_eval.audio import wav_bytes

    schema, _ = hub_schema()
    rubric = [{"basis": "", "dimension": i.dimension, "question": i.question} for i in items]
    rows = [
        {"uuid": f"s{k:03d}", "audio": {"bytes": wav_bytes(c), "path": f"s{k}.wav"}, "caption": "a clip",
         "label": "yes" if k % 2 == 0 else "no", "type": "pos" if k % 2 == 0 else "neg_swap", "subset": "sound",
         "rubric": rubric}
        for k, c in enumerate(clips)
    ]  # fmt: skip
    out = root / "en" / "test-00000-of-00001.parquet"
    out.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), out)
    return root


if __name__ == "__main__":
    main()
