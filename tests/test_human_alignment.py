"""Agreement with people (the human_alignment task) and generator leaderboards (`anyaudio report`)."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import soundfile as sf
from fixtures import encode, silence, tone
from inspect_ai import eval
from inspect_ai.log import read_eval_log
from inspect_ai.model import get_model
from judges import listening, scripted_judge

from anyaudio_eval.bench.loaders import DatasetError
from anyaudio_eval.cli import main
from anyaudio_eval.tasks.human_alignment import Fields, human_alignment, load_human_rows
from anyaudio_eval.tasks.instruct import instruct

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_listening_data.py"


def _script():
    spec = importlib.util.spec_from_file_location("make_listening_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _metrics(log) -> dict[str, float]:
    return {k: v.value for k, v in log.results.scores[0].metrics.items()}


# -- ratings: known relation between the human score and what the acoustic judge measures ------------------


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    """Synthetic listening test (human score = 1 + 9 x loudness/pitch/length fit + rater bias + noise), judged
    by the acoustic judge with the rows' rubrics and holistically."""
    root = tmp_path_factory.mktemp("rated")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANYAUDIO_CACHE", str(root / "cache"))
        ratings = _script().write_ratings(root / "data", n_clips=24, n_raters=3, noise=0.8, seed=3)
        logs = {}
        for mode in ("logits", "holistic"):
            task = human_alignment(dataset=str(ratings), rater_field="rater", mode=mode, prompt_language="en", seed=7)
            logs[mode] = eval(task, model="acoustic/default", log_dir=str(root / "logs"), display="none")[0]
            assert logs[mode].status == "success", logs[mode].error
    return ratings, logs, root / "logs"


def _human_means(ratings: Path) -> dict[str, list[float]]:
    by_audio: dict[str, list[float]] = {}
    for line in ratings.read_text().splitlines():
        row = json.loads(line)
        by_audio.setdefault(row["audio"], []).append(row["score"])
    return by_audio


@pytest.mark.slow
def test_correlations_and_their_cis_equal_scipy_on_the_same_clips(rated):
    ratings, logs, _ = rated
    log = logs["logits"]
    means = _human_means(ratings)
    judge, human = [], []
    for sample in log.samples:
        score = sample.scores["listener_agreement"]
        # The sample's ratings are the file's ratings of its clip (3 raters each).
        logged = sorted(r["score"] for r in score.metadata["ratings"])
        matches = [a for a, xs in means.items() if sorted(xs) == logged]
        assert matches and len(logged) == 3
        judge.append(float(score.value))
        human.append(float(np.mean(logged)))
    order = sorted(range(len(judge)), key=lambda i: (judge[i], human[i]))
    j, h = np.array(judge)[order], np.array(human)[order]
    metrics = _metrics(log)
    assert metrics["n_clips"] == 24
    stats = {
        "lcc": lambda x, y: scipy.stats.pearsonr(x, y).statistic,
        "srcc": lambda x, y: scipy.stats.spearmanr(x, y).statistic,
        "ktau": lambda x, y: scipy.stats.kendalltau(x, y, variant="b").statistic,
    }
    for name, stat in stats.items():
        assert metrics[name] == pytest.approx(stat(j, h), abs=1e-9)
        ci = scipy.stats.bootstrap(
            (j, h),
            stat,
            paired=True,
            vectorized=False,
            n_resamples=2000,
            method="percentile",
            rng=np.random.default_rng(7),
        ).confidence_interval
        assert metrics[f"{name}_low"] == pytest.approx(ci.low, abs=1e-9)
        assert metrics[f"{name}_high"] == pytest.approx(ci.high, abs=1e-9)
        # The known relation shows: clearly positive, and the interval excludes zero.
        assert metrics[f"{name}_low"] > 0.2 and metrics[f"{name}_low"] <= metrics[name] <= metrics[f"{name}_high"]
    assert metrics["srcc"] > 0.5


