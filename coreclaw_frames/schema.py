"""The run schema: one table says, for every column, its Arrow type, pandas dtype and meaning.

The parser (:func:`records_to_frame`), the Parquet writer and reader, and the docs all read
:data:`RUN_COLUMNS`; change a column here and nowhere else.

Raw records go column by column into Arrow arrays (``usage`` from its decimal string straight to
an Arrow decimal, never through float), then into a typed DataFrame. Going through Arrow is both
exact and faster than ``pd.DataFrame(records)``.
"""

from __future__ import annotations

import re
import reprlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coreclaw_frames.api.dialect import FINAL_STATUSES, STATUS_LABELS, is_final

__all__ = [
    "FINAL_STATUSES",
    "RUN_COLUMNS",
    "RUN_DTYPES",
    "SCHEMA_VERSION",
    "SCHEMA_VERSION_KEY",
    "STATUS_DTYPE",
    "STATUS_LABELS",
    "USAGE_DTYPE",
    "Column",
    "empty_run_frame",
    "is_final",
    "is_status_dtype",
    "records_to_frame",
    "run_arrow_schema",
    "status_dtype",
    "table_to_frame",
]

#: Bumped whenever a column's name, type or meaning changes; stored in Parquet metadata
#: under SCHEMA_VERSION_KEY. Version 2: ``status`` gained ``aborting`` and keeps statuses no
#: API version documents.
SCHEMA_VERSION = 2
SCHEMA_VERSION_KEY = b"coreclaw_frames.schema_version"

#: The status categories of every run frame, in lifecycle order (an API may send others: they
#: are kept as further categories, after these).
STATUS_DTYPE = pd.CategoricalDtype(list(STATUS_LABELS), ordered=True)

#: ``usage`` is USD as a decimal string with up to 10 places in practice; 18 leaves room for
#: finer prices and 20 integer digits for totals.
USAGE_ARROW_TYPE = pa.decimal128(38, 18)
USAGE_DTYPE = pd.ArrowDtype(USAGE_ARROW_TYPE)
#: What a cost must look like: plain decimal digits. Arrow would also parse "1e30", and wrap it
#: into another number when it does not fit.
USAGE_PATTERN = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
#: Arrow strings with 32-bit offsets: pandas' own StringDtype widens every offset to 64 bits.
STRING_DTYPE = pd.ArrowDtype(pa.string())
INT_DTYPE = pd.Int64Dtype()
API_TIME_ARROW_TYPE = pa.timestamp("s", tz="UTC")
#: Run times are unix seconds from 2000-01-01 to 2200-01-01 (0 means "not yet"). Larger values
#: in the same range of milliseconds are read as milliseconds; anything else is flagged.
TIME_FIELDS = ("started_at", "finished_at")
EARLIEST_TIME = 946_684_800
LATEST_TIME = 7_258_118_400
MS_PER_SECOND = 1000
#: The longest a run may report to have taken (seconds): a year.
LONGEST_DURATION = 366 * 86_400
#: ``[low, high)`` of each number a record holds; 0 is always accepted.
PLAUSIBLE_RANGES: dict[str, tuple[int, int]] = {
    "started_at": (EARLIEST_TIME, LATEST_TIME),
    "finished_at": (EARLIEST_TIME, LATEST_TIME),
    "duration": (0, LONGEST_DURATION),
    "results": (0, 2**63 - 1),
    "traffic": (0, 2**63 - 1),
}
#: Fields a fetched run record must hold (what run, which worker, in what state, when);
#: without one the row is flagged. The others may be missing or null: NA (an unknown cost,
#: result count, traffic or duration; no title, version, origin or error text).
REQUIRED_FIELDS = ("status", "scraper_slug", "started_at", "finished_at")
FETCH_TIME_ARROW_TYPE = pa.timestamp("us", tz="UTC")
DURATION_ARROW_TYPE = pa.duration("s")


@dataclass(frozen=True)
class Column:
    """One column of the run frame: its Arrow storage type, pandas dtype and meaning."""

    name: str
    arrow_type: pa.DataType
    dtype: Any
    description: str


_STATUS_ARROW_TYPE = pa.dictionary(pa.int16(), pa.string(), ordered=True)

