"""`-T protocol=reference`: the release's prompts read as data, its numerics reproduced exactly."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import math
import urllib.request

import numpy as np
import pytest
import soundfile as sf
from reference_standin import STANDIN_LOGITS_SYSTEM, standin_item_text, write_standin

from anyaudio_eval.audio import cache_audio, linear_resample
from anyaudio_eval.bench.schema import RubricItem
from anyaudio_eval.rubric import reference as ref
from anyaudio_eval.rubric.decompose import decompose, rubric_cache_key
from anyaudio_eval.rubric.parsing import p_yes_from_top_logprobs
from anyaudio_eval.rubric.protocol import get_protocol, read_any_item, warn_if_released_judge
from anyaudio_eval.rubric.template_eval import TemplateError, module_definitions, template_function

ITEMS = [
    RubricItem(dimension="pitch", question="Is there a steady tone?", basis="a steady tone"),
    RubricItem(dimension="", question="Is it loud?", basis="loud"),
]


@pytest.fixture
def standin(tmp_path):
    marker = tmp_path / "executed.txt"
    root, sha = write_standin(tmp_path / "release", marker)
    return root, sha, marker


def test_loads_from_a_clone_or_the_file_without_running_its_code(standin):
    root, sha, marker = standin
    for where in (root, root / "anyaudio_judge" / "prompts.py"):
        protocol = get_protocol("reference", reference=str(where), reference_sha256=sha)
        assert protocol.name == "reference" and protocol.language == "zh"
        assert protocol.pooling == "max" and protocol.resampler == "linear"
        assert protocol.item_text(ITEMS[0]) == standin_item_text("pitch", "Is there a steady tone?")
        assert protocol.item_text(ITEMS[1]) == standin_item_text("", "Is it loud?")
        assert protocol.item_list_text(ITEMS) == (
            "Answer these 2 checks:\n\n0. <<pitch>> Is there a steady tone?\n\n1. Is it loud?"
        )
        assert protocol.judge_system("logits") == STANDIN_LOGITS_SYSTEM
        assert (
            protocol.clean_user("cap", ITEMS[:1])
            == "CAPTION=cap\n\nQUESTIONS:\n<0> Is there a steady tone?\n    because a steady tone"
        )
        assert protocol.threshold("generate") == 0.8 and protocol.threshold("logits") == 0.5
        assert protocol.source["sha256"] == sha and protocol.source["modified"] == "true"
        assert protocol.version.startswith("release-5cd0eb0-") and sha[:12] in protocol.version
    assert not marker.exists()  # the module-level statement was never executed


def test_a_copy_with_another_hash_is_refused_naming_the_commit(standin):
    root, _, _ = standin
    with pytest.raises(ref.ReferenceError, match="not the pinned reference") as info:
        get_protocol("reference", reference=str(root))
    assert ref.REFERENCE_COMMIT in str(info.value) and ref.REFERENCE_SHA256 in str(info.value)


def test_offline_without_a_copy_says_how_to_get_it(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.delenv("ANYAUDIO_REFERENCE", raising=False)
    assert not ref.reference_cache_path().exists()
    with pytest.raises(ref.ReferenceError, match="git clone https://github.com/CuCl-2/AnyAudio-Judge") as info:
        get_protocol("reference")
    assert "-T reference=" in str(info.value) and "network unreachable" in str(info.value)


def test_downloaded_once_into_the_cache_then_reused(standin, monkeypatch):
    root, sha, _ = standin
    data = (root / "anyaudio_judge" / "prompts.py").read_bytes()
    calls = []

    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def fake_urlopen(url, timeout=None):
        calls.append(url)
        return Response(data)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    monkeypatch.setattr(ref, "REFERENCE_SHA256", sha)  # this stand-in plays the pinned file
    monkeypatch.delenv("ANYAUDIO_REFERENCE", raising=False)
    cached = ref.reference_cache_path()
    cached.unlink(missing_ok=True)
    try:
        first = get_protocol("reference")
        assert calls == [ref.REFERENCE_URL] and ref.REFERENCE_COMMIT in calls[0]
        assert cached.read_bytes() == data
        second = get_protocol("reference")  # from the cache: no second download
        assert len(calls) == 1 and second.version == first.version
        assert "modified" not in first.source
    finally:
        cached.unlink(missing_ok=True)


def test_the_interpreter_refuses_anything_but_prompt_building():
    source = "def build_logits_user_text(item):\n    open('/tmp/x', 'w')\n    return 'x'\n"
    _, functions = module_definitions(source)
    with pytest.raises(TemplateError, match="line 2: calling 'open'"):
        template_function(functions["build_logits_user_text"])({})
    source = "def build_logits_user_text(item):\n    return item.__class__\n"
    _, functions = module_definitions(source)
    with pytest.raises(TemplateError, match="Attribute"):
        template_function(functions["build_logits_user_text"])({})


def test_a_builder_the_interpreter_refuses_fails_at_load(tmp_path, standin):
    root, _, _ = standin
    path = root / "anyaudio_judge" / "prompts.py"
    text = path.read_text().replace('return f"Decide: {q}"', 'return __import__("os").getcwd()')
    path.write_text(text)
    sha = hashlib.sha256(text.encode()).hexdigest()
    with pytest.raises(ref.ReferenceError, match="build_logits_user_text: line \\d+: calling '__import__'"):
        get_protocol("reference", reference=str(root), reference_sha256=sha)


def test_english_prompts_are_refused_under_reference(standin):
    root, sha, _ = standin
    with pytest.raises(ValueError, match="Chinese only"):
        get_protocol("reference", prompt_language="en", reference=str(root), reference_sha256=sha)


# -- numerics --------------------------------------------------------------------------------------------


def _release_max_rule(pairs):
    """p_yes by the release's rule, computed independently: the six forms per side, max logit, softmax."""
    forms = {"yes": ["yes", " yes", "Yes", " Yes", "YES", " YES"], "no": ["no", " no", "No", " No", "NO", " NO"]}
    table = dict(pairs)
    best = {side: max(table[f] for f in fs if f in table) for side, fs in forms.items()}
    return float(np.exp(best["yes"]) / (np.exp(best["yes"]) + np.exp(best["no"])))


