"""Load bench-format rows from the hub, a local hub-layout folder, a parquet file or a JSONL manifest.

Loading is two passes so memory stays bounded whatever the bench size: the first reads every column
but `audio`, validates and filters the rows; the second reads the audio of the selected rows only,
normalises it into the WAV cache and keeps the path. Big parquet row groups are streamed a clip at a time
(`parquet_stream`), since pyarrow would hold a whole single-page row group twice.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import json
import logging
import os
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from anyaudio_eval.audio import (
    DEFAULT_MAX_SECONDS,
    AudioError,
    cache_audio,
    cache_dir,
    duration_seconds,
    pipeline_version,
)
from anyaudio_eval.bench.parquet_stream import Unstreamable, column_chunk, stream_binary_column
from anyaudio_eval.bench.schema import (
    HUB_ID,
    LABELS,
    LANGUAGES,
    SUBSETS,
    TYPES,
    BenchRow,
    RubricItem,
    SkippedRow,
)
from anyaudio_eval.errors import UserError
from anyaudio_eval.shards import parse_shard, select, shard_metadata

logger = logging.getLogger(__name__)

META_FIELDS = ("uuid", "caption", "label", "type", "subset", "rubric", "language", "audio")


class DatasetError(UserError, RuntimeError):
    """A run-level problem with the dataset argument; the message says what to do."""


@dataclass
class BenchLoad:
    rows: list[BenchRow]
    skipped: list[SkippedRow]
    source: str
    language: str
    revision: str | None = None
    selected: int = 0
    shard: dict[str, Any] | None = None  # shards.shard_metadata of a sharded run

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "language": self.language,
            "revision": self.revision,
            "loaded": len(self.rows),
            "skipped": len(self.skipped),
            "skipped_rows": [s.model_dump() for s in self.skipped],
            **({"shard": self.shard} if self.shard else {}),
        }

    def require_rows(self) -> None:
        """Fail with one message that counts the skip reasons when no row is left to evaluate."""
        if self.rows:
            return
        if not self.skipped:
            raise DatasetError(f"no rows to evaluate from {self.source} (nothing matched the filters)")
        raise DatasetError(
            f"no usable rows in {self.source}: all {len(self.skipped)} selected or bad row(s) were skipped:\n"
            + skip_reasons(self.skipped)
        )


def skip_reasons(skipped: Sequence[SkippedRow], top: int = 10) -> str:
    """The skip reasons grouped by kind (text before the first ":"), with counts and example uuids."""
    groups: dict[str, list[SkippedRow]] = {}
    for s in skipped:
        groups.setdefault(re.split(r"[:(]", s.reason, maxsplit=1)[0].strip(), []).append(s)
    ranked = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    lines = [f"  {len(rows)} x {kind} (e.g. {rows[0].uuid}: {rows[0].reason[:200]})" for kind, rows in ranked[:top]]
    if len(ranked) > top:
        lines.append(f"  ... and {len(ranked) - top} other kind(s) of problem")
    return "\n".join(lines)


@dataclass
class _Source:
    """Rows without audio, plus a way to fetch one row's audio field and the folder paths resolve in.

    `audio_fields(indices, column)` yields (row, value) of an audio column (default `audio`); `columns` names
    every column of the source (audio columns included) where the format knows them up front.
    """

    meta: Callable[[], Iterator[dict[str, Any]]]
    audio_fields: Callable[..., Iterator[tuple[int, Any]]]
    root: Path | None
    description: str
    revision: str | None = None
    fetch_relative: Callable[[str], Path] | None = field(default=None)
    # Identity of the source files' contents (paths, sizes, mtimes): lets a warm run skip reading audio.
    fingerprint: str | None = None
    columns: list[str] | None = None


def _split_choice(values: Sequence[str] | str | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    return [v.strip() for v in values]


def _check_choice(name: str, values: Sequence[str] | str | None, valid: Sequence[str]) -> list[str] | None:
    values = _split_choice(values)
    unknown = [v for v in values or [] if v not in valid]
    if unknown:
        raise DatasetError(f"unknown {name} {unknown}; valid {name}: {', '.join(valid)}")
    return values


class _Vocabulary:
    """The subsets (or types) a run accepts. Bench names are always accepted; another name only when the
    user names it in the filter, or when the dataset uses none of the bench names (its own taxonomy)."""

    def __init__(self, name: str, field: str, known: Sequence[str], chosen: list[str] | None) -> None:
        self.name, self.field, self.known, self.chosen = name, field, known, chosen
        self.seen: set[str] = set()

    def problem(self, value: str, own_taxonomy: bool) -> str | None:
        # Rows reach this only after the filters, so a value named in the filter is always accepted.
        if value in self.known or own_taxonomy or self.chosen:
            return None
        return (
            f"unknown {self.field} {value!r} (bench {self.name}: {', '.join(self.known)}; "
            f"-T {self.name}={value} evaluates it)"
        )

    def check_chosen(self) -> None:
        """A filter value that is neither a bench name nor in the data is a typo: fail at start."""
        missing = [v for v in self.chosen or [] if v not in self.known and v not in self.seen]
        if missing:
            raise DatasetError(
                f"unknown {self.name} {missing}: not bench {self.name} ({', '.join(self.known)}) and no row has them"
            )


def load_bench(
    dataset: str = HUB_ID,
    language: str = "en",
    subsets: Sequence[str] | str | None = None,
    types: Sequence[str] | str | None = None,
    labels: Sequence[str] | str | None = None,
    limit: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    strict: bool = False,
    revision: str | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    cache_directory: Path | None = None,
    progress: bool = False,
    read_audio: bool = True,
    resampler: str = "soxr",
    shard: str | None = None,
) -> BenchLoad:
    """Load, validate, filter and cache bench rows. Bad rows are skipped and named, or raise if `strict`.

    With `read_audio=False` only captions and rubrics are read (rows get an empty audio path). `resampler` is
    the protocol's audio pipeline (`audio.to_mono_16k`); each has its own cache entries. `shard` ("k/n") keeps
    the rows of shard k (see `anyaudio_eval.shards`), chosen after the shuffle and `limit`.
    """
    pipeline_version(resampler)
    try:
        chosen_shard = parse_shard(shard)
    except ValueError as ex:
        raise DatasetError(str(ex)) from None
    if language not in LANGUAGES:
        raise DatasetError(f"unknown language {language!r}; valid languages: {', '.join(LANGUAGES)}")
    subset_filter = _split_choice(subsets)
    type_filter = _split_choice(types)
    label_filter = _check_choice("labels", labels, LABELS)
    vocabularies = (
        _Vocabulary("subsets", "subset", SUBSETS, subset_filter),
        _Vocabulary("types", "type", TYPES, type_filter),
    )

    source = _open_source(dataset, language, revision)
    skipped: list[SkippedRow] = []

    def skip(uuid: str, reason: str) -> None:
        if strict:
            raise DatasetError(f"bad row {uuid}: {reason} (strict=True)")
        skipped.append(SkippedRow(uuid=uuid, reason=reason))

    # Pass 1: metadata only.
    valid: list[tuple[int, str, dict[str, Any]]] = []
    seen: set[str] = set()
    for index, raw in enumerate(source.meta()):
        uuid = str(raw.get("uuid") or f"row-{index}")
        problem = _validate_meta(raw)
        if problem:
            skip(uuid, problem)
            continue
        if uuid in seen:
            skip(uuid, "duplicate uuid")
            continue
        seen.add(uuid)
        for vocabulary in vocabularies:
            vocabulary.seen.add(str(raw[vocabulary.field]))
        valid.append((index, uuid, raw))
    for vocabulary in vocabularies:
        vocabulary.check_chosen()
    # A dataset that uses none of the bench names has a taxonomy of its own: all its names are kept.
    own = [not (v.seen & set(v.known)) for v in vocabularies]
    candidates: list[tuple[int, dict[str, Any]]] = []
    for index, uuid, raw in valid:
        if subset_filter and raw["subset"] not in subset_filter:
            continue
        if type_filter and raw["type"] not in type_filter:
            continue
        if label_filter and str(raw["label"]).strip().lower() not in label_filter:
            continue
        problem = next(
            (p for v, o in zip(vocabularies, own, strict=True) if (p := v.problem(str(raw[v.field]), o))), None
        )
        if problem:
            skip(uuid, problem)
            continue
        candidates.append((index, raw))

    if shuffle:
        random.Random(seed).shuffle(candidates)
    if limit is not None:
        candidates = candidates[: max(0, int(limit))]
    selected = len(candidates)
    candidates = select(candidates, chosen_shard, lambda c: str(c[1]["uuid"]))
    if chosen_shard and selected and not candidates:
        raise DatasetError(
            f"shard {chosen_shard.label} has no rows: the run selected only {selected}; use fewer shards"
        )
    # Rows skipped by validation belong to a shard too, so the shards' skip counts add up to the run's.
    skipped[:] = select(skipped, chosen_shard, lambda s: s.uuid)

    # Pass 2: audio of the selected rows only.
    wanted = {index for index, _ in candidates}
    uuid_of = {index: raw["uuid"] for index, raw in candidates}
    paths: dict[int, str] = {}
    failures: dict[int, str] = {}
    track = _progress(progress and read_audio, len(wanted), source.description)
    if not read_audio:
        paths = dict.fromkeys(wanted, "")
    row_index = _RowIndex(source.fingerprint, cache_directory, resampler) if read_audio else None
    if row_index is not None:
        paths.update(row_index.usable(wanted, max_seconds))
    to_read = sorted(wanted - paths.keys())
    for index, audio_field in source.audio_fields(to_read) if read_audio else ():
        try:
            paths[index] = str(_cache_field(audio_field, source, max_seconds, cache_directory, resampler))
        except (AudioError, DatasetError) as ex:
            if strict:  # fail at the first bad clip rather than after caching all the others
                skip(str(uuid_of[index]), str(ex))
            failures[index] = str(ex)
        track()
    if row_index is not None:
        row_index.save({i: paths[i] for i in to_read if i in paths})

    rows: list[BenchRow] = []
    for index, raw in candidates:
        uuid = str(raw["uuid"])
        if index in failures or index not in paths:
            skip(uuid, failures.get(index, "audio missing from the source"))
            continue
        try:
            rows.append(
                BenchRow(
                    uuid=uuid,
                    audio=paths[index],
                    caption=str(raw["caption"]),
                    label=str(raw["label"]).strip().lower(),
                    type=str(raw["type"]),
                    subset=str(raw["subset"]),
                    rubric=parse_rubric(raw.get("rubric")),
                    language=str(raw.get("language") or language),
                    extra={k: v for k, v in raw.items() if k not in META_FIELDS and not k.startswith("_")},
                )
            )
        except (ValidationError, ValueError) as ex:
            skip(uuid, f"invalid row: {_first_error(ex)}")
    return BenchLoad(
        rows=rows,
        skipped=skipped,
        source=source.description,
        language=language,
        revision=source.revision,
        selected=len(candidates),
        shard=shard_metadata(chosen_shard, len(candidates), selected),
    )


class _RowIndex:
    """Row number -> cached WAV for one unchanged source, so a warm run reads no audio bytes at all."""

    def __init__(self, fingerprint: str | None, directory: Path | None, resampler: str = "soxr") -> None:
        self.path: Path | None = None
        self.entries: dict[str, str] = {}
        if fingerprint is None:
            return
        key = hashlib.sha256((fingerprint + pipeline_version(resampler)).encode()).hexdigest()
        self.path = (directory or cache_dir()) / "row-index" / f"{key}.json"
        try:
            self.entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}

    def usable(self, wanted: set[int], max_seconds: float) -> dict[int, str]:
        found = {}
        for i in wanted:
            cached = self.entries.get(str(i))
            # A clip over this run's limit is read again, so the limit error names it.
            if cached and Path(cached).is_file() and duration_seconds(cached) <= max_seconds:
                found[i] = cached
        return found

    def save(self, new: dict[int, str]) -> None:
        if self.path is None or not new:
            return
        try:  # shard processes of one run share this index: keep what the others saved since we read it
            self.entries = {**json.loads(self.path.read_text(encoding="utf-8")), **self.entries}
        except (OSError, ValueError):
            pass
        self.entries.update({str(i): p for i, p in new.items()})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.entries), encoding="utf-8")
        os.replace(tmp, self.path)


def _validate_meta(raw: dict[str, Any]) -> str | None:
    if raw.get("_error"):
        return str(raw["_error"])
    missing = [k for k in ("uuid", "caption", "label", "type", "subset") if raw.get(k) in (None, "")]
    if missing:
        return f"missing field(s): {', '.join(missing)}"
    label = str(raw["label"]).strip().lower()
    if label not in LABELS:
        return f"unknown label {raw['label']!r} (expected yes or no)"
    try:
        parse_rubric(raw.get("rubric"))
    except (ValidationError, ValueError) as ex:
        return f"invalid rubric: {_first_error(ex)}"
    return None


def rubric_elements(value: Any) -> list[Any]:
    """The raw rubric items of a field: a list, a JSON string of one, or a {"<name>": [...]} wrapper."""
    if value is None:
        return []
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    if isinstance(value, dict):  # {"判断题列表": [...]} or {"questions": [...]}
        lists = [v for v in value.values() if isinstance(v, list)]
        value = lists[0] if lists else []
    if not isinstance(value, list):
        raise ValueError("rubric is not a list of items")
    return value


def parse_rubric(value: Any) -> list[RubricItem]:
    """Rubric items of a row's `rubric` field (any of the shapes `rubric_elements` accepts)."""
    return [RubricItem.model_validate(item) for item in rubric_elements(value)]