#: The run frame, in column order. The README's column table must match it (a test checks).
RUN_COLUMNS: tuple[Column, ...] = (
    Column("slug", pa.string(), STRING_DTYPE, "Run slug (26-character ULID), as requested."),
    Column(
        "status",
        _STATUS_ARROW_TYPE,
        STATUS_DTYPE,
        "Run status, ordered ready < running < succeeded < failed < aborting < aborted; "
        "other statuses the API sends are kept, after these.",
    ),
    Column("scraper_title", pa.string(), STRING_DTYPE, "Worker title."),
    Column("scraper_slug", pa.string(), STRING_DTYPE, "Worker slug: a ULID, or owner~name on v2."),
    Column("version", pa.string(), STRING_DTYPE, "Worker version, e.g. v1.0.10."),
    Column("origin", pa.string(), STRING_DTYPE, "Where the run was started: api, web, ..."),
    Column("results", pa.int64(), INT_DTYPE, "Number of collected results."),
    Column("usage", USAGE_ARROW_TYPE, USAGE_DTYPE, "Cost in USD, exact decimal."),
    Column("traffic", pa.int64(), INT_DTYPE, "Traffic in bytes."),
    Column("started_at", API_TIME_ARROW_TYPE, "datetime64[s, UTC]", "Start; NaT if not started."),
    Column(
        "finished_at", API_TIME_ARROW_TYPE, "datetime64[s, UTC]", "End; NaT while not finished."
    ),
    Column("duration", DURATION_ARROW_TYPE, "timedelta64[s]", "Run time; NaT while not finished."),
    Column("err_msg", pa.string(), STRING_DTYPE, "The run's own error text; NA when none."),
    Column(
        "fetched_at", FETCH_TIME_ARROW_TYPE, "datetime64[us, UTC]", "When this row was fetched."
    ),
    Column("fetch_error", pa.string(), STRING_DTYPE, "Why the fetch failed; NA on success."),
)
RUN_DTYPES: dict[str, Any] = {c.name: c.dtype for c in RUN_COLUMNS}
_API_FIELDS = tuple(c.name for c in RUN_COLUMNS if c.name not in {"fetched_at", "fetch_error"})


def run_arrow_schema() -> pa.Schema:
    """The Arrow schema of the run frame, with the schema version and column descriptions."""
    fields = [
        pa.field(c.name, c.arrow_type, metadata={"description": c.description}) for c in RUN_COLUMNS
    ]
    return pa.schema(fields, metadata={SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode()})


def status_dtype(extra: Iterable[str] = ()) -> pd.CategoricalDtype:
    """The status dtype: :data:`STATUS_LABELS`, then ``extra`` statuses (sorted) if any.

    >>> list(status_dtype(["paused"]).categories)[-2:]
    ['aborted', 'paused']
    """
    unknown = sorted(set(extra) - set(STATUS_LABELS))
    return STATUS_DTYPE if not unknown else pd.CategoricalDtype([*STATUS_LABELS, *unknown], True)


def is_status_dtype(dtype: Any) -> bool:
    """Whether ``dtype`` is a run frame's status dtype (the known labels, maybe more)."""
    return (
        isinstance(dtype, pd.CategoricalDtype)
        and bool(dtype.ordered)
        and tuple(dtype.categories[: len(STATUS_LABELS)]) == STATUS_LABELS
    )


