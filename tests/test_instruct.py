"""Scoring generators: decomposition, the rubric_judge scorer, generator providers, the instruct task."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fixtures import tone
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import get_model
from judges import listening, reply_judge, scripted_judge

from anyaudio_eval.providers.common import request_text
from anyaudio_eval.rubric.decompose import decompose
from anyaudio_eval.scorers.rubric_judge import rubric_judge
from anyaudio_eval.tasks.instruct import instruct

ITEMS = [
    {"dimension": "gender", "question": "Is the speaker male?", "basis": "old man"},
    {"dimension": "volume", "question": "Is the voice a whisper?", "basis": "whispering"},
]


class Decomposer:
    """Scripted decomposer: answers decomposition and cleaning requests, counting calls."""

    def __init__(self, replies=None, clean_reply='{"results": []}'):
        self.replies = list(replies or [json.dumps({"items": ITEMS})])
        self.clean_reply = clean_reply
        self.calls = 0

    def __call__(self, text: str) -> str:
        self.calls += 1
        if "\nQuestions:" in text:
            return self.clean_reply
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def model(self):
        return reply_judge(self)


def write_instructions(path: Path, rows) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def clips_dir(tmp_path: Path, ids, silent=()) -> Path:
    folder = tmp_path / "clips"
    folder.mkdir(exist_ok=True)
    for i in ids:
        sf.write(folder / f"{i}.wav", np.zeros(16000, np.float32) if i in silent else tone(), 16000)
    return folder


def scores_of(log):
    return {s.id: s.scores["rubric_judge"] for s in log.samples}


# -- decomposition ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_decompose_parses_fenced_chinese_keys_and_caches(tmp_path):
    reply = '```json\n{"判断题列表": [{"维度": "性别", "题目": "说话人是否为男性？", "依据": "老人"},]}\n```'
    dec = Decomposer([reply])
    first = await decompose(dec.model(), "一位疲惫的老人低声说话", "speech", "zh", cache_directory=tmp_path)
    assert [i.question for i in first.items] == ["说话人是否为男性？"] and first.items[0].dimension == "性别"
    calls = dec.calls
    again = await decompose(dec.model(), "一位疲惫的老人低声说话", "speech", "zh", cache_directory=tmp_path)
    assert again.cached and dec.calls == calls  # no new decomposer call
    other = await decompose(dec.model(), "一位疲惫的老人低声说话", "speech", "en", cache_directory=tmp_path)
    assert not other.cached  # the rubric language is part of the key


@pytest.mark.anyio
async def test_malformed_reply_is_retried_once_then_reported(tmp_path):
    dec = Decomposer(["not json at all", json.dumps({"items": ITEMS})])
    ok = await decompose(dec.model(), "a tired old man whispering", "speech", "en", cache_directory=tmp_path)
    assert len(ok.items) == 2 and ok.notes
    bad = Decomposer(["nope", "still nope"])
    failed = await decompose(bad.model(), "another caption", "speech", "en", cache_directory=tmp_path)
    assert failed.error and not failed.items
    assert bad.calls == 2


@pytest.mark.anyio
async def test_cleaning_that_removes_everything_falls_back_to_holistic(tmp_path):
    dec = Decomposer(clean_reply='{"results": [{"id": 0, "judgment": "remove"}, {"id": 1, "judgment": "remove"}]}')
    result = await decompose(dec.model(), "rain on a tin roof", "sound", "en", cache_directory=tmp_path)
    assert result.holistic_fallback and len(result.removed) == 2
    assert [i.question for i in result.items] == ["rain on a tin roof"]


# -- the instruct task with the files and command generators --------------------------------------


def test_files_generator_scores_and_missing_audio_is_unscored(tmp_path):
    rows = [
        {"id": "a", "instruction": "a tired old man whispering", "domain": "speech"},
        {"id": "b", "instruction": "a loud bell", "domain": "sound"},
        {"id": "missing", "instruction": "rain", "domain": "sound"},
    ]
    path = write_instructions(tmp_path / "prompts.jsonl", rows)
    folder = clips_dir(tmp_path, ["a", "b"], silent=["b"])
    log = eval(
        instruct(instructions=str(path)),
        model=get_model(f"files/{folder}"),
        model_roles={"judge": scripted_judge(listening), "decomposer": Decomposer().model()},
        log_dir=str(tmp_path / "logs"),
        display="none",
    )[0]
    assert log.status == "success", log.error
    scores = scores_of(log)
    assert scores["a"].value["score"] == pytest.approx(0.9) and scores["b"].value["score"] == pytest.approx(0.2)
    assert "no clip for sample 'missing'" in scores["missing"].explanation
    metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert metrics["score_speech"] == pytest.approx(0.9) and metrics["score_sound"] == pytest.approx(0.2)
    assert metrics["pass_rate"] == 0.5
    # Both dimensions failed on the silent clip only: fail rate 1/2 each.
    assert metrics["fail_rate_gender"] == 0.5 and metrics["fail_rate_volume"] == 0.5
    assert log.results.scores[0].unscored_samples == 1


TTS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, soundfile as sf
    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    if args["--style"] == "fail":
        sys.stderr.write("model weights not found\\n")
        sys.exit(3)
    with open(args["--log"], "a") as f:
        f.write(json.dumps(sys.argv[1:]) + "\\n")
    t = np.arange(16000) / 16000
    sf.write(args["--out"], 0.3 * np.sin(2 * np.pi * 300 * t), 16000)
    """
)


