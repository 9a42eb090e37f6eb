"""Bench loaders: hub layout, audio as files, single parquet, JSONL, bad rows, filters, samples."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
import soundfile as sf
from fixtures import RUBRIC, by_path, embedded, encode, row, tone, write_jsonl, write_parquet
from fixtures_extra import ZH_RUBRIC, hub_layout, mixed_rows, write_audios, write_parquet_string_audio
from inspect_ai.model import ContentAudio, ContentText

from anyaudio_eval.audio import TARGET_SR
from anyaudio_eval.bench import HUB_ID, LABELS, LANGUAGES, SUBSETS, TYPES, DatasetError, load_bench, loaders
from anyaudio_eval.tasks.common import row_sample

GOOD = [("good-1", 300.0), ("good-2", 400.0)]


@pytest.fixture(autouse=True, params=["whole", "streamed"])
def parquet_read_path(request, monkeypatch):
    """Every loader test runs twice: row groups read whole by pyarrow, and streamed a clip at a time."""
    if request.param == "streamed":
        monkeypatch.setattr(loaders, "STREAM_ABOVE_BYTES", 0)
    return request.param


def _good_rows() -> list[dict]:
    return [row(uuid, embedded(encode(tone(f, 0.5)))) for uuid, f in GOOD]


def _assert_loaded(load, uuids):
    assert [r.uuid for r in load.rows] == list(uuids)
    for r in load.rows:
        info = sf.info(r.audio)
        assert (info.samplerate, info.channels) == (TARGET_SR, 1)


# -- layouts -------------------------------------------------------------------------------------


def test_hub_layout_with_embedded_bytes(tmp_path):
    rows = mixed_rows(4)
    hub_layout(tmp_path, rows, shards=2)
    load = load_bench(str(tmp_path))
    _assert_loaded(load, [r["uuid"] for r in rows])
    assert load.skipped == [] and load.language == "en" and load.source == str(tmp_path)
    first = load.rows[0]
    assert (first.subset, first.label, first.type, first.caption) == ("sound", "yes", "pos", "a steady tone")
    assert [i.question for i in first.rubric] == [i["question"] for i in RUBRIC]
    assert len({r.audio for r in load.rows}) == len(rows)  # one cache entry per distinct clip


def test_hub_layout_picks_the_language_folder(tmp_path):
    hub_layout(tmp_path, mixed_rows(2, subsets=("sound",)), language="en")
    zh = [{**r, "uuid": "zh-" + r["uuid"], "caption": "一个持续的音调"} for r in mixed_rows(2, subsets=("music",))]
    hub_layout(tmp_path, zh, language="zh")
    load = load_bench(str(tmp_path), language="zh")
    assert [r.uuid for r in load.rows] == ["zh-music-0", "zh-music-1"]
    assert {r.language for r in load.rows} == {"zh"} and load.rows[0].caption == "一个持续的音调"


def test_missing_language_folder_says_what_is_expected(tmp_path):
    hub_layout(tmp_path, mixed_rows(2), language="en")
    with pytest.raises(DatasetError, match=r"zh/test-\*\.parquet"):
        load_bench(str(tmp_path), language="zh")


@pytest.mark.parametrize("as_string", [False, True], ids=["struct-bytes-none", "string-column"])
def test_audio_as_files_relative_to_the_dataset_root(tmp_path, as_string):
    rows = write_audios(tmp_path, mixed_rows(3), as_string=as_string)
    parquet = tmp_path / "en" / "test-00000-of-00001.parquet"
    (write_parquet_string_audio if as_string else write_parquet)(parquet, rows)
    load = load_bench(str(tmp_path))
    assert load.skipped == []
    _assert_loaded(load, [r["uuid"] for r in rows])
    # The cached clip is the file under audios/, normalised.
    wav, _ = sf.read(load.rows[0].audio)
    rel = rows[0]["audio"] if as_string else rows[0]["audio"]["path"]
    assert rel.startswith("audios/")
    src, _ = sf.read(tmp_path / rel)
    assert abs(len(wav) - len(src)) <= 1


def test_single_parquet_file_resolves_paths_beside_it(tmp_path):
    rows = mixed_rows(2)
    rows = rows[:2] + write_audios(tmp_path, rows[2:])
    path = write_parquet(tmp_path / "my-bench.parquet", rows)
    load = load_bench(str(path))
    assert load.skipped == [] and load.source == str(path)
    _assert_loaded(load, [r["uuid"] for r in rows])


@pytest.mark.parametrize("audio_form", ["string", "struct"])
def test_jsonl_manifest_with_paths_relative_to_it(tmp_path, audio_form):
    manifest_dir = tmp_path / "manifests"
    rows = write_audios(manifest_dir, mixed_rows(2), as_string=audio_form == "string")
    manifest = write_jsonl(manifest_dir / "bench.jsonl", rows)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    old = os.getcwd()
    os.chdir(elsewhere)  # paths resolve against the manifest, not the cwd
    try:
        load = load_bench(str(manifest))
    finally:
        os.chdir(old)
    assert load.skipped == []
    _assert_loaded(load, [r["uuid"] for r in rows])


def test_folder_with_language_jsonl_manifest(tmp_path):
    rows = write_audios(tmp_path, mixed_rows(1), as_string=True)
    write_jsonl(tmp_path / "en.jsonl", rows)
    load = load_bench(str(tmp_path), language="en")
    _assert_loaded(load, [r["uuid"] for r in rows])


def test_unsupported_file_and_missing_path_fail_with_a_hint(tmp_path):
    csv = tmp_path / "bench.csv"
    csv.write_text("uuid\n")
    with pytest.raises(DatasetError, match=r"\.parquet, \.jsonl"):
        load_bench(str(csv))
    with pytest.raises(DatasetError, match="neither an existing path nor a hub id"):
        load_bench(str(tmp_path / "nope" / "bench"))


# -- rubric --------------------------------------------------------------------------------------


def test_chinese_rubric_keys_are_normalised(tmp_path):
    rows = [row("zh-keys", embedded(encode(tone())), rubric=ZH_RUBRIC)]
    load = load_bench(str(write_parquet(tmp_path / "b.parquet", rows)))
    assert [i.model_dump(exclude_none=True) for i in load.rows[0].rubric] == [
        {"dimension": "音高", "question": "是否有一个持续的音调？", "basis": "a steady tone"},
        {"dimension": "响度", "question": "声音是否清晰可闻？", "basis": "audible"},
    ]


def test_chinese_rubric_keys_in_jsonl_and_as_a_json_string(tmp_path):
    import json

    rows = write_audios(tmp_path, [row("zh-1", embedded(clip_bytes(1)), rubric=ZH_RUBRIC)], as_string=True)
    rows.append({**rows[0], "uuid": "zh-2", "rubric": json.dumps(ZH_RUBRIC, ensure_ascii=False)})
    load = load_bench(str(write_jsonl(tmp_path / "b.jsonl", rows)))
    assert load.skipped == []
    for r in load.rows:
        assert [i.question for i in r.rubric] == ["是否有一个持续的音调？", "声音是否清晰可闻？"]
        assert r.rubric[0].dimension == "音高" and r.rubric[0].basis == "a steady tone"


def test_mixed_rubric_key_styles_in_one_parquet(tmp_path):
    rows = [
        row("en-keys", embedded(clip_bytes(1)), rubric=RUBRIC),
        row("zh-keys", embedded(clip_bytes(2)), rubric=ZH_RUBRIC),
    ]
    load = load_bench(str(write_parquet(tmp_path / "b.parquet", rows)))
    assert load.skipped == []
    assert [r.rubric[0].question for r in load.rows] == [RUBRIC[0]["question"], ZH_RUBRIC[0]["题目"]]


def test_empty_rubric_row_is_kept(tmp_path):
    rows = [row("empty", embedded(clip_bytes(1)), rubric=[]), row("full", embedded(clip_bytes(2)))]
    load = load_bench(str(write_parquet(tmp_path / "b.parquet", rows)))
    assert load.skipped == []
    by_uuid = {r.uuid: r for r in load.rows}
    assert by_uuid["empty"].rubric == [] and len(by_uuid["full"].rubric) == 2
    assert row_sample(by_uuid["empty"]).metadata["rubric"] == []


def clip_bytes(i: int) -> bytes:
    return encode(tone(150.0 + 30 * i, 0.3))


# -- bad rows ------------------------------------------------------------------------------------

BAD_ROWS = {
    "no-caption": (
        lambda root: row("no-caption", embedded(clip_bytes(3)), caption=""),
        "missing field(s): caption",
    ),
    "maybe": (lambda root: row("maybe", embedded(clip_bytes(4)), label="maybe"), "unknown label 'maybe'"),
    "corrupt": (lambda root: row("corrupt", embedded(b"\x00garbage, not audio" * 50)), "undecodable audio"),
    "escape": (lambda root: row("escape", by_path("../../etc/passwd")), "escapes the dataset root"),
    "absolute": (lambda root: row("absolute", by_path("/etc/passwd")), "escapes the dataset root"),
    "missing-file": (lambda root: row("missing-file", by_path("audios/missing.wav")), "audio file not found"),
    "no-audio": (
        lambda root: row("no-audio", {"bytes": None, "path": None}),
        "no audio bytes and no audio path",
    ),
}


def _bench_with(tmp_path: Path, kinds) -> Path:
    rows = _good_rows()[:1] + [BAD_ROWS[k][0](tmp_path) for k in kinds] + _good_rows()[1:]
    return write_parquet(tmp_path / "en" / "test-00000-of-00001.parquet", rows)


@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_bad_row_is_skipped_and_named(tmp_path, kind):
    _bench_with(tmp_path, [kind])
    load = load_bench(str(tmp_path))
    _assert_loaded(load, [u for u, _ in GOOD])
    assert [s.uuid for s in load.skipped] == [kind]
    assert BAD_ROWS[kind][1] in load.skipped[0].reason
    summary = load.summary()
    assert summary["loaded"] == 2 and summary["skipped"] == 1
    assert summary["skipped_rows"][0]["uuid"] == kind


@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_strict_raises_on_a_bad_row(tmp_path, kind):
    _bench_with(tmp_path, [kind])
    with pytest.raises(DatasetError, match=f"bad row {re.escape(kind)}: .*{re.escape(BAD_ROWS[kind][1])}"):
        load_bench(str(tmp_path), strict=True)


def test_all_bad_rows_together_are_each_named(tmp_path):
    _bench_with(tmp_path, list(BAD_ROWS))
    load = load_bench(str(tmp_path))
    _assert_loaded(load, [u for u, _ in GOOD])
    reasons = {s.uuid: s.reason for s in load.skipped}
    assert set(reasons) == set(BAD_ROWS)
    for kind, (_, fragment) in BAD_ROWS.items():
        assert fragment in reasons[kind]


def test_strict_raises_on_the_first_bad_row(tmp_path):
    _bench_with(tmp_path, ["maybe", "no-caption"])
    with pytest.raises(DatasetError, match="bad row maybe: "):
        load_bench(str(tmp_path), strict=True)


def test_duplicate_uuid_is_skipped(tmp_path):
    rows = _good_rows() + [row("good-1", embedded(clip_bytes(9)))]
    load = load_bench(str(write_parquet(tmp_path / "b.parquet", rows)))
    assert [r.uuid for r in load.rows] == ["good-1", "good-2"]
    assert [(s.uuid, s.reason) for s in load.skipped] == [("good-1", "duplicate uuid")]


def test_invalid_jsonl_line_is_skipped_and_named(tmp_path):
    rows = write_audios(tmp_path, _good_rows(), as_string=True)
    path = write_jsonl(tmp_path / "b.jsonl", rows)
    path.write_text(path.read_text() + "{not json\n")
    load = load_bench(str(path))
    assert [r.uuid for r in load.rows] == ["good-1", "good-2"]
    assert [s.uuid for s in load.skipped] == ["b.jsonl:3"] and "invalid JSON" in load.skipped[0].reason


def test_unselected_bad_audio_is_never_read(tmp_path):
    """Filters apply before audio is read: a corrupt clip outside the selection costs nothing."""
    _bench_with(tmp_path, ["corrupt"])
    rows = mixed_rows(2, subsets=("music",))
    write_parquet(tmp_path / "en" / "test-00001-of-00001.parquet", rows)
    load = load_bench(str(tmp_path), subsets="music")
    assert load.skipped == [] and [r.subset for r in load.rows] == ["music", "music"]


# -- filters -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "bad", "valid"),
    [
        ({"labels": "maybe"}, "maybe", LABELS),
        ({"language": "fr"}, "fr", LANGUAGES),
    ],
    ids=["label", "language"],
)
def test_unknown_filter_values_fail_at_once_listing_valid_values(tmp_path, kwargs, bad, valid):
    # The dataset does not exist: the filter error must come first, before any data is touched.
    with pytest.raises(DatasetError) as info:
        load_bench(str(tmp_path / "does-not-exist"), **kwargs)
    message = str(info.value)
    assert repr(bad) in message
    assert ", ".join(valid) in message


@pytest.mark.parametrize(
    ("kwargs", "bad", "valid"),
    [
        ({"subsets": "sound,speeech"}, "speeech", SUBSETS),
        ({"types": ["pos", "negative"]}, "negative", TYPES),
    ],
    ids=["subset", "type"],
)
def test_filter_names_in_neither_the_bench_nor_the_data_fail_before_audio_is_read(tmp_path, kwargs, bad, valid):
    """A subset or type outside the bench taxonomy is a typo unless some row has it (read from metadata only)."""
    write_parquet(tmp_path / "en" / "test-00000-of-00001.parquet", [row("a", embedded(b"not audio"))])
    with pytest.raises(DatasetError) as info:
        load_bench(str(tmp_path), **kwargs)
    message = str(info.value)
    assert repr(bad) in message and ", ".join(valid) in message


def test_unknown_subset_or_type_is_skipped_unless_named(tmp_path):
    good = embedded(encode(tone()))
    rows = [
        row("ok", good),
        row("odd-subset", good, subset="podcast"),
        row("odd-type", good, type_="pos_human"),
    ]
    write_parquet(tmp_path / "en" / "test-00000-of-00001.parquet", rows)
    load = load_bench(str(tmp_path))
    assert [r.uuid for r in load.rows] == ["ok"]
    reasons = {s.uuid: s.reason for s in load.skipped}
    assert "unknown subset 'podcast'" in reasons["odd-subset"] and "-T subsets=podcast" in reasons["odd-subset"]
    assert "unknown type 'pos_human'" in reasons["odd-type"]
    # Naming it evaluates it.
    assert [r.uuid for r in load_bench(str(tmp_path), subsets="podcast").rows] == ["odd-subset"]
    assert [r.uuid for r in load_bench(str(tmp_path), types="pos_human,pos").rows] == ["ok", "odd-type"]


def test_a_dataset_with_its_own_taxonomy_keeps_all_its_names(tmp_path):
    """No bench subset (or type) at all: the names are the dataset's own, and every row is evaluated."""
    good = embedded(encode(tone()))
    rows = [row("a", good, subset="podcast", type_="human"), row("b", good, subset="audiobook", type_="human")]
    write_parquet(tmp_path / "en" / "test-00000-of-00001.parquet", rows)
    load = load_bench(str(tmp_path))
    assert [r.subset for r in load.rows] == ["podcast", "audiobook"] and not load.skipped


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"subsets": "music"}, lambda r: r["subset"] == "music"),
        ({"subsets": ["music", "sound"]}, lambda r: True),
        ({"types": "pos,neg_swap"}, lambda r: r["type"] in ("pos", "neg_swap")),
        ({"labels": "no"}, lambda r: r["label"] == "no"),
        (
            {"subsets": "sound", "labels": ["yes"], "types": "pos_clap"},
            lambda r: r["subset"] == "sound" and r["type"] == "pos_clap",
        ),
    ],
    ids=["subset", "two-subsets", "types", "label", "combined"],
)
def test_filters(tmp_path, kwargs, expected):
    rows = mixed_rows(8)
    hub_layout(tmp_path, rows)
    load = load_bench(str(tmp_path), **kwargs)
    want = [r["uuid"] for r in rows if expected(r)]
    assert want and [r.uuid for r in load.rows] == want
    assert load.selected == len(want)


