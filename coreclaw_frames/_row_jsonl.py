"""A JSON-lines file of one run's rows as the table :func:`rows_table` makes of them, fast.

Arrow's JSON reader parses the file in C++; its table is used only where it is provably the one
the line-by-line path gives, and the file is read line by line otherwise. The checks:

- The bytes (scanned as they stream, never the whole file at once): no integer literal of 16
  digits or more (ints beyond 2**53 turn float in Arrow, and beyond int64 are text here), no
  empty object ``{}`` (a column of its own here, a struct of nulls in Arrow), no ``NaN`` or
  ``Infinity`` (a float in Arrow, null here), no control character but the newline, no
  byte-order mark. Any of those anywhere, even inside a string, and the file is read line by
  line.
- Arrow must parse the file, into as many rows as it has lines: a parse error, a value that
  changes type, a key given twice, a blank line or two objects on a line all mean line by line.
- Strings Arrow reads as timestamps are read again as the strings they are.
- Types are only nulls, bools, int64, float64, strings, and lists and structs of those.
- Structs are flattened into dotted columns. Arrow cannot tell a key left out from a key set to
  null: the rows where a struct is null are read line by line, and a key explicitly null where
  other rows have an object means line by line for the file. So do dotted names that collide
  (a key ``a.b`` beside ``a: {b: ...}``) and a ``__coreclaw_data_id__`` object.
- Column order is the order keys are first seen: the first rows are read line by line until
  every column was seen (the column set Arrow found tells when); if that takes more than a
  few rows, the whole file is read line by line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from coreclaw_frames._row_columns import (
    DATA_ID_KEY,
    RUN_POOL,
    assemble,
    declared_headers,
    flatten,
    ordered_names,
    rows_table,
)

__all__ = ["read_jsonl"]

#: Bytes read at a time while scanning.
SCAN_CHUNK = 1 << 24
#: Arrow's block size: a line longer than this is read line by line.
BLOCK_SIZE = 1 << 24
#: Rows read line by line for the column order or for struct nulls, at most: this many, or
#: one in PYTHON_SHARE of the file's lines, whichever is more.
PYTHON_ROWS = 1000
PYTHON_SHARE = 8
#: Bytes of the first lines Arrow reads to learn which keys hold ISO strings.
PEEK_BYTES = 1 << 20
_EMPTY_OBJECT = re.compile(rb"\{ +\}")
#: Every byte but the control characters, and the newline.
_NOT_CONTROL = bytes(range(0x20, 0x100)) + b"\n"
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
#: An integer part of 16 digits or more (2**53 has 16) after what a number follows.
_LONG_NUMBERS = tuple(f"{c}{m}{'0' * 16}".encode() for c in ":[," for m in ("", "-"))


def read_jsonl(
    slug: str,
    source: str | os.PathLike[str] | BinaryIO,
    *,
    headers: Sequence[str],
    data_id: bool,
    keep: Sequence[str] | None,
) -> pa.Table:
    """See :func:`coreclaw_frames._row_columns.jsonl_table`."""
    with _opened(source) as file:
        start = file.tell() if file.seekable() else None
        if start is not None:
            table = _arrow_table(slug, file, start, headers, data_id, keep)
            if table is not None:
                return table
            file.seek(start)
        rows = (json.loads(line) for line in file)
        return rows_table(slug, headers, rows, data_id=data_id, keep=keep)


@contextlib.contextmanager
def _opened(source: str | os.PathLike[str] | BinaryIO) -> Iterator[BinaryIO]:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as file:
            yield file
    else:
        yield source


def _arrow_table(
    slug: str,
    file: BinaryIO,
    start: int,
    headers: Sequence[str],
    data_id: bool,
    keep: Sequence[str] | None,
) -> pa.Table | None:
    lines = _clean_lines(file)
    if not lines:
        return None
    file.seek(start)
    iso = _iso_keys(file.read(PEEK_BYTES))
    file.seek(start)
    table = _read(file, iso)
    if table is None:
        return None
    if _has_timestamps(table.schema):
        file.seek(start)
        table = _read(file, _without_timestamps(table.schema))
        if table is None or _has_timestamps(table.schema):
            return None
    if table.num_rows != lines or not all(_plain(f.type) for f in table.schema):
        return None
    if keep is not None:
        kept = set(keep)
        table = table.select([n for n in table.column_names if n in kept])
    if DATA_ID_KEY in table.column_names and not data_id:
        if pa.types.is_struct(table.schema.field(DATA_ID_KEY).type):
            return None
        table = table.drop_columns([DATA_ID_KEY])
    leaves: dict[str, pa.ChunkedArray] = {}
    struct_nulls: list[pa.ChunkedArray] = []
    for name in table.column_names:
        if not _leaves(name, table.column(name), None, leaves, struct_nulls):
            return None
    suspects = _rows_of(struct_nulls, lines)
    budget = max(PYTHON_ROWS, lines // PYTHON_SHARE)
    if len(suspects) > budget:
        return None
    file.seek(start)
    seen = _keys_as_seen(file, set(leaves), suspects, budget, data_id, keep)
    if seen is None:
        return None
    declared = declared_headers(headers, keep)
    names = ordered_names(declared, seen)
    arrays = {name: leaves[key] for name, key in names.items()}
    return assemble(slug, lines, arrays, declared, names, [])


def _clean_lines(file: BinaryIO) -> int:
    """The file's lines (a last one without newline counts), or 0 when a byte is suspect."""
    lines = 0
    carry = b""
    for chunk in iter(lambda: file.read(SCAN_CHUNK), b""):
        chunk = carry + chunk
        end = chunk.rfind(b"\n") + 1
        carry = chunk[end:]
        if _suspect(chunk[:end]):
            return 0
        lines += chunk.count(b"\n", 0, end)
    if carry:
        if _suspect(carry):
            return 0
        lines += 1
    return lines


