"""The bench's parquet schema, as the benchmarks write it (audio as a {bytes, path} struct)."""

from __future__ import annotations

from typing import Any


def hub_schema() -> tuple[Any, Any]:
    """(schema, audio struct type) of a bench parquet in the hub layout."""
    import pyarrow as pa

    audio_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    item_type = pa.struct([("basis", pa.string()), ("dimension", pa.string()), ("question", pa.string())])
    schema = pa.schema(
        [
            ("uuid", pa.string()),
            ("audio", audio_type),
            ("caption", pa.string()),
            ("label", pa.string()),
            ("type", pa.string()),
            ("subset", pa.string()),
            ("rubric", pa.list_(item_type)),
        ]
    )
    return schema, audio_type
