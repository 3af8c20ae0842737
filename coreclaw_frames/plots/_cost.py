"""``plot_cost``: the total cost per group as bars."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
from matplotlib.axes import Axes

from coreclaw_frames.analysis._grouping import DEFAULT_TOP, Grouping
from coreclaw_frames.analysis._money import decimal_sums
from coreclaw_frames.plots._base import (
    BAR_FILL,
    MAX_TICK_LABEL_CHARS,
    as_float,
    dollar_axis,
    legend,
    no_data,
    stack_bars,
    style_other,
    title,
)
from coreclaw_frames.plots._docstrings import passed_to, shared_docs
from coreclaw_frames.plots._prepare import DEFAULT_HUE_TOP, CategoryPlot, prepare_categories

if TYPE_CHECKING:
    from matplotlib.container import BarContainer

__all__ = ["DEFAULT_HUE_TOP", "cost_matrix", "plot_cost"]

COST_LABEL = "Cost (USD)"


def cost_matrix(groups: Grouping, hues: Grouping, usage: pa.Array) -> list[list[Decimal | None]]:
    """Exact cost per (hue, group), hue-major, both in display order."""
    lookup = decimal_sums([groups.labels, hues.labels], usage)["cost"].to_dict()
    return [[lookup.get((group, hue)) for group in groups.order] for hue in hues.order]


@shared_docs(kwargs=passed_to(":meth:`matplotlib.axes.Axes.bar` (or ``barh``)"))
def plot_cost(
    data: pd.DataFrame,
    *,
    by: str = "scraper_title",
    hue: str | None = None,
    ax: Axes | None = None,
    top: int = DEFAULT_TOP,
    stacked: bool = True,
    orient: str = "v",
    label_chars: int = MAX_TICK_LABEL_CHARS,
    **kwargs: Any,
) -> Axes:
    """Bar chart of the total cost (``usage``) per group; unknown costs count as zero.

    Parameters
    ----------
    {data}
    {by}
    {hue}
    {ax}
    {top}
    stacked
        With ``hue``: stack the parts (default) or draw them side by side.
    {orient}
    {label_chars}
    {kwargs}

    Returns
    -------
    Axes
        The Axes drawn on. Bar lengths are the exact Decimal sums converted to float.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(layout="constrained")  # doctest: +SKIP
    >>> plot_cost(df, by="version", hue="origin", ax=ax)  # doctest: +SKIP
    """
    plot = prepare_categories(
        data,
        caller="plot_cost",
        by=by,
        hue=hue,
        ax=ax,
        top=top,
        orient=orient,
        label_chars=label_chars,
    )
    if plot.hues is None:
        tops = _total_bars(plot, kwargs)
    else:
        tops = _hue_bars(plot, plot.hues, stacked, kwargs)
    plot.category_axis(plot.groups.order)
    plot.value_label(COST_LABEL)
    dollar_axis(plot.axes, float(tops.max()) if tops.size else 0.0, plot.orient)
    if not plot.groups.order:
        no_data(plot.axes)
    return plot.axes


def _total_bars(plot: CategoryPlot, kwargs: dict[str, Any]) -> np.ndarray:
    """One bar per group, its exact total cost; "other" grey and hatched. The bar tops."""
    groups = plot.groups
    sums = decimal_sums([groups.labels], plot.usage)["cost"]
    heights = np.array([[as_float(sums.get(key)) for key in groups.order]], dtype=float)
    tops, series = _bars(plot, heights, [None], stacked=True, kwargs=kwargs)
    style_other([series[0][i] for i in _other_positions(groups)], recolor=True)
    return tops


def _hue_bars(
    plot: CategoryPlot, hues: Grouping, stacked: bool, kwargs: dict[str, Any]
) -> np.ndarray:
    """Each group's cost split by ``hues``, stacked or side by side, with a legend; the
    pooled hue grey, the pooled group hatched. The tops of the stacks (or tallest bars)."""
    groups = plot.groups
    matrix = cost_matrix(groups, hues, plot.usage)
    heights = np.array([[as_float(c) for c in row] for row in matrix], dtype=float)
    heights = heights.reshape(len(hues.order), len(groups.order))
    tops, series = _bars(plot, heights, hues.names(), stacked=stacked, kwargs=kwargs)
    other = _other_positions(groups)
    for key, container in zip(hues.order, series, strict=True):
        if Grouping.is_other(key):
            style_other(container, recolor=True)
        style_other([container[i] for i in other], recolor=False)
    if series:
        legend(plot.axes, title(hues.column), series)
    return tops


def _bars(
    plot: CategoryPlot,
    heights: np.ndarray,
    labels: Sequence[str | None],
    *,
    stacked: bool,
    kwargs: dict[str, Any],
) -> tuple[np.ndarray, list[BarContainer]]:
    """A row of ``heights`` per series, one slot per group (see ``stack_bars``)."""
    positions = np.arange(len(plot.groups.order), dtype=float)
    return stack_bars(
        plot.axes,
        positions,
        heights,
        labels,
        stacked=stacked,
        width=BAR_FILL,
        orient=plot.orient,
        kwargs=kwargs,
    )


def _other_positions(groups: Grouping) -> list[int]:
    return [i for i, key in enumerate(groups.order) if Grouping.is_other(key)]