@pytest.mark.slow
def test_rater_level_agreement_and_krippendorff_alpha(rated):
    from inspect_ai.scorer import SampleScore, Score, krippendorff_alpha

    ratings, logs, _ = rated
    metrics = _metrics(logs["logits"])
    assert metrics["n_raters"] == 3 and metrics["n_raters_scored"] == 3
    per_rater = [metrics[f"rater_listener_{r}_srcc"] for r in range(3)]
    assert metrics["rater_avg_srcc"] == pytest.approx(np.mean(per_rater))
    # alpha of the listeners alone, computed here from the file with Inspect's metric.
    units = [SampleScore(score=Score(value=xs), sample_id=a) for a, xs in _human_means(ratings).items()]
    assert metrics["alpha_raters"] == pytest.approx(krippendorff_alpha(level="interval")(units))
    assert -1 <= metrics["alpha_with_judge"] <= 1


@pytest.mark.slow
def test_report_puts_rubric_and_holistic_runs_in_one_table(rated, capsys):
    _, logs, log_dir = rated
    assert main(["report", str(log_dir), "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    header = rows[0]
    assert header[:4] == ["judge", "mode", "protocol", "clips"] and "SRCC [95% CI]" in header
    by_mode = {r[1]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert set(by_mode) == {"logits", "holistic"}
    for mode, log in logs.items():
        m = _metrics(log)
        assert by_mode[mode]["protocol"].startswith("anyaudio ")
        assert by_mode[mode]["SRCC [95% CI]"] == f"{m['srcc']:.3f} [{m['srcc_low']:.3f}, {m['srcc_high']:.3f}]"
    # The rubric's gain over one holistic question is visible, as in the paper.
    assert _metrics(logs["logits"])["srcc"] > _metrics(logs["holistic"])["srcc"]


# -- pairwise preferences ---------------------------------------------------------------------------------


def _loud_judge():
    # P(yes) rises with loudness, so the louder clip of a pair wins and equal clips tie.
    return scripted_judge(lambda wav, text: float(min(0.95, 0.05 + 3 * np.sqrt(np.mean(wav**2)))))


def test_pairwise_accuracy_with_ties_stated(tmp_path, monkeypatch):
    monkeypatch.setenv("ANYAUDIO_CACHE", str(tmp_path / "cache"))
    clips = tmp_path / "clips"
    clips.mkdir()
    for name, amp in {"quiet": 0.02, "mid": 0.1, "loud": 0.3, "loud2": 0.3}.items():
        sf.write(clips / f"{name}.wav", tone(440, 0.5, amp=amp), 16000)
    rubric = [{"dimension": "loudness", "question": "Is the sound loud?"}]
    pairs = [
        ("loud", "quiet", "A"),  # judge right
        ("mid", "loud", "2"),  # judge right (b)
        ("mid", "quiet", "a"),  # judge right
        ("quiet", "loud", "a"),  # judge wrong
        ("loud", "loud2", "b"),  # judge tie: half a point
        ("loud2", "loud", "a"),  # judge tie: half a point
        ("loud", "loud2", "tie"),  # people tied, judge tied: left out of the accuracy
        ("quiet", "mid", "tie"),  # people tied, judge did not
        ("quiet", "mid", "maybe"),  # not a preference: skipped with its reason
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"p{i}",
                    "first": f"clips/{a}.wav",
                    "second": f"clips/{b}.wav",
                    "caption": "a loud tone",
                    "choice": c,
                    "rubric": rubric,
                }
            )
            + "\n"
            for i, (a, b, c) in enumerate(pairs)
        )
        + json.dumps({"id": "p0", "first": "clips/mid.wav", "second": "clips/loud.wav", "caption": "x", "choice": "a"})
        + "\n"
    )
    task = human_alignment(
        dataset=str(path),
        layout="pairwise",
        audio_a_field="first",
        audio_b_field="second",
        text_field="caption",
        preference_field="choice",
        id_field="id",
        prompt_language="en",
    )
    skipped = task.metadata["dataset"]["skipped_rows"]
    assert [(s["uuid"], s["reason"].split(" (")[0]) for s in skipped] == [
        ("p8", "preference 'maybe' is not a, b or tie"),
        ("p0", "duplicate id"),
    ]
    log = eval(task, model=_loud_judge(), log_dir=str(tmp_path / "logs"), display="none")[0]
    assert log.status == "success", log.error
    m = _metrics(log)
    assert m["n_pairs"] == 6 and m["n_human_ties"] == 2 and m["n_judge_ties"] == 2
    assert m["pair_accuracy"] == pytest.approx((3 + 0.5 + 0.5) / 6)
    assert m["pair_accuracy_strict"] == pytest.approx(3 / 6)
    assert m["human_tie_agreement"] == pytest.approx(0.5)
    assert m["pair_accuracy_low"] <= m["pair_accuracy"] <= m["pair_accuracy_high"]


