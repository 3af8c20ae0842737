"""Cost and duration charts of a run frame, drawn with matplotlib.

The functions follow seaborn's conventions so that they compose with any figure layout: they
draw on ``ax`` (default: the current axes), pass extra keyword arguments to the matplotlib
call that draws, and return the Axes. They never create windows or switch backends.

Grouping and ordering come from :mod:`coreclaw_frames.summary`, so a chart lists its groups
exactly like the summary table: statuses in lifecycle order, versions as versions, workers by
total cost. Costs are summed exactly as decimals and turned into floats only as bar heights.
Beyond ``top`` groups the cheapest are pooled into one "other" group, so that a chart of
hundreds of workers stays readable. Text from the data (group labels, column names) is drawn
as written: a ``$`` never starts mathtext.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
from matplotlib import dates as mdates
from matplotlib import ticker
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from coreclaw_frames.summary import (
    DEFAULT_TOP,
    _check_column,
    _check_frame,
    _check_top,
    _decimal_sums,
    _Grouping,
    _grouping,
    _limit,
    _split_fetch_failures,
    _usage_array,
)

if TYPE_CHECKING:
    from matplotlib.container import BarContainer, Container

__all__ = [
    "DEFAULT_HUE_TOP",
    "FREQUENCIES",
    "plot_cost",
    "plot_cost_over_time",
    "plot_duration",
]

#: Most hue (or stacked) groups drawn before the rest are pooled: with the pooled group this
#: is the ten colours of matplotlib's default colour cycle.
DEFAULT_HUE_TOP = 9
#: Accepted ``freq`` values of :func:`plot_cost_over_time`: pandas period alias and its name.
FREQUENCIES: dict[str, tuple[str, str]] = {
    "D": ("D", "day"),
    "W": ("W-SUN", "week"),
    "M": ("M", "month"),
    "MS": ("M", "month"),
}
#: Share of its slot a bar (or a group of dodged bars or boxes) fills.
BAR_FILL = 0.8
#: Tick labels longer than this are shortened with an ellipsis.
MAX_TICK_LABEL_CHARS = 28
#: Tick labels are tilted once their total length exceeds this many characters.
UPRIGHT_TICK_LABEL_CHARS = 60
TICK_LABEL_ROTATION = 30
#: Duration units, largest first; a unit is used once the median spans at least
#: ``DURATION_UNIT_MIN_COUNT`` of it.
DURATION_UNITS = (("h", 3600), ("min", 60), ("s", 1))
DURATION_UNIT_MIN_COUNT = 2
#: ``plot_duration(log=None)`` uses a log scale when the longest run is this many times the
#: median: heavy tails would otherwise squash every box into a line.
LOG_SCALE_SPREAD = 20
#: Dollar tick labels: cents from one dollar, whole dollars from this amount.
WHOLE_DOLLARS_FROM = 100
SMALL_COST_DECIMALS = 4
NO_DATA_TEXT = "No runs to plot"
#: Axis and legend titles of the run-frame columns one usually groups by; others show as named.
COLUMN_TITLES = {
    "scraper_title": "Worker",
    "scraper_slug": "Worker slug",
    "version": "Version",
    "origin": "Origin",
    "status": "Status",
}
#: Text properties of every string that comes from the data: drawn as written, never parsed
#: as mathtext (where "$" starts a formula) or handed to LaTeX.
LITERAL_TEXT: dict[str, Any] = {"parse_math": False, "usetex": False}
#: Legends go outside the axes, on the right; a figure saved with ``layout="constrained"``
#: or ``bbox_inches="tight"`` keeps them.
LEGEND_PLACEMENT: dict[str, Any] = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}


# --- shared helpers --------------------------------------------------------------------------


def _resolve_axes(ax: object, caller: str) -> Axes:
    """``ax`` if it is an Axes, the current Axes if it is None; TypeError otherwise."""
    if ax is None:
        import matplotlib.pyplot as plt

        return plt.gca()
    if not isinstance(ax, Axes):
        raise TypeError(f"{caller}: ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


def _check_axes(ax: object, caller: str) -> None:
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"{caller}: ax must be a matplotlib Axes or None, got {type(ax).__name__}")


def _as_float(cost: Decimal | None) -> float:
    """The one place where money becomes a float: a bar height to draw."""
    return 0.0 if cost is None else float(cost)


def _short(label: str) -> str:
    if len(label) <= MAX_TICK_LABEL_CHARS:
        return label
    return label[: MAX_TICK_LABEL_CHARS - 1] + "…"


def _set_category_ticks(ax: Axes, labels: Sequence[str], axis_label: str) -> None:
    positions = np.arange(len(labels))
    shown = [_short(label) for label in labels]
    ax.set_xticks(positions, shown, **LITERAL_TEXT)
    if sum(len(label) for label in shown) > UPRIGHT_TICK_LABEL_CHARS:
        for text in ax.get_xticklabels():
            text.set_rotation(TICK_LABEL_ROTATION)
            text.set_horizontalalignment("right")
            text.set_rotation_mode("anchor")
    ax.set_xlabel(_title(axis_label), **LITERAL_TEXT)
    if len(labels):
        ax.set_xlim(-0.5, len(labels) - 0.5)


def _dollar_axis(ax: Axes, largest: float) -> None:
    """Dollar tick labels with decimals fitting the largest bar; a 0-1 axis if all are zero."""
    if largest <= 0:
        ax.set_ylim(0, 1)
    if largest >= WHOLE_DOLLARS_FROM:
        decimals = 0
    elif largest >= 1:
        decimals = 2
    else:
        decimals = SMALL_COST_DECIMALS
    ax.yaxis.set_major_formatter(ticker.StrMethodFormatter(f"${{x:,.{decimals}f}}"))


def _title(column: str) -> str:
    return COLUMN_TITLES.get(column, column)


def _legend(ax: Axes, title: str, handles: Sequence[Artist | Container]) -> None:
    """Legend of ``handles`` to the right of the axes, where it can never hide a bar or a box.

    Passing the handles keeps labels starting with "_", which ``ax.legend()`` would drop.
    """
    legend = ax.legend(handles=handles, title=_title(title), fontsize="small", **LEGEND_PLACEMENT)
    for text in (*legend.get_texts(), legend.get_title()):
        text.update(LITERAL_TEXT)


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, NO_DATA_TEXT, transform=ax.transAxes, ha="center", va="center")


def _hue_grouping(frame: pd.DataFrame, hue: str, usage: pa.Array, top: int) -> _Grouping:
    grouping = _grouping(frame, hue, usage)
    return _limit(grouping, usage, top)


def _cost_matrix(groups: _Grouping, hues: _Grouping, usage: pa.Array) -> list[list[Decimal | None]]:
    """Exact cost per (hue label, group label), hue-major, in both orders."""
    sums = _decimal_sums([groups.labels, hues.labels], usage)["cost"]
    lookup = sums.to_dict()
    return [[lookup.get((group, hue)) for group in groups.order] for hue in hues.order]


def _stack(
    ax: Axes,
    x: Any,
    matrix: list[list[Decimal | None]],
    hue_labels: Sequence[str],
    *,
    stacked: bool,
    width: Any,
    kwargs: dict[str, Any],
) -> tuple[float, list[BarContainer]]:
    """Draw one bar series per hue value, stacked or side by side; the tallest top, and the
    series."""
    heights = np.array([[_as_float(c) for c in row] for row in matrix], dtype=float)
    bottom = np.zeros(heights.shape[1] if len(heights) else 0)
    n = max(len(hue_labels), 1)
    series = []
    for i, (row, label) in enumerate(zip(heights, hue_labels, strict=True)):
        if stacked:
            container = ax.bar(x, row, width=width, bottom=bottom, label=label, **kwargs)
            # Axes.bar turns a height into (bottom + height) - bottom, which is off by a
            # rounding error; keep every bar exactly float(exact sum).
            for rectangle, height in zip(container, row, strict=True):
                rectangle.set_height(height)
            bottom = bottom + row
        else:
            offset = (i - (n - 1) / 2) * width / n
            container = ax.bar(x + offset, row, width=width / n, label=label, **kwargs)
        series.append(container)
    if not heights.size:
        return 0.0, series
    return (float(bottom.max()) if stacked else float(heights.max())), series


# --- plot_cost -------------------------------------------------------------------------------


def plot_cost(
    data: pd.DataFrame,
    *,
    by: str = "scraper_title",
    hue: str | None = None,
    ax: Axes | None = None,
    top: int = DEFAULT_TOP,
    stacked: bool = True,
    **kwargs: Any,
) -> Axes:
    """Bar chart of the total cost (``usage``) per group.

    Parameters
    ----------
    data
        A run frame; rows whose fetch failed are left out, unknown costs count as zero.
    by
        Column whose values are the bars (worker title or slug, version, origin, status...).
    hue
        Optional column splitting each bar by colour (at most :data:`DEFAULT_HUE_TOP` values
        and "other").
    ax
        Axes to draw on; default the current Axes.
    top
        Most bars before the cheapest groups are pooled into one "other (N)" bar.
    stacked
        With ``hue``: stack the parts (default) or draw them side by side.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.bar`.

    Returns
    -------
    Axes
        The Axes drawn on. Bar heights are the exact Decimal sums converted to float.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()  # doctest: +SKIP
    >>> plot_cost(df, by="version", hue="origin", ax=ax)  # doctest: +SKIP
    """
    caller = "plot_cost"
    _check_frame(data, ("usage",), caller)
    _check_column(data, by, "by", caller)
    if hue is not None:
        _check_column(data, hue, "hue", caller)
    top = _check_top(top, caller)
    _check_axes(ax, caller)
    runs, _ = _split_fetch_failures(data)
    usage = _usage_array(runs["usage"], caller)
    groups = _grouping(runs, by, usage)
    groups = _limit(groups, usage, top)
    axes = _resolve_axes(ax, caller)

    x = np.arange(len(groups.order), dtype=float)
    if hue is None:
        sums = _decimal_sums([groups.labels], usage)["cost"]
        heights = [_as_float(sums.get(label)) for label in groups.order]
        axes.bar(x, heights, width=BAR_FILL, **kwargs)
        largest = max(heights, default=0.0)
    else:
        hues = _hue_grouping(runs, hue, usage, DEFAULT_HUE_TOP)
        matrix = _cost_matrix(groups, hues, usage)
        largest, series = _stack(
            axes, x, matrix, hues.order, stacked=stacked, width=BAR_FILL, kwargs=kwargs
        )
        if series:
            _legend(axes, hue, series)
    _set_category_ticks(axes, groups.order, by)
    axes.set_ylabel("Cost (USD)")
    _dollar_axis(axes, largest)
    if not groups.order:
        _no_data(axes)
    return axes


# --- plot_duration ---------------------------------------------------------------------------


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
    color: Any,
    kwargs: dict[str, Any],
) -> None:
    keep = [i for i, values in enumerate(arrays) if len(values)]
    if not keep:
        return
    options: dict[str, Any] = {
        "patch_artist": True,
        "manage_ticks": False,
        "widths": width,
        "medianprops": {"color": "black"},
        "flierprops": {"markersize": 3, "alpha": 0.5},
        "boxprops": {"facecolor": color},
    }
    options.update(kwargs)
    ax.boxplot([arrays[i] for i in keep], positions=positions[keep], **options)


def plot_duration(
    data: pd.DataFrame,
    *,
    by: str = "scraper_title",
    hue: str | None = None,
    ax: Axes | None = None,
    top: int = DEFAULT_TOP,
    log: bool | None = None,
    **kwargs: Any,
) -> Axes:
    """Box plot of run durations per group, in s, min or h chosen from the data.

    Only finished runs count (unfinished runs have no duration). Groups are ordered as in
    :func:`plot_cost`, and beyond ``top`` the cheapest are pooled into "other (N)".

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
        Log-scale y axis; default (None) when the longest run is more than
        :data:`LOG_SCALE_SPREAD` times the median and no duration is zero.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.boxplot` (e.g. ``showfliers=False``).

    Returns
    -------
    Axes
        The Axes drawn on; the y label names the unit, e.g. "Duration (min)".

    Examples
    --------
    >>> plot_duration(df, by="version")  # doctest: +SKIP
    """
    caller = "plot_duration"
    _check_frame(data, ("duration", "usage"), caller)
    _check_column(data, by, "by", caller)
    if hue is not None:
        _check_column(data, hue, "hue", caller)
    top = _check_top(top, caller)
    _check_axes(ax, caller)
    if not pd.api.types.is_timedelta64_dtype(data["duration"].dtype):
        raise TypeError(
            f"{caller}: duration must be timedelta64, got dtype {data['duration'].dtype}"
        )
    runs, _ = _split_fetch_failures(data)
    usage = _usage_array(runs["usage"], caller)
    groups = _grouping(runs, by, usage)
    groups = _limit(groups, usage, top)
    hues = _hue_grouping(runs, hue, usage, DEFAULT_HUE_TOP) if hue is not None else None
    finished = runs["duration"].notna().to_numpy(dtype=bool, na_value=False)
    seconds = runs["duration"][finished].dt.total_seconds().to_numpy(dtype=float)
    unit, size = _duration_unit(seconds)
    values = pd.Series(seconds / size, index=runs.index[finished])
    group_labels = groups.labels[finished]
    present = [label for label in groups.order if (group_labels == label).any()]
    axes = _resolve_axes(ax, caller)

    positions = np.arange(len(present), dtype=float)
    if hues is None:
        arrays = [values[(group_labels == label).to_numpy()].to_numpy() for label in present]
        color = kwargs.pop("color", "C0")
        _boxes(axes, arrays, positions, BAR_FILL * 0.75, color, kwargs)
    else:
        hue_labels = hues.labels[finished]
        n = max(len(hues.order), 1)
        width = BAR_FILL / n
        handles = []
        for i, hue_label in enumerate(hues.order):
            in_hue = (hue_labels == hue_label).to_numpy()
            arrays = [
                values[in_hue & (group_labels == label).to_numpy()].to_numpy() for label in present
            ]
            offset = (i - (n - 1) / 2) * width
            color = f"C{i % 10}"
            _boxes(axes, arrays, positions + offset, width * 0.9, color, kwargs)
            if any(len(a) for a in arrays):
                handles.append(Patch(facecolor=color, label=hue_label))
        if handles:
            _legend(axes, str(hue), handles)
    _set_category_ticks(axes, present, by)
    axes.set_ylabel(f"Duration ({unit})")
    if log is None:
        log = (
            bool(len(seconds))
            and seconds.min() > 0
            and (seconds.max() > LOG_SCALE_SPREAD * np.median(seconds))
        )
    if log:
        axes.set_yscale("log", nonpositive="clip")
        axes.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    if not present:
        _no_data(axes)
    return axes


# --- plot_cost_over_time ---------------------------------------------------------------------


def _check_freq(freq: object, caller: str) -> tuple[str, str]:
    if not isinstance(freq, str) or freq not in FREQUENCIES:
        raise ValueError(
            f"{caller}: freq must be one of {', '.join(map(repr, FREQUENCIES))} "
            f"(day, week, month), got {freq!r}"
        )
    return FREQUENCIES[freq]


def plot_cost_over_time(
    data: pd.DataFrame,
    *,
    freq: str = "D",
    by: str | None = None,
    ax: Axes | None = None,
    top: int = DEFAULT_HUE_TOP,
    **kwargs: Any,
) -> Axes:
    """Bar chart of the cost per day, week or month, by run start time (UTC).

    Parameters
    ----------
    data
        A run frame; runs that never started, and rows whose fetch failed, are left out.
    freq
        ``"D"`` (day), ``"W"`` (week, Monday to Sunday) or ``"M"``/``"MS"`` (month); each bar
        spans its period and sits at the period's start.
    by
        Optional column to stack the bars by (worker title, version, origin, status...).
    ax
        Axes to draw on; default the current Axes.
    top
        With ``by``: most stacked groups before the cheapest are pooled into "other (N)".
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.bar`.

    Returns
    -------
    Axes
        The Axes drawn on, with a date x axis; every period in the range has a bar (empty
        periods are zero), each the exact Decimal sum converted to float.

    Examples
    --------
    >>> plot_cost_over_time(df, freq="W", by="scraper_title")  # doctest: +SKIP
    """
    caller = "plot_cost_over_time"
    _check_frame(data, ("usage", "started_at"), caller)
    period_freq, period_name = _check_freq(freq, caller)
    if by is not None:
        _check_column(data, by, "by", caller)
    top = _check_top(top, caller)
    _check_axes(ax, caller)
    started = data["started_at"]
    if not pd.api.types.is_datetime64_any_dtype(started.dtype):
        raise TypeError(f"{caller}: started_at must be datetime64, got dtype {started.dtype}")
    runs, _ = _split_fetch_failures(data)
    runs = runs.loc[runs["started_at"].notna()]
    usage = _usage_array(runs["usage"], caller)
    starts = runs["started_at"]
    if isinstance(starts.dtype, pd.DatetimeTZDtype):
        starts = starts.dt.tz_convert("UTC").dt.tz_localize(None)
    periods = starts.dt.to_period(period_freq)
    ordinals = pd.Series(periods.array.asi8, index=runs.index, dtype="int64")
    axes = _resolve_axes(ax, caller)

    if len(runs):
        span = pd.period_range(periods.min(), periods.max(), freq=period_freq)
        x = span.start_time.to_numpy()
        width = ((span + 1).start_time - span.start_time).to_numpy() * BAR_FILL
        keys = [pd.Series(span.asi8)]
        if by is None:
            sums = _decimal_sums([ordinals], usage)["cost"]
            heights = [_as_float(sums.get(o)) for o in keys[0]]
            bars: BarContainer = axes.bar(x, heights, width=width, align="edge", **kwargs)
            largest = max((b.get_height() for b in bars), default=0.0)
        else:
            stacks = _hue_grouping(runs, by, usage, top)
            sums = _decimal_sums([ordinals, stacks.labels], usage)["cost"].to_dict()
            matrix = [[sums.get((o, s)) for o in keys[0]] for s in stacks.order]
            largest, series = _stack(
                axes,
                x,
                matrix,
                stacks.order,
                stacked=True,
                width=width,
                kwargs={"align": "edge", **kwargs},
            )
            _legend(axes, by, series)
        locator = mdates.AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    else:
        largest = 0.0
        _no_data(axes)
    axes.set_xlabel("Run start (UTC)")
    axes.set_ylabel(f"Cost per {period_name} (USD)")
    _dollar_axis(axes, largest)
    return axes
