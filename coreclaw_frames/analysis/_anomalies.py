"""Runs that cost far more than their worker usually does.

A worker's *usual* cost is the median cost of its final runs; how far a run is from it is
measured on the log of the cost, in units of the group's spread, the median absolute deviation
(MAD) of the log costs scaled to a standard deviation (a robust z-score, after Iglewicz and
Hoaglin). Logs, because run costs are skewed: a run at twice the usual cost is as far above
it as one at half is below. Median and MAD, because the outliers themselves must not move the
yardstick. A run is flagged when its score exceeds :data:`SCORE_THRESHOLD` **and** it cost at
least :data:`MIN_TIMES_USUAL` times the usual cost, so that a worker whose runs all cost about
the same is not flagged for a few cents.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coreclaw_frames.analysis._frame import (
    VERSION_COLUMN,
    check_frame,
    final_mask,
    split_fetch_failures,
)
from coreclaw_frames.analysis._grouping import MISSING_LABEL
from coreclaw_frames.analysis._money import money, ratio, usage_array
from coreclaw_frames.display import ReadableFrame
from coreclaw_frames.schema import USAGE_ARROW_TYPE

__all__ = [
    "ANOMALY_COLUMNS",
    "ANOMALY_GROUPINGS",
    "MIN_GROUP_RUNS",
    "MIN_TIMES_USUAL",
    "SCORE_THRESHOLD",
    "cost_anomalies",
]

#: Columns of the frame :func:`cost_anomalies` returns, in order.
ANOMALY_COLUMNS = (
    "slug",
    "scraper_slug",
    "scraper_title",
    "version",
    "status",
    "started_at",
    "cost",
    "usual_cost",
    "times_usual",
    "score",
)
#: ``by`` values: a worker by slug or by title, or a worker's version.
ANOMALY_GROUPINGS = ("scraper_slug", "scraper_title", VERSION_COLUMN)
#: A group needs this many final runs with a cost above zero to be judged.
MIN_GROUP_RUNS = 10
#: Robust z-score above which a run is far from its group (Iglewicz and Hoaglin's 3.5).
SCORE_THRESHOLD = 3.5
#: A run is flagged only at this many times its group's usual cost or more.
MIN_TIMES_USUAL = 3
#: The MAD of a normal sample times this estimates its standard deviation.
MAD_TO_SIGMA = 1.4826
#: The spread (of log costs) never counts as less than this: a group of identical costs would
#: otherwise score every other cost as infinitely far.
MIN_LOG_SPREAD = 0.1
#: Between a worker's slug and its version in a group key.
_KEY_SEPARATOR = "\x1f"


def _group_keys(runs: pd.DataFrame, by: str) -> pd.Series:
    """One key per run: the worker (slug or title), or the worker's slug and version."""
    if by == VERSION_COLUMN:
        worker = runs["scraper_slug"].astype(object).fillna(MISSING_LABEL)
        version = runs[VERSION_COLUMN].astype(object).fillna(MISSING_LABEL)
        return worker.astype(str) + _KEY_SEPARATOR + version.astype(str)
    return runs[by].astype(object).fillna(MISSING_LABEL).astype(str)


def _group_label(key: str) -> str | tuple[str, str]:
    worker, _, version = key.partition(_KEY_SEPARATOR)
    return (worker, version) if version else worker


