"""Canonical run records into the typed run frame, every value read correctly or flagged.

Records (from the API layer, the cache or a test) go column by column into Arrow arrays of
:func:`coreclaw_frames.schema.run_arrow_schema` (``usage`` from its decimal string straight to
an Arrow decimal, never through float), then into a DataFrame: exact, and faster than
``pd.DataFrame(records)``.

The rules for values (:func:`clean_record`): times are unix seconds from 2000 to 2200, ``0``
meaning "not yet"; the same range in milliseconds is read as milliseconds (:func:`time_seconds`,
which the account answer is read with too). A run reports under 2**40 results and under 1 PiB (2**50
bytes) of traffic, so that totals over any frame stay exact in Int64. Anything else out of
range, a value of the wrong type, a cost that is not a plain decimal or does not fit
``usage``'s type, and a record without what makes it a run (:data:`REQUIRED_FIELDS`) leave
their cell NA and say so in the row's ``fetch_error``. The common case, all clean, is checked
vectorised; only a table with a problem is built again record by record.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coreclaw_frames._errors import quoted
from coreclaw_frames.api._values import (
    EARLIEST_TIME,
    LATEST_TIME,
    MS_PER_SECOND,
    in_milliseconds,
    time_seconds,
)
from coreclaw_frames.schema import (
    API_TIME_ARROW_TYPE,
    DURATION_ARROW_TYPE,
    FETCH_TIME_ARROW_TYPE,
    USAGE_ARROW_TYPE,
    run_arrow_schema,
    status_dtype,
    table_to_frame,
)

__all__ = [
    "PLAUSIBLE_RANGES",
    "REQUIRED_FIELDS",
    "clean_record",
    "records_to_frame",
    "records_to_table",
    "time_seconds",
]

#: Run times are unix seconds from 2000-01-01 to 2200-01-01 (0 means "not yet"). Larger values
#: in the same range of milliseconds are read as milliseconds; anything else is flagged (the
#: rules of :func:`~coreclaw_frames.api._values.time_seconds`).
TIME_FIELDS = ("started_at", "finished_at")
#: The longest a run may report to have taken (seconds): a year.
LONGEST_DURATION = 366 * 86_400
#: The most results one run may report: 2**40, about a trillion.
MOST_RESULTS = 2**40
#: The most traffic one run may report, in bytes: 2**50, one PiB.
MOST_TRAFFIC = 2**50
#: ``[low, high)`` of each number a record holds; 0 is always accepted. The bounds on counts
#: keep every total of a frame exact in Int64 (2**63 B is 8,192 PiB).
PLAUSIBLE_RANGES: dict[str, tuple[int, int]] = {
    "started_at": (EARLIEST_TIME, LATEST_TIME),
    "finished_at": (EARLIEST_TIME, LATEST_TIME),
    "duration": (0, LONGEST_DURATION),
    "results": (0, MOST_RESULTS),
    "traffic": (0, MOST_TRAFFIC),
}
#: Fields a fetched run record must hold (what run, which worker, in what state, when);
#: without one the row is flagged. The others may be missing or null: NA (an unknown cost,
#: result count, traffic or duration; no title, version, origin or error text).
REQUIRED_FIELDS = ("status", "scraper_slug", "started_at", "finished_at")
#: What a cost must look like: plain decimal digits. Arrow would also parse "1e30", and wrap it
#: into another number when it does not fit.
USAGE_PATTERN = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
#: How much of a malformed value a fetch_error quotes.
BRIEF_CHARS = 60


def records_to_frame(
    records: Sequence[Mapping[str, Any]], *, fetched_at: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Typed run frame from canonical run records (see ``coreclaw_frames.api._dialect``).

    A record may also carry ``fetched_at`` (microseconds since the epoch) and ``fetch_error``;
    a record without ``fetched_at`` gets ``fetched_at`` (default: now). A value of the wrong
    type never crashes the batch: its cell becomes NA and the row's ``fetch_error`` names it.

    Examples
    --------
    >>> df = records_to_frame([{"slug": "01KSFDS8XWTJME33C08XMCR6B9", "status": "succeeded",
    ...                         "scraper_slug": "W", "usage": "0.0217", "started_at": 0,
    ...                         "finished_at": 0}])
    >>> df.loc[0, "usage"], df.loc[0, "usage_float"], df.loc[0, "started_at"]
    (Decimal('0.0217000000'), np.float64(0.0217), NaT)
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

    Examples
    --------
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


# --- building the table ----------------------------------------------------------------------


class _Unclean(Exception):
    """Some record needs :func:`clean_record` before it can be built."""


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


def _build_table(records: Sequence[Mapping[str, Any]], default_fetched_us: int) -> pa.Table:
    def values(name: str) -> list[Any]:
        return [r.get(name) for r in records]

    def strings(name: str) -> pa.Array:
        return pa.array(values(name), pa.string())

    def ints(name: str) -> pa.Array:
        return pa.array(values(name), pa.int64())

    fetch_error = strings("fetch_error")
    numbers = {name: ints(name) for name in PLAUSIBLE_RANGES}
    usage_text = strings("usage")
    status = _status_array(values("status"))
    scraper_slug = strings("scraper_slug")
    required = {**numbers, "status": status, "scraper_slug": scraper_slug}
    _check_clean(numbers, usage_text, [required[name] for name in REQUIRED_FIELDS], fetch_error)
    usage = usage_text.cast(USAGE_ARROW_TYPE)
    finished = _zero_to_null(numbers["finished_at"])
    duration = pc.if_else(pc.is_null(finished), pa.scalar(None, pa.int64()), numbers["duration"])
    err_msg = strings("err_msg")
    fetched = pc.fill_null(ints("fetched_at"), default_fetched_us)
    arrays = {
        "slug": strings("slug"),
        "status": status,
        "scraper_title": strings("scraper_title"),
        "version": strings("version"),
        "started_at": _zero_to_null(numbers["started_at"]).cast(API_TIME_ARROW_TYPE),
        "finished_at": finished.cast(API_TIME_ARROW_TYPE),
        "duration": duration.cast(DURATION_ARROW_TYPE),
        "results": numbers["results"],
        "traffic": numbers["traffic"],
        # From the API's text: correctly rounded (Arrow's decimal-to-float cast is not).
        "usage_float": pc.cast(usage_text, pa.float64()),
        "origin": strings("origin"),
        "scraper_slug": scraper_slug,
        "err_msg": pc.if_else(pc.equal(err_msg, ""), pa.scalar(None, pa.string()), err_msg),
        "usage": usage,
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
    """Raise :class:`_Unclean` when a number is out of range, a cost is not plain, or a fetched
    record misses a required field: the rare case, where the fast path gives way to
    :func:`clean_record`."""
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


# --- checking one record ---------------------------------------------------------------------


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


def _brief(value: Any) -> str:
    return quoted(value, BRIEF_CHARS)


def _in_ms(value: Any) -> bool:
    return _valid_int(value) and in_milliseconds(value)


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