def test_limit_keeps_the_first_rows_and_reads_only_their_audio(tmp_path, monkeypatch):
    rows = mixed_rows(8)
    hub_layout(tmp_path, rows)
    import anyaudio_eval.bench.loaders as loaders

    calls = []
    real = loaders.cache_audio
    monkeypatch.setattr(loaders, "cache_audio", lambda *a, **k: calls.append(1) or real(*a, **k))
    load = load_bench(str(tmp_path), limit=3)
    assert [r.uuid for r in load.rows] == [r["uuid"] for r in rows[:3]]
    assert len(calls) == 3
    assert [r.uuid for r in load_bench(str(tmp_path), limit=0).rows] == []


def test_seeded_shuffle(tmp_path):
    rows = mixed_rows(8)
    hub_layout(tmp_path, rows)

    def order(**kw):
        return [r.uuid for r in load_bench(str(tmp_path), shuffle=True, **kw).rows]

    natural = [r["uuid"] for r in rows]
    a = order(seed=1)
    assert a == order(seed=1)
    assert a != natural and sorted(a) == sorted(natural)
    assert order(seed=2) != a
    # The shuffle happens before the limit: a limited run is a random subset, reproducible by seed.
    limited = order(seed=1, limit=5)
    assert limited == a[:5]
    assert [r.uuid for r in load_bench(str(tmp_path), shuffle=False).rows] == natural


