"""The run schema: one table says, for every column, its Arrow type, pandas dtype and meaning.

The parser (:mod:`coreclaw_frames._records`), the Parquet writer and reader, and the docs all
read :data:`RUN_COLUMNS`; change a column here and nowhere else. This module also turns an
Arrow table of that schema into the typed DataFrame (:func:`table_to_frame`), checks a table
from elsewhere against it (:func:`conform_run_table`), and types free-form columns (results
frames, columns added to a run frame) from their Arrow type (:func:`free_form_frame`): frames
are built as Arrow tables, and pandas is one conversion at the end.

Money: ``usage`` is an exact Arrow decimal with headroom for arithmetic (``+``, ``-``,
``.diff()``, comparisons, ``* 2`` and sums all work and stay exact); ``usage_float`` is the same
cost as a float64, for everything decimals cannot do (cumulative sums, shares, statistics,
histograms). It is derived from ``usage`` and never the other way round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coreclaw_frames.api._values import FINAL_STATUSES, STATUS_LABELS, is_final

__all__ = [
    "FINAL_STATUSES",
    "NULLABLE_DTYPES",
    "RUN_COLUMNS",
    "RUN_DTYPES",
    "SCHEMA_VERSION",
    "SCHEMA_VERSION_KEY",
    "STATUS_DTYPE",
    "STATUS_LABELS",
    "USAGE_ARROW_TYPE",
    "USAGE_DTYPE",
    "USAGE_TOTAL_ARROW_TYPE",
    "Column",
    "add_derived",
    "conform_run_table",
    "empty_run_frame",
    "free_form_dtype",
    "free_form_frame",
    "is_final",
    "is_status_dtype",
    "run_arrow_schema",
    "status_dtype",
    "table_to_frame",
    "with_common_status",
]

#: Bumped whenever a column's name, type or meaning changes; stored in Parquet metadata
#: under SCHEMA_VERSION_KEY. Version 2: ``status`` gained ``aborting`` and keeps statuses no
#: API version documents. Version 3: ``usage`` is ``decimal128(18, 10)`` (it was
#: ``decimal128(38, 18)``, too wide for any arithmetic), ``usage_float`` was added, and the
#: columns an analyst reads first come first.
SCHEMA_VERSION = 3
SCHEMA_VERSION_KEY = b"coreclaw_frames.schema_version"

#: The status categories of every run frame, in lifecycle order (an API may send others: they
#: are kept as further categories, after these).
STATUS_DTYPE = pd.CategoricalDtype(list(STATUS_LABELS), ordered=True)

#: ``usage`` is USD with up to 10 decimal places, below $100,000,000 a run: 18 digits leave
#: Arrow's decimal arithmetic the 20 digits of headroom it needs for ``+``, ``-`` and ``* 2``.
#: A cost that does not fit is flagged, never rounded.
USAGE_ARROW_TYPE = pa.decimal128(18, 10)
USAGE_DTYPE = pd.ArrowDtype(USAGE_ARROW_TYPE)
#: Sums of ``usage`` (Arrow's own sum type, and the summary's money columns).
USAGE_TOTAL_ARROW_TYPE = pa.decimal128(38, USAGE_ARROW_TYPE.scale)
#: Arrow strings with 32-bit offsets: pandas' own StringDtype widens every offset to 64 bits.
STRING_DTYPE = pd.ArrowDtype(pa.string())
INT_DTYPE = pd.Int64Dtype()
FLOAT_DTYPE = np.dtype("float64")
API_TIME_ARROW_TYPE = pa.timestamp("s", tz="UTC")
FETCH_TIME_ARROW_TYPE = pa.timestamp("us", tz="UTC")
DURATION_ARROW_TYPE = pa.duration("s")
_STATUS_ARROW_TYPE = pa.dictionary(pa.int16(), pa.string(), ordered=True)


@dataclass(frozen=True)
class Column:
    """One column of the run frame: its Arrow storage type, pandas dtype and meaning."""

    name: str
    arrow_type: pa.DataType
    dtype: Any
    description: str


#: The run frame, in column order: who and what first, then when, what it gave and cost, then
#: the details, the exact cost, and where the row came from. The README's column table must
#: match it (a test checks).
RUN_COLUMNS: tuple[Column, ...] = (
    Column("slug", pa.string(), STRING_DTYPE, "Run slug (26-character ULID)."),
    Column(
        "status",
        _STATUS_ARROW_TYPE,
        STATUS_DTYPE,
        "Run status, ordered ready < running < succeeded < failed < aborting < aborted; "
        "other statuses the API sends are kept, after these.",
    ),
    Column("scraper_title", pa.string(), STRING_DTYPE, "Worker title."),
    Column("version", pa.string(), STRING_DTYPE, "Worker version, e.g. v1.0.10 or latest."),
    Column("started_at", API_TIME_ARROW_TYPE, "datetime64[s, UTC]", "Start; NaT if not started."),
    Column(
        "finished_at", API_TIME_ARROW_TYPE, "datetime64[s, UTC]", "End; NaT while not finished."
    ),
    Column("duration", DURATION_ARROW_TYPE, "timedelta64[s]", "Run time; NaT while not finished."),
    Column("results", pa.int64(), INT_DTYPE, "Number of collected results."),
    Column("traffic", pa.int64(), INT_DTYPE, "Traffic in bytes."),
    Column(
        "usage_float",
        pa.float64(),
        FLOAT_DTYPE,
        "Cost in USD as a float, NaN when unknown: for shares, cumsum, statistics and plots.",
    ),
    Column("origin", pa.string(), STRING_DTYPE, "Where the run was started: api, web, ..."),
    Column("scraper_slug", pa.string(), STRING_DTYPE, "Worker slug: a ULID, or owner~name on v2."),
    Column("err_msg", pa.string(), STRING_DTYPE, "The run's own error text; NA when none."),
    Column("usage", USAGE_ARROW_TYPE, USAGE_DTYPE, "Cost in USD, exact: for sums and totals."),
    Column(
        "fetched_at", FETCH_TIME_ARROW_TYPE, "datetime64[us, UTC]", "When this row was fetched."
    ),
    Column("fetch_error", pa.string(), STRING_DTYPE, "Why the fetch failed; NA on success."),
)
RUN_DTYPES: dict[str, Any] = {c.name: c.dtype for c in RUN_COLUMNS}
_COLUMNS = {c.name: c for c in RUN_COLUMNS}
#: Columns computed from others when a table lacks them (tables of older schema versions).
#: ``usage_float`` goes through text: Arrow's decimal-to-float cast is not correctly rounded,
#: and the float twin must equal ``float(usage)``.
DERIVED: dict[str, Callable[[pa.Table], pa.ChunkedArray]] = {
    "usage_float": lambda table: pc.cast(pc.cast(table.column("usage"), pa.string()), pa.float64()),
}


def add_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the derived columns it lacks (computed from ``usage``), at the end.

    Examples
    --------
    >>> add_derived(empty_run_frame().drop(columns="usage_float")).columns[-1]
    'usage_float'
    """
    missing = [name for name in DERIVED if name not in frame.columns]
    if not missing:
        return frame
    table = pa.table({"usage": pa.array(frame["usage"])})
    return frame.assign(
        **{name: _floats_to_pandas(DERIVED[name](table), _COLUMNS[name]).values for name in missing}
    )


