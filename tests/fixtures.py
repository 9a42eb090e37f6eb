"""Builders of small benches in the exact hub schema, generated in the test run (no downloads)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf


def tone(
    freq: float = 440.0, seconds: float = 1.0, sr: int = 16_000, channels: int = 1, amp: float = 0.3
) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    mono = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


def encode(wav: np.ndarray, sr: int = 16_000, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wav, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def silence(seconds: float = 1.0, sr: int = 16_000) -> np.ndarray:
    return np.zeros(int(seconds * sr), dtype=np.float32)


RUBRIC = [
    {"dimension": "音高", "question": "是否有一个持续的音调？", "basis": "a steady tone"},
    {"dimension": "响度", "question": "声音是否清晰可闻？", "basis": "audible"},
]


def row(
    uuid: str,
    audio: Any,
    label: str = "yes",
    subset: str = "sound",
    type_: str = "pos",
    caption: str = "a steady tone",
    rubric: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "audio": audio,
        "caption": caption,
        "label": label,
        "type": type_,
        "subset": subset,
        "rubric": RUBRIC if rubric is None else rubric,
    }


def write_parquet(path: Path, rows: list[dict[str, Any]], audio_type: Any = None) -> Path:
    """Rows in the hub schema: audio is a {bytes, path} struct (or `audio_type`), rubric a list of structs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    audio_type = audio_type or pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    rubric_keys = sorted({k for r in rows for item in r["rubric"] for k in item}) or ["dimension", "question", "basis"]
    item_type = pa.struct([(k, pa.string()) for k in rubric_keys])
    table = pa.table(
        {
            "uuid": pa.array([r["uuid"] for r in rows], pa.string()),
            "audio": pa.array([r["audio"] for r in rows], audio_type),
            "caption": pa.array([r["caption"] for r in rows], pa.string()),
            "label": pa.array([r["label"] for r in rows], pa.string()),
            "type": pa.array([r["type"] for r in rows], pa.string()),
            "subset": pa.array([r["subset"] for r in rows], pa.string()),
            "rubric": pa.array([r["rubric"] for r in rows], pa.list_(item_type)),
        }
    )
    pq.write_table(table, path)
    return path


def embedded(data: bytes, name: str = "clip.wav") -> dict[str, Any]:
    return {"bytes": data, "path": name}


def by_path(rel: str) -> dict[str, Any]:
    return {"bytes": None, "path": rel}


def balanced_bench(root: Path, language: str = "en", n_per_subset: int = 4, subsets=("sound", "music")) -> Path:
    """Positives are tones, negatives are silence; half of each subset is positive."""
    rows = []
    for subset in subsets:
        for i in range(n_per_subset):
            positive = i % 2 == 0
            wav = tone(220 + 40 * i) if positive else silence()
            rows.append(
                row(
                    f"{subset}-{i}",
                    embedded(encode(wav)),
                    label="yes" if positive else "no",
                    subset=subset,
                    type_="pos" if positive else ("neg_swap" if i % 4 == 1 else "neg_change"),
                )
            )
    write_parquet(root / language / "test-00000-of-00001.parquet", rows)
    return root


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path