# -- samples -------------------------------------------------------------------------------------


def test_samples_carry_metadata_and_a_file_path(tmp_path):
    rows = [
        row(
            "s-1",
            embedded(clip_bytes(5)),
            label="no",
            subset="music",
            type_="neg_change",
            caption="soft piano",
        )
    ]
    hub_layout(tmp_path, rows, language="zh")
    load = load_bench(str(tmp_path), language="zh")
    sample = row_sample(load.rows[0])
    assert sample.id == "s-1" and sample.target == "no"
    meta = sample.metadata
    assert {k: meta[k] for k in ("uuid", "subset", "type", "label", "language", "caption")} == {
        "uuid": "s-1",
        "subset": "music",
        "type": "neg_change",
        "label": "no",
        "language": "zh",
        "caption": "soft piano",
    }
    assert meta["rubric"] == RUBRIC
    content = sample.input[0].content
    audio = [c for c in content if isinstance(c, ContentAudio)]
    text = [c for c in content if isinstance(c, ContentText)]
    assert len(audio) == 1 and audio[0].format == "wav"
    assert not audio[0].audio.startswith("data:")
    assert Path(audio[0].audio).is_absolute() and Path(audio[0].audio).is_file()
    assert text[0].text == "soft piano"


# -- hub -----------------------------------------------------------------------------------------