def run_arrow_schema() -> pa.Schema:
    """The Arrow schema of the run frame, with the schema version and column descriptions."""
    fields = [
        pa.field(c.name, c.arrow_type, metadata={"description": c.description}) for c in RUN_COLUMNS
    ]
    return pa.schema(fields, metadata={SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode()})


def status_dtype(extra: Iterable[str] = ()) -> pd.CategoricalDtype:
    """The status dtype: :data:`STATUS_LABELS`, then ``extra`` statuses (sorted) if any.

    Examples
    --------
    >>> list(status_dtype(["paused"]).categories)[-2:]
    ['aborted', 'paused']
    """
    unknown = sorted(set(extra) - set(STATUS_LABELS))
    return STATUS_DTYPE if not unknown else pd.CategoricalDtype([*STATUS_LABELS, *unknown], True)


def with_common_status(frames: Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    """``frames`` with one status dtype, their categories united: a status no version
    documents may be in one and not another, and ``pd.concat`` would then make the column
    plain strings. Frames are returned as they are unless every one has a status column.

    Examples
    --------
    >>> a = pd.DataFrame({"status": pd.Series(["ready"], dtype=status_dtype())})
    >>> b = pd.DataFrame({"status": pd.Series(["paused"], dtype=status_dtype(["paused"]))})
    >>> pd.concat(with_common_status([a, b]))["status"].dtype == status_dtype(["paused"])
    True
    """
    if not all("status" in f.columns and is_status_dtype(f["status"].dtype) for f in frames):
        return list(frames)
    dtype = status_dtype({str(c) for f in frames for c in f["status"].cat.categories})
    return [f.assign(status=f["status"].astype(dtype)) for f in frames]


def is_status_dtype(dtype: Any) -> bool:
    """Whether ``dtype`` is a run frame's status dtype (the known labels, maybe more)."""
    return (
        isinstance(dtype, pd.CategoricalDtype)
        and bool(dtype.ordered)
        and tuple(dtype.categories[: len(STATUS_LABELS)]) == STATUS_LABELS
    )


def table_to_frame(table: pa.Table, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Typed run frame from an Arrow table with the run schema (also used by ``read_parquet``);
    derived columns the table lacks are computed. With ``columns``, only those run columns,
    each typed as in the whole frame, in the run frame's order (a derived one needs its
    source in the table).

    Examples
    --------
    >>> table_to_frame(run_arrow_schema().empty_table()).dtypes["usage_float"]
    dtype('float64')
    >>> list(table_to_frame(run_arrow_schema().empty_table(), ["usage", "slug"]).columns)
    ['slug', 'usage']
    """
    wanted = None if columns is None else set(columns)
    converted = {}
    for column in RUN_COLUMNS:
        if wanted is not None and column.name not in wanted:
            continue
        if column.name in table.column_names:
            array = table.column(column.name)
        else:
            array = DERIVED[column.name](table)
        converter = _TO_PANDAS.get(column.name, _default_to_pandas)
        converted[column.name] = converter(array, column)
    return pd.DataFrame(converted, index=pd.RangeIndex(table.num_rows), copy=False)


def empty_run_frame() -> pd.DataFrame:
    """A run frame with no rows and the full schema.

    Examples
    --------
    >>> empty_run_frame().dtypes["usage"]
    decimal128(18, 10)[pyarrow]
    """
    return table_to_frame(run_arrow_schema().empty_table())


def conform_run_table(table: pa.Table, name: str = "table") -> pa.Table:
    """``table`` with its run columns cast to the run schema's types; other columns untouched.

    For tables from elsewhere (Polars, DuckDB, a Parquet file of another writer): a run column
    may hold any type of its kind (``large_string`` or ``string_view`` for text, any integer
    width, any time unit, a timezone-aware timestamp, a dictionary of strings for ``status``,
    a decimal of any precision for ``usage``), and is cast to the run type; a cast that would
    lose anything (a sub-second time, a cost with more decimals) fails. Money never passes
    through float: ``usage`` must be a decimal.

    Raises
    ------
    ValueError
        Naming every run column of the wrong kind, or whose values its run type cannot hold.

    Examples
    --------
    >>> conform_run_table(pa.table({"usage": pa.array([1.5])}))
    Traceback (most recent call last):
    ...
    ValueError: table: 1 run column has the wrong type: usage is double, expected decimal128(18, 10)
    """
    wrong = [
        f"{field.name} is {field.type}, expected {_COLUMNS[field.name].arrow_type}"
        for field in table.schema
        if field.name in _COLUMNS and not _same_kind(_COLUMNS[field.name].arrow_type, field.type)
    ]
    if wrong:
        count = "1 run column has" if len(wrong) == 1 else f"{len(wrong)} run columns have"
        raise ValueError(f"{name}: {count} the wrong type: {'; '.join(wrong)}")
    columns = []
    for field, array in zip(table.schema, table.columns, strict=True):
        column = _COLUMNS.get(field.name)
        if column is not None and field.type != column.arrow_type:
            try:
                array = _conform(array, column.arrow_type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(
                    f"{name}: column {field.name!r} holds values that {column.arrow_type} cannot "
                    f"hold exactly ({exc})"
                ) from exc
        columns.append(array)
    return pa.table(columns, names=table.column_names)


def _is_text(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
    )


#: The kinds of run type, each a test of a type: a table's run column must be of its kind.
_KINDS: tuple[Callable[[pa.DataType], bool], ...] = (
    _is_text,
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_decimal,
    pa.types.is_duration,
)


def _same_kind(target: pa.DataType, actual: pa.DataType) -> bool:
    if actual == target:
        return True
    if pa.types.is_dictionary(target):  # status: labels, encoded or not
        return _is_text(actual.value_type if pa.types.is_dictionary(actual) else actual)
    if pa.types.is_timestamp(target):
        return pa.types.is_timestamp(actual) and actual.tz is not None
    return any(kind(target) and kind(actual) for kind in _KINDS)


def _conform(array: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    if not pa.types.is_dictionary(target):
        return array.cast(target)
    if pa.types.is_dictionary(array.type):
        if array.type.value_type == pa.string():
            return array  # the status converter takes any dictionary of strings
        array = array.cast(array.type.value_type)
    return array.cast(pa.string())


# --- free-form columns -----------------------------------------------------------------------

#: Arrow types with a pandas nullable counterpart, which a free-form column of that type gets.
NULLABLE_DTYPES: dict[pa.DataType, Any] = {
    pa.int64(): pd.Int64Dtype(),
    pa.float64(): pd.Float64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def free_form_dtype(arrow_type: pa.DataType) -> Any:
    """The pandas dtype of a free-form column of ``arrow_type``: see :func:`free_form_frame`
    (None for a dictionary: pyarrow's own conversion, a categorical).

    Examples
    --------
    >>> free_form_dtype(pa.int64()), free_form_dtype(pa.list_(pa.string()))
    (Int64Dtype(), list<item: string>[pyarrow])
    """
    if pa.types.is_dictionary(arrow_type):
        return None
    nullable = NULLABLE_DTYPES.get(arrow_type)
    return nullable if nullable is not None else pd.ArrowDtype(arrow_type)


def free_form_frame(table: pa.Table) -> pd.DataFrame:
    """``table`` as a DataFrame in one conversion, each column typed by its Arrow type:
    ``int64``, ``float64`` and ``bool`` become ``Int64``, ``Float64`` and ``boolean``, a
    dictionary a categorical, any other type (strings, lists, structs, ...) a ``pd.ArrowDtype``.
    The columns of a results frame, and those a user added to a run frame, are typed so.

    Examples
    --------
    >>> free_form_frame(pa.table({"n": [1, None], "tag": ["a", "b"]})).dtypes.tolist()
    [Int64Dtype(), string[pyarrow]]
    """
    return table.replace_schema_metadata(None).to_pandas(types_mapper=free_form_dtype)


# --- Arrow -> pandas -------------------------------------------------------------------------


def _default_to_pandas(array: pa.ChunkedArray, column: Column) -> pd.Series:
    return array.to_pandas().astype(column.dtype)


def _floats_to_pandas(array: pa.ChunkedArray, column: Column) -> pd.Series:
    return pd.Series(pc.fill_null(array, np.nan).to_numpy(zero_copy_only=False))


def _ints_to_pandas(array: pa.ChunkedArray, column: Column) -> pd.Series:
    values = array.to_numpy(zero_copy_only=False)
    if array.null_count == 0:
        return pd.Series(
            pd.arrays.IntegerArray(values.astype(np.int64), np.zeros(len(values), bool))
        )
    mask = array.is_null().to_numpy(zero_copy_only=False)
    filled = pc.fill_null(array, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    return pd.Series(pd.arrays.IntegerArray(filled, mask))


def _status_to_pandas(array: pa.ChunkedArray, column: Column) -> pd.Series:
    if not pa.types.is_dictionary(array.type):
        array = array.dictionary_encode()
    # Map each chunk's few dictionary labels to categories, then its indices through that map:
    # no per-row string is ever built.
    chunks = [chunk for chunk in array.chunks if len(chunk)]
    labels = {label for chunk in chunks for label in chunk.dictionary.to_pylist()}
    dtype = status_dtype(label for label in labels if label is not None)
    position = {label: i for i, label in enumerate(dtype.categories)}
    codes = [np.empty(0, np.int16)]
    for chunk in chunks:
        lookup = np.array(
            [position.get(label, -1) for label in chunk.dictionary.to_pylist()] + [-1], np.int16
        )
        indices = pc.fill_null(chunk.indices, len(lookup) - 1).to_numpy(zero_copy_only=False)
        codes.append(lookup[indices])
    return pd.Series(pd.Categorical.from_codes(np.concatenate(codes), dtype=dtype))


def _arrow_to_pandas(array: pa.ChunkedArray, column: Column) -> pd.Series:
    return pd.Series(pd.arrays.ArrowExtensionArray(array.cast(column.arrow_type)))


_TO_PANDAS: dict[str, Callable[[pa.ChunkedArray, Column], pd.Series]] = {
    **{c.name: _arrow_to_pandas for c in RUN_COLUMNS if c.dtype is STRING_DTYPE},
    **{c.name: _ints_to_pandas for c in RUN_COLUMNS if c.dtype is INT_DTYPE},
    "status": _status_to_pandas,
    "usage": _arrow_to_pandas,
    "usage_float": _floats_to_pandas,
}
