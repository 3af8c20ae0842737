"""Run statistics per group: :func:`summary` and :func:`failure_costs`.

Money stays exact (``Decimal`` in Arrow decimal columns); the tables are
:class:`~coreclaw_frames.display.ReadableFrame`, so they show as dollars, percentages and
``h:mm:ss`` while the values underneath stay exact. Rows whose fetch failed are left out and
counted in ``attrs["fetch_failed"]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from coreclaw_frames.analysis._counts import COUNT_DTYPE, count_sums
from coreclaw_frames.analysis._frame import (
    WORKER_COLUMN,
    check_column,
    check_dtypes,
    check_frame,
    final_mask,
    split_fetch_failures,
)
from coreclaw_frames.analysis._grouping import column_grouping, expand_versions
from coreclaw_frames.analysis._money import (
    MONEY_DTYPE,
    decimal_sums,
    money,
    money_series,
    ratio,
    sums_where,
    usage_array,
)
from coreclaw_frames.display import ReadableFrame
from coreclaw_frames.schema import STRING_DTYPE

__all__ = [
    "FAILURE_COLUMNS",
    "SUMMARY_COLUMNS",
    "SUMMARY_INPUT_COLUMNS",
    "failure_costs",
    "group_keys",
    "run_failure_costs",
    "run_summary",
    "summary",
]

#: The quantile reported as ``p95_duration``.
P95 = 0.95
#: Results per unit of ``cost_per_1k_results``.
RESULTS_PER_COST_UNIT = 1000
#: The outcomes of a finished run, as :func:`summary` counts them.
OUTCOMES = ("succeeded", "failed", "aborted")
#: Statuses whose spend :func:`failure_costs` reports; an abort in progress counts as aborted.
FAILED_STATUSES = ("failed",)
ABORTED_STATUSES = ("aborting", "aborted")

#: Columns of the frame returned by :func:`summary`, in order.
SUMMARY_COLUMNS = (
    "runs",
    "succeeded",
    "failed",
    "aborted",
    "success_rate",
    "total_cost",
    "mean_cost",
    "median_duration",
    "p95_duration",
    "results",
    "traffic",
    "cost_per_1k_results",
)
#: Columns of the frame returned by :func:`failure_costs`, in order.
FAILURE_COLUMNS = (
    "runs",
    "total_cost",
    "failed",
    "failed_cost",
    "aborted",
    "aborted_cost",
    "failed_or_aborted_cost",
    "failed_or_aborted_share",
)
#: Run-frame columns that :func:`summary` reads (besides ``by``).
SUMMARY_INPUT_COLUMNS = ("status", "usage", "duration", "results", "traffic")
#: Of those, the columns whose dtype :func:`summary` checks (``usage`` is checked as money).
SUMMARY_TYPED_COLUMNS = ("duration", "results", "traffic")


def _columns(data: pd.DataFrame, by: object, caller: str) -> list[str]:
    """``by`` as a list of column names, checked, with a version's worker put before it."""
    check_frame(data, (), caller)
    columns = [by] if isinstance(by, str) else list(by) if isinstance(by, Sequence) else [by]
    if not columns:
        raise ValueError(f"{caller}: by must name at least one column, got {by!r}")
    names = [check_column(data, column, "by", caller) for column in columns]
    return expand_versions(names, list(data.columns))


def group_keys(
    runs: pd.DataFrame, columns: Sequence[str], usage: pa.Array
) -> tuple[pd.Index, list[pd.Series]]:
    """The index of a per-group table (groups in display order) and each row's keys."""
    groupings = [column_grouping(runs, column, usage) for column in columns]
    keys = [g.labels.rename(g.column) for g in groupings]
    if len(columns) == 1:
        return pd.Index(groupings[0].order, dtype=STRING_DTYPE, name=columns[0]), keys
    combos = pd.DataFrame({g.column: g.labels for g in groupings}).drop_duplicates()
    ranks = [combos[g.column].map({label: i for i, label in enumerate(g.order)}) for g in groupings]
    combos = combos.iloc[np.lexsort([r.to_numpy() for r in reversed(ranks)])]
    return pd.MultiIndex.from_frame(combos.astype(STRING_DTYPE)), keys