def test_hub_id_offline_explains_how_to_use_a_local_copy(monkeypatch):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    start = time.monotonic()
    with pytest.raises(DatasetError) as info:
        load_bench(HUB_ID, language="zh")
    message = str(info.value)
    assert HUB_ID in message and "hf download" in message and "-T dataset=" in message
    assert "zh/test-*.parquet" in message
    assert time.monotonic() - start < 60


def _fake_hub(monkeypatch, rows):
    import datasets

    table = {k: [r[k] for r in rows] for k in ("uuid", "audio", "caption", "label", "type", "subset", "rubric")}
    calls = []

    def load_dataset(repo, config, split, revision=None):
        calls.append((repo, config, split, revision))
        return datasets.Dataset.from_dict(table)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_source_reads_embedded_bytes_without_decoding_through_datasets(monkeypatch):
    calls = _fake_hub(monkeypatch, _good_rows())
    load = load_bench("someone/some-bench", language="zh", revision="abc123")
    assert calls == [("someone/some-bench", "zh", "test", "abc123")]
    assert load.revision == "abc123" and load.source == "someone/some-bench"
    _assert_loaded(load, [u for u, _ in GOOD])


def test_hub_row_with_an_absolute_path_outside_the_cache_is_refused(monkeypatch):
    _fake_hub(monkeypatch, _good_rows() + [row("abs", by_path("/etc/passwd"))])
    load = load_bench("someone/some-bench")
    assert [(s.uuid, "escapes" in s.reason) for s in load.skipped] == [("abs", True)]


