"""Scraped rows as Arrow tables, one per run, and many such tables as one results frame.

A run's rows become one table (:func:`rows_table`, or :func:`jsonl_table` for a JSON-lines
file): ``run_slug`` first, then the run's flattened columns, named and ordered as
:func:`coreclaw_frames.fetch_results` names and orders them, each typed inside the run with the
narrowest Arrow type that holds all its values. A column whose values share no type inside the
run is stored as JSON text and listed in the schema metadata under :data:`JSON_COLUMNS_KEY`
(so is a column holding empty objects, which Parquet cannot store). The run's declared headers
are stored under :data:`HEADERS_KEY` and the keys it renamed (``run_slug`` ->
``scraped.run_slug``) under :data:`RENAMED_KEY`, so a table written to Parquet and read back
carries everything :func:`tables_frame` needs. A run that could not be fetched is one
row of ``run_slug`` and ``fetch_error`` (:func:`failed_table`).

:func:`tables_frame` unifies the tables. Per column: absent from a table, it is null there; the
null type joins any type; identical types stay; ints and floats (also inside lists) promote to
float where every int is exact as a float (``|n| <= 2**53``, Arrow's own rule). Any other mix,
and any column stored as JSON text in some table, is typed again from its Python values as one
column of all the runs (``pa.array``); where even that finds no common type the column is
``object``, holding the Python values (JSON-decoded for JSON text).

The frame equals the one built from all the rows at once, with two exceptions, both for
scraped data that is unusual:

- An ``object`` column holds a value of a run that had that column typed as Arrow gives it
  back: an int of a float column as a float (``13.0`` for ``13``), ``NaN`` as ``None``, and
  in a list of objects, a key some objects lack as ``None``.
- Names are given run by run. A run with a key ``run_slug`` names it ``scraped.run_slug``,
  while a run with both ``run_slug`` and ``scraped.run_slug`` keys names them
  ``scraped.scraped.run_slug`` and ``scraped.run_slug``: across those two runs, the column
  ``scraped.run_slug`` holds two different keys. A header ``run_slug`` of a run whose
  ``run_slug`` key holds an object puts that object's columns (``run_slug.id``) first, even
  when another run's ``run_slug`` key is a plain value. And declared headers that nest in one
  another (``a`` and ``a.b``) may order their columns differently when runs declare them in
  different orders.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa

__all__ = [
    "DATA_ID_KEY",
    "ERROR_COLUMN",
    "HEADERS_KEY",
    "JSON_COLUMNS_KEY",
    "KEY_COLUMN",
    "failed_table",
    "jsonl_table",
    "rows_table",
    "tables_frame",
]

KEY_COLUMN = "run_slug"
ERROR_COLUMN = "fetch_error"
#: Put in front of a scraped key named like one of the frame's own columns.
SCRAPED_PREFIX = "scraped."
#: CoreClaw's internal row id: a column only when asked for.
DATA_ID_KEY = "__coreclaw_data_id__"
#: Schema metadata: the run's declared headers (JSON list), named as the table names them.
HEADERS_KEY = b"coreclaw_frames.headers"
#: Schema metadata: the columns stored as JSON text (JSON list).
JSON_COLUMNS_KEY = b"coreclaw_frames.json_columns"
#: Schema metadata: scraped keys this run names otherwise (JSON object, key -> column).
RENAMED_KEY = b"coreclaw_frames.renamed"
#: Where a run's small arrays live: C ``malloc``, whose freed memory ``malloc_trim`` hands back
#: (:mod:`coreclaw_frames._memory`), so runs typed on many threads leave none of it behind.
RUN_POOL = pa.system_memory_pool()


def rows_table(
    slug: str,
    headers: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    data_id: bool = False,
    keep: Sequence[str] | None = None,
) -> pa.Table:
    """One run's rows as an Arrow table: ``run_slug``, then the flattened scraped columns.

    Nested objects become dotted columns, ``__coreclaw_data_id__`` is dropped unless
    ``data_id``, ``keep`` keeps only those top-level keys (and headers). Each column has the
    narrowest Arrow type holding its values; one whose values share no type is JSON text,
    listed in the schema metadata (see module docs).

    Examples
    --------
    >>> table = rows_table("01KSFDS8XWTJME33C08XMCR6B9", ["title"], [{"title": "A", "n": 1}])
    >>> table.column_names, str(table.schema.field("n").type)
    (['run_slug', 'title', 'n'], 'int64')
    """
    kept = None if keep is None else set(keep)
    columns: dict[str, list[Any]] = {}
    count = 0
    for row in rows:
        if kept is not None:
            row = {key: value for key, value in row.items() if key in kept}
        flat = flatten(row)
        if not data_id:
            flat.pop(DATA_ID_KEY, None)
        for key, value in flat.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = [None] * count
            column.append(value)
        count += 1
        if len(flat) != len(columns):
            for column in columns.values():
                if len(column) < count:
                    column.append(None)
    declared = declared_headers(headers, keep)
    arrays: dict[str, pa.Array] = {}
    json_columns: list[str] = []
    names = ordered_names(declared, list(columns))
    for name, key in names.items():
        values = columns.pop(key)
        array = typed(values)
        if array is None or _empty_struct_in(array.type):
            array = pa.array(
                [None if v is None else json.dumps(v) for v in values],
                pa.string(),
                memory_pool=RUN_POOL,
            )
            json_columns.append(name)
        arrays[name] = array
    return assemble(slug, count, arrays, declared, names, json_columns)


def jsonl_table(
    slug: str,
    source: str | os.PathLike[str] | BinaryIO,
    *,
    headers: Sequence[str] = (),
    data_id: bool = False,
    keep: Sequence[str] | None = None,
) -> pa.Table:
    """:func:`rows_table` of a JSON-lines file (one object a line), read fast where provably
    the same: Arrow's JSON reader, checked, else line by line.

    Examples
    --------
    >>> import io
    >>> lines = io.BytesIO(b'{"title": "A", "author": {"name": "x"}}\\n')
    >>> jsonl_table("01KSFDS8XWTJME33C08XMCR6B9", lines, headers=["title"]).column_names
    ['run_slug', 'title', 'author.name']
    """
    from coreclaw_frames._row_jsonl import read_jsonl

    return read_jsonl(slug, source, headers=headers, data_id=data_id, keep=keep)


def failed_table(slug: str, error: str) -> pa.Table:
    """A run that could not be fetched: one row of ``run_slug`` and ``fetch_error``.

    Examples
    --------
    >>> failed_table("01KSFDS8XWTJME33C08XMCR6B9", "timed out").column_names
    ['run_slug', 'fetch_error']
    """
    return pa.table(
        {KEY_COLUMN: pa.array([slug], pa.string()), ERROR_COLUMN: pa.array([error], pa.string())}
    )


def tables_frame(tables: Iterable[pa.Table], *, error_column: bool = True) -> pd.DataFrame:
    """Run tables as one results frame: ``run_slug``, declared headers, other columns as first
    seen, ``fetch_error`` (left out when not ``error_column``); typed as module docs say.

    Examples
    --------
    >>> a = rows_table("01KSFDS8XWTJME33C08XMCR6B9", ["n"], [{"n": 1}])
    >>> b = rows_table("01KSFDS8XWTJME33C08XMCR6BA", ["n"], [{"n": 2.5}])
    >>> tables_frame([a, b])["n"].tolist()
    [1.0, 2.5]
    """
    from coreclaw_frames._row_frame import FrameBuilder

    builder = FrameBuilder(error_column=error_column)
    for table in tables:
        builder.add(table)
    return builder.frame()


# --- one run ---------------------------------------------------------------------------------


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``row`` with nested non-empty objects as dotted keys (``author.name``)."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def typed(values: list[Any]) -> pa.Array | None:
    """The values as an Arrow array of the narrowest type holding them all; None when they
    share no type.

    Booleans and numbers share no type, in whatever order they come (Arrow alone would read
    ``[0.5, True]`` as ``[0.5, 1.0]`` but refuse ``[True, 0.5]``).

    Examples
    --------
    >>> typed([1, 2.5]).type, typed([0.5, True]), typed([True, 0.5])
    (DataType(double), None, None)
    """
    try:
        array = pa.array(values, from_pandas=True, memory_pool=RUN_POOL)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None
    if _holds_numbers(array.type) and _any_bool(values):
        return None
    return array


def _holds_numbers(arrow_type: pa.DataType) -> bool:
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return _holds_numbers(arrow_type.value_type)
    return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)


def _any_bool(values: Iterable[Any]) -> bool:
    for value in values:
        if value is True or value is False:
            return True
        if isinstance(value, list) and _any_bool(value):
            return True
    return False


def declared_headers(headers: Sequence[str], keep: Sequence[str] | None) -> list[str]:
    """The declared headers, once each, only those ``keep`` keeps."""
    return [h for h in dict.fromkeys(headers) if keep is None or h in keep]


def ordered_names(declared: list[str], keys: list[str]) -> dict[str, str]:
    """Column name -> scraped key, in column order, for a run with these keys (first-seen
    order) and declared headers."""
    source = scraped_names(keys)
    renamed = {key: name for name, key in source.items()}
    order = column_order([renamed.get(h, h) for h in declared], list(source))
    return {name: source[name] for name in order}


def _empty_struct_in(arrow_type: pa.DataType) -> bool:
    """Whether the type holds a struct without fields (``{}``), which Parquet cannot store."""
    if pa.types.is_struct(arrow_type) and arrow_type.num_fields == 0:
        return True
    return any(_empty_struct_in(arrow_type.field(i).type) for i in range(arrow_type.num_fields))


def scraped_names(keys: list[str]) -> dict[str, str]:
    """Column name -> scraped key, in key order; keys named like a frame column get
    ``SCRAPED_PREFIX`` until the name is free."""
    taken = {*keys, KEY_COLUMN, ERROR_COLUMN}
    names: dict[str, str] = {}
    for key in keys:
        name = key
        if key in (KEY_COLUMN, ERROR_COLUMN):
            while name in taken:
                name = SCRAPED_PREFIX + name
        names[name] = key
    return names


def column_order(declared: list[str], seen: list[str]) -> list[str]:
    """Declared headers first (a nested header expands in place), then the rest as seen."""
    ordered: dict[str, None] = {}
    for header in declared:
        ordered.update(dict.fromkeys(c for c in seen if c == header or c.startswith(f"{header}.")))
    ordered.update(dict.fromkeys(seen))
    return list(ordered)


def assemble(
    slug: str,
    count: int,
    arrays: Mapping[str, pa.Array | pa.ChunkedArray],
    declared: list[str],
    names: Mapping[str, str],
    json_columns: list[str],
) -> pa.Table:
    """The run's table: ``run_slug`` and ``arrays``; its declared headers, renamed keys
    (``names``: column -> key) and JSON columns as schema metadata."""
    renamed = {key: name for name, key in names.items() if name != key}
    columns = {KEY_COLUMN: pa.array([slug] * count, pa.string(), memory_pool=RUN_POOL), **arrays}
    return pa.table(columns).replace_schema_metadata(
        {
            HEADERS_KEY: json.dumps(declared).encode(),
            JSON_COLUMNS_KEY: json.dumps(json_columns).encode(),
            RENAMED_KEY: json.dumps(renamed).encode(),
        }
    )