# -- inputs and column mapping ----------------------------------------------------------------------------


def _csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_missing_column_is_named_with_the_columns_present(tmp_path):
    path = _csv(tmp_path / "mos.csv", ["wav", "caption", "mos"], [["a.wav", "a bell", 3]])
    with pytest.raises(DatasetError) as info:
        load_human_rows(str(path), Fields())
    assert "no column 'audio'" in str(info.value) and "-T audio_field=" in str(info.value)
    assert "columns present: wav, caption, mos" in str(info.value)
    with pytest.raises(DatasetError, match=r"no column 'score' \(the -T score_field= column\)"):
        load_human_rows(str(path), Fields(audio="wav", text="caption"))
    with pytest.raises(DatasetError, match="no column 'listener'"):
        load_human_rows(str(path), Fields(audio="wav", text="caption", score="mos", rater="listener"))
    pairs = _csv(tmp_path / "pairs.csv", ["audio_a", "audio_b", "text"], [["a.wav", "b.wav", "x"]])
    with pytest.raises(DatasetError, match="no column 'preferred'.*-T preference_field="):
        load_human_rows(str(pairs), Fields())


def test_csv_with_mapped_columns_pools_raters_and_skips_bad_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("ANYAUDIO_CACHE", str(tmp_path / "cache"))
    (tmp_path / "wavs").mkdir()
    sf.write(tmp_path / "wavs" / "a.wav", tone(440), 16000)
    sf.write(tmp_path / "wavs" / "b.wav", tone(880), 16000)
    (tmp_path / "wavs" / "broken.wav").write_bytes(b"not audio")
    path = _csv(
        tmp_path / "scores.csv",
        ["wavname", "text", "score", "listener_id"],
        [
            ["a.wav", "a tone", 7, "L1"],
            ["a.wav", "a tone", 9, "L2"],
            ["b.wav", "a tone", 2, "L1"],
            ["b.wav", "a tone", "n/a", "L2"],
            ["missing.wav", "a tone", 5, "L1"],
            ["../scores.csv", "a tone", 5, "L1"],
            ["broken.wav", "a tone", 5, "L1"],
            ["a.wav", "", 5, "L3"],
        ],
    )
    load = load_human_rows(str(path), Fields(audio="wavname", rater="listener_id"), audio_root=str(tmp_path / "wavs"))
    assert [(len(r.ratings), sorted(x.rater for x in r.ratings)) for r in load.rows] == [(2, ["L1", "L2"]), (1, ["L1"])]
    assert load.rows[0].ratings[0].score == 7.0
    reasons = {s.uuid: s.reason for s in load.skipped}
    assert "not a finite number" in reasons["row-3"]
    assert "audio file not found: missing.wav" in reasons["row-4"]
    assert "escapes the dataset root" in reasons["row-5"]
    assert "undecodable" in reasons["row-6"]
    assert "empty or missing text" in reasons["row-7"]


def test_parquet_with_embedded_audio_in_a_named_column(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setenv("ANYAUDIO_CACHE", str(tmp_path / "cache"))
    audio_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    clips = [encode(tone(300)), encode(silence()), encode(tone(600))]
    table = pa.table(
        {
            "clip": pa.array([{"bytes": c, "path": f"{i}.wav"} for i, c in enumerate(clips)], audio_type),
            "prompt": ["a tone", "a tone", "a tone"],
            "rating": [8.0, 1.0, 7.5],
            "uid": ["x", "y", "z"],
        }
    )
    folder = tmp_path / "hub_copy" / "data"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "test-00000-of-00001.parquet")
    load = load_human_rows(
        str(tmp_path / "hub_copy"),
        Fields(audio="clip", text="prompt", score="rating", id="uid"),
        limit=2,
        shuffle=True,
        seed=1,
    )
    assert len(load.rows) == 2 and {r.id for r in load.rows} <= {"x", "y", "z"}
    assert all(Path(r.audio[0]).is_file() for r in load.rows)