def test_a_warm_run_reads_no_audio_and_an_edited_file_is_read_again(tmp_path, monkeypatch):
    import os

    from fixtures import balanced_bench, encode, tone

    import anyaudio_eval.bench.loaders as loaders

    bench = balanced_bench(tmp_path / "warm", n_per_subset=4)
    first = {r.uuid: r.audio for r in load_bench(str(bench)).rows}

    def no_audio_reads(*args, **kwargs):
        raise AssertionError("audio was read on a warm run")

    with monkeypatch.context() as m:
        m.setattr(loaders, "_cache_field", no_audio_reads)
        assert {r.uuid: r.audio for r in load_bench(str(bench)).rows} == first

    # Rewrite the file with other clips: the index no longer matches, so the audio is read again.
    parquet = next((bench / "en").glob("*.parquet"))
    import pyarrow.parquet as pq

    table = pq.read_table(parquet).to_pylist()
    for i, r in enumerate(table):
        r["audio"] = {"bytes": encode(tone(500 + 10 * i)), "path": "new.wav"}
    stat = parquet.stat()
    write_parquet(parquet, table)
    os.utime(parquet, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    again = {r.uuid: r.audio for r in load_bench(str(bench)).rows}
    assert all(again[u] != first[u] for u in first)


def test_jsonl_lines_that_are_not_objects_are_skipped_and_named(tmp_path):
    wav = tmp_path / "a.wav"
    import soundfile as sf

    sf.write(wav, tone(), 16000)
    good = {
        "uuid": "ok",
        "audio": "a.wav",
        "caption": "c",
        "label": "yes",
        "type": "pos",
        "subset": "sound",
        "rubric": RUBRIC,
    }
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join([json.dumps(good), "[1, 2]", "{broken"]) + "\n", encoding="utf-8")
    load = load_bench(str(manifest))
    assert [r.uuid for r in load.rows] == ["ok"]
    assert {s.uuid: s.reason for s in load.skipped} == {
        "m.jsonl:2": "line is not a JSON object",
        "m.jsonl:3": "invalid JSON: Expecting property name enclosed in double quotes",
    }


