#!/usr/bin/env bash
# GPU checks of the training stack (issue #6). Needs: one CUDA GPU, the package installed with the train and
# vllm extras (e.g. torch 2.13.0 + vllm 0.31.* + transformers 5.17.*, or vllm 0.33 + transformers 5.20.x +
# torch 2.14), no network (everything is built locally). Prints one JSON line per check and writes
# $OUT/gpu_train_check.json (OUT defaults to ./gpu_train_check). Takes a few minutes.
#
#   1. a tiny full-layout Qwen2.5-Omni checkpoint ("small" size: head_dim 64) and a generated corpus;
#   2. vLLM loads the saved full-Omni layout (thinker only, audio limit 1, no image/video);
#   3. audio request forms: HF-expanded prompt ids and collapsed placeholders, each with
#      multi_modal_data={"audio": [(wav, 16000)]}; vLLM's prompt_token_ids vs ours;
#   4. p_yes parity: vLLM first-token P(yes)/(P(yes)+P(no)) vs the local audiollm provider on the same requests;
#   5. weight sync: every trained parameter, under `vllm_bridge.checkpoint_name`, is accepted by vLLM's
#      load_weights, and a perturbed sync changes vLLM's logprobs;
#   6. one colocated GRPO step (`use_vllm: true, vllm_mode: colocate`) end to end, exported, judged again.
set -euo pipefail
OUT="${OUT:-$PWD/gpu_train_check}"
mkdir -p "$OUT"
export OUT HF_HUB_OFFLINE=1 VLLM_ENABLE_V1_MULTIPROCESSING=0 TOKENIZERS_PARALLELISM=false
export RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT="${MASTER_PORT:-29531}"
export ANYAUDIO_CACHE="$OUT/cache"
python -c "import vllm, torch; assert torch.cuda.is_available(); print('vllm', vllm.__version__, 'torch', torch.__version__)"

python - <<'EOF'
import json, math, os, time
from pathlib import Path

import torch

OUT = Path(os.environ["OUT"])
results = {}


def report(name, **values):
    results[name] = values
    print(json.dumps({"check": name, **values}, default=str), flush=True)
    (OUT / "gpu_train_check.json").write_text(json.dumps(results, indent=2, default=str))


from anyaudio_eval.models.tiny import save_tiny
from anyaudio_eval.training.data import build_tiny_corpus, load_corpus
from anyaudio_eval.training.modeling import load_policy
from anyaudio_eval.training import vllm_bridge
from anyaudio_eval.rubric.prompts import item_prompt, judge_system_prompt

ckpt = save_tiny(OUT / "tiny-omni-full", family="omni", layout="full", size="small", vision_processors=True)
corpus_file = build_tiny_corpus(OUT / "corpus", n=8)
samples = load_corpus(corpus_file).samples
report("1_build", checkpoint=str(ckpt), files=sorted(p.name for p in ckpt.iterdir()))

# -- 2. vLLM loads the full-Omni layout --------------------------------------------------------------
from vllm import LLM, SamplingParams

t = time.time()
try:
    llm = LLM(model=str(ckpt), limit_mm_per_prompt={"audio": 1, "image": 0, "video": 0}, max_model_len=4096,
              gpu_memory_utilization=0.25, enforce_eager=True, dtype="float32", max_logprobs=-1, seed=0)
    report("2_vllm_load", ok=True, seconds=round(time.time() - t, 1))
except Exception as ex:  # keep going: the remaining checks say what else works
    report("2_vllm_load", ok=False, error=f"{type(ex).__name__}: {ex}")
    raise

# -- 3/4. request forms and p_yes parity with the local provider ----------------------------------------
policy = load_policy(str(ckpt), OUT / "work", device="cuda", dtype="float32")
from anyaudio_eval.engine import load_engine

engine = load_engine(str(ckpt), device="cuda", dtype="float32")
tok = policy.tokenizer
yes_ids = [i for i in engine.answer_ids if tok.decode([i]).strip().lower() == "yes"]
no_ids = [i for i in engine.answer_ids if tok.decode([i]).strip().lower() == "no"]


def p_yes_from_logprobs(lp):  # lp: token id -> logprob
    y = sum(math.exp(lp[i]) for i in yes_ids if i in lp)
    n = sum(math.exp(lp[i]) for i in no_ids if i in lp)
    return y / (y + n) if y + n > 0 else float("nan")


