"""``plot_cost_over_time``: cost per day, week or month, with what is not over yet marked.

The cost of runs that are not final (still running, or being aborted) is drawn apart, as a
hatched segment on top of each bar: it still grows. The period that contains ``now`` is
shaded: it is incomplete, more runs are to come.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from coreclaw_frames.analysis._grouping import Grouping
from coreclaw_frames.analysis._money import decimal_sums
from coreclaw_frames.analysis._periods import Periods
from coreclaw_frames.plots._base import (
    BAR_FILL,
    as_float,
    dollar_axis,
    legend,
    no_data,
    stack_bars,
    style_other,
    title,
)
from coreclaw_frames.plots._docstrings import passed_to, shared_docs
from coreclaw_frames.plots._prepare import DEFAULT_HUE_TOP, prepare_periods

__all__ = [
    "INCOMPLETE_COLOR",
    "INCOMPLETE_GID",
    "IN_PROGRESS_HATCH",
    "IN_PROGRESS_LABEL",
    "incomplete_label",
    "plot_cost_over_time",
]

#: The cost of runs that are not final: an outlined, cross-hatched segment on top of a bar.
IN_PROGRESS_LABEL = "not final yet"
IN_PROGRESS_HATCH = "xxx"
IN_PROGRESS_EDGE_COLOR = "#424242"
#: The period that contains ``now``: shaded behind its bar.
INCOMPLETE_COLOR = "#e4e4e4"
INCOMPLETE_EDGE_COLOR = "#9e9e9e"
#: The ``gid`` of the shading, to find it among the patches.
INCOMPLETE_GID = "incomplete-period"
TIME_AXIS_LABEL = "Run start (UTC)"


def incomplete_label(period_name: str) -> str:
    """The legend entry of the shaded current period.

    Examples
    --------
    >>> incomplete_label("week")
    'this week so far'
    """
    return f"this {period_name} so far"


def _sums(periods: Periods, keys: list[pd.Series], mask: np.ndarray) -> dict[Any, Any]:
    """Exact cost per combination of ``keys`` of the runs where ``mask``."""
    usage = periods.usage.filter(pa.array(mask, pa.bool_()))
    return decimal_sums([k[mask] for k in keys], usage)["cost"].to_dict()


@shared_docs(kwargs=passed_to(":meth:`matplotlib.axes.Axes.bar`"))
def plot_cost_over_time(
    data: pd.DataFrame,
    *,
    freq: str = "D",
    by: str | None = None,
    ax: Axes | None = None,
    top: int = DEFAULT_HUE_TOP,
    now: object = None,
    **kwargs: Any,
) -> Axes:
    """Bar chart of the cost per day, week or month, by run start time (UTC).

    Runs that never started belong to no period and are left out.

    Parameters
    ----------
    {data}
    freq
        ``"D"`` (day), ``"W"`` (week, Monday to Sunday) or ``"M"``/``"MS"`` (month); each bar
        spans its period and sits at the period's start.
    by
        Optional column to stack the bars by (worker title, version, origin, status...).
    {ax}
    top
        With ``by``: most stacked groups before the cheapest are pooled into a grey, hatched
        "other (N)".
    now
        The clock (a time, naive is UTC, or unix seconds; default the current time): the
        period containing it is shaded as incomplete.
    {kwargs}

    Returns
    -------
    Axes
        The Axes drawn on, with a date x axis. Every period in the range has a bar (empty
        periods are zero): the exact cost of its final runs, topped by a hatched segment with
        the cost so far of runs that are not final.

    Examples
    --------
    >>> plot_cost_over_time(df, freq="W", by="scraper_title")  # doctest: +SKIP
    """
    plot = prepare_periods(
        data, caller="plot_cost_over_time", freq=freq, by=by, top=top, now=now, ax=ax
    )
    periods, axes = plot.periods, plot.axes
    if not len(periods.runs):
        no_data(axes)
        _axis_labels(axes, periods.name)
        dollar_axis(axes, 0.0)
        return axes

    span = periods.span
    starts = span.start_time.to_numpy()
    widths = (span + 1).start_time.to_numpy() - starts
    handles: list[Any] = []
    tops = _final_bars(axes, periods, plot.stacks, starts, widths, handles, kwargs)
    tops = tops + _draw_in_progress(axes, periods, starts, widths, tops, handles)
    _shade_incomplete(axes, periods, starts, widths, handles)
    if handles:
        legend(axes, title(by) if by is not None else "", handles)
    # Ticks no closer than the bars: with the default five at least, four daily bars get six-hourly
    # ticks, whose labels run into each other.
    locator = mdates.AutoDateLocator(minticks=2)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    _axis_labels(axes, periods.name)
    dollar_axis(axes, float(tops.max()))
    return axes


def _final_bars(
    axes: Axes,
    periods: Periods,
    stacks: Grouping | None,
    starts: np.ndarray,
    widths: np.ndarray,
    handles: list[Any],
    kwargs: dict[str, Any],
) -> np.ndarray:
    """The exact cost of the final runs per period, stacked by ``stacks`` if given (the
    pooled group grey and hatched, each stack a legend entry); the bar tops."""
    slots = pd.Index(periods.span.asi8)
    if stacks is None:
        sums = _sums(periods, [periods.ordinals], periods.final)
        heights = np.array([[as_float(sums.get(o)) for o in slots]], dtype=float)
    else:
        sums = _sums(periods, [periods.ordinals, stacks.labels], periods.final)
        heights = np.array(
            [[as_float(sums.get((o, key))) for o in slots] for key in stacks.order], dtype=float
        )
    labels = [None] if stacks is None else stacks.names()
    tops, series = stack_bars(
        axes,
        starts,
        heights.reshape(len(labels), len(slots)),
        labels,
        stacked=True,
        width=widths * BAR_FILL,
        kwargs={"align": "edge", **kwargs},
    )
    if stacks is not None:
        for key, container in zip(stacks.order, series, strict=True):
            if Grouping.is_other(key):
                style_other(container, recolor=True)
        handles.extend(series)
    return tops


def _draw_in_progress(
    axes: Axes,
    periods: Periods,
    starts: np.ndarray,
    widths: np.ndarray,
    bottoms: np.ndarray,
    handles: list[Any],
) -> np.ndarray:
    """The hatched segments of runs not final, on top of the bars (none where there are no
    such costs: an empty segment would still draw its edge); their heights."""
    slots = pd.Index(periods.span.asi8)
    sums = _sums(periods, [periods.ordinals], ~periods.final)
    heights = np.array([as_float(sums.get(o)) for o in slots], dtype=float)
    shown = np.flatnonzero(heights)
    if not len(shown):
        return np.zeros(len(slots))
    bars = axes.bar(
        starts[shown],
        heights[shown],
        width=widths[shown] * BAR_FILL,
        bottom=bottoms[shown],
        align="edge",
        facecolor="white",
        edgecolor=IN_PROGRESS_EDGE_COLOR,
        hatch=IN_PROGRESS_HATCH,
        label=IN_PROGRESS_LABEL,
    )
    for rectangle, height in zip(bars, heights[shown], strict=True):
        rectangle.set_height(height)
    handles.append(bars)
    return heights


def _shade_incomplete(
    axes: Axes, periods: Periods, starts: np.ndarray, widths: np.ndarray, handles: list[Any]
) -> None:
    """Shade the slot of every period not over at ``now``, behind its bar."""
    open_periods = np.flatnonzero(~periods.complete)
    for i in open_periods:
        axes.axvspan(
            starts[i],
            starts[i] + widths[i],
            facecolor=INCOMPLETE_COLOR,
            gid=INCOMPLETE_GID,
            zorder=0,
            linewidth=0,
        )
    if len(open_periods):
        label = incomplete_label(periods.name)
        handles.append(
            Patch(facecolor=INCOMPLETE_COLOR, edgecolor=INCOMPLETE_EDGE_COLOR, label=label)
        )


def _axis_labels(axes: Axes, period_name: str) -> None:
    # On the left: the date formatter writes the year at the right end, below the ticks.
    axes.set_xlabel(TIME_AXIS_LABEL, loc="left")
    axes.set_ylabel(f"Cost per {period_name} (USD)")
