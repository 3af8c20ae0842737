"""Run tables gathered into one results frame as they come, column by column.

:class:`FrameBuilder` takes each run's table in row order (:func:`coreclaw_frames._row_columns.
tables_frame` feeds it a sequence, ``fetch_results`` each run as soon as the runs before it are
in) and lets the table go at once: each column keeps the runs' chunks of one Arrow type (and
JSON-ness) that follow one another, with the rows where the column is absent or all null, and
joins them into one array when another type comes or enough chunks wait. Many small run tables
never coexist, and joining such a segment gives exactly what joining its runs would: the
typing rules of :mod:`coreclaw_frames._row_columns` are applied to segments instead of runs.
The frame is then built one column at a time, each Arrow column let go of once it is pandas.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coreclaw_frames._row_columns import (
    ERROR_COLUMN,
    HEADERS_KEY,
    JSON_COLUMNS_KEY,
    KEY_COLUMN,
    RENAMED_KEY,
    RUN_POOL,
    column_order,
    typed,
)
from coreclaw_frames.schema import free_form_frame

__all__ = ["FrameBuilder"]

#: Chunks a column keeps before joining them: bounds the small Arrow objects alive at a time.
MAX_WAITING_CHUNKS = 128


class _Segment(NamedTuple):
    rows: int
    array: pa.Array | None  # None: all null, of no type
    is_json: bool


class _Column:
    """One column's segments so far, the last one still open to chunks of its kind."""

    __slots__ = ("done", "kind", "rows", "waiting")

    def __init__(self) -> None:
        self.done: list[_Segment] = []
        self.waiting: list[pa.Array | int] = []  # an int: that many null rows
        self.kind: tuple[pa.DataType, bool] | None = None
        self.rows = 0

    def add(self, start: int, chunk: pa.ChunkedArray | None, rows: int, is_json: bool) -> None:
        self.pad(start)
        if chunk is None or chunk.type == pa.null():
            self.waiting.append(rows)
        else:
            kind = (chunk.type, is_json)
            if self.kind is not None and kind != self.kind:
                self.close()
            self.kind = kind
            self.waiting.extend(chunk.chunks)
        self.rows += rows
        if len(self.waiting) >= MAX_WAITING_CHUNKS:
            self.close()

    def pad(self, rows: int) -> None:
        """Null rows up to ``rows`` in all."""
        if self.rows < rows:
            self.waiting.append(rows - self.rows)
            self.rows = rows

    def close(self) -> None:
        waiting, self.waiting = self.waiting, []
        if self.kind is None:
            if waiting:
                self.done.append(_Segment(sum(waiting), None, False))
            return
        arrow_type, is_json = self.kind
        pieces = [
            pa.nulls(p, arrow_type, memory_pool=RUN_POOL) if isinstance(p, int) else p
            for p in waiting
        ]
        del waiting
        array = pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces, memory_pool=RUN_POOL)
        self.done.append(_Segment(len(array), array, is_json))
        self.kind = None

    def segments(self, rows: int) -> list[_Segment]:
        self.pad(rows)
        self.close()
        done, self.done = self.done, []
        return done


