"""The page-streaming reader of binary parquet columns: same values as pyarrow, one value in memory."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fixtures import embedded, encode, row, tone, write_parquet

from anyaudio_eval.bench import load_bench, loaders
from anyaudio_eval.bench.parquet_stream import (
    Unstreamable,
    _snappy,
    column_chunk,
    stream_binary_column,
)

AUDIO = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _values(n: int, seed: int = 0) -> list[bytes | None]:
    """Incompressible, highly compressible, repeating, null, duplicate and empty values, and PCM."""
    rng = np.random.default_rng(seed)
    t = np.arange(20_000) / 16_000
    pcm = (np.sin(2 * np.pi * 440 * t) * 8000 + rng.normal(0, 20, t.size)).astype(np.int16).tobytes()
    kinds = [
        lambda: rng.bytes(int(rng.integers(1, 40_000))),
        lambda: bytes(int(rng.integers(1, 90_000))),
        lambda: (b"abc" * 30_000)[: int(rng.integers(1, 80_000))],
        lambda: None,
        lambda: pcm,
        lambda: b"",
    ]
    return [kinds[i % len(kinds)]() for i in range(n)]


def _stream(path, group: int, wanted=lambda r: True) -> dict[int, bytes | None]:
    pf = pq.ParquetFile(path)
    column = column_chunk(pf.metadata, pf.schema, group, "audio.bytes")
    return dict(stream_binary_column(path, column, wanted))


def _pyarrow(path, group: int) -> dict[int, bytes | None]:
    values = pq.ParquetFile(path).read_row_group(group).column("audio").to_pylist()
    return {r: (v or {}).get("bytes") for r, v in enumerate(values)}


WRITERS = list(
    itertools.product(
        ["NONE", "SNAPPY", "GZIP", "ZSTD", "BROTLI"],  # codecs
        [True, False],  # dictionary encoding
        ["1.0", "2.0"],  # data page version
        [(1 << 20, 1024), (2_000, 2)],  # (data page size, write batch size): one page per chunk, or many
    )
)


@pytest.mark.parametrize(("codec", "dictionary", "version", "paging"), WRITERS)
def test_streamed_values_equal_pyarrow_for_every_writer_layout(tmp_path, codec, dictionary, version, paging):
    values = _values(14)
    # A null struct as well as a null `bytes` inside a struct.
    audio = [None if i == 9 else {"bytes": v, "path": f"{i}.wav"} for i, v in enumerate(values)]
    path = tmp_path / "a.parquet"
    pq.write_table(
        pa.table({"audio": pa.array(audio, AUDIO)}),
        path,
        compression=codec,
        use_dictionary=dictionary,
        data_page_version=version,
        data_page_size=paging[0],
        write_batch_size=paging[1],
        row_group_size=8,
    )
    for group in range(pq.ParquetFile(path).metadata.num_row_groups):
        expected = _pyarrow(path, group)
        assert _stream(path, group) == expected
        odd = {r: v for r, v in expected.items() if r % 2}
        assert _stream(path, group, wanted=lambda r: r % 2 == 1) == odd


def test_a_plain_binary_column_streams_too(tmp_path):
    values = [b"x" * 5000, None, b"y" * 3]
    path = tmp_path / "b.parquet"
    pq.write_table(pa.table({"audio": pa.array(values, pa.binary())}), path)
    pf = pq.ParquetFile(path)
    column = column_chunk(pf.metadata, pf.schema, 0, "audio")
    assert dict(stream_binary_column(path, column, lambda r: True)) == dict(enumerate(values))


def test_an_unsupported_codec_is_reported_not_misread(tmp_path):
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"audio": pa.array([{"bytes": b"a" * 100, "path": "x"}], AUDIO)}), path, compression="LZ4")
    with pytest.raises(Unstreamable):
        _stream(path, 0)


def _chunks(data: bytes, size: int):
    return iter([data[i : i + size] for i in range(0, len(data), size)])


@pytest.mark.parametrize("chunk", [1, 2, 5, 7, 64, 1 << 20])
def test_snappy_decoding_survives_any_split_of_its_input(chunk):
    codec = pa.Codec("snappy")
    rng = np.random.default_rng(1)
    # Short and long literals (1-4 length bytes), overlapping runs, and far copies within the 64 KiB window.
    raw = b"".join([rng.bytes(70_000), bytes(5000), b"ab" * 3000, rng.bytes(61), b"xyz" * 20_000, rng.bytes(300)])
    compressed = codec.compress(raw, asbytes=True)
    assert b"".join(_snappy(_chunks(compressed, chunk))) == raw


def test_snappy_output_comes_in_bounded_pieces():
    raw = np.random.default_rng(2).bytes(5 << 20)
    pieces = list(_snappy(_chunks(pa.Codec("snappy").compress(raw, asbytes=True), 1 << 20)))
    assert b"".join(pieces) == raw
    assert max(len(p) for p in pieces) <= 2 << 20


@pytest.mark.parametrize(
    "damage",
    [
        lambda c: c[: len(c) // 2],  # truncated
        lambda c: c[:1] + bytes([0b11_111_01, 0xFF]) + c[1:],  # a copy reaching before the start
        lambda c: bytes([0xFF, 0xFF, 0xFF, 0x7F]) + c[1:],  # a length the stream does not reach
    ],
    ids=["truncated", "bad-reference", "wrong-length"],
)
def test_damaged_snappy_raises_unstreamable(damage):
    compressed = pa.Codec("snappy").compress(np.random.default_rng(3).bytes(10_000) + bytes(10_000), asbytes=True)
    with pytest.raises(Unstreamable):
        b"".join(_snappy(_chunks(damage(compressed), 4096)))


def _peak_streaming(tmp_path, n_values: int, value_size: int) -> int:
    """Peak Python allocation while streaming one row group of n values written as a single page."""
    rng = np.random.default_rng(4)
    audio = [{"bytes": rng.bytes(value_size), "path": f"{i}.wav"} for i in range(n_values)]
    path = tmp_path / f"big-{n_values}.parquet"
    pq.write_table(pa.table({"audio": pa.array(audio, AUDIO)}), path, use_dictionary=False)
    del audio
    pf = pq.ParquetFile(path)
    column = column_chunk(pf.metadata, pf.schema, 0, "audio.bytes")
    tracemalloc.start()
    try:
        total = sum(len(value) for _, value in stream_binary_column(path, column, lambda r: True))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == n_values * value_size
    return peak


def test_memory_does_not_grow_with_the_row_group(tmp_path):
    """pyarrow holds a single-page row group twice (compressed page + values); streaming holds a value."""
    value_size = 1 << 19
    small, large = _peak_streaming(tmp_path, 8, value_size), _peak_streaming(tmp_path, 64, value_size)
    assert large < 1.2 * small
    assert large < 64 * value_size / 2


# -- the loader around it -------------------------------------------------------------------------------


def _bench(tmp_path, n: int = 6, **write_options) -> tuple:
    rows = [row(f"r{i}", embedded(encode(tone(200 + 50 * i, 0.3)), f"r{i}.wav")) for i in range(n)]
    path = write_parquet(tmp_path / "en" / "test-00000-of-00001.parquet", rows)
    if write_options:
        pq.write_table(pq.read_table(path), path, **write_options)
    return rows, path


def _durations(load) -> dict[str, int]:
    import soundfile as sf

    return {r.uuid: sf.info(r.audio).frames for r in load.rows}


def test_loader_streams_big_row_groups_and_gets_the_same_clips(tmp_path, monkeypatch):
    _bench(tmp_path)
    whole = load_bench(str(tmp_path), cache_directory=tmp_path / "c1")
    calls = []
    real = loaders.stream_binary_column

    def counting(*args, **kwargs):
        calls.append(1)
        yield from real(*args, **kwargs)

    monkeypatch.setattr(loaders, "STREAM_ABOVE_BYTES", 0)
    monkeypatch.setattr(loaders, "stream_binary_column", counting)
    streamed = load_bench(str(tmp_path), cache_directory=tmp_path / "c2")
    assert calls
    assert [r.uuid for r in streamed.rows] == [r.uuid for r in whole.rows]
    assert [open(r.audio, "rb").read() for r in streamed.rows] == [open(r.audio, "rb").read() for r in whole.rows]


def test_a_stream_that_breaks_midway_finishes_with_pyarrow_without_repeats(tmp_path, monkeypatch):
    rows, _ = _bench(tmp_path)
    real = loaders.stream_binary_column

    def breaks_after_two(*args, **kwargs):
        for n, item in enumerate(real(*args, **kwargs)):
            if n == 2:
                raise Unstreamable("simulated")
            yield item

    seen: list[int] = []
    real_cache = loaders._cache_field

    def recording(audio_field, *args, **kwargs):
        seen.append(audio_field["path"])
        return real_cache(audio_field, *args, **kwargs)

    monkeypatch.setattr(loaders, "STREAM_ABOVE_BYTES", 0)
    monkeypatch.setattr(loaders, "stream_binary_column", breaks_after_two)
    monkeypatch.setattr(loaders, "_cache_field", recording)
    load = load_bench(str(tmp_path))
    assert load.skipped == []
    assert sorted(seen) == sorted(f"r{i}.wav" for i in range(len(rows)))  # each clip exactly once
    assert [r.uuid for r in load.rows] == [r["uuid"] for r in rows]


def test_an_unstreamable_codec_falls_back_to_pyarrow(tmp_path, monkeypatch):
    rows, _ = _bench(tmp_path, compression="LZ4")
    monkeypatch.setattr(loaders, "STREAM_ABOVE_BYTES", 0)
    load = load_bench(str(tmp_path))
    assert load.skipped == []
    assert len(load.rows) == len(rows)
