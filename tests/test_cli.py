"""The `anyaudio` command: report tables from real logs, and judging one clip."""

from __future__ import annotations

import json

import soundfile as sf
from fixtures import balanced_bench, tone
from inspect_ai import eval
from judges import deaf, listening, scripted_judge

from anyaudio_eval.cli import main
from anyaudio_eval.tasks.bench import bench


def test_report_table_markdown_and_csv(tmp_path, capsys):
    data = balanced_bench(tmp_path / "b")
    for judge in (listening, deaf):
        eval(bench(dataset=str(data)), model=scripted_judge(judge), log_dir=str(tmp_path / "logs"), display="none")
    assert main(["report", str(tmp_path / "logs"), "--format", "markdown"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| judge | sound | music | Avg (macro) | Avg (micro) | AUROC")
    # Both logs are the same judge name on the same data: the newer run (the deaf judge) replaces the older.
    assert len(lines) == 3
    assert lines[2].split(" | ")[5] == "50.00"
    assert main(["report", str(tmp_path / "logs"), "--format", "csv", "--latest", "--threshold", "0.8"]) == 0
    header, row = capsys.readouterr().out.strip().splitlines()
    assert "Avg (macro)" in header and row.startswith("mockllm/model (logits),")


def test_report_on_a_folder_without_logs_fails_clearly(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no .eval or .json logs" in capsys.readouterr().err


def test_judge_one_clip_with_the_acoustic_judge(tmp_path, capsys):
    clip = tmp_path / "c.wav"
    sf.write(clip, tone(220, 2.0), 16000)
    rubric = tmp_path / "r.json"
    rubric.write_text(json.dumps([{"dimension": "duration", "question": "Is the clip about 2 seconds long?"}]))
    assert main(["judge", str(clip), "--rubric", str(rubric), "--prompt-language", "en", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["score"] > 0.8 and "2.00 s" in result["items"][0]["evidence"]


def test_report_reads_only_inspect_logs_from_a_folder(tmp_path, capsys):
    data = balanced_bench(tmp_path / "b")
    logs = tmp_path / "logs"
    for judge in (listening, deaf):  # the deaf judge's log is the newer one
        eval(bench(dataset=str(data)), model=scripted_judge(judge), log_dir=str(logs), display="none")
    # what else lives beside logs: Inspect's own manifest, a user's notes; the newest file is not a log
    (logs / "logs.json").write_text("{}")
    (logs / "notes.json").write_text('{"judge": "mine"}')
    assert main(["report", str(logs), "--format", "markdown", "--latest"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 3 and rows[2].startswith("| mockllm/model (logits)")
    assert rows[2].split(" | ")[5] == "50.00"  # the newest log's (deaf) Avg (micro), as in the test above
