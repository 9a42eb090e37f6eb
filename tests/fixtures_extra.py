"""More bench builders: audio stored as files under `audios/`, a plain-string audio column, odd rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from fixtures import by_path, embedded, encode, row, silence, tone, write_parquet

ZH_RUBRIC = [
    {"维度": "音高", "题目": "是否有一个持续的音调？", "依据": "a steady tone"},
    {"维度": "响度", "题目": "声音是否清晰可闻？", "依据": "audible"},
]


def clip(i: int) -> bytes:
    """A distinct short clip per index (distinct bytes, so distinct cache entries)."""
    return encode(tone(200.0 + 25.0 * i, seconds=0.5))


def mixed_rows(n: int = 8, subsets=("sound", "music")) -> list[dict[str, Any]]:
    """n rows per subset, alternating yes/no labels and several types, each with its own clip bytes."""
    rows = []
    k = 0
    for subset in subsets:
        for i in range(n):
            positive = i % 2 == 0
            rows.append(
                row(
                    f"{subset}-{i}",
                    embedded(clip(k) if positive else encode(silence(0.5) + 1e-4 * k)),
                    label="yes" if positive else "no",
                    subset=subset,
                    type_=("pos", "pos_clap")[i % 4 // 2] if positive else ("neg_swap", "neg_change")[i % 4 // 2],
                )
            )
            k += 1
    return rows


def write_audios(root: Path, rows: list[dict[str, Any]], as_string: bool = False) -> list[dict[str, Any]]:
    """Move each row's embedded bytes into root/audios/<uuid>.wav and reference it by relative path."""
    out = []
    for r in rows:
        rel = f"audios/{r['subset']}/{r['uuid']}.wav"
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(r["audio"]["bytes"])
        out.append({**r, "audio": rel if as_string else by_path(rel)})
    return out


def write_parquet_string_audio(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Like fixtures.write_parquet but the audio column is a plain string (a relative path)."""
    return write_parquet(path, rows, audio_type=pa.string())


def hub_layout(root: Path, rows: list[dict[str, Any]], language: str = "en", shards: int = 1) -> Path:
    """root/<language>/test-0000k-of-0000n.parquet, rows split over `shards` files."""
    per = -(-len(rows) // shards)
    for k in range(shards):
        write_parquet(root / language / f"test-{k:05d}-of-{shards:05d}.parquet", rows[k * per : (k + 1) * per])
    return root