def records_to_frame(
    records: Sequence[Mapping[str, Any]], *, fetched_at: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Typed run frame from canonical run records (see ``coreclaw_frames.api.dialect``).

    A record may also carry ``fetched_at`` (microseconds since the epoch) and ``fetch_error``;
    a record without ``fetched_at`` gets ``fetched_at`` (default: now). A value of the wrong
    type never crashes the batch: its cell becomes NA and the row's ``fetch_error`` names it.

    >>> df = records_to_frame([{"slug": "01KSFDS8XWTJME33C08XMCR6B9", "status": "succeeded",
    ...                         "usage": "0.0217", "started_at": 0}])
    >>> df.loc[0, "usage"], df.loc[0, "status"], df.loc[0, "started_at"]
    (Decimal('0.021700000000000000'), 'succeeded', NaT)
    """
    return table_to_frame(records_to_table(records, fetched_at=fetched_at))


def records_to_table(
    records: Sequence[Mapping[str, Any]], *, fetched_at: pd.Timestamp | None = None
) -> pa.Table:
    """Typed Arrow table (see :func:`run_arrow_schema`) from canonical run records."""
    default_fetched_us = _epoch_us(fetched_at)
    try:
        return _build_table(records, default_fetched_us)
    except (
        _Unclean,
        pa.ArrowInvalid,
        pa.ArrowTypeError,
        KeyError,
        TypeError,
        ValueError,
        OverflowError,
    ):
        # Rare: some record holds a value of the wrong type, out of range, or misses a field.
        # Clean every record (blank those cells, say so in fetch_error) and build again.
        return _build_table([clean_record(r)[0] for r in records], default_fetched_us)


def clean_record(record: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The record as the frame takes it, and what was wrong with it (empty when clean).

    A value of the wrong type or out of range is dropped (its cell becomes NA) and named in
    ``fetch_error``; so is a missing required field (:data:`REQUIRED_FIELDS`) of a record
    that is not already a failed fetch. Times in milliseconds (2001-2200) become seconds.

    >>> clean_record({"slug": "01KSFDS8XWTJME33C08XMCR6B9", "status": ["x"]})[1][0]
    "unexpected status=['x']"
    """
    problems: list[str] = []
    cleaned = dict(record)
    for name, check in _FIELD_CHECKS.items():
        value = cleaned.get(name)
        if value is not None and not check(value):
            problems.append(f"unexpected {name}={_brief(value)}")
            del cleaned[name]
    in_ms = [name for name in TIME_FIELDS if _in_ms(cleaned.get(name))]
    for name in in_ms:
        cleaned[name] //= MS_PER_SECOND
    duration = cleaned.get("duration")
    if len(in_ms) == len(TIME_FIELDS) and duration == record["finished_at"] - record["started_at"]:
        cleaned["duration"] = duration // MS_PER_SECOND  # a run timed in milliseconds throughout
    for name, (low, high) in PLAUSIBLE_RANGES.items():
        value = cleaned.get(name)
        if value is not None and value != 0 and not low <= value < high:
            problems.append(f"{name}={value!r} out of range")
            del cleaned[name]
    if record.get("fetch_error") is None:
        missing = [name for name in REQUIRED_FIELDS if record.get(name) is None]
        if missing:
            problems.append(f"missing {', '.join(missing)}")
    if problems:
        reason = "malformed record: " + "; ".join(problems)
        previous = record.get("fetch_error")
        cleaned["fetch_error"] = f"{previous}; {reason}" if isinstance(previous, str) else reason
    return cleaned, problems


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """Typed run frame from an Arrow table with the run schema (also used by ``read_parquet``)."""
    columns = {}
    for column in RUN_COLUMNS:
        array = table.column(column.name)
        converter = _TO_PANDAS.get(column.name, _default_to_pandas)
        columns[column.name] = converter(array, column)
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows), copy=False)


def empty_run_frame() -> pd.DataFrame:
    """A run frame with no rows and the full schema.

    >>> empty_run_frame().dtypes["usage"]
    decimal128(38, 18)[pyarrow]
    """
    return records_to_frame([])


# --- records -> Arrow ------------------------------------------------------------------------


