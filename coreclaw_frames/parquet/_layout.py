"""What a file says about the frame it holds, and the names every part of the package shares.

Every file carries, in its key-value metadata, the run schema version and a JSON description of
the frame (:class:`Layout`: the kind of frame, each column's dtype and how to bring it back, the
partition columns, the Arrow schema), next to Arrow's and pandas' own entries and nothing else.
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from coreclaw_frames._errors import ParquetFormatError
from coreclaw_frames.schema import RUN_COLUMNS, SCHEMA_VERSION

#: Key-value metadata entry holding the frame description (JSON): kind, columns, partitioning.
FRAME_METADATA_KEY = b"coreclaw_frames.frame"
#: Version of the layout of :data:`FRAME_METADATA_KEY` itself.
FRAME_FORMAT = 1
WriteMode = Literal["overwrite", "merge"]
WRITE_MODES: tuple[WriteMode, ...] = ("overwrite", "merge")
FrameKind = Literal["runs", "results"]

#: A run frame's key, and the column deciding which of two rows of a run is newer.
RUN_KEY = "slug"
RUN_FRESHNESS = "fetched_at"
#: Set on the rows of both kinds of frame whose fetch failed (or, for runs, was malformed).
FETCH_ERROR = "fetch_error"
#: A results frame's first column.
RESULTS_KEY = "run_slug"
RESULTS_KEY_DESCRIPTION = "Slug of the run that produced the row."
PARQUET_SUFFIX = ".parquet"
#: How many offending names an error message quotes.
QUOTED_NAMES = 5

RUN_COLUMN_NAMES = tuple(c.name for c in RUN_COLUMNS)
RUN_DESCRIPTIONS = {c.name: c.description for c in RUN_COLUMNS}
RUN_DTYPES = {c.name: pd.api.types.pandas_dtype(c.dtype) for c in RUN_COLUMNS}
#: pandas' masked (nullable) extension dtypes, which Arrow stores as plain values.
MASKED_DTYPES = (
    pd.Int8Dtype,
    pd.Int16Dtype,
    pd.Int32Dtype,
    pd.Int64Dtype,
    pd.UInt8Dtype,
    pd.UInt16Dtype,
    pd.UInt32Dtype,
    pd.UInt64Dtype,
    pd.Float32Dtype,
    pd.Float64Dtype,
    pd.BooleanDtype,
)


@dataclass(frozen=True)
class Layout:
    """What a file says about the frame it holds (the :data:`FRAME_METADATA_KEY` entry)."""

    kind: FrameKind
    columns: tuple[dict[str, Any], ...]
    partition_cols: tuple[str, ...]
    schema: pa.Schema
    #: The run schema version the file was written with (not part of the JSON entry).
    schema_version: int = SCHEMA_VERSION

    @property
    def names(self) -> list[str]:
        return [spec["name"] for spec in self.columns]

    @functools.cached_property
    def json(self) -> bytes:
        """:meth:`to_json`, made once."""
        return self.to_json()

    def to_json(self) -> bytes:
        plain = pa.schema([pa.field(f.name, f.type, f.nullable) for f in self.schema])
        return json.dumps(
            {
                "format": FRAME_FORMAT,
                "kind": self.kind,
                "columns": list(self.columns),
                "partition_cols": list(self.partition_cols),
                "arrow_schema": base64.b64encode(plain.serialize().to_pybytes()).decode(),
            },
            ensure_ascii=False,
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes, source: Path) -> Layout:
        try:
            data = json.loads(raw)
            newer = int(data["format"]) > FRAME_FORMAT or data["kind"] not in ("runs", "results")
            if not newer:
                schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(data["arrow_schema"])))
                layout = cls(
                    kind=data["kind"],
                    columns=tuple(data["columns"]),
                    partition_cols=tuple(data["partition_cols"]),
                    schema=schema,
                )
        except (ValueError, KeyError, TypeError, pa.ArrowInvalid) as exc:
            raise ParquetFormatError(
                f"{str(source)!r} has unreadable {FRAME_METADATA_KEY.decode()!r} metadata ({exc})"
            ) from exc
        if newer:
            raise ParquetFormatError(
                f"{str(source)!r} was written by a newer coreclaw-frames (frame format "
                f"{data['format']!r}, this version reads {FRAME_FORMAT}); upgrade coreclaw-frames"
            )
        return layout


def quote(items: Any, *, repr_items: bool = True) -> str:
    values = list(items)
    shown = ", ".join(repr(v) if repr_items else str(v) for v in values[:QUOTED_NAMES])
    more = len(values) - QUOTED_NAMES
    return shown + (f" and {more} more" if more > 0 else "")
