"""Sharded runs (`-T shard=k/n`): a stable split by uuid, and `anyaudio report` merging the shards into one row."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from fixtures import balanced_bench, embedded, row, write_parquet
from inspect_ai import eval
from inspect_ai.log import read_eval_log
from judges import scripted_judge

from anyaudio_eval.bench.loaders import DatasetError, load_bench
from anyaudio_eval.cli import main
from anyaudio_eval.leaderboard import GeneratorSummary, leaderboard
from anyaudio_eval.shards import ShardError, launch, parse_shard, shard_commands, shard_of
from anyaudio_eval.tasks.bench import bench


def test_shards_cover_every_uuid_exactly_once_and_are_stable():
    uuids = [f"row-{i}" for i in range(3000)]
    for n in (1, 2, 3, 7):
        shards = [{u for u in uuids if parse_shard(f"{k}/{n}").keeps(u)} for k in range(1, n + 1)]  # type: ignore[union-attr]
        assert sum(len(s) for s in shards) == len(uuids) and set().union(*shards) == set(uuids)
        assert min(map(len, shards)) > 0.8 * len(uuids) / n  # roughly even
    # sha256, not Python's salted hash(): the same shard in every process, machine and version.
    assert [shard_of(u, 4) for u in ("a", "b", "sound-0")] == [3, 3, 2]  # pinned: changing it breaks merging


@pytest.mark.parametrize("spec", ["0/2", "3/2", "1/0", "half", "1-2"])
def test_bad_shard_specs_fail_at_start(tmp_path, spec):
    with pytest.raises(DatasetError, match="shard"):
        load_bench(str(balanced_bench(tmp_path / "b")), shard=spec)


def test_an_empty_shard_fails_at_start_saying_why(tmp_path):
    data = str(balanced_bench(tmp_path / "b", n_per_subset=1, subsets=("sound",)))  # one row: sound-0
    empty = next(k for k in (1, 2, 3) if shard_of("sound-0", 3) != k)
    with pytest.raises(DatasetError, match=f"shard {empty}/3 has no rows: the run selected only 1"):
        load_bench(data, shard=f"{empty}/3")


def test_shard_is_chosen_before_audio_is_read(tmp_path):
    """A corrupt clip costs (and is reported by) only the shard its uuid falls in."""
    rows = [row(f"r{i}", embedded(b"\x00not audio" * 50)) for i in range(6)]
    write_parquet(tmp_path / "en" / "test-00000-of-00001.parquet", rows)
    skipped = [[s.uuid for s in load_bench(str(tmp_path), shard=f"{k}/3").skipped] for k in (1, 2, 3)]
    assert sorted(sum(skipped, [])) == [f"r{i}" for i in range(6)]
    for k, names in enumerate(skipped, start=1):
        assert all(shard_of(u, 3) == k for u in names)


def _pitch_judge(calls: list[str]):
    """P(yes) varies with the clip's pitch (some tones score under 0.5), so a lost or doubled sample moves the
    numbers; `calls` records the sample of every request."""

    def p_yes(wav, text) -> float:
        calls.append(text)
        if wav is None or float(np.abs(wav).max()) < 0.05:
            return 0.45
        crossings = int(np.sum(np.diff(np.sign(wav)) != 0))
        return 0.25 + 0.1 * (crossings % 7)

    return p_yes


def _csv_report(capsys, *paths) -> list[str]:
    assert main(["report", *map(str, paths), "--format", "csv"]) == 0
    return capsys.readouterr().out.strip().splitlines()


@pytest.mark.slow
def test_shards_merged_in_the_report_equal_the_unsharded_run(tmp_path, capsys):
    data = str(balanced_bench(tmp_path / "b", n_per_subset=8, subsets=("sound", "music", "speech")))
    whole_calls: list[str] = []
    eval(
        bench(dataset=data),
        model=scripted_judge(_pitch_judge(whole_calls)),
        log_dir=str(tmp_path / "whole"),
        display="none",
    )
    shard_calls: list[str] = []
    ids = []
    for k in (1, 2, 3):
        [log] = eval(
            bench(dataset=data, shard=f"{k}/3"),
            model=scripted_judge(_pitch_judge(shard_calls)),
            log_dir=str(tmp_path / "shards"),
            display="none",
        )
        assert log.eval.metadata["shard"]["index"] == k and log.eval.metadata["shard"]["of"] == 24
        ids.append({s.id for s in log.samples})
    # Nothing judged twice, nothing lost: the same requests in all, each sample in one shard only.
    assert sorted(shard_calls) == sorted(whole_calls) and len(whole_calls) == 24 * 2
    assert sum(map(len, ids)) == 24 and len(set().union(*ids)) == 24 and all(ids)

    whole = _csv_report(capsys, tmp_path / "whole")
    merged = _csv_report(capsys, tmp_path / "shards")
    assert merged == whole and len(merged) == 2  # header and one row, with the same numbers
    assert whole[1].split(",")[-3:-1] == ["24", "0"]  # scored, unscored
    # The judge is imperfect (accuracy and AUROC under 100), so equal numbers are not trivially equal.
    assert all(float(v) < 100 for v in whole[1].split(",")[-5:-3])

    # A rerun of one shard replaces it (still one row, same numbers).
    eval(
        bench(dataset=data, shard="2/3"),
        model=scripted_judge(_pitch_judge([])),
        log_dir=str(tmp_path / "shards"),
        display="none",
    )
    assert _csv_report(capsys, tmp_path / "shards") == whole

    # Incomplete: the report names the missing shard and prints no table.
    logs = sorted((tmp_path / "shards").glob("*.eval"))
    by_shard = {read_eval_log(str(p), header_only=True).eval.metadata["shard"]["index"]: p for p in logs}
    assert main(["report", str(by_shard[1]), str(by_shard[3]), "--format", "csv"]) == 2
    out = capsys.readouterr()
    assert "shard(s) 2/3 missing" in out.err and out.out == ""

    # Overlapping: the unsharded run and the shards of the same judge together are refused.
    assert main(["report", str(tmp_path / "whole"), str(tmp_path / "shards")]) == 2
    assert "overlap" in capsys.readouterr().err

    # Another shard count for the same judge mixed in: refused, not silently half-counted.
    eval(
        bench(dataset=data, shard="1/2"),
        model=scripted_judge(_pitch_judge([])),
        log_dir=str(tmp_path / "shards"),
        display="none",
    )
    assert main(["report", str(tmp_path / "shards")]) == 2
    assert "different runs" in capsys.readouterr().err


def _generator(path: str, scores: dict[str, float], shard: str | None, run: str = "r") -> GeneratorSummary:
    k, n = map(int, shard.split("/")) if shard else (0, 0)
    return GeneratorSummary(
        path=path,
        generator="gen",
        judge="j",
        mode="logits",
        protocol="anyaudio",
        threshold=0.5,
        scores=scores,
        domains=dict.fromkeys(scores, "speech"),
        shard={"index": k, "count": n, "rows": len(scores), "of": 4} if shard else None,
        run=run,
    )


def test_generator_leaderboard_merges_instruct_shards():
    whole = _generator("w", {"a": 0.1, "b": 0.9, "c": 0.4, "d": 0.7}, None)
    shards = [_generator("s1", {"a": 0.1, "c": 0.4}, "1/2"), _generator("s2", {"b": 0.9, "d": 0.7}, "2/2")]
    [(merged, estimate)] = leaderboard(shards).rows
    assert merged.scores == whole.scores and estimate.value == leaderboard([whole]).rows[0][1].value
    with pytest.raises(ShardError, match="1/2 missing"):
        leaderboard(shards[1:])
    with pytest.raises(ShardError, match="overlap"):
        leaderboard([shards[0], _generator("s2", {"a": 0.1, "d": 0.7}, "2/2")])


def test_launcher_adds_the_shard_to_each_command_and_reports_failures():
    cmds = shard_commands(3, ["inspect", "eval", "anyaudio_eval/bench", "--log-dir", "logs/x"])
    assert [c[-2:] for c in cmds] == [["-T", f"shard={k}/3"] for k in (1, 2, 3)]
    assert all(c[5:7] == ["--display", "plain"] for c in cmds)
    with pytest.raises(ValueError, match="already"):
        shard_commands(2, ["inspect", "eval", "t", "-T", "shard=1/2"])
    # The shard processes run at once; one failing is named and makes the launcher fail.
    script = "import sys; k = sys.argv[-1]; print('ran', k); sys.exit(3 if k == 'shard=2/2' else 0)"
    out = io.StringIO()
    assert launch(2, [sys.executable, "-c", script, "--display", "none"], out=out) == 1
    text = out.getvalue()
    assert "[1/2] ran shard=1/2" in text and "[2/2] ran shard=2/2" in text and "failed: 2/2 (exit 3)" in text
