#!/usr/bin/env bash
# GPU check for the local judge (issue 5): vLLM vs our audiollm provider on a tiny full-layout Omni checkpoint.
#
# Needs: one CUDA GPU, this repo installed (`pip install -e .[dev]`) in an env that also has vLLM
# (e.g. vllm 0.31 + transformers 5.17 + torch 2.13, or vllm 0.33 + transformers 5.20 + torch 2.14), pillow and
# torchvision (vLLM runs the full Qwen2.5-Omni HF processor). No network: the checkpoint is built here.
#
#   bash benchmarks/gpu_check.sh            # env: PORT (8765), N_ITEMS (16), WORKDIR (mktemp -d), PYTHON (python)
#
# Steps:
#   1. build a tiny random Qwen2.5-Omni checkpoint in the released full layout (config Qwen2_5OmniForConditional-
#      Generation, weights thinker.*, no talker), head_dim 64 ("small" preset) so GPU attention kernels accept it;
#      the LM head is rescaled so the yes/no tokens rank in the top 20 (vLLM returns at most 20 top logprobs);
#   2. `vllm serve` it with --limit-mm-per-prompt '{"audio": 1, "image": 0, "video": 0}' (bf16);
#   3. send the same judge requests (our system prompt, audio as input_audio, item text; logprobs, top 20,
#      max_tokens 1) to vLLM (OpenAI chat API) and to `audiollm/<dir>` (bf16, cuda); p_yes is computed on both
#      sides over the yes/no variants vLLM returned; assert max |delta| < 1e-2;
#   4. print throughput (items/s) of both, and run the bench task once through Inspect's `vllm/` provider;
#   5. throughput end to end: a synthetic bench of TP_ROWS (2000) rows x TP_ITEMS (8) items, TP_SECONDS (5) s clips,
#      run as TP_SHARDS (4) shard processes (`anyaudio shards`, --no-log-realtime, TP_CONN (64) requests in flight
#      per process) against the same server by each client of TP_CLIENTS ("fanout vllm": our fanout/ provider, then
#      Inspect's vllm/ on a quarter of the rows), with nvidia-smi sampled every 0.5 s; prints items/s over the eval window and mean/max GPU
#      utilisation in it for each, then the server's own ceiling (a bare AsyncOpenAI loop).
#      Skip it with TP_ROWS=0. Sized to finish the whole script unattended in under 10 minutes.
# Exit status 0 only when every check passes.
set -euo pipefail

PORT="${PORT:-8765}"
N_ITEMS="${N_ITEMS:-16}"
PYTHON="${PYTHON:-python}"
WORKDIR="${WORKDIR:-$(mktemp -d)}"
TP_ROWS="${TP_ROWS:-2000}"
TP_ITEMS="${TP_ITEMS:-8}"
TP_SECONDS="${TP_SECONDS:-5}"
TP_SHARDS="${TP_SHARDS:-4}"
TP_CONN="${TP_CONN:-64}"
TP_TIMEOUT="${TP_TIMEOUT:-200}"
TP_CLIENTS="${TP_CLIENTS:-fanout vllm}"  # fanout/ (the client README recommends) and Inspect's vllm/ beside it
CKPT="$WORKDIR/tiny-omni-full"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_API_KEY="${VLLM_API_KEY:-inspectai}"
cd "$(dirname "$0")/.."

echo "== 1. build $CKPT"
"$PYTHON" - "$CKPT" <<'EOF'
import sys
import torch
from safetensors.torch import load_file, save_file
from anyaudio_eval.models.tiny import ANSWER_TOKENS, build_tokenizer, save_tiny

path = save_tiny(sys.argv[1], family="omni", layout="full", size="small", vision_processors=True)
weights = load_file(path / "model.safetensors")
tok = build_tokenizer()
answer = [tok.convert_tokens_to_ids(t) for t in ANSWER_TOKENS]
head = weights["thinker.lm_head.weight"].clone()
keep = torch.zeros(head.shape[0], dtype=torch.bool)
keep[answer] = True
head[~keep] *= 0.1  # other tokens get small logits, so yes/no variants usually fill the top 20
weights["thinker.lm_head.weight"] = head
save_file(weights, path / "model.safetensors", metadata={"format": "pt"})
print("built", path)
EOF

