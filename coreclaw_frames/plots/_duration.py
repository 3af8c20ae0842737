"""``plot_duration``: the distribution of run durations per group as box plots."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from coreclaw_frames.analysis._grouping import DEFAULT_TOP, Grouping
from coreclaw_frames.plots._base import (
    BAR_FILL,
    MAX_TICK_LABEL_CHARS,
    OTHER_COLOR,
    legend,
    no_data,
    style_other,
    title,
)
from coreclaw_frames.plots._docstrings import passed_to, shared_docs
from coreclaw_frames.plots._prepare import CategoryPlot, prepare_categories

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
    plot: CategoryPlot,
    arrays: list[np.ndarray],
    positions: np.ndarray,
    width: float,
    colors: list[Any],
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
    if plot.orient == "h":
        options.update({"orientation": "horizontal"} if _HAS_ORIENTATION else {"vert": False})
    options.update(kwargs)
    drawn = plot.axes.boxplot([arrays[i] for i in keep], positions=positions[keep], **options)
    boxes: list[Patch] = drawn["boxes"]
    for i, box in zip(keep, boxes, strict=True):
        box.set_facecolor(colors[i])
    return boxes


@shared_docs(kwargs=passed_to(":meth:`matplotlib.axes.Axes.boxplot` (e.g. ``showfliers=False``)"))
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
    :func:`~coreclaw_frames.plots.plot_cost`, and with ``hue`` each group's boxes stand side
    by side, one colour per hue value.

    Parameters
    ----------
    {data}
    {by}
    {hue}
    {ax}
    {top}
    log
        Log-scale duration axis; default (None) when the longest run is more than
        :data:`LOG_SCALE_SPREAD` times the median and no duration is zero.
    {orient}
    {label_chars}
    {kwargs}

    Returns
    -------
    Axes
        The Axes drawn on; the duration axis names the unit, e.g. "Duration (min)".

    Examples
    --------
    >>> plot_duration(df, by="version", orient="h")  # doctest: +SKIP
    """
    plot = prepare_categories(
        data,
        caller="plot_duration",
        by=by,
        hue=hue,
        ax=ax,
        top=top,
        orient=orient,
        label_chars=label_chars,
        required=("duration", "usage"),
        typed=("duration",),
    )
    finished = plot.runs["duration"].notna().to_numpy(dtype=bool, na_value=False)
    seconds = plot.runs["duration"][finished].dt.total_seconds().to_numpy(dtype=float)
    unit, size = _duration_unit(seconds)
    group_labels = plot.groups.labels[finished].to_numpy()
    present = [key for key in plot.groups.order if (group_labels == key).any()]
    values = _Durations(seconds / size, group_labels, present)
    if plot.hues is None:
        _group_boxes(plot, values, kwargs)
    else:
        _hue_boxes(plot, plot.hues, values, plot.hues.labels[finished].to_numpy(), kwargs)
    plot.category_axis(present)
    plot.value_label(f"Duration ({unit})")
    if log is None:
        log = (
            bool(len(seconds))
            and seconds.min() > 0
            and (seconds.max() > LOG_SCALE_SPREAD * np.median(seconds))
        )
    if log:
        _log_axis(plot)
    if not present:
        no_data(plot.axes)
    return plot.axes


@dataclass(frozen=True)
class _Durations:
    """The finished runs' durations in the chosen unit, their groups, and the groups that
    have any, in display order (a slot each)."""

    values: np.ndarray
    groups: np.ndarray
    present: list[str]

    def per_group(self, mask: np.ndarray | bool = True) -> list[np.ndarray]:
        """The values of each present group (where ``mask``), in slot order."""
        return [self.values[mask & (self.groups == key)] for key in self.present]


def _group_boxes(plot: CategoryPlot, durations: _Durations, kwargs: dict[str, Any]) -> None:
    """One box per group, in ``color`` (default C0); "other" grey and hatched."""
    arrays = durations.per_group()
    is_other = [Grouping.is_other(key) for key in durations.present]
    color = kwargs.pop("color", "C0")
    colors = [OTHER_COLOR if other else color for other in is_other]
    positions = np.arange(len(durations.present), dtype=float)
    boxes = _boxes(plot, arrays, positions, BAR_FILL * BOX_FILL, colors, kwargs)
    style_other(
        [b for b, o in zip(boxes, _kept(arrays, is_other), strict=True) if o], recolor=False
    )


def _hue_boxes(
    plot: CategoryPlot,
    hues: Grouping,
    durations: _Durations,
    hue_labels: np.ndarray,
    kwargs: dict[str, Any],
) -> None:
    """Side by side in each group, one box per hue value in its colour (the pooled one
    grey), the pooled group and hue hatched; a legend of the hues drawn."""
    positions = np.arange(len(durations.present), dtype=float)
    is_other = [Grouping.is_other(key) for key in durations.present]
    width = BAR_FILL / max(len(hues.order), 1)
    handles = []
    for i, hue_key in enumerate(hues.order):
        arrays = durations.per_group(hue_labels == hue_key)
        offset = (i - (len(hues.order) - 1) / 2) * width
        color = OTHER_COLOR if Grouping.is_other(hue_key) else f"C{i % 10}"
        boxes = _boxes(
            plot,
            arrays,
            positions + offset,
            width * DODGED_BOX_FILL,
            [color] * len(arrays),
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
        legend(plot.axes, title(hues.column), handles)


def _log_axis(plot: CategoryPlot) -> None:
    """A log-scale duration axis with plain numbers as tick labels."""
    axes = plot.axes
    (axes.set_xscale if plot.orient == "h" else axes.set_yscale)("log", nonpositive="clip")
    axis = axes.xaxis if plot.orient == "h" else axes.yaxis
    axis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))


def _kept(arrays: list[np.ndarray], flags: list[bool]) -> list[bool]:
    """``flags`` of the non-empty arrays only, aligned with the boxes :func:`_boxes` drew."""
    return [flag for values, flag in zip(arrays, flags, strict=True) if len(values)]