def test_rows_without_a_rubric_need_the_decomposer_role(tmp_path, monkeypatch):
    monkeypatch.setenv("ANYAUDIO_CACHE", str(tmp_path / "cache"))
    sf.write(tmp_path / "a.wav", tone(), 16000)
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"audio": "a.wav", "text": "a steady tone", "score": 4}) + "\n")
    log = eval(
        human_alignment(dataset=str(path)),
        model=scripted_judge(listening),
        log_dir=str(tmp_path / "logs"),
        display="none",
    )[0]
    assert log.status == "error" and "--model-role decomposer=" in str(log.error)
    # Holistic mode asks the caption itself: no decomposer.
    log = eval(
        human_alignment(dataset=str(path), mode="holistic"),
        model=scripted_judge(listening),
        log_dir=str(tmp_path / "logs"),
        display="none",
    )[0]
    assert log.status == "success" and log.samples[0].scores["listener_agreement"].value == pytest.approx(0.9)


def test_the_task_is_registered():
    from inspect_ai._util.registry import registry_lookup

    import anyaudio_eval._registry  # noqa: F401

    assert registry_lookup("task", "anyaudio_eval/human_alignment") is not None


# -- generator leaderboard ---------------------------------------------------------------------------------


def test_two_generators_with_a_known_paired_difference(tmp_path, monkeypatch, capsys):
    """A is a tone on every instruction but the last; B is silent on 7 of them and has no clip for one."""
    monkeypatch.setenv("ANYAUDIO_CACHE", str(tmp_path / "cache"))
    rubric = [{"dimension": "presence", "question": "Is there a tone?"}]
    ids = [f"i{k:02d}" for k in range(13)]
    path = tmp_path / "prompts.jsonl"
    domain = {i: "speech" if k < 6 else "sound" for k, i in enumerate(ids)}
    path.write_text(
        "".join(
            json.dumps({"id": i, "instruction": "a tone", "domain": domain[i], "rubric": rubric}) + "\n" for i in ids
        )
    )
    for name, silent in {"gen_a": {"i11"}, "gen_b": {f"i{k:02d}" for k in range(4, 11)}}.items():
        folder = tmp_path / name
        folder.mkdir()
        for i in ids:
            if name == "gen_b" and i == "i12":
                continue  # no clip: unscored for B, and left out of the paired comparison
            sf.write(folder / f"{i}.wav", silence() if i in silent else tone(), 16000)
    for name in ("gen_a", "gen_b"):
        log = eval(
            instruct(instructions=str(path)),
            model=get_model(f"files/{tmp_path / name}"),
            model_roles={"judge": scripted_judge(listening)},
            log_dir=str(tmp_path / "logs"),
            display="none",
        )[0]
        assert log.status == "success", log.error
    assert main(["report", str(tmp_path / "logs"), "--format", "csv"]) == 0
    blocks = [b for b in capsys.readouterr().out.strip().split("\n\n") if b.strip()]
    board, paired, failed = (list(csv.reader(io.StringIO(b))) for b in blocks)
    rows = {r[0].rsplit("/", 1)[-1]: dict(zip(board[0], r, strict=True)) for r in board[1:]}
    # listening: 0.9 for a tone, 0.2 for silence.
    assert rows["gen_a"]["score x100 [95% CI]"].startswith(f"{100 * (12 * 0.9 + 0.2) / 13:.1f} [")
    assert (rows["gen_a"]["speech x100"], rows["gen_a"]["sound x100"]) == ("90.0", f"{100 * (6 * 0.9 + 0.2) / 7:.1f}")
    assert (rows["gen_a"]["scored"], rows["gen_a"]["unscored"]) == ("13", "0")
    assert (rows["gen_b"]["scored"], rows["gen_b"]["unscored"]) == ("12", "1")
    assert rows["gen_a"]["judge"] == "mockllm/model" and rows["gen_a"]["protocol"].startswith("anyaudio ")
    assert board[1][0].endswith("gen_a")  # ranked first
    comparison = dict(zip(paired[0], paired[1], strict=True))
    assert comparison["instructions"] == "12"
    assert comparison["A wins / ties / B wins"] == "7 / 4 / 1"
    mean_diff = (7 - 1) * 0.7 / 12
    assert comparison["A - B x100 [95% CI]"].startswith(f"{100 * mean_diff:.1f} [")
    low = float(comparison["A - B x100 [95% CI]"].split("[")[1].split(",")[0])
    assert low > 0 and comparison["CI excludes 0"] == "yes"
    failures = {r[0].rsplit("/", 1)[-1]: r[1] for r in failed[1:]}
    assert failures["gen_b"] == "presence 58% of 12" and failures["gen_a"] == "presence 8% of 13"
    # --plot writes the forest plot of the CIs.
    assert main(["report", str(tmp_path / "logs"), "--plot", str(tmp_path / "png")]) == 0
    assert (tmp_path / "png" / "generators_forest.png").read_bytes()[:4] == b"\x89PNG"
    assert read_eval_log(next((tmp_path / "logs").glob("*.eval")), header_only=True).eval.task == "instruct"


