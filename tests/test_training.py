"""Training subpackage, fast part: data, rewards, configs, mining, collator mask, vLLM bridge (offline, CPU)."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from anyaudio_eval.rubric.parsing import parse_answer_list
from anyaudio_eval.training import rewards
from anyaudio_eval.training.config import ConfigError, load_config
from anyaudio_eval.training.data import CorpusError, TrainItem, TrainSample, build_tiny_corpus, load_corpus
from anyaudio_eval.training.mining import mine

PROBES = Path(__file__).parent.parent / "anyaudio_eval" / "data" / "probes" / "en.jsonl"


def answer(labels, evidence="e"):
    return json.dumps([{"id": i, "answer": a, "evidence": evidence} for i, a in enumerate(labels)])


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    return build_tiny_corpus(tmp_path_factory.mktemp("corpus"), n=8)


# -- data ------------------------------------------------------------------------------------------


def test_tiny_corpus_labels_are_consistent_and_targets_parse_back(corpus_file):
    corpus = load_corpus(corpus_file)
    assert len(corpus.samples) == 8 and not corpus.skipped
    assert {s.label for s in corpus.samples} == {"yes", "no"}
    for s in corpus.samples:
        assert s.label == ("yes" if all(g == "yes" for g in s.gold) else "no")
        assert Path(s.audio).is_absolute() and Path(s.audio).is_file()
        parsed = parse_answer_list(s.target(), len(s.items))  # the evaluation parser reads the training target
        assert parsed.error is None
        assert [parsed.answers[i].answer for i in range(len(s.items))] == s.gold
        assert s.target().startswith(s.rationale)


def test_loader_reads_bench_format_rows_and_names_what_it_skips(tmp_path):
    corpus = load_corpus(PROBES)  # the bundled probe set: bench format with item labels
    assert corpus.samples and all(s.domain in ("speech", "sound", "music", "mix") for s in corpus.samples)
    src = [json.loads(line) for line in PROBES.read_text().splitlines()[:2]]
    rows = [
        dict(src[0], uuid="pos", label="yes", rubric=[{"题目": "是否有人说话？", "维度": "内容"}]),  # no item labels
        dict(src[1], uuid="neg", label="no", rubric=[{"question": "Is it loud?"}]),  # negative, labels unknown
        dict(src[1], uuid="gone", audio="missing.wav"),
    ]
    for r in rows:
        r["audio"] = str(PROBES.parent / r["audio"]) if r["uuid"] != "gone" else "missing.wav"
    f = tmp_path / "rows.jsonl"
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n{bad json\n")
    c = load_corpus(f)
    assert [s.uuid for s in c.samples] == ["pos"] and c.samples[0].gold == ["yes"]
    assert c.samples[0].items[0].question == "是否有人说话？"
    reasons = dict(c.skipped)
    assert "not a positive" in reasons["neg"] and "not found" in reasons["gone"] and len(reasons) == 3
    with pytest.raises(CorpusError):
        load_corpus(f, strict=True)


# -- rewards ---------------------------------------------------------------------------------------

BALANCED = ["yes", "no", "yes", "no"]


def test_all_yes_scores_at_most_half_on_balanced_items():
    total = rewards.judge_reward(answer(["yes"] * 4), BALANCED, "no")
    assert total <= 0.5
    assert rewards.item_reward(answer(["yes"] * 4), BALANCED) == 0.5
    assert rewards.item_reward(answer(["no"] * 4), BALANCED) == 0.5  # any constant answer: at most 0.5 on items
    assert rewards.judge_reward(answer(BALANCED), BALANCED, "no") == pytest.approx(1.0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yes yes no no",
        '[{"id": 0, "answer": "maybe"}]',
        '{"0": "yes"}',
        '[{"id": 7, "answer": "yes"}]',
        "```json\n[1, 2]\n```",
    ],
)
def test_malformed_output_gets_zero(text):
    assert rewards.judge_reward(text, BALANCED, "no") == 0.0
    assert rewards.judge_reward(text, ["yes", "yes"], "yes") == 0.0


def test_missing_and_repeated_items_count_wrong():
    gold = ["yes", "yes", "no", "no"]
    partial = json.dumps([{"id": 0, "answer": "yes"}, {"id": 2, "answer": "no"}])  # 1 and 3 missing
    assert rewards.format_reward(partial, gold) == 0.0
    assert rewards.item_reward(partial, gold) == pytest.approx(0.5)  # recall yes 1/2, recall no 1/2
    repeated = json.dumps(
        [
            {"id": 0, "answer": "yes"},
            {"id": 0, "answer": "no"},
            {"id": 1, "answer": "yes"},
            {"id": 2, "answer": "no"},
            {"id": 3, "answer": "no"},
        ]
    )
    assert rewards.item_reward(repeated, gold) == pytest.approx(0.75)  # id 0 is untrusted -> wrong
    # the decision counts missing items as "not yes": 3 of 4 yes claimed, one missing -> share 0.5 < 0.8
    three = json.dumps([{"id": i, "answer": "yes"} for i in range(3)])
    assert rewards.decision_reward(three, ["yes"] * 4, "yes") == 0.0
    assert rewards.decision_reward(answer(["yes"] * 4), ["yes"] * 4, "yes") == 1.0


def test_reward_weights_are_configurable_and_trl_adapters_log_yes_rates():
    text = "reasoning first\n" + answer(["yes", "no"])
    assert rewards.judge_reward(text, ["yes", "yes"], "yes", weights={"format": 1.0, "decision": 0, "items": 0}) == 1.0
    logged = {}
    fmt, dec, items = rewards.trl_reward_functions()
    completions = [[{"role": "assistant", "content": text}], "garbage"]
    kwargs = {"gold": [["yes", "yes"], ["no", "yes"]], "label": ["yes", "no"]}
    assert fmt(prompts=None, completions=completions, log_metric=logged.__setitem__, **kwargs) == [1.0, 0.0]
    assert dec(prompts=None, completions=completions, **kwargs) == [0.0, 0.0]
    assert items(prompts=None, completions=completions, **kwargs) == [0.5, 0.0]
    assert logged["judge/pred_yes_rate"] == 0.25 and logged["judge/gold_yes_rate"] == 0.75
    assert logged["judge/unparsed_item_rate"] == 0.5


# -- configs ---------------------------------------------------------------------------------------


def test_paper_presets_and_yaml_overrides(tmp_path):
    g = load_config("grpo", ["--preset", "paper"])
    assert (
        g.model.use_peft,
        g.model.lora_r,
        g.model.lora_alpha,
        g.training.num_generations,
        g.training.per_device_train_batch_size,
        g.training.learning_rate,
        g.training.num_train_epochs,
    ) == (True, 16, 32, 8, 8, 5e-6, 1.0)
    assert g.reward_weights == {"format": 0.1, "decision": 0.2, "items": 0.7}
    s = load_config("sft", ["--preset", "paper"])
    assert (
        s.training.num_train_epochs,
        s.training.learning_rate,
        s.training.per_device_train_batch_size,
        s.model.use_peft,
    ) == (1.0, 1e-5, 4, False)
    assert load_config("mine", ["--preset", "paper"]).judge.rollouts == 4
    f = tmp_path / "grpo.yaml"
    f.write_text("preset: paper\nlearning_rate: 1.0e-6\nlora_r: 8\n")
    g = load_config("grpo", ["--config", str(f), "--per_device_train_batch_size", "16"])
    assert (g.training.learning_rate, g.model.lora_r, g.model.lora_alpha, g.training.per_device_train_batch_size) == (
        1e-6,
        8,
        32,
        16,
    )
    f.write_text("learning_rat: 1\n")
    with pytest.raises(ConfigError, match="learning_rat"):
        load_config("grpo", ["--config", str(f)])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("learning_rate: fast\n", "learning_rate: 'fast' is not a valid float"),
        ("per_device_train_batch_size: 2.5\n", "per_device_train_batch_size: 2.5 is not a valid int"),
        ("lr_scheduler_type: sometimes\n", "lr_scheduler_type: 'sometimes' is not one of linear"),
        ("use_peft: [true]\n", "use_peft takes one value"),
        ("reward_weights: {format: 1, style: 1}\n", "unknown reward term(s) ['style']"),
        ("reward_weights: [1, 2]\n", "2 weight(s) for the 3 reward terms"),
        ("load_in_4bit: true\n", "load_in_4bit: not supported"),
        ("- a list\n", "must contain a YAML mapping"),
    ],
)
def test_a_wrong_type_or_unknown_key_is_a_config_error_naming_the_key(tmp_path, text, message):
    f = tmp_path / "grpo.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config("grpo", ["--config", str(f)])
    assert message in str(error.value)


def test_yaml_values_are_typed_like_flags_and_flags_win(tmp_path):
    f = tmp_path / "grpo.yaml"
    f.write_text(
        "learning_rate: 1e-5\nmax_steps: '3'\nreward_weights: {format: 1, items: 0.5}\n"
        "lora_target_modules: [q_proj, v_proj]\nuse_peft: false\n"
    )
    g = load_config("grpo", ["--config", str(f), "--max-steps", "5"])
    assert g.training.learning_rate == 1e-5 and isinstance(g.training.learning_rate, float)  # PyYAML: a string
    assert g.training.max_steps == 5  # the flag overrides the file
    assert g.reward_weights == {"format": 1.0, "decision": 0.0, "items": 0.5}  # a term left out weighs 0
    assert g.model.lora_target_modules == ["q_proj", "v_proj"] and g.model.use_peft is False
    with pytest.raises(ConfigError, match="--learning_rate"):
        load_config("sft", ["--learning_rate", "fast"])
    with pytest.raises(ConfigError, match="unknown argument"):
        load_config("sft", ["--learning_rat", "1"])


def test_reward_term_names_are_the_constants():
    from anyaudio_eval.constants import REWARD_TERMS

    assert [f.__name__ for f in rewards.trl_reward_functions()] == list(REWARD_TERMS)
    assert tuple(rewards.DEFAULT_WEIGHTS) == REWARD_TERMS
    assert load_config("grpo").training.reward_weights == [rewards.DEFAULT_WEIGHTS[t] for t in REWARD_TERMS]


def test_the_trl_methods_audio_grpo_overrides_keep_the_signatures_it_was_written_for():
    pytest.importorskip("trl")
    from anyaudio_eval.training.grpo import trl_signature_drift

    drift = trl_signature_drift()
    assert not drift, "\n".join(drift)


# -- mining ----------------------------------------------------------------------------------------


def _sample(uuid, gold):
    items = [TrainItem(question=f"q{i}", label=g) for i, g in enumerate(gold)]
    return TrainSample(
        uuid=uuid, audio="x.wav", caption="c", label="yes" if set(gold) == {"yes"} else "no", items=items
    )


def test_mining_keeps_exactly_the_samples_not_always_right(tmp_path):
    samples = [
        _sample("easy", ["yes", "yes"]),
        _sample("hard", ["yes", "no"]),
        _sample("never", ["no", "no"]),
        _sample("broken", ["yes"]),
    ]
    script = {  # 4 rollouts each
        "easy": [answer(["yes", "yes"])] * 4,
        "hard": [answer(["yes", "no"])] * 3 + [answer(["yes", "yes"])],  # last one predicts match: wrong
        "never": [answer(["yes", "yes"])] * 4,
        "broken": [answer(["yes"])] * 3 + ["not json"],  # a malformed rollout is wrong
    }
    calls = []

    def scripted(batch, k):
        calls.append([s.uuid for s in batch])
        return [script[s.uuid][:k] for s in batch]

    kept, records, stats = mine(samples, scripted, k=4, batch_size=3)
    assert [s.uuid for s in kept] == ["hard", "never", "broken"]
    assert calls == [["easy", "hard", "never"], ["broken"]]
    assert [r["n_right"] for r in records] == [4, 3, 0, 3]
    assert (
        stats["kept"] == 3
        and stats["always_right"] == 1
        and stats["n_right_histogram"] == {"0": 1, "1": 0, "2": 0, "3": 2, "4": 1}
    )
    kept_items, _, _ = mine(samples[:2], lambda b, k: [[answer(["yes", "no"])] * k for _ in b], k=2, criterion="items")
    assert [s.uuid for s in kept_items] == ["easy"]  # "easy" answered with a wrong item is not right under items


def test_run_mine_writes_the_mined_set_and_its_statistics(corpus_file, tmp_path):
    from anyaudio_eval.training.mining import run_mine

    settings = load_config(
        "mine",
        ["--train_file", str(corpus_file), "--output_dir", str(tmp_path), "--rollouts", "2", "--progress", "false"],
    )
    result = run_mine(settings, sampler=lambda batch, k: [[s.target()] * (k - 1) + ["?"] for s in batch])
    assert result.stats["kept"] == 8 and result.stats["n_right_histogram"]["1"] == 8
    again = load_corpus(result.output_file)  # the mined set is a corpus again (absolute audio paths)
    assert [s.uuid for s in again.samples] == [s.uuid for s in load_corpus(corpus_file).samples]
    assert json.loads((tmp_path / "mined_stats.json").read_text())["samples"] == 8
    assert len((tmp_path / "mined_rollouts.jsonl").read_text().splitlines()) == 8


# -- model-side pieces (tiny random model) -----------------------------------------------------------


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    pytest.importorskip("trl")
    from anyaudio_eval.training.modeling import load_policy

    return load_policy("tiny:omni", tmp_path_factory.mktemp("work"), device="cpu")


def test_the_hf_sampler_draws_k_rollouts_per_sample_from_the_model(policy, corpus_file, tmp_path):
    from anyaudio_eval.training.data import load_corpus
    from anyaudio_eval.training.mining import hf_sampler

    config = load_config("mine", ["--train_file", str(corpus_file), "--output_dir", str(tmp_path),
                                  "--max_new_tokens", "3"])  # fmt: skip
    samples = load_corpus(corpus_file).samples[:2]
    rollouts = hf_sampler(policy, config.judge)(samples, 2)
    assert len(rollouts) == 2 and all(len(r) == 2 and all(isinstance(t, str) for t in r) for r in rollouts)


def test_collator_label_mask_is_exact(policy, corpus_file):
    from anyaudio_eval.engine import load_engine
    from anyaudio_eval.training.collate import IGNORE, SFTCollator

    samples = load_corpus(corpus_file).samples[:2]  # different rubric sizes -> different lengths
    collator = SFTCollator(policy)
    batch = collator(samples)
    tok = policy.tokenizer
    end = tok.convert_tokens_to_ids("<|im_end|>")
    audio = policy.audio_token_id
    engine = load_engine(str(policy.path), device="cpu")  # what the audiollm/ provider would send
    width = batch["input_ids"].shape[1]
    for row, s in enumerate(samples):
        prompt = engine.prepare(policy.conversation(s.system_prompt(), s.user_prompt()), [policy.clip(s.audio)], 30).ids
        target = tok(s.target(), add_special_tokens=False).input_ids + [end]
        n_pad = width - len(prompt) - len(target)
        assert batch["input_ids"][row].tolist() == prompt + target + [tok.pad_token_id] * n_pad
        assert batch["labels"][row].tolist() == [IGNORE] * len(prompt) + target + [IGNORE] * n_pad
        assert batch["attention_mask"][row].tolist() == [1] * (len(prompt) + len(target)) + [0] * n_pad
        assert prompt.count(audio) == 25  # 1 s of audio -> 25 placeholders, all masked
        assert tok.decode(target) == s.target() + "<|im_end|>"
    assert max(batch["input_ids"].shape[1] - int(m.sum()) for m in batch["attention_mask"]) > 0  # padding happened
    assert not ((batch["labels"] == audio).any())
    assert batch["input_features"].shape == (2, 128, 3000) and batch["feature_attention_mask"].shape == (2, 3000)


@pytest.fixture(scope="module")
def omni_policies(policy, tmp_path_factory):
    """Both Omni bases: Qwen2.5-Omni (the released 7B) and Qwen3-Omni MoE (the paper's 30B)."""
    from anyaudio_eval.training.modeling import load_policy

    return {"omni": policy, "omni3": load_policy("tiny:omni3", tmp_path_factory.mktemp("work3"), device="cpu")}


@pytest.mark.parametrize("family", ["omni", "omni3"])
def test_weight_names_map_to_the_saved_full_omni_layout(omni_policies, tmp_path, family):
    import torch
    from safetensors import safe_open
    from trl.generation.vllm_generation import VLLMGeneration

    from anyaudio_eval.training.modeling import export_checkpoint
    from anyaudio_eval.training.vllm_bridge import checkpoint_name, wrap_name_fixer, wrap_param_iterator

    policy = omni_policies[family]
    out = export_checkpoint(policy.model, policy, tmp_path / "full")
    assert (
        json.loads((out / "config.json").read_text())["model_type"]
        == {"omni": "qwen2_5_omni", "omni3": "qwen3_omni_moe"}[family]
    )
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        saved = set(f.keys())
    assert all(k.startswith("thinker.") for k in saved)
    if family == "omni":  # one in-memory parameter per checkpoint tensor (no fused experts)
        assert {checkpoint_name(n, True) for n, _ in policy.model.named_parameters()} == saved
    # transformers >= 5.21 in-memory names map to the same checkpoint names
    assert (
        checkpoint_name("model.language_model.layers.0.mlp.up_proj.weight", True)
        == "thinker.model.layers.0.mlp.up_proj.weight"
    )
    assert checkpoint_name("model.audio_tower.conv1.weight", True) == "thinker.audio_tower.conv1.weight"
    assert checkpoint_name("lm_head.weight", True) == "thinker.lm_head.weight"

    # TRL's own sync iteration (plain and PEFT-merged) under our name hook yields exactly the saved names
    import copy

    from peft import get_peft_model

    from anyaudio_eval.training.config import load_config, peft_config

    lora = peft_config(load_config("sft", ["--use_peft", "--lora_r", "2"]))
    for model in (policy.model, get_peft_model(copy.deepcopy(policy.model), lora)):
        gen = object.__new__(VLLMGeneration)
        gen.model = model
        gen._dist = SimpleNamespace(is_fsdp=False, gather_params=lambda params: nullcontext())
        gen._fix_param_name_to_vllm = wrap_name_fixer(VLLMGeneration._fix_param_name_to_vllm.__get__(gen), True)
        gen._iter_named_params = wrap_param_iterator(VLLMGeneration._iter_named_params.__get__(gen), model)
        synced = dict(gen._iter_named_params())
        assert synced.keys() == saved
        # the very tensors vLLM would read from the exported checkpoint (fused MoE experts split per expert)
        with safe_open(str(out / "model.safetensors"), "pt") as f:
            assert all(torch.equal(synced[k].detach().cpu(), f.get_tensor(k)) for k in saved)


def test_vllm_audio_requests_and_output_parsing_with_a_fake_engine():
    from anyaudio_eval.training import vllm_bridge

    wav = np.zeros(16000, dtype=np.float64)
    reqs = vllm_bridge.audio_requests([[1, 9, 9, 9, 2]], [wav], audio_token_id=9)
    assert reqs[0]["prompt_token_ids"] == [1, 9, 9, 9, 2]
    ((clip, sr),) = reqs[0]["multi_modal_data"]["audio"]
    assert sr == 16000 and clip.dtype == np.float32
    assert vllm_bridge.audio_requests([[1, 9, 9, 2, 9, 9]], [wav], 9, collapse=True)[0]["prompt_token_ids"] == [
        1,
        9,
        2,
        9,
    ]
    kw = vllm_bridge.sampling_kwargs(1.0, 1.0, None, None, 16, suppress_ids=[9])
    assert kw["logit_bias"] == {9: -100.0} and kw["n"] == 1 and kw["logprobs"] == 0

    class FakeLLM:
        def generate(self, requests, sampling_params, use_tqdm):
            self.seen = (requests, sampling_params)
            lp = SimpleNamespace
            return [
                SimpleNamespace(
                    outputs=[SimpleNamespace(token_ids=[5, 6], logprobs=[{5: lp(logprob=-0.5)}, {6: lp(logprob=-1.0)}])]
                )
            ]

    llm = FakeLLM()
    ids, lps = vllm_bridge.generate(llm, reqs, kw, sampling_params_cls=dict)
    assert ids == [[5, 6]] and lps == [[-0.5, -1.0]] and llm.seen[1]["max_tokens"] == 16