def read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a line that is not a JSON object becomes
    {"_error": reason}, so each caller decides whether that skips a row or stops the run."""
    records: list[tuple[int, dict[str, Any]]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as ex:
            record = {"_error": f"invalid JSON: {ex.msg}"}
        records.append((n, record if isinstance(record, dict) else {"_error": "line is not a JSON object"}))
    return records


def _first_error(ex: Exception) -> str:
    if isinstance(ex, ValidationError):
        err = ex.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return str(ex)


def _embedded_bytes(data: Any) -> bytes:
    """Embedded audio: bytes, or a base64 string (as JSON manifests and some exports write `audio.bytes`)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        text = data.split(",", 1)[1] if data.startswith("data:") and "," in data else data
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except (ValueError, binascii.Error) as ex:
            raise DatasetError(f"audio.bytes is a string but not base64: {ex}") from ex
    raise DatasetError(f"audio.bytes has type {type(data).__name__} (expected bytes or a base64 string)")


def _cache_field(
    audio_field: Any, source: _Source, max_seconds: float, directory: Path | None, resampler: str = "soxr"
) -> Path:
    """Audio as embedded bytes ({bytes, path} struct or raw bytes) or as a path relative to the dataset root."""
    data: Any = None
    rel: Any = None
    if isinstance(audio_field, dict):
        data = audio_field.get("bytes")
        rel = audio_field.get("path")
    elif isinstance(audio_field, (bytes, bytearray)):
        data = audio_field
    elif isinstance(audio_field, str):
        rel = audio_field
    elif audio_field is not None:
        raise DatasetError(f"audio field has type {type(audio_field).__name__} (expected a struct, bytes or a path)")
    if data:
        return cache_audio(_embedded_bytes(data), max_seconds, directory, resampler)
    if not rel:
        raise DatasetError("row has no audio bytes and no audio path")
    if not isinstance(rel, str):
        raise DatasetError(f"audio.path has type {type(rel).__name__} (expected a string)")
    return cache_audio(_resolve_relative(rel, source), max_seconds, directory, resampler)


