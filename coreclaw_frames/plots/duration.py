"""``plot_duration``: the distribution of run durations per group as box plots."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from coreclaw_frames.analysis.frame import (
    check_column,
    check_dtypes,
    check_frame,
    check_top,
    split_fetch_failures,
)
from coreclaw_frames.analysis.grouping import DEFAULT_TOP, Grouping, grouping, limit
from coreclaw_frames.analysis.money import usage_array
from coreclaw_frames.plots._base import (
    BAR_FILL,
    MAX_TICK_LABEL_CHARS,
    OTHER_COLOR,
    check_axes,
    check_label_chars,
    check_orient,
    legend,
    no_data,
    resolve_axes,
    set_category_ticks,
    style_other,
    title,
)
from coreclaw_frames.plots.cost import DEFAULT_HUE_TOP

__all__ = ["DURATION_UNITS", "LOG_SCALE_SPREAD", "plot_duration"]

#: Duration units, largest first; a unit is used once the median spans at least
#: ``DURATION_UNIT_MIN_COUNT`` of it.
DURATION_UNITS = (("h", 3600), ("min", 60), ("s", 1))
DURATION_UNIT_MIN_COUNT = 2
#: ``plot_duration(log=None)`` uses a log scale when the longest run is this many times the
#: median: heavy tails would otherwise squash every box into a line.
LOG_SCALE_SPREAD = 20
#: Share of a group's slot a single box fills, and of its share a dodged box fills.
BOX_FILL = 0.75
DODGED_BOX_FILL = 0.9
# Matplotlib 3.10 replaced boxplot's ``vert`` by ``orientation``.
_HAS_ORIENTATION = "orientation" in inspect.signature(Axes.boxplot).parameters


def _duration_unit(seconds: np.ndarray) -> tuple[str, int]:
    """The largest unit that the median duration spans at least twice (s if no data)."""
    if not len(seconds):
        return DURATION_UNITS[-1]
    median = float(np.median(seconds))
    for name, size in DURATION_UNITS:
        if median >= DURATION_UNIT_MIN_COUNT * size:
            return name, size
    return DURATION_UNITS[-1]


def _boxes(
    ax: Axes,
    arrays: list[np.ndarray],
    positions: np.ndarray,
    width: float,
    colors: list[Any],
    orient: str,
    kwargs: dict[str, Any],
) -> list[Patch]:
    """Draw the non-empty ``arrays`` as boxes coloured ``colors``; the boxes drawn, in order."""
    keep = [i for i, values in enumerate(arrays) if len(values)]
    if not keep:
        return []
    options: dict[str, Any] = {
        "patch_artist": True,
        "manage_ticks": False,
        "widths": width,
        "medianprops": {"color": "black"},
        "flierprops": {"markersize": 3, "alpha": 0.5},
    }
    if orient == "h":
        options.update({"orientation": "horizontal"} if _HAS_ORIENTATION else {"vert": False})
    options.update(kwargs)
    drawn = ax.boxplot([arrays[i] for i in keep], positions=positions[keep], **options)
    boxes: list[Patch] = drawn["boxes"]
    for i, box in zip(keep, boxes, strict=True):
        box.set_facecolor(colors[i])
    return boxes


def plot_duration(
    data: pd.DataFrame,
    *,
    by: str = "scraper_title",
    hue: str | None = None,
    ax: Axes | None = None,
    top: int = DEFAULT_TOP,
    log: bool | None = None,
    orient: str = "v",
    label_chars: int = MAX_TICK_LABEL_CHARS,
    **kwargs: Any,
) -> Axes:
    """Box plot of run durations per group, in s, min or h chosen from the data.

    Only finished runs count (unfinished runs have no duration). Groups are ordered as in
    :func:`~coreclaw_frames.plots.plot_cost` (``"version"``: per worker and version), and
    beyond ``top`` the cheapest are pooled into one grey, hatched "other (N)" box, drawn last.

    Parameters
    ----------
    data
        A run frame; rows whose fetch failed are left out.
    by, hue
        Columns giving the boxes and, optionally, side-by-side coloured boxes within each.
    ax
        Axes to draw on; default the current Axes.
    top
        Most groups before the rest are pooled into one "other (N)" box.
    log
        Log-scale duration axis; default (None) when the longest run is more than
        :data:`LOG_SCALE_SPREAD` times the median and no duration is zero.
    orient
        ``"v"``: groups along the x axis (default); ``"h"``: groups down the y axis.
    label_chars
        Longest group name shown; longer ones are shortened with an ellipsis (a version is
        kept whole).
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.boxplot` (e.g. ``showfliers=False``).

    Returns
    -------
    Axes
        The Axes drawn on; the duration axis names the unit, e.g. "Duration (min)".

    Examples
    --------
    >>> plot_duration(df, by="version", orient="h")  # doctest: +SKIP
    """
    caller = "plot_duration"
    check_frame(data, ("duration", "usage"), caller)
    check_column(data, by, "by", caller)
    if hue is not None:
        check_column(data, hue, "hue", caller)
    top = check_top(top, caller)
    check_axes(ax, caller)
    orient = check_orient(orient, caller)
    label_chars = check_label_chars(label_chars, caller)
    check_dtypes(data, ("duration",), caller)
    runs, _ = split_fetch_failures(data)
    usage = usage_array(runs["usage"], caller)
    groups = limit(grouping(runs, by, usage), usage, top)
    hues = limit(grouping(runs, hue, usage), usage, DEFAULT_HUE_TOP) if hue is not None else None
    finished = runs["duration"].notna().to_numpy(dtype=bool, na_value=False)
    seconds = runs["duration"][finished].dt.total_seconds().to_numpy(dtype=float)
    unit, size = _duration_unit(seconds)
    values = seconds / size
    group_labels = groups.labels[finished].to_numpy()
    present = [key for key in groups.order if (group_labels == key).any()]
    axes = resolve_axes(ax, caller)

    positions = np.arange(len(present), dtype=float)
    is_other = [Grouping.is_other(key) for key in present]
    if hues is None:
        arrays = [values[group_labels == key] for key in present]
        color = kwargs.pop("color", "C0")
        colors = [OTHER_COLOR if other else color for other in is_other]
        boxes = _boxes(axes, arrays, positions, BAR_FILL * BOX_FILL, colors, orient, kwargs)
        style_other(
            [b for b, o in zip(boxes, _kept(arrays, is_other), strict=True) if o], recolor=False
        )
    else:
        hue_labels = hues.labels[finished].to_numpy()
        width = BAR_FILL / max(len(hues.order), 1)
        handles = []
        for i, hue_key in enumerate(hues.order):
            in_hue = hue_labels == hue_key
            arrays = [values[in_hue & (group_labels == key)] for key in present]
            offset = (i - (len(hues.order) - 1) / 2) * width
            color = OTHER_COLOR if Grouping.is_other(hue_key) else f"C{i % 10}"
            boxes = _boxes(
                axes,
                arrays,
                positions + offset,
                width * DODGED_BOX_FILL,
                [color] * len(arrays),
                orient,
                kwargs,
            )
            hatched = [o or Grouping.is_other(hue_key) for o in _kept(arrays, is_other)]
            style_other([b for b, h in zip(boxes, hatched, strict=True) if h], recolor=False)
            if boxes:
                handle = Patch(facecolor=color, label=hues.name(hue_key))
                if Grouping.is_other(hue_key):
                    style_other([handle], recolor=False)
                handles.append(handle)
        if handles:
            legend(axes, title(hues.column), handles)
    set_category_ticks(axes, groups, present, orient, label_chars)
    (axes.set_xlabel if orient == "h" else axes.set_ylabel)(f"Duration ({unit})")
    if log is None:
        log = (
            bool(len(seconds))
            and seconds.min() > 0
            and (seconds.max() > LOG_SCALE_SPREAD * np.median(seconds))
        )
    if log:
        (axes.set_xscale if orient == "h" else axes.set_yscale)("log", nonpositive="clip")
        axis = axes.xaxis if orient == "h" else axes.yaxis
        axis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    if not present:
        no_data(axes)
    return axes


def _kept(arrays: list[np.ndarray], flags: list[bool]) -> list[bool]:
    """``flags`` of the non-empty arrays only, aligned with the boxes :func:`_boxes` drew."""
    return [flag for values, flag in zip(arrays, flags, strict=True) if len(values)]
