"""The full openai-api/ path against a loopback server: audio on the wire, logprobs, fallbacks."""

from __future__ import annotations

import json
import math

import pytest
from fake_openai import FakeOpenAI, completion, text_of
from fixtures import balanced_bench
from inspect_ai import eval
from inspect_ai.model import GenerateConfig, get_model

from anyaudio_eval.tasks.bench import bench


@pytest.fixture
def bench_dir(tmp_path):
    return balanced_bench(tmp_path / "bench", n_per_subset=4)


def run(bench_dir, server, monkeypatch, **task_args):
    monkeypatch.setenv("LOCAL_API_KEY", "test")
    # Not memoized: each test's server has its own port.
    judge = get_model("openai-api/local/judge", base_url=server.base_url, memoize=False)
    log = eval(
        bench(dataset=str(bench_dir), **task_args),
        model=judge,
        log_dir=str(bench_dir / "logs"),
        display="none",
        max_retries=0,
    )[0]
    assert log.status == "success", log.error
    return log


def metrics(log):
    return {k: v.value for k, v in log.results.scores[0].metrics.items()}


def test_audio_and_logprobs_on_the_wire(bench_dir, monkeypatch):
    with FakeOpenAI() as server:
        log = run(bench_dir, server, monkeypatch)
    # 8 samples x 2 items, one request per item, each with the clip as input_audio and logprobs asked.
    assert len(server.requests) == 16
    body = server.requests[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1
    assert body["messages"][0]["role"] == "system"
    parts = body["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["input_audio", "text"]  # audio before the item text
    assert parts[0]["input_audio"]["format"] == "wav"
    m = metrics(log)
    assert m["accuracy"] == 1.0 and m["auroc"] == 1.0
    # p_yes sums the mass of all yes/no variants: exactly 0.9 or 0.2.
    items = [i for s in log.samples for i in s.scores["bench_alignment"].metadata["items"]]
    assert {round(i["p_yes"], 6) for i in items} == {0.9, 0.2}
    assert all(i["soft"] for i in items)


def _word_only(body, wav):
    return completion("Yes." if wav is not None and abs(wav).max() > 0.05 else "no")


def test_no_logprobs_leaves_items_unparsed_by_default(bench_dir, monkeypatch):
    """Never a silent 0 or 1: a one-word reply without logprobs is unparsed, with the reason."""
    with FakeOpenAI(_word_only) as server:
        log = run(bench_dir, server, monkeypatch)
    scores = [s.scores["bench_alignment"] for s in log.samples]
    assert log.results.scores[0].unscored_samples == 8
    items = [i for s in scores for i in s.metadata["items"]]
    assert all(not i["parsed"] and i["p_yes"] is None and "hard_answers=allow" in i["reason"] for i in items)
    assert "hard_answers=allow" in scores[0].metadata["error"]
    assert "hard_item_share" not in metrics(log)


def test_hard_answers_allow_keeps_them_and_reports_their_share(bench_dir, monkeypatch, caplog):
    from anyaudio_eval.scorers import metrics as metrics_module

    metrics_module._warn_once.cache_clear()
    with FakeOpenAI(_word_only) as server:
        log = run(bench_dir, server, monkeypatch, hard_answers="allow")
    items = [i for s in log.samples for i in s.scores["bench_alignment"].metadata["items"]]
    assert all(not i["soft"] and i["p_yes"] in (0.0, 1.0) for i in items)
    m = metrics(log)
    assert m["accuracy"] == 1.0 and m["hard_item_share"] == 1.0
    assert log.eval.metadata["hard_answers"] == "allow"
    # Warned, once, although Inspect computes the metrics more than once in a run.
    assert caplog.text.count("hard 0/1 answers without logprobs") == 1


@pytest.mark.parametrize(
    "logprobs",
    [{"yes": float("inf"), "no": -3.0}, {"yes": float("nan"), "no": -0.1}, {"yes": -0.1, "no": float("-inf")}],
    ids=["+inf", "nan", "-inf"],
)
def test_non_finite_logprobs_are_never_a_verdict(bench_dir, monkeypatch, logprobs):
    """Even with hard_answers=allow: a broken distribution is unparsed, never read from the other side."""
    with FakeOpenAI(lambda body, wav: completion("yes", logprobs)) as server:
        log = run(bench_dir, server, monkeypatch, hard_answers="allow", limit=2)
    items = [i for s in log.samples for i in s.scores["bench_alignment"].metadata["items"]]
    assert items and all(not i["parsed"] and "non-finite logprob" in i["reason"] for i in items)
    assert log.results.scores[0].unscored_samples == 2


def test_refusal_is_unparsed_and_unscored(bench_dir, monkeypatch):
    with FakeOpenAI(lambda body, wav: completion("I cannot listen to audio.")) as server:
        log = run(bench_dir, server, monkeypatch)
    scores = [s.scores["bench_alignment"] for s in log.samples]
    assert all(s.metadata["n_unparsed"] == 2 for s in scores)
    assert log.results.scores[0].unscored_samples == 8


def test_generate_mode_and_malformed_json(bench_dir, monkeypatch):
    def reply(body, wav):
        n = text_of(body).count("\n")
        loud = wav is not None and abs(wav).max() > 0.05
        if not loud:  # a malformed reply: never guessed into a verdict
            return completion('[{"id": 0, "answer": "no"')
        answers = [{"id": i, "answer": "yes", "evidence": "a tone"} for i in range(n)]
        return completion("```json\n" + json.dumps(answers) + ",\n```".replace(",\n```", "\n```"))

    with FakeOpenAI(reply) as server:
        log = run(bench_dir, server, monkeypatch, mode="generate", threshold=0.8)
    assert len(server.requests) == 8  # one request per sample
    assert "logprobs" not in server.requests[0] or not server.requests[0]["logprobs"]
    scores = {s.id: s.scores["bench_alignment"] for s in log.samples}
    positives = [s for s in log.samples if s.metadata["label"] == "yes"]
    assert all(scores[s.id].value["correct"] == 1.0 for s in positives)
    assert all(scores[s.id].metadata["items"][0]["evidence"] == "a tone" for s in positives)
    # Malformed answers leave the negatives unscored, not judged "no".
    assert log.results.scores[0].unscored_samples == 4


def test_eval_retry_finishes_an_interrupted_run_without_redoing_samples(bench_dir, monkeypatch):
    from inspect_ai import eval_retry

    import anyaudio_eval.judge.solver as solver_module

    judge_audio = solver_module.judge_audio
    calls = []

    async def dies_on_third_sample(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the judge server went away")
        return await judge_audio(*args, **kwargs)

    monkeypatch.setenv("LOCAL_API_KEY", "test")
    with FakeOpenAI() as server:
        monkeypatch.setattr(solver_module, "judge_audio", dies_on_third_sample)
        judge = get_model("openai-api/local/judge", base_url=server.base_url, memoize=False)
        first = eval(
            bench(dataset=str(bench_dir)), model=judge, log_dir=str(bench_dir / "logs"), display="none", max_samples=1
        )[0]
        assert first.status == "error" and "went away" in str(first.error)
        done = [s for s in first.samples if s.error is None and s.scores]
        monkeypatch.setattr(solver_module, "judge_audio", judge_audio)
        requests_before = len(server.requests)
        retried = eval_retry(first, log_dir=str(bench_dir / "logs"), display="none")[0]
    assert retried.status == "success" and len(retried.samples) == 8
    # Only the samples that had not finished are judged again (2 requests per sample: one per item).
    assert len(server.requests) - requests_before == 2 * (8 - len(done))
    assert metrics(retried)["accuracy"] == 1.0


def test_logged_audio_is_an_inline_data_uri_the_viewer_can_play(bench_dir, monkeypatch):
    from inspect_ai.log import read_eval_log

    with FakeOpenAI() as server:
        log = run(bench_dir, server, monkeypatch)
    full = read_eval_log(log.location, resolve_attachments=True)
    audio = full.samples[0].input[0].content[0]
    assert audio.type == "audio" and audio.audio.startswith("data:audio/") and audio.format == "wav"


def test_fanout_sends_one_request_per_item_but_logs_one_call_per_sample(bench_dir, monkeypatch):
    from anyaudio_eval.rubric.protocol import ITEM_BATCH_KEY

    with FakeOpenAI() as server:
        plain = run(bench_dir, server, monkeypatch)
        n_plain = len(server.requests)
        judge = get_model("fanout/judge", base_url=server.base_url, memoize=False)
        log = eval(bench(dataset=str(bench_dir)), model=judge, log_dir=str(bench_dir / "logs"), display="none")[0]
        wire = server.requests[n_plain:]
    assert log.status == "success", log.error
    # On the wire: exactly what openai-api/ sends, one request per item (messages, audio, logprobs).
    assert len(wire) == n_plain
    plain_texts = sorted(json.dumps(r["messages"], sort_keys=True) for r in server.requests[:n_plain])
    assert sorted(json.dumps(r["messages"], sort_keys=True) for r in wire) == plain_texts
    assert all(r["logprobs"] and r["top_logprobs"] == 20 and ITEM_BATCH_KEY not in r for r in wire)
    # In the log: one model call per sample, one choice per item, and the same scores.
    expected = {s.id: s.scores["bench_alignment"].metadata["score"] for s in plain.samples}
    for sample in log.samples:
        calls = [e for e in sample.events if e.event == "model"]
        assert len(calls) == 1 and len(calls[0].output.choices) == len(sample.metadata["rubric"])
        assert sample.scores["bench_alignment"].metadata["score"] == pytest.approx(expected[sample.id])


def test_fanout_server_errors_leave_the_sample_unscored(bench_dir):
    def broken(body, wav):
        return {"_status": 400, "error": {"message": "bad request"}}

    with FakeOpenAI(broken) as server:
        judge = get_model("fanout/judge", base_url=server.base_url, memoize=False)
        log = eval(bench(dataset=str(bench_dir)), model=judge, log_dir=str(bench_dir / "logs"), display="none")[0]
    assert log.status == "success", log.error
    for sample in log.samples:
        score = sample.scores["bench_alignment"]
        assert math.isnan(score.value) and "HTTP 400" in score.explanation and score.metadata["error"]


def test_fanout_spliced_bodies_are_the_json_of_each_items_full_body():
    """The shared part is serialised once per sample; each item's body is byte for byte its own full JSON."""
    from anyaudio_eval.judge.procedure import LOGITS_CONFIG, judge_messages
    from anyaudio_eval.providers.common import with_last_text
    from anyaudio_eval.providers.fanout import FanoutJudge, dump_body
    from anyaudio_eval.rubric.protocol import ITEM_BATCH_KEY

    judge = FanoutJudge("judge", base_url="http://127.0.0.1:9/v1")
    audio = "data:audio/wav;base64," + "UklGRiQAAABXQVZF" * 64
    texts = ['第1题：音频是否"清晰"？', "line\nbreak \\ and tab\t", "emoji 🎵 and \u0000 nul", "plain"]
    messages = judge_messages(audio, texts[0], "系统提示")
    config = LOGITS_CONFIG.merge(GenerateConfig(extra_body={ITEM_BATCH_KEY: texts, "top_k": 1}))
    bodies = judge.item_bodies(messages, texts, config)
    assert len(bodies) == len(texts)
    for text, body in zip(texts, bodies, strict=True):
        expected = judge._body(with_last_text(messages, text), config)
        assert body == dump_body(expected)
        assert (
            json.loads(body) == expected and json.loads(body)["top_k"] == 1 and ITEM_BATCH_KEY not in json.loads(body)
        )
    # The first item's body is that of the messages themselves; a lone request is sent as it is.
    assert json.loads(bodies[0]) == judge._body(messages, config)
    assert judge.item_bodies(messages, [], LOGITS_CONFIG) == [dump_body(judge._body(messages, LOGITS_CONFIG))]


def test_fanout_retries_overload_and_lost_connections_but_not_bad_answers():
    import asyncio

    import aiohttp

    from anyaudio_eval.providers.fanout import FanoutError, FanoutJudge, RetryableStatus

    judge = FanoutJudge("judge", base_url="http://127.0.0.1:9/v1")
    assert judge.should_retry(RetryableStatus(503)) and judge.should_retry(RetryableStatus(429))
    assert judge.should_retry(aiohttp.ServerDisconnectedError()) and judge.should_retry(asyncio.TimeoutError())
    assert not judge.should_retry(FanoutError("HTTP 400: bad request"))


def test_fanout_outside_asyncio_says_it_needs_asyncio():
    # under Inspect's trio backend there is no asyncio loop: the user is told why and what to use instead
    from anyaudio_eval.providers.fanout import FanoutJudge

    judge = FanoutJudge("judge", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(RuntimeError, match="asyncio only.*INSPECT_ASYNC_BACKEND=trio"):
        judge._client()
