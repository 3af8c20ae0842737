"""Per-group run statistics, group ordering and version regressions, in pure pandas.

The plots, the accessor and the cost report all group runs the same way, so the rules live
here once:

* **Order comes from the data type, never from appearance.** Statuses follow their lifecycle
  (the categorical order), versions sort as versions (``v1.0.9`` before ``v1.0.10``, see
  :func:`version_key`), numbers and times by value, and everything else (worker titles and
  slugs, origins) by total cost, most expensive first.
* **Money stays exact.** ``usage`` is summed as Arrow decimals (widened to 76 digits so that a
  sum can never silently wrap around) and means and ratios are computed with Python
  :class:`~decimal.Decimal`; nothing about cost passes through float.
* **Rows whose fetch failed are not runs.** They carry no data (and so no group); every
  function here leaves them out, and :func:`summary` says how many it left out in
  ``attrs["fetch_failed"]``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coreclaw_frames.display import ReadableFrame
from coreclaw_frames.schema import (
    RUN_COLUMNS,
    STRING_DTYPE,
    USAGE_ARROW_TYPE,
    USAGE_TOTAL_ARROW_TYPE,
)

__all__ = [
    "DEFAULT_TOP",
    "MISSING_LABEL",
    "OTHER_LABEL",
    "REGRESSION_THRESHOLD",
    "SUMMARY_COLUMNS",
    "group_order",
    "summary",
    "version_key",
    "version_regressions",
]

#: How many groups a chart shows before the rest are pooled into one "other" group.
DEFAULT_TOP = 12
#: Label of the pooled group; charts show it as ``"other (N)"`` with N the pooled groups.
OTHER_LABEL = "other"
#: Label of the group of rows whose grouping value is missing.
MISSING_LABEL = "(missing)"
#: A version regresses when a metric rises by more than this fraction over the previous one.
REGRESSION_THRESHOLD = Decimal("0.10")
#: The quantile reported as ``p95_duration``.
P95 = 0.95
#: Results per unit of ``cost_per_1k_results``.
RESULTS_PER_COST_UNIT = 1000

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

#: Run-frame columns that :func:`summary` reads (besides ``by``).
SUMMARY_INPUT_COLUMNS = ("status", "usage", "duration", "results", "traffic")
VERSION_COLUMN = "version"
WORKER_COLUMN = "scraper_title"
FETCH_ERROR_COLUMN = "fetch_error"
FINISHED_STATUSES = ("succeeded", "failed", "aborted")

#: Sums are taken at this width so that no realistic total can overflow (Arrow's decimal
#: sum wraps around silently); results are narrowed back to the run frame's usage type,
#: which raises instead of wrapping.
_SUM_ARROW_TYPE = pa.decimal256(76, USAGE_ARROW_TYPE.scale)
#: Digits of precision for Decimal means and ratios: more than any decimal256 value holds.
_DECIMAL_PRECISION = 100
_USAGE_QUANTUM = Decimal(1).scaleb(-USAGE_ARROW_TYPE.scale)
#: Money columns of the summary and the regressions: totals, so wider than one run's cost.
MONEY_DTYPE = pd.ArrowDtype(USAGE_TOTAL_ARROW_TYPE)

# --- version_key -----------------------------------------------------------------------------

_VERSION_RE = re.compile(r"^v?(\d+(?:\.\d+)*)(.*)$", re.IGNORECASE | re.ASCII | re.DOTALL)
_NATURAL_SPLIT_RE = re.compile(r"(\d+)", re.ASCII)
_TAG_RE = re.compile(r"[a-z]+")
# Release phases: any pre-release sorts before its release, post-releases after it.
_PHASE_UNKNOWN_PRE = 0
_PHASE_DEV = 1
_PHASE_ALPHA = 2
_PHASE_BETA = 3
_PHASE_RC = 4
_PHASE_RELEASE = 5
_PHASE_POST = 6
_PHASES = {
    "dev": _PHASE_DEV,
    "snapshot": _PHASE_DEV,
    "nightly": _PHASE_DEV,
    "a": _PHASE_ALPHA,
    "alpha": _PHASE_ALPHA,
    "b": _PHASE_BETA,
    "beta": _PHASE_BETA,
    "c": _PHASE_RC,
    "rc": _PHASE_RC,
    "pre": _PHASE_RC,
    "preview": _PHASE_RC,
    "post": _PHASE_POST,
    "rev": _PHASE_POST,
    "r": _PHASE_POST,
}
# Kinds of version string, in sort order.
_KIND_NUMBERED = 0
_KIND_NAMED = 1
_KIND_MISSING = 2

NaturalKey = tuple[tuple[int, int, str], ...]
NumberKey = tuple[int, str]
VersionKey = tuple[int, tuple[NumberKey, ...], int, NaturalKey, str]
_ZERO: NumberKey = (0, "")


def _number_key(digits: str) -> tuple[int, str]:
    """Orders digit strings as numbers without int(): no size limit, no leading zeros."""
    stripped = digits.lstrip("0")
    return (len(stripped), stripped)


def _natural_key(text: str) -> NaturalKey:
    """Split text into digit runs (compared as numbers) and other runs (compared as text)."""
    parts = (p for p in _NATURAL_SPLIT_RE.split(text) if p)
    return tuple((0, *_number_key(p)) if p.isdigit() else (1, 0, p) for p in parts)


def version_key(version: object) -> VersionKey:
    """Sort key that orders version strings as versions.

    Numbered versions (an optional ``v``, then dot-separated numbers) compare number by
    number, so ``v1.0.9 < v1.0.10`` and ``1.2 == 1.2.0`` (ties broken by the text).
    Pre-releases (``dev``, ``a``/``alpha``, ``b``/``beta``, ``rc``, or any other suffix) sort
    before their release, post-releases (``post``, ``r``) and build metadata (``+build``)
    after. Names without a number (``latest``, ``main``) sort after every numbered version,
    alphabetically; missing values and non-strings last. Never raises.

    Examples
    --------
    >>> sorted(["v1.0.10", "latest", "v1.0.9", "1.2", "v1.0.10-rc1"], key=version_key)
    ['v1.0.9', 'v1.0.10-rc1', 'v1.0.10', '1.2', 'latest']
    """
    if version is None or version is pd.NA or version is pd.NaT:
        return (_KIND_MISSING, (), 0, (), "")
    if isinstance(version, float) and np.isnan(version):
        return (_KIND_MISSING, (), 0, (), "")
    raw = version if isinstance(version, str) else str(version)
    text = raw.strip().lower()
    match = _VERSION_RE.match(text)
    if match is None:
        return (_KIND_NAMED, (), 0, _natural_key(text), raw)
    numbers = [_number_key(n) for n in match.group(1).split(".")]
    while len(numbers) > 1 and numbers[-1] == _ZERO:
        numbers.pop()
    suffix = match.group(2)
    if not suffix or suffix.startswith("+"):
        phase = _PHASE_RELEASE
    else:
        tag = _TAG_RE.search(suffix)
        phase = _PHASES.get(tag.group(0), _PHASE_UNKNOWN_PRE) if tag else _PHASE_UNKNOWN_PRE
    return (_KIND_NUMBERED, tuple(numbers), phase, _natural_key(suffix), raw)


# --- validation ------------------------------------------------------------------------------


def _check_frame(data: object, required: Iterable[str], caller: str) -> pd.DataFrame:
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


def _check_column(data: pd.DataFrame, name: object, param: str, caller: str) -> str:
    """``name`` if it is a column of ``data``, else a TypeError/ValueError listing the columns."""
    valid = ", ".join(str(c) for c in data.columns)
    if not isinstance(name, str):
        raise TypeError(
            f"{caller}: {param} must be a column name (str), got {name!r}; valid columns: {valid}"
        )
    if name not in data.columns:
        raise ValueError(f"{caller}: {param}={name!r} is not a column of data; valid: {valid}")
    return name


def _check_top(top: object, caller: str) -> int:
    if isinstance(top, bool) or not isinstance(top, int | np.integer) or top < 1:
        raise ValueError(f"{caller}: top must be a positive integer, got {top!r}")
    return int(top)


def _split_fetch_failures(data: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows that are runs, and how many rows were left out because their fetch failed."""
    if FETCH_ERROR_COLUMN not in data.columns:
        return data, 0
    failed = data[FETCH_ERROR_COLUMN].notna().to_numpy(dtype=bool, na_value=False)
    count = int(failed.sum())
    return (data.loc[~failed] if count else data), count