def test_hub_id_reads_a_rating_set_without_decoding_through_datasets(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setenv("ANYAUDIO_CACHE", str(tmp_path / "cache"))
    calls = []

    def load_dataset(repo, config, split, revision=None):
        calls.append((repo, config, split, revision))
        ds = datasets.Dataset.from_dict(
            {
                "wav": [{"bytes": encode(tone(300)), "path": "a.wav"}, {"bytes": encode(tone(700)), "path": "b.wav"}],
                "caption": ["a tone", "a tone"],
                "mos": [4.0, 2.5],
            }
        )
        return ds.cast_column("wav", datasets.Audio(decode=True))

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    load = load_human_rows("someone/ratings", Fields(audio="wav", text="caption", score="mos"), split="validation")
    assert calls == [("someone/ratings", None, "validation", None)]
    assert sorted(r.ratings[0].score for r in load.rows) == [2.5, 4.0] and not load.skipped


def test_a_clip_the_judge_cannot_answer_is_unscored_and_counted(tmp_path, monkeypatch, capsys):
    from judges import reply_judge

    monkeypatch.setenv("ANYAUDIO_CACHE", str(tmp_path / "cache"))
    rows = []
    for k in range(5):
        sf.write(tmp_path / f"c{k}.wav", tone(300 + 100 * k), 16000)
        rows.append({"audio": f"c{k}.wav", "text": "a tone", "score": k, "rubric": [{"question": "Is there a tone?"}]})
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # Free text without logprobs and without a yes/no word is never turned into a verdict.
    log = eval(
        human_alignment(dataset=str(path)),
        model=reply_judge(lambda text: "hmm, hard to say"),
        log_dir=str(tmp_path / "logs"),
        display="none",
    )[0]
    assert log.status == "success", log.error
    assert all(np.isnan(s.scores["listener_agreement"].value) for s in log.samples)
    assert "no rubric item could be parsed" in log.samples[0].scores["listener_agreement"].metadata["error"]
    assert main(["report", str(tmp_path / "logs"), "--format", "csv"]) == 0
    header, row = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    row = dict(zip(header, row, strict=True))
    assert (row["clips"], row["unscored"], row["SRCC [95% CI]"]) == ("0", "5", "-")


def test_the_protocol_reaches_the_judge_and_the_report(tmp_path, monkeypatch, capsys):
    from reference_standin import standin_item_text, write_standin

    monkeypatch.setenv("ANYAUDIO_CACHE", str(tmp_path / "cache"))
    root, sha = write_standin(tmp_path / "release", tmp_path / "executed.txt")
    rows = []
    for k in range(4):
        sf.write(tmp_path / f"c{k}.wav", tone(300, amp=0.3) if k % 2 else silence(), 16000)
        rows.append(
            {
                "audio": f"c{k}.wav",
                "text": "a steady tone",
                "score": 1 + 3 * (k % 2) + k,
                "rubric": [{"dimension": "pitch", "question": "Is there a steady tone?"}],
            }
        )
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    seen: list[str] = []

    def judge(wav, text):
        seen.append(text)
        return listening(wav, text)

    task = human_alignment(dataset=str(path), protocol="reference", reference=str(root), reference_sha256=sha)
    log = eval(task, model=scripted_judge(judge), log_dir=str(tmp_path / "logs"), display="none")[0]
    assert log.status == "success", log.error
    assert log.eval.metadata["protocol"] == "reference"
    assert set(seen) == {standin_item_text("pitch", "Is there a steady tone?")}
    assert log.samples[0].scores["listener_agreement"].metadata["protocol"] == "reference"
    assert main(["report", str(tmp_path / "logs"), "--format", "csv"]) == 0
    header, row = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert dict(zip(header, row, strict=True))["protocol"].startswith("reference ")