echo "== 2. vllm serve (port $PORT)"
LOG="$WORKDIR/vllm.log"
vllm serve "$CKPT" \
  --served-model-name tiny-omni \
  --port "$PORT" \
  --api-key "$VLLM_API_KEY" \
  --dtype bfloat16 \
  --max-model-len 4096 \
  --gpu-memory-utilization 0.3 \
  --limit-mm-per-prompt '{"audio": 1, "image": 0, "video": 0}' \
  --max-logprobs 20 \
  --enforce-eager >"$LOG" 2>&1 &
VLLM_PID=$!
SMI_PID=""
cleanup() {
  if [ -n "$SMI_PID" ]; then kill "$SMI_PID" 2>/dev/null || true; fi
  kill "$VLLM_PID" 2>/dev/null || true
  wait "$VLLM_PID" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 180); do
  if curl -sf "http://localhost:$PORT/health" >/dev/null; then break; fi
  if ! kill -0 "$VLLM_PID" 2>/dev/null; then echo "vllm exited:"; tail -50 "$LOG"; exit 1; fi
  sleep 2
done
curl -sf "http://localhost:$PORT/health" >/dev/null || { echo "vllm did not come up"; tail -50 "$LOG"; exit 1; }

echo "== 3. p_yes: vLLM vs audiollm (bf16)"
"$PYTHON" - "$CKPT" "$PORT" "$N_ITEMS" <<'EOF'
import asyncio
import base64
import math
import sys
import time

import numpy as np
from openai import AsyncOpenAI
from inspect_ai.model import GenerateConfig, get_model

import anyaudio_eval.providers  # noqa: F401
from anyaudio_eval.audio import audio_from_reference, wav_data_uri
from anyaudio_eval.bench.schema import RubricItem
from anyaudio_eval.judge.procedure import LOGITS_CONFIG, judge_messages
from anyaudio_eval.models.tiny import test_clip
from anyaudio_eval.rubric.parsing import token_answer
from anyaudio_eval.rubric.prompts import item_prompt, judge_system_prompt

ckpt, port, n_items = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
system = judge_system_prompt("logits", "zh")
questions = ["是否有一个持续的音调？", "声音是否清晰可闻？", "节奏是否明快？", "是否有人在说话？"]
clips = [test_clip(4.0, "tone", 330.0), test_clip(4.0, "noise", seed=2)]
uris = [wav_data_uri(c) for c in clips]
requests = [(uris[i % 2], item_prompt(RubricItem(dimension="", question=questions[i % 4] + f"（{i}）", basis=""), "zh"))
            for i in range(n_items)]


def p_yes(pairs, allowed):
    mass = {"yes": 0.0, "no": 0.0}
    for token, lp in pairs:
        side = token_answer(token)
        if side and token in allowed:
            mass[side] += math.exp(lp)
    total = mass["yes"] + mass["no"]
    return None if total == 0 or mass["yes"] == 0 or mass["no"] == 0 else mass["yes"] / total


client = AsyncOpenAI(base_url=f"http://localhost:{port}/v1", api_key="inspectai")


async def vllm_one(uri, text):
    b64 = uri.split(",", 1)[1]
    r = await client.chat.completions.create(
        model="tiny-omni",
        messages=[
            {"role": "system", "content": system},
            {"role": "user", "content": [
                {"type": "input_audio", "input_audio": {"data": b64, "format": "wav"}},
                {"type": "text", "text": text},
            ]},
        ],
        logprobs=True, top_logprobs=20, max_tokens=1, temperature=0,
    )
    return [(t.token, t.logprob) for t in r.choices[0].logprobs.content[0].top_logprobs]