# -- bad input never crashes the load (issue 14) ---------------------------------------------------


def test_base64_string_audio_bytes_load_and_bad_ones_skip_the_row(tmp_path):
    import base64

    clip = encode(tone())
    text = base64.b64encode(clip).decode()
    rows = [
        row("b64", {"bytes": text, "path": "a.wav"}),
        row("data-uri", {"bytes": "data:audio/wav;base64," + text, "path": None}),
        row("not-b64", {"bytes": "this is not base64!", "path": "b.wav"}),
        row("a-list", {"bytes": [1, 2, 3], "path": None}),
        row("a-number", 42),
    ]
    path = write_jsonl(tmp_path / "en.jsonl", rows)
    load = load_bench(str(path))
    assert [r.uuid for r in load.rows] == ["b64", "data-uri"]
    reasons = {s.uuid: s.reason for s in load.skipped}
    assert "not base64" in reasons["not-b64"]
    assert "has type list" in reasons["a-list"] and "has type int" in reasons["a-number"]


def test_no_usable_row_is_one_message_counting_the_reasons(tmp_path):
    rows = [row(f"bad-{i}", embedded(b"junk" * 10)) for i in range(3)] + [
        row("dup", embedded(b"x")),
        row("dup", embedded(b"x")),
    ]
    path = write_parquet(tmp_path / "bad.parquet", rows)
    load = load_bench(str(path))
    with pytest.raises(DatasetError) as info:
        load.require_rows()
    message = str(info.value)
    assert "no usable rows" in message and "4 x undecodable audio" in message and "1 x duplicate uuid" in message
    from inspect_ai._util.error import PrerequisiteError

    # Inspect prints a PrerequisiteError as its message, without a traceback.
    assert isinstance(info.value, PrerequisiteError) and info.value.message == message
