"""What every analysis reads first: a checked run frame, the rows that are runs, and a clock.

A frame is checked where it enters an analysis, and errors name the function the user called:
the columns it needs (:func:`check_frame`), and their dtypes (:func:`check_dtypes`: a frame
read back from CSV holds text where a run frame holds times and durations, and is told how to
convert them). Naive times are UTC everywhere (:func:`utc_times`).

Rows whose fetch failed carry no run data (and so no group, cost or time): every analysis
leaves them out and says how many it left out. A run is *final* when it can never change
again (succeeded, failed, aborted, or being aborted with an end time); the cost of a run that
is not final still grows, so periods and regressions treat it apart.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from coreclaw_frames.schema import FINAL_STATUSES, RUN_COLUMNS

__all__ = [
    "ABORTING_STATUS",
    "FETCH_ERROR_COLUMN",
    "VERSION_COLUMN",
    "WORKER_COLUMN",
    "WORKER_SLUG_COLUMN",
    "check_column",
    "check_dtypes",
    "check_frame",
    "check_now",
    "check_top",
    "final_mask",
    "split_fetch_failures",
    "utc_times",
]

#: Grouping by worker groups by its slug when the frame has one (titles are not unique), and
#: names each group by its title.
WORKER_COLUMN = "scraper_title"
WORKER_SLUG_COLUMN = "scraper_slug"
#: The time columns of a run frame.
TIME_COLUMNS = ("started_at", "finished_at")
VERSION_COLUMN = "version"
FETCH_ERROR_COLUMN = "fetch_error"
#: An abort in progress; final once it has an end time.
ABORTING_STATUS = "aborting"


def check_frame(data: object, required: Iterable[str], caller: str) -> pd.DataFrame:
    """``data`` as a DataFrame with ``required`` columns, or a clear TypeError/ValueError."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(
            f"{caller}: data must be a pandas DataFrame of runs (a run frame), "
            f"got {type(data).__name__}"
        )
    missing = [name for name in required if name not in data.columns]
    if missing:
        raise ValueError(
            f"{caller}: data is missing the required column(s) {', '.join(map(repr, missing))}; "
            f"a run frame has {', '.join(c.name for c in RUN_COLUMNS)}"
        )
    return data


def _is_integer(dtype: object) -> bool:
    return pd.api.types.is_integer_dtype(dtype)


#: What the analysis needs each column to hold: a test of its dtype, what it is called, and how
#: a frame read from CSV (text in these columns) gets it.
DTYPE_RULES: dict[str, tuple[Callable[[object], bool], str, str]] = {
    "duration": (
        pd.api.types.is_timedelta64_dtype,
        "timedelta64",
        "pd.to_timedelta(df['duration'])",
    ),
    **{
        name: (
            pd.api.types.is_datetime64_any_dtype,
            "datetime64",
            f"pd.to_datetime(df[{name!r}], utc=True)",
        )
        for name in TIME_COLUMNS
    },
    **{
        name: (_is_integer, "integers (Int64)", f"df[{name!r}].astype('Int64')")
        for name in ("results", "traffic")
    },
}


def check_dtypes(data: pd.DataFrame, columns: Iterable[str], caller: str) -> None:
    """A TypeError naming the first of ``columns`` whose dtype is not a run frame's.

    Examples
    --------
    >>> check_dtypes(pd.DataFrame({"duration": ["0:05:00"]}), ["duration"], "f")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: f: duration must be timedelta64, got dtype str; ...: pd.to_timedelta(df['duration'])
    """
    for name in columns:
        if name not in data.columns:
            continue
        accepts, expected, conversion = DTYPE_RULES[name]
        dtype = data[name].dtype
        if not accepts(dtype):
            raise TypeError(
                f"{caller}: {name} must be {expected}, got dtype {dtype}; for a frame read "
                f"from CSV: {conversion}"
            )


def utc_times(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` with its naive time columns read as UTC (aware ones are left as they are).

    Examples
    --------
    >>> utc_times(pd.DataFrame({"started_at": pd.to_datetime(["2026-03-01"])}))["started_at"][0]
    Timestamp('2026-03-01 00:00:00+0000', tz='UTC')
    """
    naive = {
        name: data[name].dt.tz_localize("UTC")
        for name in TIME_COLUMNS
        if name in data.columns
        and pd.api.types.is_datetime64_dtype(data[name].dtype)
        and not isinstance(data[name].dtype, pd.DatetimeTZDtype)
    }
    return data.assign(**naive) if naive else data


def check_column(data: pd.DataFrame, name: object, param: str, caller: str) -> str:
    """``name`` if it is a column of ``data``, else a TypeError/ValueError listing the columns."""
    valid = ", ".join(str(c) for c in data.columns)
    if not isinstance(name, str):
        raise TypeError(
            f"{caller}: {param} must be a column name (str), got {name!r}; valid columns: {valid}"
        )
    if name not in data.columns:
        raise ValueError(f"{caller}: {param}={name!r} is not a column of data; valid: {valid}")
    return name


def check_top(top: object, caller: str, param: str = "top") -> int:
    """``top`` as an int if it is a positive integer, else a ValueError."""
    if isinstance(top, bool) or not isinstance(top, int | np.integer) or top < 1:
        raise ValueError(f"{caller}: {param} must be a positive integer, got {top!r}")
    return int(top)


def check_now(now: object, caller: str) -> pd.Timestamp:
    """The clock ``now`` as a UTC timestamp; the current time when None.

    Accepts what :class:`pandas.Timestamp` takes (naive times are UTC) and unix seconds.

    Examples
    --------
    >>> check_now("2026-03-16", "f"), check_now(1773619200, "f") == check_now("2026-03-16", "f")
    (Timestamp('2026-03-16 00:00:00+0000', tz='UTC'), True)
    """
    if now is None:
        return pd.Timestamp.now(tz="UTC")
    try:
        if isinstance(now, bool):
            raise TypeError("a bool is not a time")
        if isinstance(now, numbers.Real):
            stamp = pd.Timestamp(float(now), unit="s")
        else:
            stamp = pd.Timestamp(now)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{caller}: now must be a time or unix seconds, got {now!r}") from exc
    if pd.isna(stamp):
        raise ValueError(f"{caller}: now must be a time or unix seconds, got {now!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def split_fetch_failures(data: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows that are runs, and how many rows were left out because their fetch failed."""
    if FETCH_ERROR_COLUMN not in data.columns:
        return data, 0
    failed = data[FETCH_ERROR_COLUMN].notna().to_numpy(dtype=bool, na_value=False)
    count = int(failed.sum())
    return (data.loc[~failed] if count else data), count


def final_mask(runs: pd.DataFrame) -> np.ndarray:
    """Whether each run is final: succeeded, failed, aborted, or aborting with an end time.

    The vectorised form of :func:`coreclaw_frames.api.is_final`. A run frame without
    ``finished_at`` tells the end of an abort by its ``duration``.
    """
    status = runs["status"]
    final = status.isin(sorted(FINAL_STATUSES)).to_numpy(dtype=bool, na_value=False)
    ended_column = "finished_at" if "finished_at" in runs.columns else "duration"
    if ended_column not in runs.columns:
        return final
    aborting = (status == ABORTING_STATUS).to_numpy(dtype=bool, na_value=False)
    ended = runs[ended_column].notna().to_numpy(dtype=bool, na_value=False)
    return final | (aborting & ended)