def _resolve_relative(rel: str, source: _Source) -> Path:
    if source.fetch_relative is not None:
        return source.fetch_relative(rel)
    if source.root is None:
        raise DatasetError(f"audio path {rel!r} has no dataset root to resolve against")
    root = source.root.resolve()
    path = (root / rel).resolve()
    # A path that escapes the dataset root is refused: a manifest must not read arbitrary files.
    if not path.is_relative_to(root):
        raise DatasetError(f"audio path {rel!r} escapes the dataset root")
    if not path.is_file():
        raise DatasetError(f"audio file not found: {rel}")
    return path


# -- sources ---------------------------------------------------------------------------------------


def _open_source(dataset: str, language: str, revision: str | None) -> _Source:
    path = Path(dataset).expanduser()
    if path.is_dir():
        files = sorted((path / language).glob("test-*.parquet")) or sorted((path / language).glob("*.parquet"))
        if not files:
            jsonl = path / f"{language}.jsonl"
            if jsonl.is_file():
                return _jsonl_source(jsonl)
            raise DatasetError(
                f"no parquet files under {path / language} (expected the hub layout "
                f"{language}/test-*.parquet) and no {language}.jsonl manifest"
            )
        return _parquet_source(files, root=path, description=str(path))
    if path.is_file():
        if path.suffix == ".parquet":
            return _parquet_source([path], root=path.parent, description=str(path))
        if path.suffix in (".jsonl", ".json"):
            return _jsonl_source(path)
        raise DatasetError(f"{path}: unsupported file type (use .parquet, .jsonl or a hub-layout folder)")
    if dataset.count("/") == 1 and not dataset.startswith((".", "/", "~")):
        return _hub_source(dataset, language, revision)
    raise DatasetError(f"dataset {dataset!r} is neither an existing path nor a hub id (owner/name)")


