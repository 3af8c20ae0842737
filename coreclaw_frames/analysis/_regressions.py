"""Version regressions: a worker's version that got slower or dearer than the one before it.

A comparison has to mean something: both versions need enough finished runs
(:data:`MIN_RUNS`), a baseline at or near zero gives no percentage at all (n/a), and only a
rise strictly above the threshold is flagged. Versions are compared in version order within
one worker, never across workers that happen to share a version label.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa

from coreclaw_frames.analysis._frame import (
    VERSION_COLUMN,
    WORKER_COLUMN,
    check_dtypes,
    check_frame,
    check_top,
    final_mask,
    split_fetch_failures,
)
from coreclaw_frames.analysis._grouping import MISSING_LABEL
from coreclaw_frames.analysis._money import rise
from coreclaw_frames.analysis._stats import (
    SUMMARY_INPUT_COLUMNS,
    SUMMARY_TYPED_COLUMNS,
    run_summary,
)
from coreclaw_frames.display import UNIT_COST_PLACES, ReadableFrame
from coreclaw_frames.schema import STRING_DTYPE, USAGE_TOTAL_ARROW_TYPE

__all__ = [
    "MIN_BASELINE_COST_PER_1K",
    "MIN_BASELINE_SECONDS",
    "MIN_RUNS",
    "REGRESSION_COLUMNS",
    "REGRESSION_THRESHOLD",
    "run_version_regressions",
    "version_regressions",
]

#: A version regresses when a metric rises by more than this fraction over the previous one.
REGRESSION_THRESHOLD = Decimal("0.10")
#: Finished runs each of two versions needs before they are compared.
MIN_RUNS = 20
#: Baselines below these are "at or near zero": the smallest steps the tables show (one
#: second, a hundredth of a cent), where any change would be an absurd percentage.
MIN_BASELINE_SECONDS = Decimal(1)
MIN_BASELINE_COST_PER_1K = Decimal(1).scaleb(-UNIT_COST_PLACES)

#: Columns of the frame returned by :func:`version_regressions`, in order.
REGRESSION_COLUMNS = (
    "scraper_title",
    "previous_version",
    "version",
    "previous_runs",
    "runs",
    "previous_median_duration",
    "median_duration",
    "duration_change",
    "previous_cost_per_1k_results",
    "cost_per_1k_results",
    "cost_change",
    "duration_regressed",
    "cost_regressed",
)


def _seconds(value: Any) -> Decimal | None:
    return None if pd.isna(value) else Decimal(int(pd.Timedelta(value).total_seconds()))


def _decimal_or_none(value: Any) -> Decimal | None:
    return None if value is None or value is pd.NA else Decimal(value)


def _check_threshold(threshold: object, caller: str) -> Decimal:
    try:
        limit = Decimal(str(threshold))
    except ArithmeticError as exc:
        raise ValueError(f"{caller}: threshold must be a number >= 0, got {threshold!r}") from exc
    if isinstance(threshold, bool) or not limit.is_finite() or limit < 0:
        raise ValueError(f"{caller}: threshold must be a number >= 0, got {threshold!r}")
    return limit


def version_regressions(
    data: pd.DataFrame,
    *,
    min_runs: int = MIN_RUNS,
    threshold: float | Decimal = REGRESSION_THRESHOLD,
) -> pd.DataFrame:
    """Worker versions whose median duration or cost per result rose over the previous one.

    Only finished runs count. A worker's versions with at least ``min_runs`` finished runs
    are put in version order (missing versions left out), and each is compared with the one
    before it. A version regresses when its median duration, or its cost per 1,000 results,
    is more than ``threshold`` (a fraction: 0.10 is 10%) above the previous version's;
    exactly ``threshold`` is not a regression. A change from a baseline below one second or
    $0.0001 per 1,000 results is not a percentage: it is NA ("n/a") and never flagged.
    Costs are compared exactly.

    Returns
    -------
    DataFrame
        One row per regressing version, workers in total-cost order, with the columns
        :data:`REGRESSION_COLUMNS` (``scraper_title`` names the worker as every table does:
        a worker is its slug, two that share a title are told apart by it): ``previous_runs``
        and ``runs`` count finished runs, ``duration_change`` and ``cost_change`` are relative
        (Float64: 0.25 is +25%), and the booleans ``duration_regressed`` and
        ``cost_regressed`` say which rose. In
        ``attrs``: ``compared`` (pairs of versions compared) and ``too_few_runs`` (versions
        left out for having fewer than ``min_runs`` finished runs).

    Examples
    --------
    >>> from coreclaw_frames._records import records_to_frame
    >>> run = {"status": "succeeded", "scraper_slug": "W", "scraper_title": "W",
    ...        "started_at": 1773305309, "finished_at": 1773305369, "duration": 60}
    >>> rows = [{**run, "slug": f"{v}{i}", "version": v, "results": 1000, "usage": u}
    ...         for v, u in [("v1.0.9", "1.00"), ("v1.0.10", "1.50")] for i in range(20)]
    >>> version_regressions(records_to_frame(rows))[["previous_version", "version"]]
      previous_version  version
    0           v1.0.9  v1.0.10
    """
    return run_version_regressions(data, min_runs, threshold, "version_regressions")


def run_version_regressions(
    data: pd.DataFrame, min_runs: int, threshold: float | Decimal, caller: str
) -> pd.DataFrame:
    """:func:`version_regressions`, its errors labelled with ``caller`` (the function the
    user called)."""
    check_frame(data, (WORKER_COLUMN, VERSION_COLUMN, *SUMMARY_INPUT_COLUMNS), caller)
    check_dtypes(data, SUMMARY_TYPED_COLUMNS, caller)
    limit = _check_threshold(threshold, caller)
    min_runs = check_top(min_runs, caller, "min_runs")
    runs, _ = split_fetch_failures(data)
    finished = runs.loc[final_mask(runs)]
    table = run_summary(finished, [WORKER_COLUMN, VERSION_COLUMN], caller)
    versions = [r for r in table.itertuples() if r.Index[1] != MISSING_LABEL]
    enough = [r for r in versions if r.runs >= min_runs]
    # The table is sorted by worker, then version: consecutive rows of one worker are pairs.
    pairs = [(p, c) for p, c in itertools.pairwise(enough) if p.Index[0] == c.Index[0]]
    rows = [row for p, c in pairs if (row := _compare(p, c, limit)) is not None]
    result = _regression_frame(rows)
    result.attrs.update(compared=len(pairs), too_few_runs=len(versions) - len(enough))
    return result


def _compare(previous: Any, current: Any, limit: Decimal) -> dict[str, Any] | None:
    """The regression row of ``current`` against ``previous`` (summary rows), or None."""
    duration_rise = rise(
        _seconds(previous.median_duration),
        _seconds(current.median_duration),
        MIN_BASELINE_SECONDS,
    )
    cost_rise = rise(
        _decimal_or_none(previous.cost_per_1k_results),
        _decimal_or_none(current.cost_per_1k_results),
        MIN_BASELINE_COST_PER_1K,
    )
    duration_regressed = duration_rise is not None and duration_rise > limit
    cost_regressed = cost_rise is not None and cost_rise > limit
    if not (duration_regressed or cost_regressed):
        return None
    return {
        "scraper_title": current.Index[0],
        "previous_version": previous.Index[1],
        "version": current.Index[1],
        "previous_runs": previous.runs,
        "runs": current.runs,
        "previous_median_duration": previous.median_duration,
        "median_duration": current.median_duration,
        "duration_change": None if duration_rise is None else float(duration_rise),
        "previous_cost_per_1k_results": previous.cost_per_1k_results,
        "cost_per_1k_results": current.cost_per_1k_results,
        "cost_change": None if cost_rise is None else float(cost_rise),
        "duration_regressed": duration_regressed,
        "cost_regressed": cost_regressed,
    }


def _regression_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    def column(name: str) -> list[Any]:
        return [row[name] for row in rows]

    def money(name: str) -> pd.Series:
        values = [None if v is pd.NA else v for v in column(name)]
        return pd.Series(pd.arrays.ArrowExtensionArray(pa.array(values, USAGE_TOTAL_ARROW_TYPE)))

    frame = pd.DataFrame(
        {
            **{n: pd.Series(column(n), dtype=STRING_DTYPE) for n in REGRESSION_COLUMNS[:3]},
            "previous_runs": pd.Series(column("previous_runs"), dtype="Int64"),
            "runs": pd.Series(column("runs"), dtype="Int64"),
            "previous_median_duration": pd.Series(
                column("previous_median_duration"), dtype="timedelta64[s]"
            ),
            "median_duration": pd.Series(column("median_duration"), dtype="timedelta64[s]"),
            "duration_change": pd.Series(column("duration_change"), dtype="Float64"),
            "previous_cost_per_1k_results": money("previous_cost_per_1k_results"),
            "cost_per_1k_results": money("cost_per_1k_results"),
            "cost_change": pd.Series(column("cost_change"), dtype="Float64"),
            "duration_regressed": pd.Series(column("duration_regressed"), dtype=bool),
            "cost_regressed": pd.Series(column("cost_regressed"), dtype=bool),
        }
    )
    return ReadableFrame(frame.reset_index(drop=True))
