"""The `audiollm/` provider on tiny random checkpoints built in the test (offline, CPU)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from inspect_ai.model import GenerateConfig, get_model  # noqa: E402

import anyaudio_eval.providers  # noqa: E402,F401  (registers audiollm)
from anyaudio_eval.audio import audio_from_reference, wav_data_uri  # noqa: E402
from anyaudio_eval.bench.schema import RubricItem  # noqa: E402
from anyaudio_eval.engine import CheckpointError, load_engine, resolve_device, resolve_dtype  # noqa: E402
from anyaudio_eval.judge.procedure import LOGITS_CONFIG, judge_messages  # noqa: E402
from anyaudio_eval.models.tiny import ANSWER_TOKENS, CHAT_TEMPLATE, save_tiny, test_clip  # noqa: E402
from anyaudio_eval.providers import local  # noqa: E402
from anyaudio_eval.rubric.parsing import p_yes_from_top_logprobs  # noqa: E402
from anyaudio_eval.rubric.prompts import item_prompt, judge_system_prompt  # noqa: E402

SYSTEM = judge_system_prompt("logits", "zh")
ITEMS = [
    RubricItem(dimension="音高", question="是否有一个持续的音调？", basis=""),
    RubricItem(dimension="响度", question="声音是否清晰可闻？", basis=""),
    RubricItem(dimension="", question="Is there speech?", basis=""),
    RubricItem(dimension="tempo", question="Is the tempo fast?", basis=""),
]
CHECKPOINTS = ["omni_thinker", "omni_full", "omni3_thinker", "omni3_full", "qwen2_audio"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-checkpoints")
    return {
        "omni_thinker": save_tiny(root / "omni_thinker", family="omni", layout="thinker"),
        "omni_full": save_tiny(root / "omni_full", family="omni", layout="full"),
        "omni3_thinker": save_tiny(root / "omni3_thinker", family="omni3"),
        "omni3_full": save_tiny(root / "omni3_full", family="omni3", layout="full"),
        "qwen2_audio": save_tiny(root / "qwen2_audio", family="qwen2_audio"),
    }


def run(coro):
    return asyncio.run(coro)


def p_yes(output) -> float:
    first = output.choices[0].logprobs.content[0]
    pairs = dict((t.token, t.logprob) for t in first.top_logprobs)
    value = p_yes_from_top_logprobs(pairs.items())
    assert value is not None
    return value


def messages(wav: np.ndarray, item: RubricItem):
    return judge_messages(wav_data_uri(wav), item_prompt(item, "zh"), SYSTEM)


async def score_all(model, wav, items=ITEMS, config=LOGITS_CONFIG):
    return await asyncio.gather(*[model.generate(messages(wav, item), config=config) for item in items])


# -- a direct transformers computation, independent of the provider's code ---------------------------------


def direct_processor(path: Path, family: str):
    from transformers import AutoTokenizer, WhisperFeatureExtractor

    if family == "qwen2_audio":
        return transformers.AutoProcessor.from_pretrained(path)
    # The Omni processors need pillow/torchvision for their image/video parts, which audio never uses.
    from transformers import Qwen2_5OmniProcessor, Qwen3OmniMoeProcessor
    from transformers.image_processing_utils import BaseImageProcessor
    from transformers.video_processing_utils import BaseVideoProcessor

    base = Qwen3OmniMoeProcessor if family == "omni3" else Qwen2_5OmniProcessor

    class AudioOnlyOmniProcessor(base):
        def check_argument_for_proper_class(self, name, arg):
            if name in ("image_processor", "video_processor"):
                return None
            return super().check_argument_for_proper_class(name, arg)

    dummies = []
    for cls in (BaseImageProcessor, BaseVideoProcessor):
        d = cls()
        d.merge_size, d.temporal_patch_size = 2, 2
        dummies.append(d)
    return AudioOnlyOmniProcessor(
        image_processor=dummies[0],
        video_processor=dummies[1],
        feature_extractor=WhisperFeatureExtractor.from_pretrained(path),
        tokenizer=AutoTokenizer.from_pretrained(path),
        chat_template=CHAT_TEMPLATE,
    )


def direct_p_yes(path: Path, name: str, wav: np.ndarray, item: RubricItem) -> tuple[float, int]:
    family = {"qwen2_audio": "qwen2_audio", "omni3_thinker": "omni3", "omni3_full": "omni3"}.get(name, "omni")
    if family == "qwen2_audio":
        model = transformers.Qwen2AudioForConditionalGeneration.from_pretrained(path)
    else:
        config = transformers.AutoConfig.from_pretrained(path)
        config = getattr(config, "thinker_config", config)
        cls = (
            transformers.Qwen3OmniMoeThinkerForConditionalGeneration
            if family == "omni3"
            else transformers.Qwen2_5OmniThinkerForConditionalGeneration
        )
        model = cls.from_pretrained(path, config=config)
    model.eval()
    processor = direct_processor(path, family)
    conversation = [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": [
                {"type": "audio", "audio": "clip"},
                {"type": "text", "text": item_prompt(item, "zh")},
            ],
        },
    ]
    text = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=text, audio=[wav], return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits[0, -1].float()
        greedy = model.generate(
            **inputs, max_new_tokens=1, do_sample=False, output_scores=True, return_dict_in_generate=True
        )
    # one forward's last position == greedy generate(max_new_tokens=1) scores
    assert torch.allclose(greedy.scores[0][0].float(), logits, atol=1e-5)
    probs = torch.softmax(logits, -1)
    tok = processor.tokenizer
    yes = sum(probs[tok.convert_tokens_to_ids(t)] for t in ANSWER_TOKENS if "es" in t)
    no = sum(probs[tok.convert_tokens_to_ids(t)] for t in ANSWER_TOKENS if "o" in t and "es" not in t)
    return float(yes / (yes + no)), inputs["input_ids"].shape[1]


# -- tests ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_provider_p_yes_equals_direct_transformers(checkpoints, name):
    path = checkpoints[name]
    wav = test_clip(1.5, "tone", 330.0)
    model = get_model(f"audiollm/{path}", prefix_cache=False)
    output = run(model.generate(messages(wav, ITEMS[0]), config=LOGITS_CONFIG))
    # the provider hears the clip as the 16-bit WAV data URI Inspect sends: so must the direct computation
    expected, n_tokens = direct_p_yes(path, name, audio_from_reference(wav_data_uri(wav)), ITEMS[0])
    assert p_yes(output) == pytest.approx(expected, abs=1e-5)
    assert output.usage is not None and output.usage.input_tokens == n_tokens  # same prompt, same audio tokens
    assert output.usage.output_tokens == 1


def test_top_logprobs_always_hold_every_yes_no_variant(checkpoints):
    model = get_model(f"audiollm/{checkpoints['omni_thinker']}")
    output = run(
        model.generate(
            messages(test_clip(1.0), ITEMS[1]),
            config=GenerateConfig(logprobs=True, top_logprobs=1, max_tokens=1),
        )
    )
    tokens = {t.token for t in output.choices[0].logprobs.content[0].top_logprobs}
    assert {"yes", "Yes", " yes", " Yes", "no", "No", " no", " No"} <= tokens


@pytest.mark.parametrize("name", ["omni_full", "omni3_full", "qwen2_audio"])
def test_prefix_reuse_equals_no_reuse(checkpoints, name, monkeypatch):
    # A long batching window: the four items of a clip always form one batch, however loaded the machine.
    monkeypatch.setattr(local, "BATCH_WINDOW_S", 10.0)
    path = checkpoints[name]
    clips = [test_clip(2.0, "tone", 440.0), test_clip(2.0, "noise", seed=1)]
    plain = get_model(f"audiollm/{path}", prefix_cache=False)
    reuse = get_model(f"audiollm/{path}", prefix_cache=True, batch_size=3)
    engine = reuse.api.engine  # type: ignore[attr-defined]
    assert engine is plain.api.engine  # type: ignore[attr-defined]  # weights loaded once per process
    before = dict(engine.stats)
    expected = [p_yes(o) for wav in clips for o in run(score_all(plain, wav))]
    got = [p_yes(o) for wav in clips for o in run(score_all(reuse, wav))]
    assert np.max(np.abs(np.array(expected) - np.array(got))) < 1e-4
    hits = engine.stats["prefix_hits"] - before["prefix_hits"]
    misses = engine.stats["prefix_misses"] - before["prefix_misses"]
    assert misses == 2  # one prefix per clip, run once
    # The prefix is run once per clip and the items batched: fewer forwards than the 8 of the plain path.
    forwards_reuse = engine.stats["forwards"] - before["forwards"] - 8
    assert forwards_reuse < 8 and hits + misses >= 2


def test_the_audio_changes_the_answer(checkpoints):
    model = get_model(f"audiollm/{checkpoints['omni_thinker']}")
    scores = {
        kind: p_yes(run(model.generate(messages(test_clip(2.0, kind, 440.0, seed=3), ITEMS[0]), config=LOGITS_CONFIG)))
        for kind in ("tone", "noise", "silence")
    }
    values = list(scores.values())
    assert min(abs(a - b) for i, a in enumerate(values) for b in values[i + 1 :]) > 1e-3, scores


def test_generate_mode_returns_text_within_max_tokens(checkpoints):
    model = get_model(f"audiollm/{checkpoints['qwen2_audio']}")
    engine = model.api.engine  # type: ignore[attr-defined]
    output = run(model.generate(messages(test_clip(1.0), ITEMS[0]), config=GenerateConfig(max_tokens=4, temperature=0)))
    assert isinstance(output.completion, str)
    assert output.usage is not None and 1 <= output.usage.output_tokens <= 4
    assert len(engine.tokenizer(output.completion, add_special_tokens=False).input_ids) <= 4


def test_corrupt_checkpoint_fails_clearly(checkpoints, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(checkpoints["qwen2_audio"], broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="cannot load checkpoint"):
        load_engine(str(broken), device="cpu")

    bad_json = tmp_path / "bad_json"
    shutil.copytree(checkpoints["qwen2_audio"], bad_json)
    (bad_json / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt checkpoint .*config.json"):
        get_model(f"audiollm/{bad_json}")

    with pytest.raises(CheckpointError, match="not a directory"):
        load_engine(str(tmp_path / "nowhere"))


def test_missing_weights_are_an_error_not_random_init(checkpoints, tmp_path):
    from safetensors.torch import load_file, save_file

    partial = tmp_path / "partial"
    shutil.copytree(checkpoints["omni_thinker"], partial)
    weights = load_file(partial / "model.safetensors")
    save_file(
        {k: v for k, v in weights.items() if "lm_head" not in k},
        partial / "model.safetensors",
        metadata={"format": "pt"},
    )
    with pytest.raises(CheckpointError, match="weight\\(s\\) missing .*lm_head"):
        load_engine(str(partial), device="cpu")


def test_unsupported_architecture_names_the_supported_ones(checkpoints, tmp_path):
    other = tmp_path / "llama"
    shutil.copytree(checkpoints["qwen2_audio"], other)
    config = json.loads((other / "config.json").read_text())
    config.update(model_type="llama", architectures=["LlamaForCausalLM"])
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="unsupported architecture") as info:
        get_model(f"audiollm/{other}")
    assert "Qwen2.5-Omni" in str(info.value) and "Qwen2-Audio" in str(info.value) and "Qwen3-Omni" in str(info.value)


def test_unknown_model_arg_is_rejected(checkpoints):
    with pytest.raises(ValueError, match="unknown audiollm model args: temprature"):
        get_model(f"audiollm/{checkpoints['qwen2_audio']}", temprature=0)


# -- device and dtype: one resolution for the provider, lm-eval and training ---------------------------------


def fake_cuda(monkeypatch, available: bool, bf16: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)


def test_auto_device_is_cuda_when_present_and_each_rank_takes_its_own(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    fake_cuda(monkeypatch, available=False, bf16=False)
    assert resolve_device("auto") == "cpu"
    fake_cuda(monkeypatch, available=True, bf16=True)
    assert resolve_device("auto") == "cuda"
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert resolve_device("auto") == resolve_device("cuda") == "cuda:3"
    assert resolve_device("cuda:1") == "cuda:1" and resolve_device("cpu") == "cpu"


def test_auto_dtype_is_bf16_on_cuda_that_has_it_else_float32(monkeypatch):
    fake_cuda(monkeypatch, available=True, bf16=True)
    assert resolve_dtype("auto", "cuda") == resolve_dtype("auto", "cuda:2") == torch.bfloat16
    assert resolve_dtype("auto", "cpu") == torch.float32
    fake_cuda(monkeypatch, available=True, bf16=False)
    assert resolve_dtype("auto", "cuda") == torch.float32
    assert resolve_dtype("bf16", "cpu") == torch.bfloat16 and resolve_dtype("float16", "cuda") == torch.float16
    with pytest.raises(ValueError, match="unknown dtype 'int8'"):
        resolve_dtype("int8", "cpu")


def test_training_keeps_float32_master_weights_under_auto(monkeypatch):
    from anyaudio_eval.training import modeling

    fake_cuda(monkeypatch, available=True, bf16=True)
    assert modeling.resolve_device is resolve_device  # training resolves devices as the judge does
    assert modeling.weights_dtype("auto", "cuda") == torch.float32  # the trainer's bf16 mixed precision computes
    assert modeling.weights_dtype("bfloat16", "cuda") == torch.bfloat16
    with pytest.raises(ValueError, match="use auto, float32 or bfloat16"):
        modeling.weights_dtype("float16", "cuda")


def test_provider_and_lmeval_run_where_the_engine_resolves(checkpoints):
    pytest.importorskip("lm_eval")
    from anyaudio_eval.lmeval.model import AnyAudioJudgeLM

    path = checkpoints["qwen2_audio"]
    provider = get_model(f"audiollm/{path}").api.engine  # type: ignore[attr-defined]
    lm = AnyAudioJudgeLM(pretrained=str(path)).engine
    assert provider is lm  # the same (checkpoint, device, dtype) key: one copy of the weights
    assert (provider.device, provider.dtype) == (resolve_device("auto"), resolve_dtype("auto", provider.device))


@pytest.mark.slow
def test_bench_runs_end_to_end_on_the_tiny_model(checkpoints, tmp_path):
    from fixtures import balanced_bench
    from inspect_ai import eval

    from anyaudio_eval.tasks.bench import bench

    root = balanced_bench(tmp_path / "bench", n_per_subset=2)
    log = eval(
        bench(dataset=str(root), language="en"),
        model=f"audiollm/{checkpoints['omni_full']}",
        display="none",
        log_dir=str(tmp_path / "logs"),
    )[0]
    assert log.status == "success", log.error
    assert log.samples and len(log.samples) == 4
    for sample in log.samples:
        score = next(iter(sample.scores.values()))
        verdicts = score.metadata and score.metadata.get("items")
        assert score.value is not None
        assert verdicts, score.metadata
        assert all(v["parsed"] and v["soft"] and 0.0 < v["p_yes"] < 1.0 for v in verdicts)