async def main():
    await vllm_one(*requests[0])  # warm-up
    t0 = time.perf_counter()
    v = await asyncio.gather(*[vllm_one(u, t) for u, t in requests])
    t_vllm = time.perf_counter() - t0

    model = get_model(f"audiollm/{ckpt}", device="cuda", dtype="bfloat16")
    await model.generate(judge_messages(*requests[0], system), config=LOGITS_CONFIG)  # warm-up
    t0 = time.perf_counter()
    outs = await asyncio.gather(*[model.generate(judge_messages(u, t, system), config=LOGITS_CONFIG) for u, t in requests])
    t_ours = time.perf_counter() - t0
    ours = [[(x.token, x.logprob) for x in o.choices[0].logprobs.content[0].top_logprobs] for o in outs]

    deltas, skipped = [], 0
    for pv, po in zip(v, ours):
        allowed = {t for t, _ in pv if token_answer(t)}
        a, b = p_yes(pv, allowed), p_yes(po, allowed)
        if a is None or b is None:
            skipped += 1
            continue
        deltas.append(abs(a - b))
        print(f"  p_yes vllm {a:.4f}  audiollm {b:.4f}  |d| {abs(a - b):.2e}  over {sorted(allowed)}")
    print(f"items compared: {len(deltas)} of {len(requests)} (skipped {skipped}: yes or no absent from vLLM's top 20)")
    print(f"throughput: vLLM {len(requests) / t_vllm:.1f} items/s, audiollm {len(requests) / t_ours:.1f} items/s "
          f"(prefix cache {model.api.engine.stats})")
    assert len(deltas) >= max(2, len(requests) // 2), "too few comparable items"
    worst = max(deltas)
    print(f"max |p_yes(vLLM) - p_yes(audiollm)| = {worst:.2e} (bf16 target < 1e-2)")
    assert worst < 1e-2, "vLLM and audiollm disagree"


asyncio.run(main())
EOF

echo "== 4. the bench task through Inspect's vllm/ provider"
"$PYTHON" - "$WORKDIR" <<'EOF'
import sys
sys.path.insert(0, "tests")
from pathlib import Path
from fixtures import balanced_bench
root = balanced_bench(Path(sys.argv[1]) / "bench", n_per_subset=2)
print(root)
EOF
inspect eval anyaudio_eval/bench -T dataset="$WORKDIR/bench" -T language=en \
  --model vllm/tiny-omni --model-base-url "http://localhost:$PORT/v1" \
  --log-dir "$WORKDIR/logs" --display plain
"$PYTHON" - "$WORKDIR/logs" <<'EOF'
import sys
from inspect_ai.log import list_eval_logs, read_eval_log
log = read_eval_log(list_eval_logs(sys.argv[1])[0])
assert log.status == "success", log.error
soft = [v for s in log.samples for sc in s.scores.values() for v in (sc.metadata or {}).get("items", [])]
print(f"bench via vllm/: {len(log.samples)} samples, {sum(v['soft'] for v in soft)}/{len(soft)} items with logprobs")
EOF
if [ "$TP_ROWS" -gt 0 ]; then
  echo "== 5. throughput: $TP_ROWS rows x $TP_ITEMS items, $TP_SECONDS s clips, $TP_SHARDS shard processes"
  "$PYTHON" benchmarks/gpu_throughput.py make "$WORKDIR/tp-bench" --rows "$TP_ROWS" --items "$TP_ITEMS" \
    --seconds "$TP_SECONDS"
  for client in $TP_CLIENTS; do
    if [ "$client" = fanout ]; then  # a sample's items in one generate(), one HTTP request per item
      MODEL=(--model fanout/tiny-omni -M api_key="$VLLM_API_KEY" --max-connections $((TP_CONN / TP_ITEMS)))
    else  # Inspect's own vllm/ provider, one generate() per item: a quarter of the rows (a rate is compared)
      MODEL=(--model vllm/tiny-omni --max-connections "$TP_CONN" -T limit=$((TP_ROWS / 4)))
    fi
    echo "-- client $client"
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits -lms 500 \
      >"$WORKDIR/smi-$client.csv" &
    SMI_PID=$!
    timeout "$TP_TIMEOUT" "$PYTHON" -m anyaudio_eval.cli shards "$TP_SHARDS" -- \
      inspect eval anyaudio_eval/bench -T dataset="$WORKDIR/tp-bench" -T language=en "${MODEL[@]}" \
      --model-base-url "http://localhost:$PORT/v1" --no-log-realtime --log-dir "$WORKDIR/tp-logs-$client" --display none
    kill "$SMI_PID" 2>/dev/null || true
    SMI_PID=""
    "$PYTHON" benchmarks/gpu_throughput.py summarise "$WORKDIR/tp-logs-$client" "$WORKDIR/smi-$client.csv"
  done
  "$PYTHON" benchmarks/gpu_throughput.py ceiling "http://localhost:$PORT/v1" tiny-omni "$WORKDIR/tp-bench" \
    --requests 4000 --connections 256 --api-key "$VLLM_API_KEY"
fi
echo "GPU CHECK PASSED"