def test_max_pooling_equals_the_release_rule():
    rng = np.random.default_rng(0)
    tokens = ["yes", " yes", "Yes", " YES", "no", " No", "NO", "是", "否", "yes.", "maybe"]
    for _ in range(200):
        logits = rng.normal(0, 3, len(tokens))
        logprobs = logits - np.log(np.exp(logits).sum())
        pairs = list(zip(tokens, logprobs.tolist(), strict=True))
        assert p_yes_from_top_logprobs(pairs, "max") == pytest.approx(_release_max_rule(pairs), abs=1e-12)
    # Only the six forms count: "是", "yes." and the sum of variants do not.
    pairs = [("yes", -2.0), ("Yes", -2.0), ("no", -1.5), ("是", -0.1)]
    assert p_yes_from_top_logprobs(pairs, "max") == pytest.approx(1 / (1 + math.exp(0.5)))
    assert p_yes_from_top_logprobs(pairs, "sum") != p_yes_from_top_logprobs(pairs, "max")


def test_a_side_missing_from_the_top_logprobs_is_bounded_not_certain():
    pairs = [("yes", -0.05), ("maybe", -4.0), ("x", -6.0)]
    p = p_yes_from_top_logprobs(pairs, "max")
    assert p == pytest.approx(1 / (1 + math.exp(-(-0.05 + 6.0))))  # no taken at the lowest listed logprob
    assert p < 1.0
    assert p_yes_from_top_logprobs([("maybe", -0.1)], "max") is None


