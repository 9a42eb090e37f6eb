"""The bundled probe set: schema, audio, balance, per-item gold, and the acoustic judge on it."""

from __future__ import annotations

import collections
import importlib.util
import json
from pathlib import Path

import pytest
import soundfile as sf

PROBES = Path(__file__).resolve().parents[1] / "anyaudio_eval" / "data" / "probes"
LANGS = ("en", "zh")
ROW_KEYS = {"uuid", "audio", "caption", "label", "type", "subset", "rubric"}
ITEM_KEYS = {"dimension", "question", "basis", "label"}


def _rows(lang: str) -> list[dict]:
    with (PROBES / f"{lang}.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.mark.parametrize("lang", LANGS)
def test_manifest_schema(lang):
    rows = _rows(lang)
    assert 150 <= len(rows) <= 250
    assert len({r["uuid"] for r in rows}) == len(rows)
    for r in rows:
        assert set(r) == ROW_KEYS, r["uuid"]
        assert r["uuid"].startswith(f"probe-{lang}-")
        assert r["label"] in ("yes", "no")
        assert r["type"] in ("pos", "neg_change", "neg_swap")
        assert r["subset"] in ("speech", "sound", "music", "mix")
        assert (r["label"] == "yes") == (r["type"] == "pos")
        assert r["rubric"], r["uuid"]
        for it in r["rubric"]:
            assert set(it) == ITEM_KEYS and it["label"] in ("yes", "no") and it["question"].strip()
        if r["type"] == "pos":
            assert all(it["label"] == "yes" for it in r["rubric"]), r["uuid"]
        else:
            assert any(it["label"] == "no" for it in r["rubric"]), r["uuid"]
        if lang == "zh":
            assert any("\u4e00" <= ch <= "\u9fff" for ch in r["rubric"][0]["question"])


@pytest.mark.parametrize("lang", LANGS)
def test_balanced_per_subset(lang):
    c = collections.Counter((r["subset"], r["label"]) for r in _rows(lang))
    for subset in ("speech", "sound", "music", "mix"):
        assert c[(subset, "yes")] == c[(subset, "no")] > 0, subset


@pytest.mark.parametrize("lang", LANGS)
def test_neg_change_has_exactly_one_no_item(lang):
    rows = [r for r in _rows(lang) if r["type"] == "neg_change"]
    assert rows
    for r in rows:
        assert sum(it["label"] == "no" for it in r["rubric"]) == 1, r["uuid"]


def test_languages_share_audio_and_labels():
    en, zh = _rows("en"), _rows("zh")
    assert [(r["audio"], r["label"], r["type"]) for r in en] == [(r["audio"], r["label"], r["type"]) for r in zh]
    assert [[i["label"] for i in r["rubric"]] for r in en] == [[i["label"] for i in r["rubric"]] for r in zh]


def test_audio_files_decode_16k_mono_and_size():
    used = {r["audio"] for lang in LANGS for r in _rows(lang)}
    for rel in sorted(used):
        path = PROBES / rel
        assert path.exists(), rel
        info = sf.info(str(path))
        assert info.samplerate == 16000 and info.channels == 1, rel
        assert 1.5 <= info.duration <= 6.5, (rel, info.duration)
    files = {f"audios/{p.name}" for p in (PROBES / "audios").glob("*.flac")}
    assert files == used  # no orphan audio
    total = sum(p.stat().st_size for p in PROBES.rglob("*") if p.is_file())
    assert total < 8 * 1024 * 1024
    assert (PROBES / "LICENSE.md").exists() and json.loads((PROBES / "build_info.json").read_text())["seed"] is not None


def judge_probe_accuracy(lang: str) -> dict:
    """Item-level accuracy of the acoustic judge on the measured items (p_yes >= 0.5 means yes)."""
    pytest.importorskip("scipy")
    pytest.importorskip("pyloudnorm")
    from anyaudio_eval.acoustic import ClipFeatures, answer_item

    feats: dict[str, ClipFeatures] = {}
    ok, tot, n_items, n_abstain = collections.Counter(), collections.Counter(), 0, 0
    for r in _rows(lang):
        if r["audio"] not in feats:
            wav, sr = sf.read(str(PROBES / r["audio"]), dtype="float32")
            feats[r["audio"]] = ClipFeatures(wav, sr)
        for it in r["rubric"]:
            n_items += 1
            a = answer_item(feats[r["audio"]], it["question"], it["dimension"])
            if not a.measured:
                n_abstain += 1
                continue
            tot[a.dimension_key] += 1
            ok[a.dimension_key] += ("yes" if a.p_yes >= 0.5 else "no") == it["label"]
    return {
        "accuracy": sum(ok.values()) / max(sum(tot.values()), 1),
        "per_key": {k: (ok[k] / tot[k], tot[k]) for k in sorted(tot)},
        "abstain_share": n_abstain / max(n_items, 1),
        "measured": sum(tot.values()),
    }


@pytest.mark.parametrize("lang", LANGS)
def test_acoustic_judge_item_accuracy(lang):
    res = judge_probe_accuracy(lang)
    print(lang, res)
    assert res["measured"] > 300
    assert res["accuracy"] > 0.75, res
    # the set keeps some items the judge cannot measure, and it abstains on them
    assert 0.05 < res["abstain_share"] < 0.35, res


def _load_builder():
    path = Path(__file__).resolve().parents[1] / "scripts" / "build_probes.py"
    spec = importlib.util.spec_from_file_location("build_probes", path)
    mod = importlib.util.module_from_spec(spec)
    import sys

    sys.modules.setdefault("build_probes", mod)  # dataclasses look their module up here
    spec.loader.exec_module(mod)
    return mod


def test_builder_numpy_part_is_deterministic():
    pytest.importorskip("pyloudnorm")
    b = _load_builder()
    a1 = [(c.cid, b.flac_bytes(c.wav), c.cap_en, c.cap_zh) for c in b.numpy_clips()]
    a2 = [(c.cid, b.flac_bytes(c.wav), c.cap_en, c.cap_zh) for c in b.numpy_clips()]
    assert a1 == a2
    # and the committed files were made by this code with the default seed
    for cid, data, _en, _zh in a1:
        committed = PROBES / "audios" / f"{cid}.flac"
        if committed.exists():
            w1, _ = sf.read(committed, dtype="int16")
            import io

            w2, _ = sf.read(io.BytesIO(data), dtype="int16")
            assert (w1 == w2).all(), cid


def test_builder_gold_comes_from_parameters():
    b = _load_builder()
    clips = b.numpy_clips()
    rows = b.rows_for(clips, __import__("numpy").random.default_rng(0))
    for r in rows:
        for it, g in r["items"]:
            if r["type"] != "neg_change":
                assert g == b.gold(r["clip"], it)