class FrameBuilder:
    """Run tables, added in row order, as one results frame (:meth:`frame`); typed as
    :mod:`coreclaw_frames._row_columns` says.

    Examples
    --------
    >>> from coreclaw_frames._row_columns import rows_table
    >>> builder = FrameBuilder()
    >>> builder.add(rows_table("01KSFDS8XWTJME33C08XMCR6B9", ["n"], [{"n": 1}]))
    >>> builder.add(rows_table("01KSFDS8XWTJME33C08XMCR6BA", ["n"], [{"n": 2.5}]))
    >>> builder.frame()["n"].tolist()
    [1.0, 2.5]
    """

    def __init__(self, *, error_column: bool = True) -> None:
        self._error_column = error_column
        self._declared: dict[str, None] = {}
        self._renamed: dict[str, str] = {}
        self._columns: dict[str, _Column] = {}
        self._slugs = _Column()
        self._errors = _Column()
        self._rows = 0

    def add(self, table: pa.Table) -> None:
        """Take in the next run's table; nothing of ``table`` is needed afterwards."""
        metadata = table.schema.metadata or {}
        self._declared.update(dict.fromkeys(json.loads(metadata.get(HEADERS_KEY, b"[]"))))
        json_columns = set(json.loads(metadata.get(JSON_COLUMNS_KEY, b"[]")))
        for key, name in json.loads(metadata.get(RENAMED_KEY, b"{}")).items():
            self._renamed.setdefault(key, name)
        start, rows = self._rows, table.num_rows
        for name, chunk in zip(table.column_names, table.columns, strict=True):
            if name == KEY_COLUMN:
                self._slugs.add(start, chunk.cast(pa.string()), rows, False)
            elif name == ERROR_COLUMN:
                self._errors.add(start, chunk, rows, False)
            else:
                column = self._columns.get(name)
                if column is None:
                    column = self._columns[name] = _Column()
                column.add(start, chunk, rows, name in json_columns)
        self._rows += rows

    def frame(self) -> pd.DataFrame:
        """The frame of every table added, built column by column (the builder is spent)."""
        order = column_order([self._renamed.get(h, h) for h in self._declared], list(self._columns))
        rows = self._rows
        series: dict[str, pd.Series] = {}
        series[KEY_COLUMN] = _to_pandas(KEY_COLUMN, _text(self._slugs.segments(rows)))
        for name in order:
            series[name] = _to_pandas(name, _unified(self._columns.pop(name).segments(self._rows)))
        if self._error_column:
            series[ERROR_COLUMN] = _to_pandas(
                ERROR_COLUMN, _text(self._errors.segments(self._rows))
            )
        return pd.DataFrame(series, copy=False)


def _to_pandas(name: str, column: pa.Array | pa.ChunkedArray | list[Any]) -> pd.Series:
    if isinstance(column, list):
        # Values that share no type never were Arrow: they join the frame as they are.
        return pd.Series(column, dtype=object)
    return free_form_frame(pa.table({name: column}))[name]


def _text(segments: list[_Segment]) -> pa.ChunkedArray:
    text = _cast_all(segments, pa.string())
    assert text is not None  # strings and nulls only
    return text


def _unified(segments: list[_Segment]) -> pa.Array | pa.ChunkedArray | list[Any]:
    """One column across all runs: an Arrow array, or a list of Python values (``object``)."""
    types = {s.array.type for s in segments if s.array is not None}
    if not any(s.is_json for s in segments):
        target = _common_type(types)
        if target is not None:
            cast = _cast_all(segments, target)
            if cast is not None:
                return cast
    values: list[Any] = []
    for segment in segments:
        if segment.array is None:
            values.extend([None] * segment.rows)
        elif segment.is_json:
            values.extend(None if v is None else json.loads(v) for v in segment.array.to_pylist())
        else:
            values.extend(segment.array.to_pylist())
    array = typed(values)
    return values if array is None else array


def _common_type(types: set[pa.DataType]) -> pa.DataType | None:
    """The type all runs' columns become without leaving Arrow, or None (then the values are
    typed again from Python, as one column)."""
    common: pa.DataType | None = pa.null()
    for arrow_type in types:
        common = _merged(common, arrow_type) if common is not None else None
    return common


def _merged(left: pa.DataType, right: pa.DataType) -> pa.DataType | None:
    """The type ``pa.array`` infers for values of both types, where Arrow can cast to it
    exactly: nulls join anything, ints and floats make floats, lists merge their items."""
    if left == right or right == pa.null():
        return left
    if left == pa.null():
        return right
    if {left, right} == {pa.int64(), pa.float64()}:
        return pa.float64()
    if pa.types.is_list(left) and pa.types.is_list(right):
        item = _merged(left.value_type, right.value_type)
        return None if item is None else pa.list_(item)
    return None


def _cast_all(segments: list[_Segment], target: pa.DataType) -> pa.ChunkedArray | None:
    """The segments as one array of ``target``, or None where a cast would not be exact."""
    pieces: list[pa.Array] = []
    for segment in segments:
        if segment.array is None:
            pieces.append(pa.nulls(segment.rows, target, memory_pool=RUN_POOL))
        elif segment.array.type == target:
            pieces.append(segment.array)
        else:
            try:
                pieces.append(pc.cast(segment.array, target, safe=True, memory_pool=RUN_POOL))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
    # Chunked as the segments are: the few large chunks are never copied into one more array.
    return pa.chunked_array(pieces, target)