def test_command_generator_passes_metacharacters_verbatim(tmp_path):
    script = tmp_path / "tts.py"
    script.write_text(TTS_SCRIPT)
    argv_log = tmp_path / "argv.jsonl"
    canary = tmp_path / "pwned"
    nasty = f'calm; touch {canary} && echo $(whoami) | cat > /dev/null `id` "quoted" {{text}}'
    rows = [
        {"id": "x", "instruction": nasty, "text": "hello there", "domain": "speech", "rubric": ITEMS},
        {"id": "y", "instruction": "fail", "text": "boom", "domain": "speech", "rubric": ITEMS},
    ]
    path = write_instructions(tmp_path / "prompts.jsonl", rows)
    cmd = f"{sys.executable} {script} --text {{text}} --style {{instruction}} --out {{out}} --log {argv_log}"
    log = eval(
        instruct(instructions=str(path)),
        model=get_model("command/my-tts", cmd=cmd, cache=False),
        model_roles={"judge": scripted_judge(listening)},
        log_dir=str(tmp_path / "logs"),
        display="none",
    )[0]
    assert log.status == "success", log.error
    recorded = [json.loads(line) for line in argv_log.read_text().splitlines()]
    assert len(recorded) == 1
    argv = dict(zip(recorded[0][0::2], recorded[0][1::2], strict=True))
    assert argv["--style"] == nasty and argv["--text"] == "hello there"
    assert not canary.exists()
    scores = scores_of(log)
    assert scores["x"].value["score"] == pytest.approx(0.9)
    assert "exited with 3" in scores["y"].explanation and "model weights not found" in scores["y"].explanation


def test_generated_audio_is_cached(tmp_path):
    script = tmp_path / "tts.py"
    script.write_text(TTS_SCRIPT)
    argv_log = tmp_path / "argv.jsonl"
    path = write_instructions(tmp_path / "p.jsonl", [{"id": "c", "instruction": "calm", "text": "hi", "rubric": ITEMS}])
    cmd = f"{sys.executable} {script} --text {{text}} --style {{instruction}} --out {{out}} --log {argv_log}"
    for _ in range(2):
        log = eval(
            instruct(instructions=str(path)),
            model=get_model("command/cached-tts", cmd=cmd, memoize=False),
            model_roles={"judge": scripted_judge(listening)},
            log_dir=str(tmp_path / "logs"),
            display="none",
        )[0]
        assert log.status == "success"
    assert len(argv_log.read_text().splitlines()) == 1  # the second run re-scored without generating