def open_table(
    dataset: str,
    audio_columns: Sequence[str],
    config: str | None = None,
    split: str = "test",
    revision: str | None = None,
    audio_root: str | Path | None = None,
) -> _Source:
    """A table of rows with audio columns: a JSONL, CSV or parquet file, a folder of parquet files (or holding
    one JSONL/CSV file), or a hub id. Relative audio paths resolve inside `audio_root` (default: the file's
    folder) and never outside it."""
    root = Path(audio_root).expanduser() if audio_root else None
    if root is not None and not root.is_dir():
        raise DatasetError(f"audio_root {root} is not a folder")
    path = Path(dataset).expanduser()
    if path.is_dir():
        parquet = sorted(path.rglob("*.parquet"))
        if split and any(split in f.name for f in parquet):
            parquet = [f for f in parquet if split in f.name]
        if parquet:
            return _parquet_source(parquet, root=root or path, description=str(path), audio_columns=audio_columns)
        tables = sorted(f for ext in ("*.jsonl", "*.csv") for f in path.glob(ext))
        if len(tables) != 1:
            found = ", ".join(f.name for f in tables) or "none"
            raise DatasetError(
                f"{path}: expected parquet files or one .jsonl/.csv table in the folder (found: {found})"
            )
        path = tables[0]
        root = root or path.parent
    if path.is_file():
        if path.suffix == ".parquet":
            return _parquet_source([path], root=root or path.parent, description=str(path), audio_columns=audio_columns)
        if path.suffix in (".jsonl", ".json"):
            return _jsonl_source(path, audio_columns, root)
        if path.suffix == ".csv":
            return _csv_source(path, audio_columns, root)
        raise DatasetError(f"{path}: unsupported file type (use .jsonl, .csv, .parquet, a folder or a hub id)")
    if dataset.count("/") == 1 and not dataset.startswith((".", "/", "~")):
        return _hub_source(dataset, config, revision, split=split, audio_columns=audio_columns)
    raise DatasetError(f"dataset {dataset!r} is neither an existing path nor a hub id (owner/name)")


