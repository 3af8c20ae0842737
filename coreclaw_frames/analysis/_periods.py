"""Cost per day, week or month, honest about what is not over yet.

Runs belong to the period of their start (UTC); runs that never started have no period and
are left out (counted in ``attrs["not_started"]``). Two things are still moving and are
shown apart: the cost of runs that are not final (it grows until they end), and the period
that contains ``now`` (it is incomplete: runs are still to come).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from coreclaw_frames.analysis._counts import COUNT_DTYPE, count_sums
from coreclaw_frames.analysis._frame import (
    check_dtypes,
    check_frame,
    check_now,
    final_mask,
    split_fetch_failures,
)
from coreclaw_frames.analysis._money import money_series, sums_where, usage_array
from coreclaw_frames.analysis._stats import ABORTED_STATUSES, FAILED_STATUSES
from coreclaw_frames.display import ReadableFrame

__all__ = [
    "FREQUENCIES",
    "PERIOD_COLUMNS",
    "Periods",
    "check_freq",
    "period_totals",
    "run_period_totals",
    "run_periods",
]

#: Accepted ``freq`` values: pandas period alias and the period's name.
FREQUENCIES: dict[str, tuple[str, str]] = {
    "D": ("D", "day"),
    "W": ("W-SUN", "week"),
    "M": ("M", "month"),
    "MS": ("M", "month"),
}
#: Columns of the frame returned by :func:`period_totals`, in order.
PERIOD_COLUMNS = (
    "runs",
    "total_cost",
    "failed_cost",
    "aborted_cost",
    "in_progress_cost",
    "results",
    "traffic",
    "complete",
)


def check_freq(freq: object, caller: str) -> tuple[str, str]:
    """The pandas period alias and the name of ``freq``, or a ValueError listing the choices."""
    if not isinstance(freq, str) or freq not in FREQUENCIES:
        raise ValueError(
            f"{caller}: freq must be one of {', '.join(map(repr, FREQUENCIES))} "
            f"(day, week, month), got {freq!r}"
        )
    return FREQUENCIES[freq]


@dataclass(frozen=True)
class Periods:
    """The started runs of a frame placed in periods.

    ``runs`` are the started runs, ``usage`` their exact costs, ``ordinals`` each run's period
    (as ``Period.ordinal``), ``final`` whether each run is final; ``span`` every period from
    the first run's to the last's, and ``complete`` whether each of them ended before ``now``.
    """

    name: str
    runs: pd.DataFrame
    usage: pa.Array
    ordinals: pd.Series
    final: np.ndarray
    span: pd.PeriodIndex
    complete: np.ndarray
    now: pd.Timestamp
    fetch_failed: int
    not_started: int


def _naive_utc(times: pd.Series) -> pd.Series:
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        return times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times


def run_periods(data: pd.DataFrame, freq: str, now: object, caller: str) -> Periods:
    """Place the started runs of ``data`` in periods of ``freq``, with ``now`` as the clock."""
    check_frame(data, ("status", "usage", "started_at"), caller)
    period_freq, name = check_freq(freq, caller)
    clock = check_now(now, caller)
    check_dtypes(data, ("started_at",), caller)
    runs, fetch_failed = split_fetch_failures(data)
    started = runs["started_at"].notna().to_numpy(dtype=bool, na_value=False)
    not_started = int((~started).sum())
    runs = runs.loc[started]
    periods = _naive_utc(runs["started_at"]).dt.to_period(period_freq)
    ordinals = pd.Series(periods.array.asi8, index=runs.index, dtype="int64")
    if len(runs):
        span = pd.period_range(periods.min(), periods.max(), freq=period_freq)
    else:
        span = pd.PeriodIndex([], freq=period_freq)
    ends = (span + 1).start_time
    complete = np.asarray(ends <= clock.tz_localize(None), dtype=bool)
    return Periods(
        name=name,
        runs=runs,
        usage=usage_array(runs["usage"], caller),
        ordinals=ordinals,
        final=final_mask(runs),
        span=span,
        complete=complete,
        now=clock,
        fetch_failed=fetch_failed,
        not_started=not_started,
    )


def period_totals(data: pd.DataFrame, freq: str = "M", *, now: object = None) -> pd.DataFrame:
    """Runs, exact costs and traffic per day, week or month of run start (UTC).

    Parameters
    ----------
    data
        A run frame. Rows whose fetch failed and runs that never started are left out
        (counted in ``attrs["fetch_failed"]`` and ``attrs["not_started"]``).
    freq
        ``"M"`` (month, the default; ``"MS"`` too), ``"W"`` (week, Monday to Sunday) or
        ``"D"`` (day).
    now
        The clock that decides which period is not over yet: a time (naive is UTC) or unix
        seconds; default the current time.

    Returns
    -------
    DataFrame
        One row per period from the first run's to the last's (empty periods included),
        indexed by a ``PeriodIndex``, with the columns :data:`PERIOD_COLUMNS`: ``runs``;
        ``total_cost`` (every run, exact); the parts of it spent on ``failed_cost`` (failed
        runs), ``aborted_cost`` (aborted or being aborted) and ``in_progress_cost`` (runs not
        final yet, whose cost still grows); ``results`` and ``traffic`` (bytes); and
        ``complete``, False for the period containing ``now``. Unknown costs count as none.

    Examples
    --------
    >>> from coreclaw_frames.sandbox import build_account, run_frame
    >>> df = run_frame(build_account(seed=0, runs=500))
    >>> table = period_totals(df, now="2026-03-16")
    >>> [str(p) for p in table.index[-2:]], list(table["complete"].iloc[-2:])
    (['2026-02', '2026-03'], [True, False])
    >>> table["total_cost"].sum() == df["usage"].sum()
    True
    """
    return run_period_totals(data, freq, now, "period_totals")


def run_period_totals(data: pd.DataFrame, freq: str, now: object, caller: str) -> pd.DataFrame:
    """:func:`period_totals`, its errors labelled with ``caller`` (the function the user
    called)."""
    check_frame(data, ("results", "traffic"), caller)
    check_dtypes(data, ("results", "traffic"), caller)
    periods = run_periods(data, freq, now, caller)
    runs = periods.runs
    index = periods.span.rename(periods.name)
    keys = [periods.ordinals]
    ordinals = pd.Index(periods.span.asi8)
    status = runs["status"]
    masks = {
        "total_cost": np.ones(len(runs), dtype=bool),
        "failed_cost": status.isin(FAILED_STATUSES).to_numpy(dtype=bool, na_value=False),
        "aborted_cost": status.isin(ABORTED_STATUSES).to_numpy(dtype=bool, na_value=False),
        "in_progress_cost": ~periods.final,
    }
    grouped = runs.groupby(periods.ordinals, sort=False)
    columns: dict[str, pd.Series] = {
        "runs": grouped.size().reindex(ordinals, fill_value=0).astype(COUNT_DTYPE),
    }
    for name, mask in masks.items():
        columns[name] = money_series(sums_where(keys, periods.usage, mask, ordinals), ordinals)
    for name in ("results", "traffic"):
        columns[name] = count_sums(runs[name], keys, ordinals, name, caller)
    columns["complete"] = pd.Series(periods.complete, index=ordinals, dtype=bool)
    result = ReadableFrame(
        {name: pd.Series(column.array, index=index) for name, column in columns.items()},
        index=index,
    )
    result.attrs.update(fetch_failed=periods.fetch_failed, not_started=periods.not_started)
    return result