def _usage_array(usage: pd.Series, caller: str) -> pa.Array:
    """``usage`` as a wide Arrow decimal array; TypeError for anything that is not exact."""
    dtype = usage.dtype
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_decimal(dtype.pyarrow_dtype):
        array = pa.array(usage)
    elif pd.api.types.is_object_dtype(dtype) or len(usage) == 0:
        try:
            array = pa.array(usage.astype(object).where(usage.notna(), None), USAGE_ARROW_TYPE)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise TypeError(
                f"{caller}: usage must hold exact decimals (decimal.Decimal or "
                f"pd.ArrowDtype({USAGE_ARROW_TYPE})), got values of dtype {dtype}: {exc}"
            ) from exc
    else:
        raise TypeError(
            f"{caller}: usage must hold exact decimals, pd.ArrowDtype({USAGE_ARROW_TYPE}), "
            f"got dtype {dtype}; floats cannot hold money exactly"
        )
    return array.cast(_SUM_ARROW_TYPE)


# --- grouping --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grouping:
    """Row labels (strings, never NA) aligned with the frame, and every label in order."""

    column: str
    labels: pd.Series
    order: list[str]


def _labels(values: pd.Series) -> pd.Series:
    """Group labels as Arrow strings, with missing values labelled :data:`MISSING_LABEL`."""
    try:
        labels = values.astype(STRING_DTYPE)
    except (TypeError, ValueError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        objects = [None if _is_missing(v) else str(v) for v in values.astype(object)]
        labels = pd.Series(objects, index=values.index, dtype=STRING_DTYPE)
    return labels.fillna(MISSING_LABEL)


def _is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _decimal_sums(keys: Sequence[pd.Series], usage: pa.Array) -> pd.DataFrame:
    """Exact sum (``Decimal`` or ``None``) and count of known costs per combination of keys."""
    names = [f"key{i}" for i in range(len(keys))]
    table = pa.table({**{n: pa.array(k) for n, k in zip(names, keys, strict=True)}, "v": usage})
    grouped = table.group_by(names, use_threads=False).aggregate([("v", "sum"), ("v", "count")])
    index = (
        pd.MultiIndex.from_arrays([grouped[n].to_pylist() for n in names])
        if len(names) > 1
        else pd.Index(grouped[names[0]].to_pylist())
    )
    return pd.DataFrame(
        {"cost": grouped["v_sum"].to_pylist(), "known": grouped["v_count"].to_pylist()},
        index=index,
        dtype=object,
    )


def _group_totals(labels: pd.Series, usage: pa.Array) -> pa.Table:
    """Per label: ``key``, exact ``cost`` (null if none known) and ``runs``, as Arrow."""
    table = pa.table({"key": pa.array(labels), "v": usage})
    grouped = table.group_by("key", use_threads=False).aggregate([("v", "sum"), ("key", "count")])
    return grouped.rename_columns({"v_sum": "cost", "key_count": "runs"})


def _cost_rank(labels: pd.Series, usage: pa.Array, exclude: str | None) -> list[str]:
    """Labels by total cost (descending; unknown cost last), then run count, then name."""
    totals = _group_totals(labels, usage)
    if exclude is not None:
        totals = totals.filter(pc.not_equal(totals["key"], exclude))
    # Rank on an explicit "unknown" flag rather than on null placement, whose API changed.
    ranking = pa.table(
        {
            "unknown": pc.is_null(totals["cost"]),
            "cost": pc.fill_null(totals["cost"], pa.scalar(0, totals["cost"].type)),
            "runs": totals["runs"],
            "key": totals["key"],
        }
    )
    order = pc.sort_indices(
        ranking,
        sort_keys=[
            ("unknown", "ascending"),
            ("cost", "descending"),
            ("runs", "descending"),
            ("key", "ascending"),
        ],
    )
    return [str(label) for label in totals["key"].take(order).to_pylist()]


def _grouping(frame: pd.DataFrame, column: str, usage: pa.Array) -> _Grouping:
    """Label every row of ``frame`` by ``column`` and put the labels in their data-type order."""
    values = frame[column]
    labels = _labels(values)
    missing = values.isna().to_numpy(dtype=bool, na_value=True)
    has_missing = bool(missing.any())
    dtype = values.dtype
    order: list[str]
    if isinstance(dtype, pd.CategoricalDtype):
        present = set(labels[~missing].unique().tolist())
        order = [str(c) for c in dtype.categories if str(c) in present]
    elif column == VERSION_COLUMN:
        order = sorted(set(labels[~missing].unique().tolist()), key=version_key)
    elif (
        pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
    ):
        pairs = pd.DataFrame({"value": values[~missing], "label": labels[~missing]})
        order = pairs.sort_values("value", kind="stable").drop_duplicates("label")["label"].tolist()
    else:
        order = _cost_rank(labels, usage, MISSING_LABEL if has_missing else None)
    if has_missing:
        order.append(MISSING_LABEL)
    return _Grouping(column, labels, order)


def _limit(grouping: _Grouping, usage: pa.Array, top: int) -> _Grouping:
    """Keep the ``top`` most expensive groups in their order and pool the rest into one
    ``"other (N)"`` group; unchanged when that would pool a single group."""
    if len(grouping.order) <= top + 1:
        return grouping
    totals = _group_totals(grouping.labels, usage)
    position = {label: i for i, label in enumerate(grouping.order)}
    ranking = pa.table(
        {
            "cost": pc.fill_null(totals["cost"], pa.scalar(0, totals["cost"].type)),
            "position": [position[key] for key in totals["key"].to_pylist()],
        }
    )
    ranked = pc.sort_indices(ranking, sort_keys=[("cost", "descending"), ("position", "ascending")])
    kept = set(totals["key"].take(ranked[:top]).to_pylist())
    other = f"{OTHER_LABEL} ({len(grouping.order) - top})"
    labels = grouping.labels.where(grouping.labels.isin(kept), other)
    order = [label for label in grouping.order if label in kept] + [other]
    return _Grouping(grouping.column, labels, order)


def group_order(data: pd.DataFrame, by: str = WORKER_COLUMN) -> list[str]:
    """Labels of the groups of ``data`` by column ``by``, in display order.

    Statuses in lifecycle order, versions as versions (:func:`version_key`), numbers and
    times by value, anything else by total cost (descending), then run count, then name.
    A missing value is the group :data:`MISSING_LABEL`, always last. Rows whose fetch failed
    are left out.

    Examples
    --------
    >>> from coreclaw_frames.records import records_to_frame
    >>> run = {"status": "succeeded", "scraper_slug": "W", "started_at": 1773305309,
    ...        "finished_at": 1773305369, "duration": 60}
    >>> df = records_to_frame([{**run, "version": "v1.0.10"}, {**run, "version": "v1.0.9"}])
    >>> group_order(df, "version")
    ['v1.0.9', 'v1.0.10']
    """
    caller = "group_order"
    _check_frame(data, (), caller)
    _check_column(data, by, "by", caller)
    runs, _ = _split_fetch_failures(data)
    usage = _usage_array(runs["usage"], caller) if "usage" in runs.columns else None
    if usage is None:
        usage = pa.nulls(len(runs), _SUM_ARROW_TYPE)
    return _grouping(runs, by, usage).order


# --- summary ---------------------------------------------------------------------------------


def _money(value: Decimal | None) -> Decimal | None:
    """A Decimal rounded (half-even) to the run frame's usage scale; None stays None."""
    if value is None:
        return None
    with localcontext() as context:
        context.prec = _DECIMAL_PRECISION
        return value.quantize(_USAGE_QUANTUM, rounding=ROUND_HALF_EVEN)


def _ratio(numerator: Decimal | None, denominator: int | Decimal | None) -> Decimal | None:
    """``numerator / denominator`` as an exact-to-scale Decimal; None if either is missing/0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    with localcontext() as context:
        context.prec = _DECIMAL_PRECISION
        return _money(numerator / Decimal(denominator))


def _money_array(values: Iterable[Decimal | None], index: pd.Index) -> pd.Series:
    array = pa.array(list(values), _SUM_ARROW_TYPE).cast(USAGE_TOTAL_ARROW_TYPE)
    return pd.Series(pd.arrays.ArrowExtensionArray(array), index=index)


def _empty_summary(index: pd.Index) -> pd.DataFrame:
    return ReadableFrame(
        {
            **{name: pd.Series(dtype="Int64") for name in ("runs", *FINISHED_STATUSES)},
            "success_rate": pd.Series(dtype="Float64"),
            "total_cost": pd.Series(dtype=MONEY_DTYPE),
            "mean_cost": pd.Series(dtype=MONEY_DTYPE),
            "median_duration": pd.Series(dtype="timedelta64[s]"),
            "p95_duration": pd.Series(dtype="timedelta64[s]"),
            "results": pd.Series(dtype="Int64"),
            "traffic": pd.Series(dtype="Int64"),
            "cost_per_1k_results": pd.Series(dtype=MONEY_DTYPE),
        },
        index=index,
    )


def _status_flags(runs: pd.DataFrame) -> pd.DataFrame:
    """One 0/1 column per final status, NA status counting as none of them. An abort that
    has ended is aborted whether the API calls it ``aborted`` or ``aborting``."""
    status = runs["status"]
    ended_abort = (status == "aborting") & runs["duration"].notna()
    flags = {name: status == name for name in FINISHED_STATUSES}
    flags["aborted"] = flags["aborted"] | ended_abort
    return pd.DataFrame(
        {name: flag.fillna(False).astype("int64") for name, flag in flags.items()},
        index=status.index,
    )


def summary(data: pd.DataFrame, by: str | Sequence[str] = WORKER_COLUMN) -> pd.DataFrame:
    """One row of run statistics per group of ``data``.

    Parameters
    ----------
    data
        A run frame. Rows whose fetch failed (``fetch_error`` set) are left out; their number
        is in ``result.attrs["fetch_failed"]``.
    by
        The column (or list of columns) to group by; each is ordered as in
        :func:`group_order`, and missing values form the group :data:`MISSING_LABEL`.

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
        Means and ratios are rounded half-even to 10 decimal places. It is a
        :class:`~coreclaw_frames.display.ReadableFrame`: the values are exact, and they show as
        dollars, percentages, ``h:mm:ss`` and binary sizes in Jupyter, when printed and in
        ``to_csv``.

    Examples
    --------
    >>> from coreclaw_frames.sandbox import build_account, run_frame
    >>> df = run_frame(build_account(seed=0, runs=300), api_version="v1")
    >>> table = summary(df, by="status")
    >>> list(table.index)
    ['ready', 'running', 'succeeded', 'failed', 'aborting', 'aborted']
    >>> table.attrs["fetch_failed"]
    0
    """
    caller = "summary"
    _check_frame(data, (), caller)
    columns = [by] if isinstance(by, str) else list(by) if isinstance(by, Sequence) else [by]
    if not columns:
        raise ValueError(f"{caller}: by must name at least one column, got {by!r}")
    for column in columns:
        _check_column(data, column, "by", caller)
    _check_frame(data, SUMMARY_INPUT_COLUMNS, caller)
    runs, fetch_failed = _split_fetch_failures(data)
    usage = _usage_array(runs["usage"], caller)
    groupings = [_grouping(runs, column, usage) for column in columns]
    keys = [g.labels.rename(g.column) for g in groupings]

    index: pd.Index
    if len(columns) == 1:
        index = pd.Index(groupings[0].order, dtype=STRING_DTYPE, name=columns[0])
    else:
        combos = pd.DataFrame({g.column: g.labels for g in groupings}).drop_duplicates()
        ranks = [
            combos[g.column].map({label: i for i, label in enumerate(g.order)}) for g in groupings
        ]
        combos = combos.iloc[np.lexsort([r.to_numpy() for r in reversed(ranks)])]
        index = pd.MultiIndex.from_frame(combos.astype(STRING_DTYPE))
    result = _empty_summary(index)
    result.attrs["fetch_failed"] = fetch_failed
    if runs.empty:
        return result

    grouped_flags = _status_flags(runs).groupby(keys, sort=False)
    counts = grouped_flags.sum().reindex(index)
    result["runs"] = grouped_flags.size().reindex(index).astype("Int64")
    for name in FINISHED_STATUSES:
        result[name] = counts[name].astype("Int64")
    finished = counts[list(FINISHED_STATUSES)].sum(axis=1)
    rate = counts["succeeded"] / finished.where(finished > 0)
    result["success_rate"] = rate.astype("Float64")

    durations = runs["duration"].groupby(keys, sort=False)
    result["median_duration"] = durations.median().reindex(index).astype("timedelta64[s]")
    result["p95_duration"] = durations.quantile(P95).reindex(index).astype("timedelta64[s]")
    for name in ("results", "traffic"):
        result[name] = runs[name].groupby(keys, sort=False).sum().reindex(index).astype("Int64")

    sums = _decimal_sums(keys, usage).reindex(index)
    totals = [_money(cost) for cost in sums["cost"]]
    result["total_cost"] = _money_array(totals, index)
    result["mean_cost"] = _money_array(map(_ratio, totals, sums["known"]), index)
    results = [None if pd.isna(n) else int(n) for n in result["results"]]
    per_1k = [
        None if total is None else _ratio(total * RESULTS_PER_COST_UNIT, n)
        for total, n in zip(totals, results, strict=True)
    ]
    result["cost_per_1k_results"] = _money_array(per_1k, index)
    return result


# --- version regressions ---------------------------------------------------------------------

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


def _rise(previous: Decimal | None, current: Decimal | None) -> Decimal | None:
    """Relative change ``current / previous - 1``; None when not comparable (missing or 0)."""
    if previous is None or current is None or previous <= 0:
        return None
    with localcontext() as context:
        context.prec = _DECIMAL_PRECISION
        return current / previous - 1


def _seconds(value: Any) -> Decimal | None:
    return None if pd.isna(value) else Decimal(int(pd.Timedelta(value).total_seconds()))


def _decimal_or_none(value: Any) -> Decimal | None:
    return None if value is None or value is pd.NA else Decimal(value)


def version_regressions(
    data: pd.DataFrame, threshold: float | Decimal = REGRESSION_THRESHOLD
) -> pd.DataFrame:
    """Worker versions whose median duration or cost per result rose against the previous one.

    Every worker's versions are put in version order (:func:`version_key`, missing versions
    left out); each is compared with the version just before it. A version regresses when
    its median duration, or its cost per 1,000 results, is more than ``threshold`` (a
    fraction: 0.10 is 10%) above the previous version's. A metric is not compared when
    either value is missing or the previous one is zero. Costs are compared exactly.

    Returns
    -------
    DataFrame
        One row per regressing version, workers in total-cost order, with the columns
        ``scraper_title``, ``previous_version``, ``version``, ``previous_runs``, ``runs``,
        ``previous_median_duration``, ``median_duration``, ``duration_change`` (Float64,
        relative: 0.25 is +25%), ``previous_cost_per_1k_results``, ``cost_per_1k_results``,
        ``cost_change`` (Float64) and the booleans ``duration_regressed`` and
        ``cost_regressed``.

    Examples
    --------
    >>> from coreclaw_frames.records import records_to_frame
    >>> run = {"status": "succeeded", "scraper_slug": "W", "scraper_title": "W",
    ...        "started_at": 1773305309, "finished_at": 1773305369, "duration": 60}
    >>> rows = [{**run, "version": v, "results": 1000, "usage": u}
    ...         for v, u in [("v1.0.9", "1.00"), ("v1.0.10", "1.50")]]
    >>> version_regressions(records_to_frame(rows))[["previous_version", "version"]]
      previous_version  version
    0           v1.0.9  v1.0.10
    """
    caller = "version_regressions"
    _check_frame(data, (WORKER_COLUMN, VERSION_COLUMN, *SUMMARY_INPUT_COLUMNS), caller)
    try:
        limit = Decimal(str(threshold))
    except ArithmeticError as exc:
        raise ValueError(f"{caller}: threshold must be a number >= 0, got {threshold!r}") from exc
    if isinstance(threshold, bool) or not limit.is_finite() or limit < 0:
        raise ValueError(f"{caller}: threshold must be a number >= 0, got {threshold!r}")
    table = summary(data, by=[WORKER_COLUMN, VERSION_COLUMN])
    # The table is sorted by worker, then version: consecutive rows of one worker are pairs.
    records = [r for r in table.itertuples() if r.Index[1] != MISSING_LABEL]
    rows = [
        row
        for previous, current in itertools.pairwise(records)
        if previous.Index[0] == current.Index[0]
        and (row := _compare_versions(previous, current, limit)) is not None
    ]
    return _regression_frame(rows)


def _compare_versions(previous: Any, current: Any, limit: Decimal) -> dict[str, Any] | None:
    """The regression row of ``current`` against ``previous`` (summary rows), or None."""
    duration_rise = _rise(_seconds(previous.median_duration), _seconds(current.median_duration))
    cost_rise = _rise(
        _decimal_or_none(previous.cost_per_1k_results),
        _decimal_or_none(current.cost_per_1k_results),
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