reqs, hf, clips = [], [], []
for s in samples:
    for item in s.rubric()[:2]:
        conv = policy.conversation(judge_system_prompt("logits", s.language), item_prompt(item, s.language))
        clip = policy.clip(s.audio)
        prepared = engine.prepare(conv, [clip], 30.0)
        res = engine.scorer.score_full(prepared)
        lp = {i: float(res.logprobs[i]) for i in engine.answer_ids}
        hf.append(p_yes_from_logprobs(lp))
        reqs.append(prepared.ids)
        clips.append(clip)

params = SamplingParams(max_tokens=1, temperature=0.0, logprobs=-1)
for form, collapse in (("expanded", False), ("collapsed", True)):
    try:
        requests = vllm_bridge.audio_requests(reqs, clips, policy.audio_token_id, collapse=collapse)
        outs = llm.generate(requests, params, use_tqdm=False)
        vl = [p_yes_from_logprobs({k: v.logprob for k, v in o.outputs[0].logprobs[0].items()}) for o in outs]
        same_ids = sum(list(o.prompt_token_ids) == r for o, r in zip(outs, reqs))
        diffs = [abs(a - b) for a, b in zip(vl, hf)]
        report(f"3_4_parity_{form}", ok=max(diffs) < 1e-2, requests=len(reqs), prompt_ids_equal_hf=same_ids,
               max_abs_p_yes_diff=max(diffs), mean_abs_p_yes_diff=sum(diffs) / len(diffs))
    except Exception as ex:
        report(f"3_4_parity_{form}", ok=False, error=f"{type(ex).__name__}: {ex}")

# -- 5. weight sync under checkpoint names ------------------------------------------------------------
runner_model = llm.llm_engine.model_executor.driver_worker.model_runner.model
names = [(vllm_bridge.checkpoint_name(n, True), p) for n, p in policy.model.named_parameters()]
try:
    with torch.no_grad():
        loaded = runner_model.load_weights([(n, p.data.clone()) for n, p in names])
    loaded = set(loaded) if loaded is not None else None
    requests = vllm_bridge.audio_requests(reqs[:4], clips[:4], policy.audio_token_id)
    before = [o.outputs[0].logprobs[0] for o in llm.generate(requests, params, use_tqdm=False)]
    with torch.no_grad():
        runner_model.load_weights([(n, p.data + 0.05 * torch.randn_like(p)) for n, p in names if "lm_head" in n])
    after = [o.outputs[0].logprobs[0] for o in llm.generate(requests, params, use_tqdm=False)]
    changed = any(abs(before[i][k].logprob - after[i][k].logprob) > 1e-4 for i in range(len(before)) for k in before[i] if k in after[i])
    with torch.no_grad():  # restore
        runner_model.load_weights([(n, p.data.clone()) for n, p in names])
    report("5_weight_sync", ok=changed, names_sent=len(names), vllm_reported_loaded=None if loaded is None else len(loaded),
           logprobs_changed_after_sync=changed)
except Exception as ex:
    report("5_weight_sync", ok=False, error=f"{type(ex).__name__}: {ex}")
del llm
torch.cuda.empty_cache()

# -- 6. one colocated GRPO step ------------------------------------------------------------------------
from anyaudio_eval.training.config import load_config
from anyaudio_eval.training.grpo import run_grpo

settings = load_config("grpo", [
    "--preset", "cpu", "--model_name_or_path", str(ckpt), "--train_file", str(corpus_file),
    "--output_dir", str(OUT / "grpo"), "--dtype", "float32", "--use_vllm", "--vllm_mode", "colocate",
    "--per_device_train_batch_size", "4", "--num_generations", "4", "--max_completion_length", "32",
    "--max_steps", "1", "--progress", "false", "--vllm_gpu_memory_utilization", "0.25",
    "--vllm_max_model_length", "4096", "--resume_from_checkpoint", "never"])
t = time.time()
try:
    result = run_grpo(settings)
    row = next(r for r in result.log_history if "reward" in r)
    judged = load_engine(str(result.final_checkpoint), device="cuda", dtype="float32")
    report("6_grpo_colocate", ok=True, seconds=round(time.time() - t, 1), final=str(result.final_checkpoint),
           reward=row.get("reward"), pred_yes=row.get("judge/pred_yes_rate"), gold_yes=row.get("judge/gold_yes_rate"),
           provider_loads_result=judged is not None)
except Exception as ex:
    report("6_grpo_colocate", ok=False, error=f"{type(ex).__name__}: {ex}")

print(json.dumps({"all_ok": all(v.get("ok", True) for v in results.values())}))
EOF
