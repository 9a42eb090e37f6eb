"""Stream one binary parquet column a value at a time, whatever the page layout.

pyarrow (and `datasets`, which writes audio in row groups of 100) puts a row group's audio column into a
single data page, or a single dictionary page, because the writer checks page size only between batches
of 1024 values. Reading such a row group through pyarrow holds the compressed page and all its decompressed
values at once: about twice the row group's audio (over 1 GB for 100 clips of 30 s at 44.1 kHz stereo).

This module walks the column chunk's pages itself and decompresses each page as a stream (snappy, gzip,
zstd, brotli or none), so at most one value plus small buffers is in memory. Anything it does not handle
(nested repetition, other encodings or codecs, encryption, a malformed page) raises `Unstreamable`; the
caller then reads the row group with pyarrow as before.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

CHUNK = 1 << 20  # bytes read from the file, and decompressed bytes handed on, at a time
SNAPPY_WINDOW = 1 << 16  # snappy compresses 64 KiB blocks independently: copies reach back less than this
MAX_SMALL_PAGE = 64 << 20  # index pages (dictionary indices) are read whole; refuse absurd ones

# parquet.thrift enums
_DATA_PAGE, _DICTIONARY_PAGE, _DATA_PAGE_V2 = 0, 2, 3
_PLAIN, _PLAIN_DICTIONARY, _RLE, _RLE_DICTIONARY = 0, 2, 3, 8


class Unstreamable(Exception):
    """The column chunk uses something this reader does not stream; read it another way."""


# -- thrift compact protocol (just enough for page headers) ---------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _thrift_value(data: bytes, pos: int, kind: int) -> tuple[Any, int]:
    if kind in (1, 2):  # booleans outside lists are carried in the field header
        return kind == 1, pos
    if kind == 3:
        return data[pos], pos + 1
    if kind in (4, 5, 6):
        raw, pos = _varint(data, pos)
        return _zigzag(raw), pos
    if kind == 7:
        return data[pos : pos + 8], pos + 8
    if kind == 8:
        size, pos = _varint(data, pos)
        if pos + size > len(data):
            raise IndexError("truncated binary")
        return data[pos : pos + size], pos + size
    if kind in (9, 10):
        header = data[pos]
        pos += 1
        size, elem = header >> 4, header & 0x0F
        if size == 15:
            size, pos = _varint(data, pos)
        items = []
        for _ in range(size):
            if elem in (1, 2):  # booleans inside a list take a byte each
                item, pos = data[pos] == 1, pos + 1
            else:
                item, pos = _thrift_value(data, pos, elem)
            items.append(item)
        return items, pos
    if kind == 11:
        size, pos = _varint(data, pos)
        if size == 0:
            return {}, pos
        types = data[pos]
        pos += 1
        out = {}
        for _ in range(size):
            key, pos = _thrift_value(data, pos, types >> 4)
            out[key], pos = _thrift_value(data, pos, types & 0x0F)
        return out, pos
    if kind == 12:
        return _thrift_struct(data, pos)
    raise Unstreamable(f"unknown thrift type {kind}")


def _thrift_struct(data: bytes, pos: int) -> tuple[dict[int, Any], int]:
    fields: dict[int, Any] = {}
    last = 0
    while True:
        header = data[pos]
        pos += 1
        if header == 0:
            return fields, pos
        delta, kind = header >> 4, header & 0x0F
        if delta:
            field = last + delta
        else:
            raw, pos = _varint(data, pos)
            field = _zigzag(raw)
        fields[field], pos = _thrift_value(data, pos, kind)
        last = field


@dataclass(frozen=True)
class _Page:
    kind: int
    body: int  # file offset of the page body
    compressed_size: int
    uncompressed_size: int
    num_values: int
    encoding: int
    level_encoding: int = _RLE
    # data page v2 only: levels are stored uncompressed before the values
    rep_levels_size: int = 0
    def_levels_size: int = 0
    values_compressed: bool = True


def _read_page_header(f: BinaryIO, offset: int) -> _Page:
    size = 1 << 12
    while True:
        f.seek(offset)
        data = f.read(size)
        try:
            header, used = _thrift_struct(data, 0)
            break
        except IndexError:
            if len(data) < size or size >= 1 << 24:
                raise Unstreamable(f"truncated page header at byte {offset}") from None
            size *= 4  # page statistics can make a header long
    kind = header.get(1)
    common = {
        "kind": kind,
        "body": offset + used,
        "compressed_size": header.get(3, 0),
        "uncompressed_size": header.get(2, 0),
    }
    if kind == _DATA_PAGE:
        sub = header.get(5) or {}
        return _Page(**common, num_values=sub.get(1, 0), encoding=sub.get(2, -1), level_encoding=sub.get(3, _RLE))
    if kind == _DICTIONARY_PAGE:
        sub = header.get(7) or {}
        return _Page(**common, num_values=sub.get(1, 0), encoding=sub.get(2, -1))
    if kind == _DATA_PAGE_V2:
        sub = header.get(8) or {}
        return _Page(
            **common,
            num_values=sub.get(1, 0),
            encoding=sub.get(4, -1),
            def_levels_size=sub.get(5, 0),
            rep_levels_size=sub.get(6, 0),
            values_compressed=sub.get(7, True),
        )
    return _Page(**common, num_values=0, encoding=-1)  # index pages and the like: skipped


# -- streaming decompression ----------------------------------------------------------------------------


def _file_chunks(f: BinaryIO, offset: int, size: int) -> Iterator[bytes]:
    f.seek(offset)
    left = size
    while left > 0:
        data = f.read(min(CHUNK, left))
        if not data:
            raise Unstreamable("file ends inside a page")
        left -= len(data)
        yield data


def _snappy(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Decode a raw snappy stream incrementally, keeping the last 64 KiB of output for back references."""
    data = b""
    while True:  # the preamble: the uncompressed length as a varint
        try:
            expected, pos = _varint(data, 0)
            break
        except IndexError:
            more = next(chunks, b"")
            if not more:
                raise Unstreamable("empty snappy stream") from None
            data += more
    out = bytearray()
    produced = 0
    try:
        while True:
            if pos + 5 > len(data):  # a tag and its longest operand may straddle chunks
                more = next(chunks, b"")
                if more:
                    data, pos = data[pos:] + more, 0
                    continue
                if pos >= len(data):
                    break
            tag = data[pos]
            kind = tag & 3
            if kind == 0:  # literal
                length = tag >> 2
                pos += 1
                if length >= 60:
                    extra = length - 59
                    length = int.from_bytes(data[pos : pos + extra], "little")
                    pos += extra
                length += 1
                piece = data[pos : pos + length]
                pos += len(piece)
                out += piece
                length -= len(piece)
                while length > 0:  # a literal longer than what is buffered
                    data = next(chunks, b"")
                    if not data:
                        raise Unstreamable("snappy literal runs past the page")
                    piece = data[:length]
                    pos = len(piece)
                    out += piece
                    length -= len(piece)
            else:
                if kind == 1:
                    length = 4 + ((tag >> 2) & 7)
                    offset = ((tag >> 5) << 8) | data[pos + 1]
                    pos += 2
                elif kind == 2:
                    length = 1 + (tag >> 2)
                    offset = data[pos + 1] | (data[pos + 2] << 8)
                    pos += 3
                else:
                    length = 1 + (tag >> 2)
                    offset = int.from_bytes(data[pos + 1 : pos + 5], "little")
                    pos += 5
                start = len(out) - offset
                if offset == 0 or start < 0:
                    raise Unstreamable("snappy back reference outside the kept window")
                if offset >= length:
                    out += out[start : start + length]
                else:  # overlapping copy: the last `offset` bytes repeat
                    pattern = bytes(out[start:])
                    out += (pattern * (length // offset + 1))[:length]
            if len(out) >= CHUNK + SNAPPY_WINDOW:
                cut = len(out) - SNAPPY_WINDOW
                produced += cut
                yield bytes(out[:cut])
                del out[:cut]
    except IndexError:
        raise Unstreamable("truncated snappy stream") from None
    produced += len(out)
    if produced != expected:
        raise Unstreamable(f"snappy stream gave {produced} bytes, expected {expected}")
    if out:
        yield bytes(out)


def _gzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    inflate = zlib.decompressobj(47)  # gzip or zlib header
    for chunk in chunks:
        while chunk:
            out = inflate.decompress(chunk, CHUNK)
            chunk = inflate.unconsumed_tail
            if out:
                yield out
    tail = inflate.flush()
    if tail:
        yield tail


def _arrow_stream(codec: str) -> Callable[[Iterator[bytes]], Iterator[bytes]]:
    def decode(chunks: Iterator[bytes]) -> Iterator[bytes]:
        import pyarrow as pa

        class _Raw:  # a read-only file over the page's compressed chunks
            closed = False
            pending = b""

            def readable(self) -> bool:
                return True

            def read(self, n: int = -1) -> bytes:
                while n < 0 or len(self.pending) < n:
                    more = next(chunks, b"")
                    if not more:
                        break
                    self.pending += more
                out, self.pending = (self.pending, b"") if n < 0 else (self.pending[:n], self.pending[n:])
                return out

            def close(self) -> None:
                self.closed = True

        try:
            stream = pa.CompressedInputStream(pa.PythonFile(_Raw(), mode="r"), codec)
            while out := stream.read(CHUNK):
                yield bytes(out)
        except (pa.ArrowException, ValueError) as ex:
            raise Unstreamable(f"{codec} page: {ex}") from ex

    return decode


_DECOMPRESSORS: dict[str, Callable[[Iterator[bytes]], Iterator[bytes]]] = {
    "UNCOMPRESSED": lambda chunks: chunks,
    "SNAPPY": _snappy,
    "GZIP": _gzip,
    "ZSTD": _arrow_stream("zstd"),
    "BROTLI": _arrow_stream("brotli"),
}


class _Reader:
    """Exact-length reads over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.buffer = b""
        self.pos = 0

    def read(self, n: int) -> bytes:
        if self.pos + n <= len(self.buffer):
            out = self.buffer[self.pos : self.pos + n]
            self.pos += n
            return out
        parts = [self.buffer[self.pos :]]
        have = len(parts[0])
        while have < n:
            more = next(self.chunks, b"")
            if not more:
                raise Unstreamable("page ends before its values")
            parts.append(more)
            have += len(more)
        joined = b"".join(parts)
        self.buffer, self.pos = joined, n
        if len(joined) > n + CHUNK:  # do not keep a big value alive as the buffer
            self.buffer, self.pos = joined[n:], 0
        return joined[:n]

    def skip(self, n: int) -> None:
        while n > 0:
            step = min(n, CHUNK)
            self.read(step)
            n -= step

    def rest(self) -> bytes:
        return self.buffer[self.pos :] + b"".join(self.chunks)


# -- levels and values ----------------------------------------------------------------------------------


def _rle_hybrid(data: bytes, bit_width: int, count: int) -> list[int]:
    """Decode parquet's RLE/bit-packed hybrid encoding (levels and dictionary indices)."""
    if bit_width == 0:
        return [0] * count
    out: list[int] = []
    pos = 0
    mask = (1 << bit_width) - 1
    width_bytes = (bit_width + 7) // 8
    try:
        while len(out) < count:
            header, pos = _varint(data, pos)
            if header & 1:
                groups = header >> 1
                size = groups * bit_width
                packed = int.from_bytes(data[pos : pos + size], "little")
                pos += size
                out.extend((packed >> (i * bit_width)) & mask for i in range(groups * 8))
            else:
                value = int.from_bytes(data[pos : pos + width_bytes], "little")
                pos += width_bytes
                out.extend([value] * (header >> 1))
    except IndexError:
        raise Unstreamable("truncated levels") from None
    return out[:count]


@dataclass(frozen=True)
class BinaryColumn:
    """Where a BYTE_ARRAY leaf of one row group lives in the file."""

    codec: str
    start: int  # the first page (dictionary page if any)
    size: int
    uncompressed_size: int
    num_values: int
    max_definition_level: int
    max_repetition_level: int


def column_chunk(metadata: Any, schema: Any, row_group: int, leaf: str) -> BinaryColumn:
    """Locate `leaf` (e.g. "audio.bytes") in a pyarrow FileMetaData; raises Unstreamable if unsuitable."""
    group = metadata.row_group(row_group)
    for j in range(group.num_columns):
        chunk = group.column(j)
        if chunk.path_in_schema != leaf:
            continue
        column = schema.column(j)
        if column.physical_type != "BYTE_ARRAY":
            raise Unstreamable(f"{leaf} is {column.physical_type}, not BYTE_ARRAY")
        start = chunk.data_page_offset
        if chunk.has_dictionary_page and chunk.dictionary_page_offset:
            start = min(start, chunk.dictionary_page_offset)
        return BinaryColumn(
            codec=str(chunk.compression),
            start=start,
            size=chunk.total_compressed_size,
            uncompressed_size=chunk.total_uncompressed_size,
            num_values=chunk.num_values,
            max_definition_level=column.max_definition_level,
            max_repetition_level=column.max_repetition_level,
        )
    raise Unstreamable(f"no column {leaf}")


def stream_binary_column(
    path: str | Path, column: BinaryColumn, wanted: Callable[[int], bool]
) -> Iterator[tuple[int, bytes | None]]:
    """Yield (row within the row group, value or None for null) for each wanted row, one value in memory.

    Rows come in row order within each page; rows that share a dictionary entry come together.
    """
    if column.max_repetition_level:
        raise Unstreamable("repeated column")
    decompress = _DECOMPRESSORS.get(column.codec)
    if decompress is None:
        raise Unstreamable(f"codec {column.codec}")
    bit_width = column.max_definition_level.bit_length()
    with open(path, "rb") as f:
        pages: list[_Page] = []
        pos, end, values = column.start, column.start + column.size, 0
        while pos < end and values < column.num_values:
            page = _read_page_header(f, pos)
            pages.append(page)
            if page.kind in (_DATA_PAGE, _DATA_PAGE_V2):
                values += page.num_values
            pos = page.body + page.compressed_size
        if values != column.num_values:
            raise Unstreamable(f"pages hold {values} values, the column chunk {column.num_values}")

        def page_reader(page: _Page) -> tuple[_Reader, list[int]]:
            """A reader positioned at the page's values, and the page's definition levels."""
            if page.kind == _DICTIONARY_PAGE:
                return _Reader(decompress(_file_chunks(f, page.body, page.compressed_size))), []
            if page.kind == _DATA_PAGE_V2:
                head = page.rep_levels_size + page.def_levels_size
                levels_raw = b"".join(_file_chunks(f, page.body, head)) if head else b""
                levels = _rle_hybrid(levels_raw[page.rep_levels_size :], bit_width, page.num_values)
                raw = _file_chunks(f, page.body + head, page.compressed_size - head)
                return _Reader(decompress(raw) if page.values_compressed else raw), levels
            reader = _Reader(decompress(_file_chunks(f, page.body, page.compressed_size)))
            if not bit_width:
                return reader, [0] * page.num_values
            if page.level_encoding != _RLE:
                raise Unstreamable(f"level encoding {page.level_encoding}")
            size = int.from_bytes(reader.read(4), "little")
            return reader, _rle_hybrid(reader.read(size), bit_width, page.num_values)

        dictionary = next((p for p in pages if p.kind == _DICTIONARY_PAGE), None)
        by_entry: dict[int, list[int]] = {}  # dictionary entry -> wanted rows
        plain_pages: list[tuple[_Page, int]] = []
        row = 0
        for page in pages:
            if page.kind not in (_DATA_PAGE, _DATA_PAGE_V2):
                continue
            if page.encoding in (_PLAIN_DICTIONARY, _RLE_DICTIONARY):
                if dictionary is None or page.uncompressed_size > MAX_SMALL_PAGE:
                    raise Unstreamable("dictionary-encoded page without a usable dictionary")
                reader, levels = page_reader(page)
                rest = reader.rest()
                present = sum(1 for level in levels if level == column.max_definition_level)
                indices = iter(_rle_hybrid(rest[1:], rest[0], present) if present else [])
                for level in levels:
                    if level == column.max_definition_level:
                        entry = next(indices)
                        if wanted(row):
                            by_entry.setdefault(entry, []).append(row)
                    elif wanted(row):
                        yield row, None
                    row += 1
            elif page.encoding == _PLAIN:
                plain_pages.append((page, row))
                row += page.num_values
            else:
                raise Unstreamable(f"encoding {page.encoding}")

        if by_entry and dictionary is not None:
            reader, _ = page_reader(dictionary)
            last = max(by_entry)
            for entry in range(last + 1):
                size = int.from_bytes(reader.read(4), "little")
                if entry in by_entry:
                    value = reader.read(size)
                    for r in by_entry[entry]:
                        yield r, value
                else:
                    reader.skip(size)

        for page, first_row in plain_pages:
            reader, levels = page_reader(page)
            for offset, level in enumerate(levels):
                row = first_row + offset
                if level != column.max_definition_level:
                    if wanted(row):
                        yield row, None
                    continue
                size = int.from_bytes(reader.read(4), "little")
                if wanted(row):
                    yield row, reader.read(size)
                else:
                    reader.skip(size)
