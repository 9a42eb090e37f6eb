"""Scores whose values reduce: epochs reduce into every metric, a log re-scores, and logs written before the
value held the score still read in `anyaudio report`."""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict

import pytest
import soundfile as sf
from fixtures import balanced_bench, tone
from inspect_ai import eval, score
from inspect_ai.log import EvalLog, read_eval_log, write_eval_log
from inspect_ai.model import get_model
from judges import listening, scripted_judge

from anyaudio_eval.cli import main
from anyaudio_eval.leaderboard import leaderboard as rank_generators
from anyaudio_eval.leaderboard import leaderboard_tables, summarise_generator_log
from anyaudio_eval.providers.common import request_text, usage_for, yes_no_output
from anyaudio_eval.report import summarise_log, table_rows
from anyaudio_eval.scorers.bench_scorer import bench_alignment
from anyaudio_eval.tasks.bench import bench
from anyaudio_eval.tasks.instruct import instruct

# Per question, the P(yes) of its first and second judgment: every epoch hears something else.
P_YES = {
    "Is the speaker male?": (0.9, 0.3),
    "Is the voice a whisper?": (0.8, 0.6),
    "Is there a bell?": (0.7, 0.1),
}
ROWS = [
    {"id": "a", "instruction": "an old man whispering", "domain": "speech", "rubric": [
        {"dimension": "gender", "question": "Is the speaker male?"},
        {"dimension": "volume", "question": "Is the voice a whisper?"}]},
    {"id": "b", "instruction": "a bell", "domain": "sound", "rubric": [
        {"dimension": "timbre", "question": "Is there a bell?"}]},
    {"id": "gone", "instruction": "rain", "domain": "sound", "rubric": [
        {"dimension": "timbre", "question": "Is it raining?"}]},
]  # fmt: skip


def metrics_of(log: EvalLog) -> dict[str, float]:
    return {k: v.value for k, v in log.results.scores[0].metrics.items()}


def two_epoch_instruct(tmp_path) -> EvalLog:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    (tmp_path / "clips").mkdir()
    for i in ("a", "b"):  # no clip for "gone": unscored in both epochs
        sf.write(tmp_path / "clips" / f"{i}.wav", tone(), 16000)
    calls: Counter[str] = Counter()

    def respond(input, tools, tool_choice, config):
        text = request_text(input)
        question = next(q for q in P_YES if q in text)
        calls[question] += 1
        p = P_YES[question][min(calls[question], 2) - 1]
        return yes_no_output("mockllm/model", p, config, usage_for(len(text), 1.0, 1))

    log = eval(
        instruct(instructions=str(path)),
        model=get_model(f"files/{tmp_path / 'clips'}"),
        model_roles={"judge": get_model("mockllm/model", custom_outputs=respond)},
        epochs=2,
        log_dir=str(tmp_path / "logs"),
        display="none",
    )[0]
    assert log.status == "success", log.error
    return log


def test_instruct_generator_metrics_are_means_over_both_epochs(tmp_path):
    log = two_epoch_instruct(tmp_path)
    # Independently: each epoch's logged score, per sample, and each epoch's item verdicts.
    per_epoch: dict[str, list[float]] = defaultdict(list)
    verdicts: dict[str, list[float]] = defaultdict(list)
    for sample in log.samples:
        value = sample.scores["rubric_judge"].value
        if isinstance(value, float) and math.isnan(value):
            continue
        per_epoch[str(sample.id)].append(value["score"])
        for item in sample.scores["rubric_judge"].metadata["items"]:
            verdicts[item["dimension"]].append(float(item["p_yes"] < 0.5))
    assert {k: len(v) for k, v in per_epoch.items()} == {"a": 2, "b": 2}
    assert per_epoch["a"][0] != per_epoch["a"][1] and per_epoch["b"][0] != per_epoch["b"][1]
    mean_of = {k: statistics.mean(v) for k, v in per_epoch.items()}

    m = metrics_of(log)
    assert m["mean"] == pytest.approx(statistics.mean(mean_of.values()))
    assert m["stderr"] == pytest.approx(statistics.stdev(mean_of.values()) / math.sqrt(2))
    assert m["score_speech"] == pytest.approx(mean_of["a"]) and m["score_sound"] == pytest.approx(mean_of["b"])
    assert m["pass_rate"] == sum(v >= 0.5 for v in mean_of.values()) / 2
    for dimension, fails in verdicts.items():
        assert len(fails) == 2 * sum(i["dimension"] == dimension for r in ROWS[:2] for i in r["rubric"])
        assert m[f"fail_rate_{dimension}"] == pytest.approx(statistics.mean(fails))
    assert log.results.scores[0].unscored_samples == 1  # never a 0: left out of every number

    # The reduced scores the log records are those means; the leaderboard reads them.
    [reduction] = log.reductions
    reduced = {str(s.sample_id): s for s in reduction.samples}
    assert reduced["a"].value["score"] == pytest.approx(mean_of["a"]) == reduced["a"].metadata["score"]
    assert sorted(reduced["a"].metadata["epoch_scores"]) == sorted(per_epoch["a"])
    assert math.isnan(reduced["gone"].value)
    summary = summarise_generator_log(log.location)
    assert summary.scores == pytest.approx(mean_of) and summary.unscored == 1