def test_missing_judge_role_names_the_flag(tmp_path):
    path = write_instructions(tmp_path / "p.jsonl", [{"id": "a", "instruction": "a bell", "rubric": ITEMS}])
    folder = clips_dir(tmp_path, ["a"])
    task = instruct(instructions=str(path))
    log = eval(task, model=get_model(f"files/{folder}"), log_dir=str(tmp_path / "logs"), display="none")[0]
    assert log.status == "error"
    assert "--model-role judge=" in str(log.error)


def test_user_task_uses_rubric_judge_in_two_lines(tmp_path):
    clip = tmp_path / "clip.wav"
    sf.write(clip, tone(), 16000)
    task = Task(
        dataset=[
            Sample(id="s", input="a steady tone", metadata={"audio": str(clip), "rubric": ITEMS, "domain": "sound"})
        ],
        solver=[],
        scorer=rubric_judge(audio_field="audio"),
    )
    log = eval(
        task,
        model=scripted_judge(listening),
        model_roles={"judge": scripted_judge(listening)},
        display="none",
        log_dir=str(tmp_path / "logs"),
    )[0]
    assert log.status == "success", log.error
    assert log.samples[0].scores["rubric_judge"].value["score"] == pytest.approx(0.9)


@pytest.mark.slow
def test_cli_instruct_with_acoustic_judge(tmp_path):
    script = tmp_path / "tts.py"
    script.write_text(TTS_SCRIPT)
    rows = [
        {
            "id": "t1",
            "instruction": "a steady tone",
            "text": "x",
            "domain": "sound",
            "rubric": [{"dimension": "duration", "question": "Is the clip about 1 second long?"}],
        }
    ]
    path = write_instructions(tmp_path / "p.jsonl", rows)
    cmd = f"{sys.executable} {script} --text {{text}} --style {{instruction}} --out {{out}} --log {tmp_path / 'a.log'}"
    inspect = Path(sys.executable).parent / "inspect"
    proc = subprocess.run(
        [
            str(inspect),
            "eval",
            "anyaudio_eval/instruct",
            "-T",
            f"instructions={path}",
            "--model",
            "command/my-tts",
            "-M",
            f"cmd={cmd}",
            "--model-role",
            "judge=acoustic/default",
            "--log-dir",
            str(tmp_path / "logs"),
            "--display",
            "plain",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "rubric_judge" in proc.stdout


def test_reward_function_uses_the_same_procedure():
    import asyncio

    from anyaudio_eval.reward import alignment_reward_async

    result = asyncio.run(alignment_reward_async(tone(seconds=2.0), rubric=ITEMS, judge=scripted_judge(listening)))
    assert result.score == pytest.approx(0.9) and len(result.items) == 2
    quiet = asyncio.run(
        alignment_reward_async(np.zeros(32000, np.float32), rubric=ITEMS, judge=scripted_judge(listening))
    )
    assert quiet.score == pytest.approx(0.2)


def test_decomposer_text_reaches_the_model():
    seen = []

    def reply(text):
        seen.append(text)
        return json.dumps({"items": ITEMS})

    import asyncio

    asyncio.run(
        decompose(reply_judge(reply), "a slow waltz on solo piano", "music", "en", clean=False, use_cache=False)
    )
    assert seen == ["Description:\na slow waltz on solo piano"]
    assert request_text  # imported helper is the one providers use


def test_rubric_judge_grounding_flags_a_deaf_judge(tmp_path):
    from judges import deaf

    clip = tmp_path / "clip.wav"
    sf.write(clip, tone(), 16000)
    samples = [Sample(id=f"s{i}", input="a tone", metadata={"audio": str(clip), "rubric": ITEMS}) for i in range(4)]
    for judge, gap in ((scripted_judge(listening), 0.7), (scripted_judge(deaf), 0.0)):
        task = Task(dataset=samples, solver=[], scorer=rubric_judge(audio_field="audio", grounding=1.0))
        log = eval(task, model=judge, model_roles={"judge": judge}, display="none", log_dir=str(tmp_path / "logs"))[0]
        metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}
        assert metrics["grounding_samples"] == 4
        assert metrics["grounding_gap_silence"] == pytest.approx(gap)
