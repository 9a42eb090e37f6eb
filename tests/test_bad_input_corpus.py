"""A bad-input corpus of our own (generated, seeded): one run of `inspect eval` as a user types it, over a
dataset holding every kind of bad row we know of, against a judge on a loopback OpenAI-compatible server
that misbehaves on marked items. No traceback reaches the user, no bad row or bad reply has a number, and
every good row is scored exactly."""

from __future__ import annotations

import base64
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_openai import FakeOpenAI, completion, text_of
from fixtures import encode, silence, tone, write_jsonl
from inspect_ai._util.error import PrerequisiteError
from inspect_ai.log import read_eval_log

from anyaudio_eval.tasks.bench import bench

pytestmark = pytest.mark.slow

MAX_SECONDS = 5.0
P_LOUD, P_QUIET = 0.9, 0.2
GOOD_ITEM = {"dimension": "音高", "question": "是否有一个持续的音调？", "basis": "a tone"}

# Marker in an item's question -> what the judge replies to that item.
BAD_REPLIES: dict[str, dict[str, Any]] = {
    "[[nan]]": completion("yes", {"yes": math.nan, "no": -2.0}),
    "[[+inf]]": completion("no", {"yes": math.inf, "no": -3.0}),
    "[[-inf]]": completion("yes", {"yes": -0.1, "no": -math.inf}),
    "[[no-logprobs]]": completion("Yes."),
    "[[refusal]]": completion("I", {"I": -0.1, "Sorry": -2.0}),
    "[[empty]]": completion(""),
    "[[no-choices]]": {**completion("yes"), "choices": []},
    "[[http-400]]": {"_status": 400, "error": {"message": "audio too long", "type": "invalid_request_error"}},
    "[[not-json]]": {"_raw": b"<html>bad gateway</html>"},
}


def judge_reply(body: dict[str, Any], wav: np.ndarray | None) -> dict[str, Any]:
    text = text_of(body)
    for marker, reply in BAD_REPLIES.items():
        if marker in text:
            return dict(reply)
    p = P_LOUD if wav is not None and float(np.sqrt(np.mean(wav**2))) > 0.05 else P_QUIET
    # Split over token variants as a real tokenizer does; the sum is exactly p.
    return completion(
        "yes" if p >= 0.5 else "no",
        {
            "yes": math.log(p * 0.75),
            " Yes": math.log(p * 0.25),
            "no": math.log((1 - p) * 0.75),
            " No": math.log((1 - p) * 0.25),
        },
    )


def item(question: str) -> dict[str, str]:
    return {"dimension": "d", "question": question, "basis": ""}


def build_corpus(root: Path, rng: np.random.Generator) -> tuple[Path, dict[str, float], dict[str, str], set[str]]:
    """(manifest, good uuid -> exact score, bad row uuid -> expected reason, bad-reply uuids)."""
    audios = root / "audios"
    audios.mkdir(parents=True)
    outside = root.parent / "outside.wav"
    outside.write_bytes(encode(tone()))

    def file(name: str, data: bytes) -> str:
        (audios / name).write_bytes(data)
        return f"audios/{name}"

    loud = [file(f"loud{i}.wav", encode(tone(200 + 60 * i, seconds=0.5 + rng.uniform(0, 0.5)))) for i in range(4)]
    quiet = file("quiet.wav", encode(silence(0.5) + rng.normal(0, 1e-4, 8000).astype(np.float32)))
    partial_nan = tone()
    partial_nan[rng.choice(len(partial_nan), 37, replace=False)] = np.nan
    (audios / "link.wav").symlink_to(outside)

    def r(uuid: Any, audio: Any, rubric: Any = None, **kw: Any) -> dict[str, Any]:
        out = {
            "uuid": uuid,
            "audio": audio,
            "caption": kw.pop("caption", "a steady tone"),
            "label": kw.pop("label", "yes"),
            "type": kw.pop("type", "pos"),
            "subset": kw.pop("subset", "sound"),
            "rubric": [GOOD_ITEM] if rubric is None else rubric,
        }
        return {k: v for k, v in {**out, **kw}.items() if v is not ...}

    good: dict[str, float] = {}
    rows = []

    def add_good(row: dict[str, Any], score: float) -> None:
        rows.append(row)
        good[str(row["uuid"])] = score

    add_good(r("loud-0", loud[0]), P_LOUD)
    add_good(r("quiet-0", quiet, label="no", type="neg_swap"), P_QUIET)
    add_good(r("b64-string", {"bytes": base64.b64encode(encode(tone(330))).decode(), "path": "x.wav"}), P_LOUD)
    add_good(
        r("control-chars", loud[1], caption="a tone\x00\x07\x1b[31m\u202e\ufeff", rubric=[item("音调？\x00\t\x1b")]),
        P_LOUD,
    )
    add_good(r("huge-rubric", loud[2], rubric=[item(f"第{i}个特征？") for i in range(40)]), P_LOUD)
    add_good(r("long-question", loud[3], rubric=[item("很" * 100_000 + "响吗？")]), P_LOUD)
    add_good(r("one-empty-question", loud[0], rubric=[item(""), item("   "), GOOD_ITEM]), P_LOUD)
    add_good(r("dup", loud[1]), P_LOUD)  # the first row of a uuid is kept
    add_good(r("good-[/]-[bold]", loud[2]), P_LOUD)  # markup in an id that is judged
    # A bad reply on one item of two: the sample is scored on the other item only.
    add_good(r("one-bad-reply", loud[2], rubric=[item("[[nan]] 音调？"), GOOD_ITEM]), P_LOUD)

    bad: dict[str, str] = {}

    def add_bad(row: dict[str, Any], reason: str) -> None:
        rows.append(row)
        bad[str(row["uuid"])] = reason

    add_bad(r("zero-byte", file("zero.wav", b"")), "undecodable")
    add_bad(r("truncated", file("trunc.wav", encode(tone())[:44])), "")
    add_bad(r("random-bytes", file("random.wav", rng.bytes(4096))), "undecodable")
    add_bad(r("text-as-mp3", file("notes.mp3", b"ID3 this is a text file\n" * 40)), "undecodable")
    add_bad(r("traversal", "../outside.wav"), "escapes the dataset root")
    add_bad(r("symlink-out", "audios/link.wav"), "escapes the dataset root")
    add_bad(r("missing-file", "audios/nope.wav"), "not found")
    add_bad(r("bad-[/]-x", file("markup.wav", b"\x00" * 100)), "")
    add_bad(
        r("partial-nan", file("nan.wav", encode(partial_nan, subtype="FLOAT"))),
        "non-finite (NaN/inf) samples: 37 of 16000",
    )
    add_bad(r("too-long", file("long.wav", encode(tone(seconds=MAX_SECONDS + 1)))), "over the limit")
    add_bad(r("bad-b64", {"bytes": "%%% not base64 %%%", "path": "y.wav"}), "not base64")
    add_bad(r("unknown-subset", loud[0], subset="speach"), "unknown subset 'speach'")
    add_bad(r("unknown-type", loud[0], type="positive"), "unknown type 'positive'")
    add_bad(r("bad-label", loud[0], label="maybe"), "unknown label")
    add_bad(r("bad-rubric", loud[0], rubric=42), "invalid rubric")
    add_bad(r("dup", loud[0]), "duplicate uuid")
    rows.append(r(..., loud[0]))  # no uuid at all: named by its row number

    bad_replies = set()
    for marker in BAD_REPLIES:
        uuid = f"reply-{marker.strip('[]')}"
        rows.append(r(uuid, loud[3], rubric=[item(f"{marker} 音调？")]))
        bad_replies.add(uuid)
    rows.append(r("reply-all-empty-questions", loud[3], rubric=[item(""), item(" \n")]))
    bad_replies.add("reply-all-empty-questions")

    rng.shuffle(rows)  # seeded: good and bad rows interleave
    bad[f"row-{next(i for i, row in enumerate(rows) if 'uuid' not in row)}"] = "missing field(s): uuid"
    return write_jsonl(root / "en.jsonl", rows), good, bad, bad_replies