def cache_field(
    audio_field: Any, source: _Source, max_seconds: float, directory: Path | None = None, resampler: str = "soxr"
) -> Path:
    """Cache one row's audio value (embedded bytes or a path inside the source's root) as a 16 kHz WAV."""
    return _cache_field(audio_field, source, max_seconds, directory, resampler)


def _jsonl_source(path: Path, audio_columns: Sequence[str] = ("audio",), root: Path | None = None) -> _Source:
    records = [rec if "_error" not in rec else {"uuid": f"{path.name}:{n}", **rec} for n, rec in read_jsonl(path)]
    return _records_source(records, path, audio_columns, root)


def _csv_source(path: Path, audio_columns: Sequence[str] = ("audio",), root: Path | None = None) -> _Source:
    """A CSV with a header row; audio columns hold paths relative to the file (or to `root`)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            records = [dict(r) for r in reader]
            header = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as ex:
        raise DatasetError(f"{path}: cannot read the CSV file: {ex}") from ex
    source = _records_source(records, path, audio_columns, root)
    source.columns = header
    return source


def _records_source(
    records: list[dict[str, Any]], path: Path, audio_columns: Sequence[str], root: Path | None
) -> _Source:
    def meta() -> Iterator[dict[str, Any]]:
        for rec in records:
            yield {k: v for k, v in rec.items() if k not in audio_columns}

    def audio_fields(indices: Sequence[int], column: str = "audio") -> Iterator[tuple[int, Any]]:
        for i in indices:
            yield i, records[i].get(column)

    columns = list(dict.fromkeys(k for rec in records for k in rec if not k.startswith("_")))
    return _Source(
        meta=meta, audio_fields=audio_fields, root=root or path.parent, description=str(path), columns=columns
    )


def _parquet_source(
    files: list[Path], root: Path, description: str, audio_columns: Sequence[str] = ("audio",)
) -> _Source:
    import pyarrow.parquet as pq

    def open_file(f: Path) -> pq.ParquetFile:
        # No pre-buffering: pyarrow would otherwise buffer the audio of every row group of the file.
        return pq.ParquetFile(f, pre_buffer=False, buffer_size=1 << 20)

    def meta() -> Iterator[dict[str, Any]]:
        for f in files:
            pf = open_file(f)
            cols = [c for c in pf.schema_arrow.names if c not in audio_columns]
            for batch in pf.iter_batches(batch_size=1024, columns=cols):
                yield from batch.to_pylist()

    def audio_fields(indices: Sequence[int], column: str = "audio") -> Iterator[tuple[int, Any]]:
        wanted = set(indices)
        offset = 0
        for f in files:
            pf = open_file(f)
            has_audio = column in pf.schema_arrow.names
            for group in range(pf.metadata.num_row_groups):
                n_group = pf.metadata.row_group(group).num_rows
                # Row groups without a selected row are never read, so filters and limits save I/O.
                if has_audio and any(i in wanted for i in range(offset, offset + n_group)):
                    yield from _row_group_audio(pf, f, group, offset, wanted, column)
                offset += n_group

    fingerprint = json.dumps([(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files])
    columns = list(dict.fromkeys(c for f in files for c in open_file(f).schema_arrow.names))
    return _Source(
        meta=meta,
        audio_fields=audio_fields,
        root=root,
        description=description,
        fingerprint=fingerprint,
        columns=columns,
    )


# A row group whose audio column is bigger than this is streamed a clip at a time (see parquet_stream).
STREAM_ABOVE_BYTES = 64 << 20


def _row_group_audio(
    pf: Any, path: Path, group: int, offset: int, wanted: set[int], name: str = "audio"
) -> Iterator[tuple[int, Any]]:
    """(row, audio field) for the wanted rows of one row group, in bounded memory."""
    import pyarrow as pa

    audio_type = pf.schema_arrow.field(name).type
    is_struct = pa.types.is_struct(audio_type) and audio_type.get_field_index("bytes") >= 0
    bytes_type = audio_type.field("bytes").type if is_struct else audio_type
    done: set[int] = set()
    # Only embedded bytes can be big; a column of paths is read by pyarrow.
    if pa.types.is_binary(bytes_type) or pa.types.is_large_binary(bytes_type):
        try:
            column = column_chunk(pf.metadata, pf.schema, group, f"{name}.bytes" if is_struct else name)
            if max(column.size, column.uncompressed_size) > STREAM_ABOVE_BYTES:
                names: list[Any] = []
                if is_struct and audio_type.get_field_index("path") >= 0:
                    struct = pf.read_row_group(group, columns=[f"{name}.path"]).column(0).to_pylist()
                    names = [(v or {}).get("path") for v in struct]
                for row, value in stream_binary_column(path, column, lambda r: offset + r in wanted):
                    done.add(row)
                    audio = {"bytes": value, "path": names[row] if names else None} if is_struct else value
                    yield offset + row, audio
        except Unstreamable as ex:
            # pyarrow reads what is left: memory is then bounded by a row group's audio, not by a clip.
            logger.info("row group %d of %s read whole (%s)", group, path.name, ex)
    n_group = pf.metadata.row_group(group).num_rows
    if not any(i in wanted and i - offset not in done for i in range(offset, offset + n_group)):
        return
    start = offset
    for batch in pf.iter_batches(batch_size=16, row_groups=[group], columns=[name]):
        values = batch.column(0)
        for i in range(start, start + batch.num_rows):
            if i in wanted and i - offset not in done:
                yield i, values[i - start].as_py()
        start += batch.num_rows


def _hub_source(
    repo: str,
    language: str | None,
    revision: str | None,
    split: str = "test",
    audio_columns: Sequence[str] = ("audio",),
) -> _Source:
    try:
        import datasets
    except ImportError as ex:  # pragma: no cover - datasets is a core dependency
        raise DatasetError("the `datasets` package is needed to read from the hub") from ex
    try:
        ds = datasets.load_dataset(repo, language, split=split, revision=revision)
    except Exception as ex:
        raise DatasetError(
            f"could not load {repo!r} (config {language!r}, split {split!r}) from the Hugging Face hub: {ex}\n"
            f"Without network, download it elsewhere (`hf download {repo} --repo-type dataset "
            f"--local-dir DIR`) and pass `-T dataset=DIR`"
            + (f" (a folder with {language}/{split}-*.parquet)." if language else ".")
        ) from ex
    present = [c for c in audio_columns if c in ds.column_names]
    for c in present:
        # Never let datasets decode audio (torchcodec); we decode the bytes ourselves.
        if isinstance(ds.features[c], datasets.Audio):
            ds = ds.cast_column(c, datasets.Audio(decode=False))
    meta_ds = ds.remove_columns(present)

    def meta() -> Iterator[dict[str, Any]]:
        for batch in meta_ds.iter(batch_size=1024):
            keys = list(batch.keys())
            for values in zip(*(batch[k] for k in keys), strict=True):
                yield dict(zip(keys, values, strict=True))

    def audio_fields(indices: Sequence[int], column: str = "audio") -> Iterator[tuple[int, Any]]:
        for i in indices:
            yield i, ds[int(i)][column]

    def fetch_relative(rel: str) -> Path:
        from huggingface_hub import hf_hub_download

        if Path(rel).is_absolute():
            # datasets may resolve a path into its own cache; anything else is outside the dataset.
            from datasets import config as ds_config
            from huggingface_hub import constants as hub_constants

            resolved = Path(rel).resolve()
            caches = [Path(ds_config.HF_DATASETS_CACHE).resolve(), Path(hub_constants.HF_HUB_CACHE).resolve()]
            if resolved.is_file() and any(resolved.is_relative_to(c) for c in caches):
                return resolved
            raise DatasetError(f"audio path {rel!r} escapes the dataset root")
        if ".." in Path(rel).parts:
            raise DatasetError(f"audio path {rel!r} escapes the dataset root")
        try:
            return Path(hf_hub_download(repo, rel, repo_type="dataset", revision=revision))
        except Exception as ex:
            raise DatasetError(f"could not fetch {rel} from {repo}: {ex}") from ex

    return _Source(
        meta=meta,
        audio_fields=audio_fields,
        root=None,
        description=repo,
        revision=revision or "main",
        fetch_relative=fetch_relative,
        # datasets' own content fingerprint of the prepared split (changes when the hub data does).
        fingerprint=f"hub:{repo}:{language}:{getattr(ds, '_fingerprint', None) or 'unknown'}"
        if getattr(ds, "_fingerprint", None)
        else None,
        columns=list(ds.column_names),
    )


def _progress(enabled: bool, total: int, description: str) -> Callable[[], None]:
    if not enabled or total < 50:
        return lambda: None
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task(f"caching audio from {description}", total=total)
    bar.start()
    done = [0]

    def step() -> None:
        done[0] += 1
        bar.advance(task)
        if done[0] >= total:
            bar.stop()

    return step
