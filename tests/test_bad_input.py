"""Bad input never crashes a run and never becomes a number (issue 14): one test per defect found by the
bad-input sweep. The whole-corpus test is in test_bad_input_corpus.py."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
from fixtures import balanced_bench, tone
from inspect_ai import eval
from inspect_ai.model import get_model
from judges import listening, scripted_judge

from anyaudio_eval.audio import wav_data_uri
from anyaudio_eval.bench.loaders import BenchLoad
from anyaudio_eval.bench.schema import RubricItem, SkippedRow
from anyaudio_eval.cli import main
from anyaudio_eval.judge.checklist import render_checklist
from anyaudio_eval.judge.procedure import judge_audio
from anyaudio_eval.providers.common import request_text, usage_for, yes_no_output
from anyaudio_eval.tasks.bench import bench
from anyaudio_eval.tasks.common import report_skipped
from anyaudio_eval.tasks.instruct import instruct


def test_skip_list_prints_uuids_and_reasons_with_markup_verbatim(capsys):
    load = BenchLoad(
        rows=[],
        skipped=[SkippedRow(uuid="bad-[/]-x", reason="undecodable audio: [bold]x[/] [/red]")],
        source="data/[/]",
        language="en",
    )
    report_skipped(load)
    err = capsys.readouterr().err
    assert "bad-[/]-x: undecodable audio: [bold]x[/] [/red]" in err and "data/[/]" in err


# -- empty questions ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_items_with_empty_questions_are_dropped_and_an_empty_rubric_is_unscored():
    judge = scripted_judge(listening)
    audio = wav_data_uri(tone())
    items = [
        RubricItem(question="  \n"),
        RubricItem(dimension="pitch", question="Is there a tone?"),
        RubricItem(question=""),
    ]
    result = await judge_audio(judge, audio, items)
    assert [i.question for i in result.items] == ["Is there a tone?"]
    assert result.score == pytest.approx(0.9) and result.n_dropped == 2
    assert result.score_metadata()["n_dropped"] == 2 and "2 rubric item(s) with an empty question" in render_checklist(
        result
    )

    empty = await judge_audio(judge, audio, [RubricItem(question=" "), RubricItem(question="")])
    assert empty.score is None and empty.items == []
    assert empty.error == "empty rubric: all 2 item(s) have an empty question"


# -- epochs reduce into the generator metrics ---------------------------------------------------------


def test_instruct_metrics_reduce_over_all_epochs(tmp_path):
    """Epoch 1 hears p_yes 0.9 on every item, epoch 2 hears 0.1: every metric must see both epochs."""
    items = [
        {"dimension": "gender", "question": "Is the speaker male?"},
        {"dimension": "volume", "question": "Is the voice a whisper?"},
    ]
    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps({"id": "a", "instruction": "an old man whispering", "domain": "speech", "rubric": items}) + "\n"
    )
    (tmp_path / "clips").mkdir()
    sf.write(tmp_path / "clips" / "a.wav", tone(), 16000)
    calls: Counter[str] = Counter()

    def respond(input, tools, tool_choice, config):
        text = request_text(input)
        calls[text] += 1
        return yes_no_output("mockllm/model", 0.9 if calls[text] == 1 else 0.1, config, usage_for(len(text), 1.0, 1))

    log = eval(
        instruct(instructions=str(path)),
        model=get_model(f"files/{tmp_path / 'clips'}"),
        model_roles={"judge": get_model("mockllm/model", custom_outputs=respond)},
        epochs=2,
        max_samples=1,  # epoch 1 is judged before epoch 2
        log_dir=str(tmp_path / "logs"),
        display="none",
    )[0]
    assert log.status == "success", log.error
    assert sorted(calls.values()) == [2, 2]
    m = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert m["mean"] == pytest.approx(0.5) and m["score_speech"] == pytest.approx(0.5)
    assert m["fail_rate_gender"] == pytest.approx(0.5) and m["fail_rate_volume"] == pytest.approx(0.5)
    assert m["pass_rate"] == 1.0  # the mean 0.5 passes at 0.5


# -- anyaudio report over a folder with a truncated log and foreign files -----------------------------


def test_report_skips_unreadable_and_foreign_files_with_one_line_each(tmp_path, capsys):
    data = balanced_bench(tmp_path / "b", n_per_subset=2)
    logs = tmp_path / "logs"
    eval(bench(dataset=str(data)), model=scripted_judge(listening), log_dir=str(logs), display="none")
    good = next(logs.glob("*.eval"))
    blob = good.read_bytes()
    (logs / "truncated.eval").write_bytes(blob[: len(blob) // 2])
    (logs / "notes.json").write_text(json.dumps({"hello": "world"}))
    (logs / "garbage.json").write_text("{ not json")
    assert main(["report", str(logs), "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines()[1].startswith("mockllm/model (logits),")
    skipped = [line for line in captured.err.splitlines() if "skipped" in line]
    assert len(skipped) == 3 and all("not a readable Inspect log" in line for line in skipped)
    assert {"truncated.eval", "notes.json", "garbage.json"} == {line.split(": ")[1].split("/")[-1] for line in skipped}
    assert "Traceback" not in captured.err

    # Nothing readable at all: exit 2, still one line per file.
    only_bad = tmp_path / "only-bad"
    only_bad.mkdir()
    shutil.copy(logs / "truncated.eval", only_bad)
    assert main(["report", str(only_bad)]) == 2
    assert "skipped" in capsys.readouterr().err


def test_silent_partial_nan_clip_is_not_scored_through_files(tmp_path):
    path = tmp_path / "p.jsonl"
    rubric = [{"dimension": "pitch", "question": "Is there a tone?"}]
    path.write_text(
        "\n".join(
            json.dumps({"id": i, "instruction": "a tone", "domain": "sound", "rubric": rubric}) for i in ("ok", "nan")
        )
        + "\n"
    )
    clips = tmp_path / "clips"
    clips.mkdir()
    sf.write(clips / "ok.wav", tone(), 16000)
    wav = tone()
    wav[100:200] = np.nan
    sf.write(clips / "nan.wav", wav, 16000, subtype="FLOAT")
    log = eval(
        instruct(instructions=str(path)),
        model=get_model(f"files/{clips}"),
        model_roles={"judge": scripted_judge(listening)},
        log_dir=str(tmp_path / "logs"),
        display="none",
    )[0]
    scores = {s.id: s.scores["rubric_judge"] for s in log.samples}
    assert scores["ok"].value["score"] == pytest.approx(0.9)
    assert "non-finite" in scores["nan"].explanation and "100 of 16000" in scores["nan"].explanation
    assert log.results.scores[0].unscored_samples == 1


# -- hard_answers flows from every task's arguments into the judging ----------------------------------


@pytest.mark.parametrize("task_name", ["probes", "robustness", "instruct"])
def test_hard_answers_flows_from_each_task_to_the_judge(tmp_path, task_name):
    from anyaudio_eval.tasks.probes import probes
    from anyaudio_eval.tasks.robustness import robustness

    word_judge = scripted_judge(listening, logprobs=False)
    if task_name == "instruct":
        path = tmp_path / "p.jsonl"
        rubric = [{"dimension": "pitch", "question": "Is there a tone?"}]
        path.write_text(json.dumps({"id": "a", "instruction": "a tone", "domain": "sound", "rubric": rubric}) + "\n")
        (tmp_path / "clips").mkdir()
        sf.write(tmp_path / "clips" / "a.wav", tone(), 16000)

        def run(**args):
            return eval(
                instruct(instructions=str(path), **args),
                model=get_model(f"files/{tmp_path / 'clips'}"),
                model_roles={"judge": word_judge},
                log_dir=str(tmp_path / "logs"),
                display="none",
            )[0]
    else:
        build = {"probes": lambda **a: probes(limit=4, **a), "robustness": robustness}[task_name]

        def run(**args):
            return eval(build(**args), model=word_judge, log_dir=str(tmp_path / "logs"), display="none")[0]

    default, allowed = run(), run(hard_answers="allow")
    n = len(default.samples)
    assert default.results.scores[0].unscored_samples == n  # no logprobs: nothing scored by default
    assert allowed.results.scores[0].unscored_samples == 0
    metrics = {k: v.value for k, v in allowed.results.scores[0].metrics.items()}
    assert metrics["hard_item_share"] == 1.0 and allowed.eval.metadata["hard_answers"] == "allow"


def test_wrong_task_options_are_one_message_without_a_traceback():
    from inspect_ai._util.error import PrerequisiteError

    with pytest.raises(PrerequisiteError) as info:
        bench(dataset="/nonexistent", hard_answers="alow")
    assert isinstance(info.value, ValueError)  # still what callers of check_judge_args catch
    assert info.value.message == "unknown hard_answers 'alow'; use one of: unscored, allow"