def inspect_eval(args: list[str], server: FakeOpenAI, log_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOCAL_API_KEY": "test", "LOCAL_BASE_URL": server.base_url, "NO_COLOR": "1"}
    command = [
        sys.executable,
        "-m",
        "inspect_ai",
        "eval",
        "anyaudio_eval/bench",
        *args,
        "--model",
        "openai-api/local/judge",
    ]
    command += ["--log-dir", str(log_dir), "--max-retries", "0", "--display", "plain"]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def test_bad_input_corpus_never_crashes_never_becomes_a_number(tmp_path):
    manifest, good, bad, bad_replies = build_corpus(tmp_path / "data", np.random.default_rng(14))
    with FakeOpenAI(judge_reply) as server:
        run = inspect_eval(["-T", f"dataset={manifest}", "-T", f"max_seconds={MAX_SECONDS}"], server, tmp_path / "logs")
        output = run.stdout + run.stderr
        assert run.returncode == 0, output
        assert "Traceback" not in output

        [log_file] = list((tmp_path / "logs").glob("*.eval"))
        log = read_eval_log(str(log_file))
        assert log.status == "success", log.error
        scores = {str(s.id): s.scores["bench_alignment"] for s in log.samples}

        # Every good row is scored, exactly.
        for uuid, expected in good.items():
            assert scores[uuid].metadata["score"] == pytest.approx(expected, abs=1e-9), uuid
            assert scores[uuid].value["correct"] == 1.0, uuid  # and the decision at 0.5 is right
        assert scores["one-empty-question"].metadata["n_dropped"] == 2
        mixed = scores["one-bad-reply"].metadata["items"]
        assert (
            mixed[0]["p_yes"] is None
            and "non-finite" in mixed[0]["reason"]
            and mixed[1]["p_yes"] == pytest.approx(P_LOUD)
        )

        # Every bad row is skipped with its reason, listed to the user and in the log, never scored.
        skipped = {s["uuid"]: s["reason"] for s in log.eval.metadata["dataset"]["skipped_rows"]}
        for uuid, reason in bad.items():
            assert uuid in skipped and reason in skipped[uuid], (uuid, skipped.get(uuid))
            assert uuid not in scores or uuid == "dup"
            assert f"{uuid}: " in output
        assert set(scores) == set(good) | bad_replies

        # Every bad reply leaves its sample unscored with a reason, and no item of it has a number.
        for uuid in bad_replies:
            score = scores[uuid]
            assert math.isnan(score.value) and score.metadata.get("score") is None and score.metadata.get("error"), uuid
            assert all(i["p_yes"] is None and not i["parsed"] for i in score.metadata["items"]), uuid
        assert log.results.scores[0].unscored_samples == len(bad_replies)
        # The metrics count the good rows only: all positives but quiet-0 score >= 0.5 and are right.
        metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}
        assert metrics["accuracy"] == 1.0

    # A dataset in which no row is usable: one message counting the reasons, which Inspect prints without a
    # traceback (a PrerequisiteError; checked in-process, as a second `inspect eval` costs seconds to start).
    only_bad = write_jsonl(tmp_path / "only-bad" / "en.jsonl", [{"uuid": "a", "caption": "c"}, {"uuid": "b"}])
    with pytest.raises(PrerequisiteError) as info:
        bench(dataset=str(only_bad))
    assert "no usable rows" in info.value.message and "2 x missing field" in info.value.message