def test_a_bench_log_rescores_to_the_same_metrics(tmp_path):
    data = balanced_bench(tmp_path / "b", n_per_subset=4)
    log = eval(bench(dataset=str(data)), model=scripted_judge(listening), epochs=2, log_dir=str(tmp_path / "logs"),
               display="none")[0]  # fmt: skip
    assert log.status == "success", log.error
    assert log.eval.config.epochs_reducer == ["bench_epochs"]  # re-created by name when re-scored
    again = score(log, bench_alignment(threshold=0.5), action="overwrite", display="none")
    before, after = metrics_of(log), metrics_of(again)
    assert before.keys() == after.keys() and list(after)[:3] == ["accuracy", "macro_accuracy", "auroc"]
    assert all(after[k] == pytest.approx(v, nan_ok=True) for k, v in before.items())
    assert after["epoch_score_range_max"] == 0.0  # the reducer ran again: every epoch's score is kept


def _old_shaped(log: EvalLog, scorer: str, value_of) -> EvalLog:
    """The same log as the project wrote it before the value held every number: `value_of(score)` as the value,
    the score in the metadata."""
    old = log.model_copy(deep=True)
    scores = [s.scores[scorer] for s in old.samples or []]
    scores += [s for r in old.reductions or [] if r.scorer == scorer for s in r.samples]
    for s in scores:
        if isinstance(s.value, dict):
            s.value = value_of(s)
    return old


def test_logs_written_before_the_value_held_the_score_still_report(tmp_path, capsys):
    data = balanced_bench(tmp_path / "b", n_per_subset=4)
    judge = scripted_judge(listening)
    [log] = eval(bench(dataset=str(data)), model=judge, log_dir=str(tmp_path / "new"), display="none")
    # The first bench logs: the value was the 0/1 correctness, the score only in the metadata.
    old = _old_shaped(log, "bench_alignment", lambda s: s.value["correct"])
    (tmp_path / "old").mkdir()
    write_eval_log(old, str(tmp_path / "old" / "old.eval"))
    assert read_eval_log(str(tmp_path / "old" / "old.eval")).samples[0].scores["bench_alignment"].value in (0.0, 1.0)
    assert table_rows([summarise_log(tmp_path / "old" / "old.eval")]) == table_rows([summarise_log(log.location)])
    assert main(["report", str(tmp_path / "new"), "--format", "csv"]) == 0
    new_table = capsys.readouterr().out
    assert main(["report", str(tmp_path / "old"), "--format", "csv"]) == 0
    assert capsys.readouterr().out == new_table

    # rubric_judge logs: the score was the scalar value.
    generated = two_epoch_instruct(tmp_path / "gen")
    old = _old_shaped(generated, "rubric_judge", lambda s: s.value["score"])
    write_eval_log(old, str(tmp_path / "old-instruct.eval"))
    paths = (generated.location, tmp_path / "old-instruct.eval")
    boards = [rank_generators([summarise_generator_log(p)]) for p in paths]
    assert leaderboard_tables(boards[0]) == leaderboard_tables(boards[1])