def _medians(keys: np.ndarray, usage: pa.Array) -> dict[str, tuple[int, Decimal]]:
    """Per group: the number of costs and their exact median."""
    table = pa.table({"key": pa.array(keys, pa.string()), "usage": usage})
    ordered = table.take(pc.sort_indices(table, [("key", "ascending"), ("usage", "ascending")]))
    sorted_keys = ordered["key"].to_numpy(zero_copy_only=False)
    names, starts, counts = np.unique(sorted_keys, return_index=True, return_counts=True)
    lower = ordered["usage"].take(pa.array(starts + (counts - 1) // 2)).to_pylist()
    upper = ordered["usage"].take(pa.array(starts + counts // 2)).to_pylist()
    return {
        str(name): (int(n), money((a + b) / 2) or Decimal(0))
        for name, n, a, b in zip(names, counts, lower, upper, strict=True)
    }


def cost_anomalies(runs: pd.DataFrame, *, by: str = "scraper_slug") -> pd.DataFrame:
    """Runs whose cost is far above what is usual for their worker (or worker's version).

    Parameters
    ----------
    runs
        A run frame. Rows whose fetch failed and runs of unknown or zero cost are left out. A
        group's usual cost comes from its final runs; runs not final yet are judged too (on
        their cost so far: one already far above the usual is worth knowing about).
    by
        ``"scraper_slug"`` (default: each worker), ``"scraper_title"``, or ``"version"``
        (each version of each worker apart).

    Returns
    -------
    DataFrame
        One row per flagged run, highest score first, with the columns
        :data:`ANOMALY_COLUMNS`: the run's ``slug``, worker, ``version``, ``status`` and
        ``started_at``; its exact ``cost`` and its group's ``usual_cost`` (the median, exact);
        ``times_usual`` (their ratio) and ``score`` (how many robust standard deviations its
        log cost lies above the usual). Empty, with these columns, when none stands out.
        ``attrs``: ``too_small`` (the groups with fewer than :data:`MIN_GROUP_RUNS` final
        runs of known, non-zero cost: not judged), ``too_small_runs`` (their runs),
        ``judged`` (runs judged) and ``fetch_failed``.

    Examples
    --------
    >>> from coreclaw_frames.sandbox import build_account, run_frame
    >>> df = run_frame(build_account(seed=0, runs=2000))
    >>> found = cost_anomalies(df)
    >>> list(found.columns[:3]), found.attrs["judged"] > 1000
    (['slug', 'scraper_slug', 'scraper_title'], True)
    """
    caller = "cost_anomalies"
    if not isinstance(by, str) or by not in ANOMALY_GROUPINGS:
        raise ValueError(
            f"{caller}: by must be one of {', '.join(map(repr, ANOMALY_GROUPINGS))}, got {by!r}"
        )
    frame = check_frame(runs, (*ANOMALY_COLUMNS[:6], "usage"), caller)
    rows, fetch_failed = split_fetch_failures(frame)
    usage = usage_array(rows["usage"], caller)
    priced = pc.fill_null(pc.greater(usage, pa.scalar(0, usage.type)), False)
    priced_mask = np.asarray(priced.to_numpy(zero_copy_only=False), dtype=bool)
    keys = _group_keys(rows, by).to_numpy(dtype=object)
    baseline = priced_mask & final_mask(rows)
    medians = _medians(keys[baseline], usage.filter(pa.array(baseline)))
    judged_groups = {key for key, (n, _) in medians.items() if n >= MIN_GROUP_RUNS}
    too_small = sorted(set(keys[priced_mask].tolist()) - judged_groups)
    judged = priced_mask & pd.Series(keys).isin(judged_groups).to_numpy(dtype=bool)

    # Scores are statistics, taken on floats read from the exact costs' text (as usage_float
    # is); the costs and ratios reported stay exact.
    as_text = pc.cast(usage, pa.string())
    costs = pc.fill_null(pc.cast(as_text, pa.float64()), np.nan).to_numpy(zero_copy_only=False)
    logs = np.log(costs, out=np.full(len(rows), np.nan), where=priced_mask)
    centers = np.array(
        [math.log(medians[key][1]) if key in judged_groups else np.nan for key in keys],
        dtype=float,
    )
    in_baseline = baseline & judged
    deviations = pd.Series(np.abs(logs - centers)[in_baseline])
    mad = deviations.groupby(keys[in_baseline]).median().to_dict()
    spreads = np.array(
        [max(MAD_TO_SIGMA * mad.get(key, 0.0), MIN_LOG_SPREAD) for key in keys], dtype=float
    )
    scores = np.full(len(rows), np.nan)
    scores[judged] = (logs[judged] - centers[judged]) / spreads[judged]
    far = judged & (np.nan_to_num(scores, nan=-np.inf) > SCORE_THRESHOLD)
    # The ratio to the usual cost is checked exactly: a run at 2.9999x is not flagged.
    exact = usage.filter(pa.array(far)).to_pylist()
    usual = [medians[key][1] for key in keys[far]]
    times = [ratio(cost, median) or Decimal(0) for cost, median in zip(exact, usual, strict=True)]
    keep = np.array([t >= MIN_TIMES_USUAL for t in times], dtype=bool)
    far[far] = keep

    flagged = rows.loc[far, list(ANOMALY_COLUMNS[:6])]
    result = ReadableFrame(
        {
            **{name: flagged[name].array for name in ANOMALY_COLUMNS[:6]},
            "cost": pd.arrays.ArrowExtensionArray(
                usage.filter(pa.array(far)).cast(USAGE_ARROW_TYPE)
            ),
            "usual_cost": pd.arrays.ArrowExtensionArray(
                pa.array([u for u, k in zip(usual, keep, strict=True) if k], USAGE_ARROW_TYPE)
            ),
            "times_usual": np.array([float(t) for t, k in zip(times, keep, strict=True) if k]),
            "score": scores[far],
        }
    )
    result = result.sort_values("score", ascending=False, kind="stable", ignore_index=True)
    result.attrs.update(
        too_small=[_group_label(key) for key in too_small],
        too_small_runs=int((priced_mask & pd.Series(keys).isin(too_small).to_numpy()).sum()),
        judged=int(judged.sum()),
        fetch_failed=fetch_failed,
    )
    return result