def _empty_summary(index: pd.Index) -> pd.DataFrame:
    return ReadableFrame(
        {
            **{name: pd.Series(dtype=COUNT_DTYPE) for name in ("runs", *OUTCOMES)},
            "success_rate": pd.Series(dtype="Float64"),
            "total_cost": pd.Series(dtype=MONEY_DTYPE),
            "mean_cost": pd.Series(dtype=MONEY_DTYPE),
            "median_duration": pd.Series(dtype="timedelta64[s]"),
            "p95_duration": pd.Series(dtype="timedelta64[s]"),
            "results": pd.Series(dtype=COUNT_DTYPE),
            "traffic": pd.Series(dtype=COUNT_DTYPE),
            "cost_per_1k_results": pd.Series(dtype=MONEY_DTYPE),
        },
        index=index,
    )


def _outcome_flags(runs: pd.DataFrame) -> pd.DataFrame:
    """One 0/1 column per outcome, NA status counting as none of them. An abort that has
    ended is aborted whether the API calls it ``aborted`` or ``aborting``."""
    status = runs["status"]
    final = final_mask(runs)
    flags = {name: (status == name).to_numpy(dtype=bool, na_value=False) for name in OUTCOMES}
    aborting = (status == "aborting").to_numpy(dtype=bool, na_value=False)
    flags["aborted"] = flags["aborted"] | (aborting & final)
    return pd.DataFrame(
        {name: flag.astype("int64") for name, flag in flags.items()}, index=status.index
    )


def summary(data: pd.DataFrame, by: str | Sequence[str] = WORKER_COLUMN) -> pd.DataFrame:
    """One row of run statistics per group of ``data``.

    Parameters
    ----------
    data
        A run frame. Rows whose fetch failed (``fetch_error`` set) are left out; their number
        is in ``result.attrs["fetch_failed"]``.
    by
        The column (or list of columns) to group by, each ordered as in
        :func:`~coreclaw_frames.analysis.group_order`; missing values form the group
        ``"(missing)"``. A worker is its slug: grouping by ``"scraper_title"`` groups by
        ``scraper_slug`` and names each worker by its title, two that share one told apart by
        their slug (``"Jobs (acme~jobs)"``). A version belongs to its worker: grouping by
        ``"version"`` groups by ``["scraper_title", "version"]``, so two workers' ``v1.0.0``
        stay apart.

    Returns
    -------
    DataFrame
        Indexed by the group labels (strings; a MultiIndex for several columns) with the
        columns :data:`SUMMARY_COLUMNS`: ``runs``, ``succeeded``, ``failed``, ``aborted``
        (Int64); ``success_rate`` (Float64, succeeded / finished runs, NA with none finished);
        ``total_cost`` and ``mean_cost`` (exact USD, Arrow decimal; the mean over runs with
        a known cost, NA without any); ``median_duration`` and ``p95_duration``
        (timedelta64[s], over finished runs); ``results`` and ``traffic`` (Int64 totals,
        traffic in bytes); ``cost_per_1k_results`` (exact USD, NA when there are no results).
        Means and ratios are rounded half-even to 10 decimal places. Values show readably
        (a :class:`~coreclaw_frames.display.ReadableFrame`) and stay exact.

    Examples
    --------
    >>> from coreclaw_frames.sandbox import build_account, run_frame
    >>> df = run_frame(build_account(seed=0, runs=300), api_version="v1")
    >>> list(summary(df, by="status").index)
    ['ready', 'running', 'succeeded', 'failed', 'aborting', 'aborted']
    >>> summary(df, by="version").index.names
    FrozenList(['scraper_title', 'version'])
    """
    return run_summary(data, by, "summary")