def _suspect(chunk: bytes) -> bool:
    """Whether the lines hold a byte pattern Arrow may read otherwise (module docs)."""
    if b"NaN" in chunk or b"Infinity" in chunk or b"\xef\xbb\xbf" in chunk or b"{}" in chunk:
        return True
    if b"{ " in chunk and _EMPTY_OBJECT.search(chunk):
        return True
    if chunk.translate(None, _NOT_CONTROL):
        return True
    # Numbers follow ":", "[" or "," and spaces: with spaces gone and digits as "0", a long
    # integer part is one of a few byte strings (a run of digits inside a string may look so).
    numbers = chunk.translate(_DIGITS_AS_ZERO, b" ")
    return any(pattern in numbers for pattern in _LONG_NUMBERS)


def _read(file: BinaryIO, schema: pa.Schema | None) -> pa.Table | None:
    parse = pj.ParseOptions(explicit_schema=schema) if schema is not None else None
    try:
        return pj.read_json(
            file,
            read_options=pj.ReadOptions(block_size=BLOCK_SIZE),
            parse_options=parse,
            memory_pool=RUN_POOL,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


def _iso_keys(head: bytes) -> pa.Schema | None:
    """The top-level keys of the first lines Arrow reads as timestamps, as strings: so the
    whole file is read once, not twice."""
    head = head[: head.rfind(b"\n") + 1]
    if not head:
        return None
    try:
        schema = pj.read_json(pa.BufferReader(head)).schema
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    iso = [f.with_type(pa.string()) for f in schema if pa.types.is_temporal(f.type)]
    return pa.schema(iso) if iso else None


def _has_timestamps(schema: pa.Schema) -> bool:
    return any(_timestamps_in(f.type) for f in schema)


def _timestamps_in(arrow_type: pa.DataType) -> bool:
    if pa.types.is_temporal(arrow_type):
        return True
    return any(_timestamps_in(arrow_type.field(i).type) for i in range(arrow_type.num_fields))


def _without_timestamps(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_type(_as_text(f.type)) for f in schema])


def _as_text(arrow_type: pa.DataType) -> pa.DataType:
    if pa.types.is_temporal(arrow_type):
        return pa.string()
    if pa.types.is_list(arrow_type):
        return pa.list_(arrow_type.value_field.with_type(_as_text(arrow_type.value_type)))
    if pa.types.is_struct(arrow_type):
        return pa.struct([f.with_type(_as_text(f.type)) for f in arrow_type])
    return arrow_type


def _plain(arrow_type: pa.DataType) -> bool:
    """Types ``pa.array`` infers alike from the same values."""
    if pa.types.is_list(arrow_type):
        # Arrow's JSON reader builds lists of nothing but nulls with too short a child array.
        return arrow_type.value_type != pa.null() and _plain(arrow_type.value_type)
    if pa.types.is_struct(arrow_type):
        return all(_plain(f.type) for f in arrow_type)
    return arrow_type in (pa.null(), pa.bool_(), pa.int64(), pa.float64(), pa.string())


def _leaves(
    name: str,
    column: pa.ChunkedArray,
    parent: pa.ChunkedArray | None,
    leaves: dict[str, pa.ChunkedArray],
    struct_nulls: list[pa.ChunkedArray],
) -> bool:
    """Put the column's flattened columns in ``leaves``, and where a struct is null though its
    parent is not in ``struct_nulls``; False when a name is taken twice or a struct is empty."""
    if not pa.types.is_struct(column.type):
        if name in leaves:
            return False
        # A null column out of a struct keeps the struct's validity buffer: Arrow calls it
        # unequal to the same nulls built plainly.
        leaves[name] = (
            pa.chunked_array([pa.nulls(len(column))]) if column.type == pa.null() else column
        )
        return True
    if column.type.num_fields == 0:
        return False
    if column.null_count:
        null = column.is_null()
        struct_nulls.append(null if parent is None else pc.and_(null, parent.is_valid()))
    children = column.flatten()
    return all(
        _leaves(f"{name}.{field.name}", child, column, leaves, struct_nulls)
        for field, child in zip(column.type, children, strict=True)
    )


def _rows_of(masks: list[pa.ChunkedArray], rows: int) -> np.ndarray:
    """The rows any mask is true in, ascending."""
    if not masks:
        return np.empty(0, np.int64)
    any_true = np.zeros(rows, bool)
    for mask in masks:
        any_true |= mask.to_numpy(zero_copy_only=False)
    return np.flatnonzero(any_true)


def _keys_as_seen(
    file: BinaryIO,
    leaves: set[str],
    suspects: np.ndarray,
    budget: int,
    data_id: bool,
    keep: Sequence[str] | None,
) -> list[str] | None:
    """The flattened keys in first-seen order, reading the first rows and the ``suspects``
    line by line; None when a row has a key that is no column of Arrow's, or when the order
    takes more than ``budget`` rows to learn."""
    kept = None if keep is None else set(keep)
    seen: dict[str, None] = {}
    wanted = set(suspects.tolist())
    last = int(suspects[-1]) if len(suspects) else -1
    for index, line in enumerate(file):
        learning = len(seen) < len(leaves)
        if not learning and index > last:
            break
        if not learning and index not in wanted:
            continue
        if learning and index >= budget:
            return None
        row: dict[str, Any] = json.loads(line)
        if kept is not None:
            row = {key: value for key, value in row.items() if key in kept}
        flat = flatten(row)
        if not data_id:
            flat.pop(DATA_ID_KEY, None)
        if not leaves.issuperset(flat):
            return None
        if learning:
            seen.update(dict.fromkeys(flat))
    return list(seen) if len(seen) == len(leaves) else None
