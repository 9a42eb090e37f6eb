"""What a person sees: verdicts that say what went wrong, headline metrics first, a CLI that guesses right."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf
from inspect_ai import eval

from anyaudio_eval.cli import main
from anyaudio_eval.judge.checklist import LEGEND, render_checklist
from anyaudio_eval.judge.procedure import ItemVerdict, JudgeResult
from anyaudio_eval.tasks.probes import probes


def _item(i, p_yes, gold=None, parsed=True, answer=None):
    answer = answer or (
        "yes" if p_yes is not None and p_yes > 0.5 else "no" if p_yes is not None and p_yes < 0.5 else None
    )
    return ItemVerdict(id=i, dimension="pitch", question=f"q{i}?", p_yes=p_yes, answer=answer, parsed=parsed, soft=True,
                       gold=gold, reason="" if parsed else "no logprobs")  # fmt: skip


def test_wrong_items_come_first_and_an_abstention_is_never_a_yes():
    result = JudgeResult(
        mode="logits",
        prompt_language="en",
        score=0.55,
        items=[
            _item(0, 0.9, gold="yes"),
            _item(1, 0.5, gold="no"),
            _item(2, 0.72, gold="no"),
            _item(3, None, parsed=False),
            _item(4, 0.2),
        ],
    )
    text = render_checklist(result, threshold=0.5, label="no")
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert lines[0].startswith("- ✗ #2 [pitch] q2? — **yes** (p_yes 0.72), gold no")
    assert lines[1].startswith("- ? #3") and "unparsed: no logprobs" in lines[1]
    assert lines[2].startswith("- ~ #1") and "**abstain** (p_yes 0.50)" in lines[2] and "**yes**" not in lines[2]
    assert lines[3].startswith("- ◦ #4") and lines[4].startswith("- ✓ #0")
    assert LEGEND in text
    assert text.startswith("**score 0.550 → match at threshold 0.5; label no: WRONG**")
    dumped = result.model_dump()["items"]
    assert dumped[1]["verdict"] == "abstain" and dumped[1]["answer"] is None and dumped[1]["correct"] is None
    assert dumped[2]["verdict"] == "yes" and dumped[2]["correct"] is False


def test_probe_log_shows_score_subset_verdicts_and_headline_metrics(tmp_path):
    log = eval(
        probes(language="en", subsets="speech,music", limit=6),
        model="acoustic/default",
        log_dir=str(tmp_path),
        display="none",
    )[0]
    assert log.status == "success", log.error
    metrics = log.results.scores[0].metrics
    assert list(metrics)[:3] == ["accuracy", "macro_accuracy", "auroc"]  # what the viewer's header shows first
    groups = {m.group for m in metrics.values()}
    assert {"bench_metrics", "by_subset", "by_type", "item_metrics"} <= groups
    assert {"acc_speech", "acc_pos"} <= metrics.keys() and all(" " not in k for k in metrics)
    abstained = 0
    for sample in log.samples:
        score = sample.scores["bench_alignment"]
        assert set(score.value) == {"correct", "score"} and score.value["score"] == score.metadata["score"]
        assert score.answer.endswith(f"({sample.metadata['subset']})")
        verdicts = sample.messages[-1].text  # the transcript's last assistant message: the checklist
        assert verdicts == score.explanation and "p_yes" in verdicts and "gold" in verdicts
        for item in score.metadata["items"]:
            if item["verdict"] == "abstain":
                abstained += 1
                assert f"~ #{item['id']} " in verdicts
        # The judge's own reply to an abstained item says so.
        for event in sample.events:
            if event.event == "model" and event.output.choices:
                top = event.output.choices[0].logprobs.content[0].top_logprobs
                p = {t.token: t.logprob for t in top}
                if abs(p["yes"] - p["no"]) < 1e-9:
                    assert event.output.completion == "abstain"
    assert abstained > 0  # the acoustic judge abstains on what it cannot measure


def test_the_clip_is_logged_once_per_sample(tmp_path):
    from inspect_ai.log import read_eval_log

    log = eval(probes(language="en", subsets="speech", limit=2), model="acoustic/default",
               log_dir=str(tmp_path), display="none")[0]  # fmt: skip
    raw = read_eval_log(log.location, resolve_attachments=False)
    for sample in raw.samples:
        text = sample.model_dump_json()
        n_items = len(sample.metadata["rubric"])
        assert n_items > 1 and text.count("data:audio") == 1  # one copy, however many items were judged


def test_cli_languages_follow_the_rubric_and_the_last_line_says_right_or_wrong(tmp_path, capsys):
    clip = tmp_path / "c.wav"
    sf.write(clip, 0.3 * np.sin(2 * np.pi * 220 * np.arange(32_000) / 16_000), 16_000)
    rubric = tmp_path / "r.json"
    rubric.write_text(json.dumps([{"dimension": "duration", "question": "Is the clip about 2 seconds long?"}]))
    assert main(["judge", str(clip), "--rubric", str(rubric), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["prompt_language"] == "en"  # an English rubric: English prompts
    assert main(["judge", str(clip), "--rubric", str(rubric), "--label", "no"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("score 0.9") and last.endswith("match at threshold 0.5; label no: WRONG")
    zh = tmp_path / "zh.json"
    zh.write_text(json.dumps([{"dimension": "时长", "question": "音频时长约为两秒吗？"}], ensure_ascii=False))
    assert main(["judge", str(clip), "--rubric", str(zh), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["prompt_language"] == "zh"


def test_cli_caption_alone_says_what_to_pass(tmp_path, capsys):
    clip = tmp_path / "c.wav"
    sf.write(clip, np.zeros(16_000, np.float32), 16_000)
    assert main(["judge", str(clip), "--caption", "a calm voice"]) == 2
    err = capsys.readouterr().err
    assert "--rubric" in err and "--decomposer" in err and "--mode holistic" in err
    assert main(["judge", str(clip), "--caption", "a calm voice", "--mode", "holistic"]) in (0, 1)