def test_linear_resampler_is_np_interp_of_the_float_samples(tmp_path):
    rng = np.random.default_rng(1)
    stereo = (rng.normal(0, 0.6, (44_100 + 37, 2))).astype(np.float32)  # peaks beyond 1.0: never clipped
    path = tmp_path / "clip.wav"
    sf.write(path, stereo, 44_100, subtype="FLOAT")
    cached = cache_audio(path, resampler="linear")
    got, sr = sf.read(cached, dtype="float32")
    data, _ = sf.read(path, dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    n = int(len(mono) * 16_000 / 44_100)
    expected = np.interp(np.linspace(0, len(mono) - 1, n), np.arange(len(mono)), mono).astype(np.float32)
    assert sr == 16_000 and np.array_equal(got, expected) and np.abs(got).max() > 1.0
    assert np.array_equal(linear_resample(mono, 44_100), expected)
    assert cache_audio(path) != cached  # each resampler has its own cache entry


# -- the rest of the protocol --------------------------------------------------------------------------


class _RecordingModel:
    """A decomposer that records what it is sent and answers in the documented shapes."""

    def __init__(self) -> None:
        self.calls: list[tuple[list, object]] = []

    def __str__(self) -> str:
        return "recording/decomposer"

    async def generate(self, messages, config=None):
        from inspect_ai.model import ModelOutput

        self.calls.append((messages, config))
        reply = (
            '{"判断题列表": [{"维度": "音高", "题目": "有音调吗？", "依据": "tone"}]}'
            if len(self.calls) == 1
            else '{"results": [{"id": 0, "judgment": "keep"}]}'
        )
        return ModelOutput.from_content(model="recording", content=reply)


def test_decomposition_uses_the_release_prompts_budgets_and_temperatures(standin, tmp_path):
    root, sha, _ = standin
    protocol = get_protocol("reference", reference=str(root), reference_sha256=sha)
    model = _RecordingModel()
    result = asyncio.run(
        decompose(model, "a tone", "music", "en", cache_directory=tmp_path, protocol=protocol)  # type: ignore[arg-type]
    )
    assert [i.question for i in result.items] == ["有音调吗？"]
    (dec_messages, dec_config), (clean_messages, clean_config) = model.calls
    assert dec_messages[0].content == "split music"
    assert dec_messages[1].content == "/no_think\nMUSIC CAPTION:\na tone"
    assert dec_config.max_tokens == 333 and dec_config.temperature == 0.0
    assert clean_messages[0].content == "Test cleaner: keep or remove each question."
    assert clean_messages[1].content.startswith("CAPTION=a tone\n\nQUESTIONS:\n<0> 有音调吗？")
    assert clean_config.temperature == 0.2 and clean_config.max_tokens == 1024
    # The rubric cache keeps protocols apart (and the reference fixes the rubric language to zh).
    assert rubric_cache_key("a tone", "music", "zh", "m", protocol) != rubric_cache_key("a tone", "music", "zh", "m")


def test_providers_of_our_own_read_the_reference_item_text(standin):
    root, sha, _ = standin
    protocol = get_protocol("reference", reference=str(root), reference_sha256=sha)
    assert read_any_item(protocol.item_text(ITEMS[0])) == ("pitch", "Is there a steady tone?")


def test_a_released_judge_under_another_protocol_is_warned_once(standin):
    root, sha, _ = standin
    anyaudio = get_protocol("anyaudio")
    released = get_protocol("reference", reference=str(root), reference_sha256=sha)
    assert warn_if_released_judge("vllm/cucl2/AnyAudio-Judge-7B", released) is None
    message = warn_if_released_judge("vllm/cucl2/AnyAudio-Judge-7B", anyaudio)
    assert message and "protocol=reference" in message
    assert warn_if_released_judge("vllm/cucl2/AnyAudio-Judge-7B", anyaudio) is None  # once
    assert warn_if_released_judge("openai/gpt-4o-audio-preview", anyaudio) is None


def test_log_metadata_names_the_protocol(standin, tmp_path):
    from fixtures import balanced_bench

    from anyaudio_eval.tasks.bench import bench

    root, sha, _ = standin
    data = balanced_bench(tmp_path / "bench", n_per_subset=2)
    task = bench(dataset=str(data), protocol="reference", reference=str(root), reference_sha256=sha, mode="generate")
    meta = task.metadata or {}
    assert meta["protocol"] == "reference" and meta["pooling"] == "max" and meta["resampler"] == "linear"
    assert meta["protocol_source"]["commit"] == ref.REFERENCE_COMMIT and meta["threshold"] == 0.8
    plain = bench(dataset=str(data)).metadata or {}
    assert plain["protocol"] == "anyaudio" and plain["prompt_version"] == "aaj-prompts-v2"
    assert json.dumps(plain)  # metadata stays JSON


# -- the protocol flows through every consumer ---------------------------------------------------------


def _markdown_rows(text: str) -> list[list[str]]:
    return [line.strip("| ").split(" | ") for line in text.strip().splitlines()[2:]]


def test_report_rows_name_the_protocol_and_print_the_release_mean_scores(standin, tmp_path, capsys):
    from fixtures import balanced_bench
    from inspect_ai import eval
    from judges import listening, scripted_judge

    from anyaudio_eval.cli import main
    from anyaudio_eval.tasks.bench import bench

    root, sha, _ = standin
    data = balanced_bench(tmp_path / "b", n_per_subset=2)
    logs = tmp_path / "logs"
    for protocol in ("anyaudio", "reference"):
        args = {"reference": str(root), "reference_sha256": sha} if protocol == "reference" else {}
        log = eval(bench(dataset=str(data), protocol=protocol, **args), model=scripted_judge(listening),
                   log_dir=str(logs), display="none")[0]  # fmt: skip
        assert log.status == "success", log.error
    assert main(["report", str(logs), "--format", "markdown"]) == 0
    rows = _markdown_rows(capsys.readouterr().out)
    assert sorted(r[-1].split()[0] for r in rows) == ["anyaudio", "reference"]  # one row per protocol
    assert any(r[-1] == "reference " + get_protocol("reference", reference=str(root), reference_sha256=sha).version
               for r in rows)  # fmt: skip
    assert main(["report", str(logs), "--format", "markdown", "--scores"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("| judge | sound | music | overall | scored | protocol")
    # listening: 0.9 on the tones, 0.2 on silence; each subset holds one of each
    assert all(r[1:4] == ["0.5500", "0.5500", "0.5500"] for r in _markdown_rows(out))


def test_instruct_and_reward_take_the_protocol(standin, tmp_path):
    from inspect_ai import eval
    from inspect_ai.model import get_model
    from judges import listening, scripted_judge

    from anyaudio_eval.reward import alignment_reward
    from anyaudio_eval.tasks.instruct import instruct

    root, sha, _ = standin
    rows = [{"id": "a", "instruction": "a steady tone", "domain": "sound",
             "rubric": [{"dimension": "pitch", "question": "Is there a steady tone?"}]}]  # fmt: skip
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    clips = tmp_path / "clips"
    clips.mkdir()
    sf.write(clips / "a.wav", 0.3 * np.sin(np.arange(16_000) / 5.0), 16_000)
    seen: list[str] = []

    def judge(wav, text):
        seen.append(text)
        return listening(wav, text)

    log = eval(
        instruct(instructions=str(path), protocol="reference", reference=str(root), reference_sha256=sha),
        model=get_model(f"files/{clips}"),
        model_roles={"judge": scripted_judge(judge)},
        log_dir=str(tmp_path / "logs"),
        display="none",
    )[0]
    assert log.status == "success", log.error
    assert log.eval.metadata["protocol"] == "reference"
    assert seen == [standin_item_text("pitch", "Is there a steady tone?")]
    score = log.samples[0].scores["rubric_judge"]
    assert score.metadata["protocol"] == "reference" and score.value["score"] == pytest.approx(0.9)

    result = alignment_reward(clips / "a.wav", rubric=rows[0]["rubric"], judge=scripted_judge(judge),
                              protocol="reference", reference=str(root), reference_sha256=sha)  # fmt: skip
    assert result.protocol == "reference" and result.score == pytest.approx(0.9)
    assert seen[-1] == standin_item_text("pitch", "Is there a steady tone?")


def test_training_prompts_follow_the_protocol(standin, tmp_path):
    from anyaudio_eval.training.config import CorpusArguments
    from anyaudio_eval.training.data import build_tiny_corpus, load_stage_corpus

    root, sha, _ = standin
    corpus_file = build_tiny_corpus(tmp_path / "corpus", n=2)
    settings = CorpusArguments(train_file=str(corpus_file), protocol="reference", reference=str(root))
    with pytest.raises(ref.ReferenceError, match="not the pinned reference"):  # the stand-in is not pinned
        load_stage_corpus(settings, "sft", "")
    import anyaudio_eval.rubric.reference as reference_module

    pinned = reference_module.REFERENCE_SHA256
    reference_module.REFERENCE_SHA256 = sha
    try:
        corpus = load_stage_corpus(settings, "sft", "")
    finally:
        reference_module.REFERENCE_SHA256 = pinned
    sample = corpus.samples[0]
    assert sample.system_prompt().startswith("You are a test listener. Answer with a JSON array")
    assert sample.user_prompt().startswith(f"Answer these {len(sample.items)} checks:")
    plain = load_stage_corpus(CorpusArguments(train_file=str(corpus_file)), "sft", "").samples[0]
    assert plain.system_prompt() == get_protocol("anyaudio", plain.language).judge_system("generate")


@pytest.mark.slow
def test_lm_eval_pack_uses_the_protocol_prompts(standin, tmp_path):
    lm_eval = pytest.importorskip("lm_eval")
    from fixtures import balanced_bench
    from test_lmeval import FakeAudioLM

    from anyaudio_eval.lmeval import task_manager

    root, sha, _ = standin
    data = balanced_bench(tmp_path / "bench", "en", n_per_subset=2, subsets=("sound",))
    contexts: list[str] = []

    class Recording(FakeAudioLM):
        def loglikelihood(self, requests, disable_tqdm=False):
            contexts.extend(r.args[0] for r in requests)
            return super().loglikelihood(requests, disable_tqdm)

    metadata = {"dataset": str(data), "protocol": "reference", "reference": str(root), "reference_sha256": sha}
    res = lm_eval.simple_evaluate(model=Recording(), tasks=["anyaudio_judge_en"], task_manager=task_manager(metadata))
    assert res["results"]["anyaudio_judge_en"]["acc,none"] == 1.0
    assert contexts and all(c.startswith(STANDIN_LOGITS_SYSTEM) for c in contexts)
    assert any("Decide: <<音高>> 是否有一个持续的音调？" in c for c in contexts)