def run_summary(data: pd.DataFrame, by: str | Sequence[str], caller: str) -> pd.DataFrame:
    """:func:`summary`, its errors labelled with ``caller`` (the function the user called)."""
    columns = _columns(data, by, caller)
    check_frame(data, SUMMARY_INPUT_COLUMNS, caller)
    check_dtypes(data, SUMMARY_TYPED_COLUMNS, caller)
    runs, fetch_failed = split_fetch_failures(data)
    usage = usage_array(runs["usage"], caller)
    index, keys = group_keys(runs, columns, usage)
    result = _empty_summary(index)
    result.attrs["fetch_failed"] = fetch_failed
    if runs.empty:
        return result

    flags = _outcome_flags(runs)
    result["runs"] = flags.groupby(keys, sort=False).size().reindex(index).astype(COUNT_DTYPE)
    for name in OUTCOMES:
        result[name] = count_sums(flags[name], keys, index, name, caller)
    counts = result[list(OUTCOMES)].astype("int64")
    finished = counts.sum(axis=1)
    result["success_rate"] = (counts["succeeded"] / finished.where(finished > 0)).astype("Float64")

    durations = runs["duration"].groupby(keys, sort=False)
    result["median_duration"] = durations.median().reindex(index).astype("timedelta64[s]")
    result["p95_duration"] = durations.quantile(P95).reindex(index).astype("timedelta64[s]")
    for name in ("results", "traffic"):
        result[name] = count_sums(runs[name], keys, index, name, caller)

    sums = decimal_sums(keys, usage).reindex(index)
    totals = [money(cost) for cost in sums["cost"]]
    result["total_cost"] = money_series(totals, index)
    result["mean_cost"] = money_series(map(ratio, totals, sums["known"]), index)
    results = [None if pd.isna(n) else int(n) for n in result["results"]]
    per_1k = [
        None if total is None else ratio(total * RESULTS_PER_COST_UNIT, n)
        for total, n in zip(totals, results, strict=True)
    ]
    result["cost_per_1k_results"] = money_series(per_1k, index)
    return result


def failure_costs(data: pd.DataFrame, by: str | Sequence[str] = WORKER_COLUMN) -> pd.DataFrame:
    """What failed and aborted runs cost, per group of ``data``.

    Parameters
    ----------
    data
        A run frame; rows whose fetch failed are left out (counted in
        ``attrs["fetch_failed"]``).
    by
        The column (or columns) to group by, as in :func:`summary`.

    Returns
    -------
    DataFrame
        Groups as in :func:`summary`, with the columns :data:`FAILURE_COLUMNS`: ``runs``
        and ``total_cost`` (every run of the group), ``failed`` and ``failed_cost``,
        ``aborted`` and ``aborted_cost`` (runs aborted or being aborted), their sum
        ``failed_or_aborted_cost``, and ``failed_or_aborted_share`` of ``total_cost``
        (Float64, NA when the group cost nothing). Money is exact; unknown costs count as
        none.

    Examples
    --------
    >>> from coreclaw_frames.sandbox import build_account, run_frame
    >>> df = run_frame(build_account(seed=0, runs=300))
    >>> table = failure_costs(df)
    >>> table["failed_or_aborted_cost"].sum() == (
    ...     df.loc[df["status"].isin(["failed", "aborting", "aborted"]), "usage"].sum())
    True
    """
    return run_failure_costs(data, by, "failure_costs")


def run_failure_costs(data: pd.DataFrame, by: str | Sequence[str], caller: str) -> pd.DataFrame:
    """:func:`failure_costs`, its errors labelled with ``caller`` (the function the user
    called)."""
    columns = _columns(data, by, caller)
    check_frame(data, ("status", "usage"), caller)
    runs, fetch_failed = split_fetch_failures(data)
    usage = usage_array(runs["usage"], caller)
    index, keys = group_keys(runs, columns, usage)
    status = runs["status"]
    failed = status.isin(FAILED_STATUSES).to_numpy(dtype=bool, na_value=False)
    aborted = status.isin(ABORTED_STATUSES).to_numpy(dtype=bool, na_value=False)
    everything = np.ones(len(runs), dtype=bool)
    totals = sums_where(keys, usage, everything, index)
    failed_costs = sums_where(keys, usage, failed, index)
    aborted_costs = sums_where(keys, usage, aborted, index)
    lost = [f + a for f, a in zip(failed_costs, aborted_costs, strict=True)]
    flags = pd.DataFrame({"failed": failed, "aborted": aborted}, index=runs.index).astype("int64")
    counts = {name: count_sums(flags[name], keys, index, name, caller) for name in flags}
    runs_per_group = flags.groupby(keys, sort=False).size().reindex(index)
    shares = [
        float(part / whole) if whole else None for part, whole in zip(lost, totals, strict=True)
    ]
    result = ReadableFrame(
        {
            "runs": runs_per_group.fillna(0).astype(COUNT_DTYPE),
            "total_cost": money_series(totals, index),
            "failed": counts["failed"],
            "failed_cost": money_series(failed_costs, index),
            "aborted": counts["aborted"],
            "aborted_cost": money_series(aborted_costs, index),
            "failed_or_aborted_cost": money_series(lost, index),
            "failed_or_aborted_share": pd.Series(shares, index=index, dtype="Float64"),
        },
        index=index,
    )
    result.attrs["fetch_failed"] = fetch_failed
    return result
