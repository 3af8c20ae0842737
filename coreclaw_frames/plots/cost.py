"""``plot_cost``: the total cost per group as bars."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from matplotlib.axes import Axes

from coreclaw_frames.analysis.frame import (
    check_column,
    check_frame,
    check_top,
    split_fetch_failures,
)
from coreclaw_frames.analysis.grouping import DEFAULT_TOP, Grouping, grouping, limit
from coreclaw_frames.analysis.money import decimal_sums, usage_array
from coreclaw_frames.plots._base import (
    BAR_FILL,
    MAX_TICK_LABEL_CHARS,
    as_float,
    check_axes,
    check_label_chars,
    check_orient,
    dollar_axis,
    legend,
    no_data,
    resolve_axes,
    set_category_ticks,
    stack_bars,
    style_other,
    title,
)

__all__ = ["DEFAULT_HUE_TOP", "cost_matrix", "plot_cost"]

#: Most hue (or stacked) groups drawn before the rest are pooled: with the pooled group this
#: is the ten colours of matplotlib's default colour cycle.
DEFAULT_HUE_TOP = 9
COST_LABEL = "Cost (USD)"


def cost_matrix(groups: Grouping, hues: Grouping, usage: pa.Array) -> list[list[Decimal | None]]:
    """Exact cost per (hue, group), hue-major, both in display order."""
    lookup = decimal_sums([groups.labels, hues.labels], usage)["cost"].to_dict()
    return [[lookup.get((group, hue)) for group in groups.order] for hue in hues.order]


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
    """Bar chart of the total cost (``usage``) per group.

    Parameters
    ----------
    data
        A run frame; rows whose fetch failed are left out, unknown costs count as zero.
    by
        Column whose values are the bars (worker title or slug, version, origin, status...).
        ``"version"`` draws one bar per worker and version, named ``"<worker> · <version>"``.
    hue
        Optional column splitting each bar by colour (at most :data:`DEFAULT_HUE_TOP` values
        and a grey, hatched "other").
    ax
        Axes to draw on; default the current Axes.
    top
        Most bars before the cheapest groups are pooled into one "other (N)" bar, drawn last,
        grey and hatched.
    stacked
        With ``hue``: stack the parts (default) or draw them side by side.
    orient
        ``"v"``: bars upwards, groups along the x axis (default); ``"h"``: bars to the right,
        groups down the y axis, their names never tilted.
    label_chars
        Longest group name shown; longer ones are shortened with an ellipsis (a version is
        kept whole).
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.bar` (or ``barh``).

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
    caller = "plot_cost"
    check_frame(data, ("usage",), caller)
    check_column(data, by, "by", caller)
    if hue is not None:
        check_column(data, hue, "hue", caller)
    top = check_top(top, caller)
    check_axes(ax, caller)
    orient = check_orient(orient, caller)
    label_chars = check_label_chars(label_chars, caller)
    runs, _ = split_fetch_failures(data)
    usage = usage_array(runs["usage"], caller)
    groups = limit(grouping(runs, by, usage), usage, top)
    axes = resolve_axes(ax, caller)

    positions = np.arange(len(groups.order), dtype=float)
    other = [i for i, key in enumerate(groups.order) if Grouping.is_other(key)]
    if hue is None:
        sums = decimal_sums([groups.labels], usage)["cost"]
        heights = np.array([[as_float(sums.get(key)) for key in groups.order]], dtype=float)
        tops, series = stack_bars(
            axes,
            positions,
            heights,
            [None],
            stacked=True,
            width=BAR_FILL,
            orient=orient,
            kwargs=kwargs,
        )
        style_other([series[0][i] for i in other], recolor=True)
    else:
        hues = limit(grouping(runs, hue, usage), usage, DEFAULT_HUE_TOP)
        matrix = cost_matrix(groups, hues, usage)
        heights = np.array([[as_float(c) for c in row] for row in matrix], dtype=float)
        tops, series = stack_bars(
            axes,
            positions,
            heights.reshape(len(hues.order), len(groups.order)),
            hues.names(),
            stacked=stacked,
            width=BAR_FILL,
            orient=orient,
            kwargs=kwargs,
        )
        for key, container in zip(hues.order, series, strict=True):
            if Grouping.is_other(key):
                style_other(container, recolor=True)
            style_other([container[i] for i in other], recolor=False)
        if series:
            legend(axes, title(hue), series)
    set_category_ticks(axes, groups, groups.order, orient, label_chars)
    (axes.set_xlabel if orient == "h" else axes.set_ylabel)(COST_LABEL)
    dollar_axis(axes, float(tops.max()) if tops.size else 0.0, orient)
    if not groups.order:
        no_data(axes)
    return axes
