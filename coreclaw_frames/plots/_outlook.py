"""``plot_outlook``: the month's cumulative spend so far, and the projection cone to its end.

The line is what was spent, day by day up to ``now``; from ``now`` on, a dashed line follows
the projection and a shaded cone its 80% interval, which widens with the days still to come.
The budget and last month's total are drawn as reference lines when known.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from coreclaw_frames.analysis._projection import INTERVAL_LEVEL
from coreclaw_frames.display import percent, usd
from coreclaw_frames.plots._base import LEGEND_PLACEMENT, LITERAL_TEXT, as_float, dollar_axis
from coreclaw_frames.plots._docstrings import passed_to, shared_docs
from coreclaw_frames.plots._prepare import resolve_axes

if TYPE_CHECKING:
    from coreclaw_frames.analysis._outlook import SpendOutlook

__all__ = ["BUDGET_COLOR", "CONE_POINTS", "plot_outlook"]

#: Points the cone is drawn through: it is a curve (the noise grows as the root of the days
#: left, the rate's doubt with the days themselves).
CONE_POINTS = 48
#: Days of the month with a tick: a week apart.
TICK_DAYS = (1, 8, 15, 22, 29)
SPENT_COLOR = "#0969da"
CONE_ALPHA = 0.2
BUDGET_COLOR = "#cf222e"
LAST_MONTH_COLOR = "#6e7781"


def _naive(times: Any) -> Any:
    """UTC times without their zone, as matplotlib's date axis takes them."""
    return pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None).to_numpy()


def _spent(outlook: SpendOutlook) -> tuple[np.ndarray, np.ndarray]:
    """The cumulative spend at the month's start, at the end of each day before today, and at
    ``now``."""
    days = outlook.daily.index
    totals = [Decimal(0)]
    for value in outlook.daily.iloc[:-1]:
        totals.append(totals[-1] + value)
    times = [days[0], *(day + pd.Timedelta(days=1) for day in days[:-1]), outlook.now]
    values = [*totals, outlook.month_to_date]
    return _naive(times), np.array([as_float(v) for v in values], dtype=float)


@shared_docs(kwargs=passed_to(":meth:`matplotlib.axes.Axes.plot` for the line of the spend so far"))
def plot_outlook(outlook: SpendOutlook, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Draw the month's cumulative spend and the projection cone of a :class:`SpendOutlook`.

    Parameters
    ----------
    outlook
        What :func:`~coreclaw_frames.spend_outlook` returned.
    {ax}
    {kwargs}

    Returns
    -------
    Axes
        With a date x axis over the month and dollars up; the legend, outside on the right,
        gives the figures.

    Examples
    --------
    >>> ccf.spend_outlook(runs, budget=2000).plot()  # doctest: +SKIP
    """
    from coreclaw_frames.analysis._outlook import SpendOutlook

    caller = "plot_outlook"
    if not isinstance(outlook, SpendOutlook):
        raise TypeError(
            f"{caller}: outlook must be a SpendOutlook (from spend_outlook), "
            f"got {type(outlook).__name__}"
        )
    axes = resolve_axes(ax, caller)
    times, spent = _spent(outlook)
    handles: list[Any] = axes.plot(
        times,
        spent,
        color=kwargs.pop("color", SPENT_COLOR),
        label=f"spent so far: {usd(outlook.month_to_date)}",
        **kwargs,
    )
    largest = float(spent.max())
    if outlook.projected is not None:
        largest = max(largest, _draw_cone(axes, outlook, handles))
    largest = max(largest, _draw_references(axes, outlook, handles))
    # The labels are figures, not text from the data: shown whole, never shortened.
    drawn = axes.legend(handles=handles, fontsize="small", **LEGEND_PLACEMENT)
    for text in drawn.get_texts():
        text.update(LITERAL_TEXT)
    _month_axis(axes, outlook)
    axes.set_ylabel("Spend this month (USD)")
    dollar_axis(axes, largest)
    return axes


def _draw_cone(axes: Axes, outlook: SpendOutlook, handles: list[Any]) -> float:
    """The projection from ``now`` to the month's end, dashed, in its shaded interval; the
    interval's highest value."""
    moments = pd.date_range(outlook.now, outlook.month_end, periods=CONE_POINTS)
    cone = np.array(
        [[as_float(v) for v in outlook.projection_at(m) or ()] for m in moments], dtype=float
    )
    level = percent(INTERVAL_LEVEL, places=0)
    band = axes.fill_between(
        _naive(moments),
        cone[:, 1],
        cone[:, 2],
        color=SPENT_COLOR,
        alpha=CONE_ALPHA,
        linewidth=0,
        label=f"{level} interval: {usd(outlook.projected_low)} – {usd(outlook.projected_high)}",
    )
    middle = axes.plot(
        _naive(moments),
        cone[:, 0],
        color=SPENT_COLOR,
        linestyle="--",
        label=f"projected: {usd(outlook.projected)}",
    )
    handles.extend([*middle, band])
    return float(cone[:, 2].max())


def _draw_references(axes: Axes, outlook: SpendOutlook, handles: list[Any]) -> float:
    """The budget and last month's total as horizontal lines, where known; the larger (0 if
    neither is)."""
    largest = 0.0
    for value, name, color, style in (
        (outlook.budget, "budget", BUDGET_COLOR, ":"),
        (outlook.last_month, "last month", LAST_MONTH_COLOR, "-."),
    ):
        if value is not None:
            handles.append(
                axes.axhline(
                    as_float(value),
                    color=color,
                    linestyle=style,
                    linewidth=1.2,
                    label=f"{name}: {usd(value)}",
                )
            )
            largest = max(largest, as_float(value))
    return largest


def _month_axis(axes: Axes, outlook: SpendOutlook) -> None:
    """The x axis spans the month, a tick a week, labelled by the day of the month."""
    first = outlook.month.start_time
    axes.set_xlim(*_naive([first.tz_localize("UTC"), outlook.month_end]))
    axes.set_ylim(bottom=0)
    days = pd.date_range(first, periods=len(TICK_DAYS), freq=f"{TICK_DAYS[1] - 1}D")
    axes.set_xticks(days.to_numpy(), [str(day.day) for day in days])
    axes.set_xlabel(f"Day of {first:%B %Y} (UTC)")