def _epoch_us(when: pd.Timestamp | None) -> int:
    if when is None:
        return time.time_ns() // 1000
    stamp = pd.Timestamp(when)
    if stamp.tzinfo is None:
        raise ValueError(f"fetched_at must be timezone-aware, got {when!r}")
    return int(stamp.value // 1000)


def _zero_to_null(array: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(array, 0), pa.scalar(None, array.type), array)


def _status_array(values: list[Any]) -> pa.Array:
    labels = list(status_dtype(v for v in values if v is not None).categories)
    index = {label: i for i, label in enumerate(labels)}
    indices = [None if v is None else index[v] for v in values]
    return pa.DictionaryArray.from_arrays(
        pa.array(indices, pa.int16()), pa.array(labels, pa.string()), ordered=True
    )


class _Unclean(Exception):
    """Some record needs :func:`clean_record` before it can be built."""


def _build_table(records: Sequence[Mapping[str, Any]], default_fetched_us: int) -> pa.Table:
    def values(name: str) -> list[Any]:
        return [r.get(name) for r in records]

    def strings(name: str) -> pa.Array:
        return pa.array(values(name), pa.string())

    def ints(name: str) -> pa.Array:
        return pa.array(values(name), pa.int64())

    fetch_error = strings("fetch_error")
    numbers = {name: ints(name) for name in PLAUSIBLE_RANGES}
    usage = strings("usage")
    status = _status_array(values("status"))
    scraper_slug = strings("scraper_slug")
    required = {**numbers, "usage": usage, "status": status, "scraper_slug": scraper_slug}
    _check_clean(numbers, usage, [required[name] for name in REQUIRED_FIELDS], fetch_error)
    started = _zero_to_null(numbers["started_at"])
    finished = _zero_to_null(numbers["finished_at"])
    duration = pc.if_else(pc.is_null(finished), pa.scalar(None, pa.int64()), numbers["duration"])
    err_msg = strings("err_msg")
    fetched = pc.fill_null(ints("fetched_at"), default_fetched_us)
    arrays = {
        "slug": strings("slug"),
        "status": status,
        "scraper_title": strings("scraper_title"),
        "scraper_slug": scraper_slug,
        "version": strings("version"),
        "origin": strings("origin"),
        "results": numbers["results"],
        "usage": usage.cast(USAGE_ARROW_TYPE),
        "traffic": numbers["traffic"],
        "started_at": started.cast(API_TIME_ARROW_TYPE),
        "finished_at": finished.cast(API_TIME_ARROW_TYPE),
        "duration": duration.cast(DURATION_ARROW_TYPE),
        "err_msg": pc.if_else(pc.equal(err_msg, ""), pa.scalar(None, pa.string()), err_msg),
        "fetched_at": fetched.cast(FETCH_TIME_ARROW_TYPE),
        "fetch_error": fetch_error,
    }
    return pa.table(arrays, schema=run_arrow_schema())


def _check_clean(
    numbers: Mapping[str, pa.Array],
    usage: pa.Array,
    required: Sequence[pa.Array],
    fetch_error: pa.Array,
) -> None:
    """Raise :class:`_Unclean` when a number is out of range or a fetched record misses a
    required field: the rare case, where the fast path gives way to :func:`clean_record`."""
    for name, (low, high) in PLAUSIBLE_RANGES.items():
        array = numbers[name]
        outside = pc.or_(pc.less(array, low), pc.greater_equal(array, high))
        if pc.any(pc.and_(outside, pc.not_equal(array, 0))).as_py():
            raise _Unclean(name)
    plain = pc.match_substring_regex(usage, USAGE_PATTERN.pattern)
    if plain.null_count < len(plain) and not pc.all(plain).as_py():
        raise _Unclean("usage")  # exponents and signs Arrow would parse, and might wrap
    fetched = pc.is_null(fetch_error)
    for array in required:
        if array.null_count and pc.any(pc.and_(pc.is_null(array), fetched)).as_py():
            raise _Unclean("a required field is missing")


def _valid_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _valid_usage(value: Any) -> bool:
    if not isinstance(value, str) or not USAGE_PATTERN.fullmatch(value):
        return False
    try:
        pa.array([value]).cast(USAGE_ARROW_TYPE)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    return True


#: How much of a malformed value a fetch_error quotes.
BRIEF_CHARS = 60


def _brief(value: Any) -> str:
    brief = reprlib.Repr()
    brief.maxlevel, brief.maxlist, brief.maxdict, brief.maxstring = 2, 4, 4, 40
    text = brief.repr(value)
    return text if len(text) <= BRIEF_CHARS else text[: BRIEF_CHARS - 3] + "..."


def _in_ms(value: Any) -> bool:
    low, high = PLAUSIBLE_RANGES["started_at"]
    return _valid_int(value) and low * MS_PER_SECOND <= value < high * MS_PER_SECOND


_FIELD_CHECKS: dict[str, Callable[[Any], bool]] = {
    **{
        name: lambda v: isinstance(v, str)
        for name in ("slug", "scraper_title", "scraper_slug", "version", "origin", "err_msg")
    },
    **{
        name: _valid_int
        for name in ("results", "traffic", "started_at", "finished_at", "duration", "fetched_at")
    },
    "status": lambda v: isinstance(v, str),
    "usage": _valid_usage,
    "fetch_error": lambda v: isinstance(v, str),
}


# --- Arrow -> pandas -------------------------------------------------------------------------


def _default_to_pandas(array: pa.ChunkedArray, column: Column) -> pd.Series:
    return array.to_pandas().astype(column.dtype)


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
}
