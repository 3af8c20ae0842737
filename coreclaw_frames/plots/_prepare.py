"""The step every run-frame chart starts with (as seaborn's plotters do): check the arguments
once and in one order, keep the rows that are runs, and group them in display order with
"other" pooled.

Nothing is drawn, and no figure is made, until every check has passed: the Axes is resolved
last. :func:`prepare_categories` serves the charts of one bar or box per group
(:func:`~coreclaw_frames.plots.plot_cost`, :func:`~coreclaw_frames.plots.plot_duration`),
:func:`prepare_periods` the chart of one bar per period
(:func:`~coreclaw_frames.plots.plot_cost_over_time`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
from matplotlib.axes import Axes

from coreclaw_frames.analysis._frame import (
    check_column,
    check_dtypes,
    check_frame,
    check_top,
    split_fetch_failures,
)
from coreclaw_frames.analysis._grouping import Grouping, grouping, limit
from coreclaw_frames.analysis._money import usage_array
from coreclaw_frames.analysis._periods import Periods, run_periods
from coreclaw_frames.plots._base import set_category_ticks

__all__ = [
    "DEFAULT_HUE_TOP",
    "MIN_LABEL_CHARS",
    "ORIENTATIONS",
    "CategoryPlot",
    "PeriodPlot",
    "check_axes",
    "check_label_chars",
    "check_orient",
    "prepare_categories",
    "prepare_periods",
    "resolve_axes",
]

#: Most hue (or stacked) groups drawn before the rest are pooled: with the pooled group this
#: is the ten colours of matplotlib's default colour cycle.
DEFAULT_HUE_TOP = 9
#: Orientations of the category charts: bars up ("v") or bars to the right ("h").
ORIENTATIONS = ("v", "h")
#: The shortest ``label_chars`` a chart accepts: room for a few letters and the ellipsis.
MIN_LABEL_CHARS = 4
#: The columns a chart of periods reads.
PERIOD_COLUMNS = ("status", "usage", "started_at")


@dataclass(frozen=True)
class CategoryPlot:
    """A run frame made ready for a chart of one bar or box per group.

    ``runs`` are the rows that are runs (failed fetches left out), ``usage`` their exact
    costs, ``groups`` one per bar or box in display order (beyond ``top`` pooled into
    "other"), ``hues`` the colour groups if asked for, and ``axes`` the Axes to draw on.
    """

    runs: pd.DataFrame
    usage: pa.Array
    groups: Grouping
    hues: Grouping | None
    axes: Axes
    orient: str
    label_chars: int

    def category_axis(self, keys: Sequence[str]) -> None:
        """One tick per group of ``keys``, named and styled (see ``set_category_ticks``)."""
        set_category_ticks(self.axes, self.groups, keys, self.orient, self.label_chars)

    def value_label(self, text: str) -> None:
        """Name the axis of the values: y when the groups run along x, else x."""
        (self.axes.set_xlabel if self.orient == "h" else self.axes.set_ylabel)(text)


@dataclass(frozen=True)
class PeriodPlot:
    """A run frame made ready for a chart of one bar per period: the started runs placed in
    periods (``periods``), the groups its bars are stacked by if asked for (``stacks``), and
    the Axes to draw on."""

    periods: Periods
    stacks: Grouping | None
    axes: Axes


def prepare_categories(
    data: pd.DataFrame,
    *,
    caller: str,
    by: str,
    hue: str | None,
    ax: Axes | None,
    top: int,
    orient: str,
    label_chars: int,
    required: Iterable[str] = ("usage",),
    typed: Iterable[str] = (),
) -> CategoryPlot:
    """Check the arguments of a category chart, then group its runs.

    The checks, in this order, each error naming ``caller``: ``data`` is a DataFrame with the
    ``required`` columns, ``by`` and ``hue`` are columns of it, ``top``, ``ax``, ``orient``
    and ``label_chars`` are valid, and the ``typed`` columns have a run frame's dtypes.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from coreclaw_frames.sandbox import build_account, run_frame
    >>> plot = prepare_categories(run_frame(build_account(seed=0, runs=50)), caller="f",
    ...     by="status", hue=None, ax=Figure().subplots(), top=3, orient="h", label_chars=10)
    >>> plot.groups.names()  # the three costliest in lifecycle order, then the rest pooled
    ['running', 'succeeded', 'aborting', 'other (3)']
    """
    columns = {"by": by} if hue is None else {"by": by, "hue": hue}
    frame, top = _check(data, caller, required, columns, top, ax)
    orient = check_orient(orient, caller)
    label_chars = check_label_chars(label_chars, caller)
    check_dtypes(frame, typed, caller)
    runs, _ = split_fetch_failures(frame)
    usage = usage_array(runs["usage"], caller)
    groups = _pooled(runs, by, usage, top)
    hues = _pooled(runs, hue, usage, DEFAULT_HUE_TOP) if hue is not None else None
    return CategoryPlot(runs, usage, groups, hues, resolve_axes(ax, caller), orient, label_chars)


def prepare_periods(
    data: pd.DataFrame,
    *,
    caller: str,
    freq: str,
    by: str | None,
    top: int,
    now: object,
    ax: Axes | None,
) -> PeriodPlot:
    """Check the arguments of a chart of periods, then place the started runs in periods and
    group them by ``by``.

    The checks, in this order, each error naming ``caller``: ``data`` is a DataFrame with the
    columns such a chart reads, ``by`` is one of them, ``top`` and ``ax`` are valid, then
    ``freq``, ``now`` and the dtypes (:func:`~coreclaw_frames.analysis._periods.run_periods`).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from coreclaw_frames.sandbox import build_account, run_frame
    >>> plot = prepare_periods(run_frame(build_account(seed=0, runs=50)), caller="f",
    ...     freq="M", by=None, top=9, now="2026-03-16", ax=Figure().subplots())
    >>> plot.periods.name, plot.stacks
    ('month', None)
    """
    columns = {} if by is None else {"by": by}
    frame, top = _check(data, caller, PERIOD_COLUMNS, columns, top, ax)
    periods = run_periods(frame, freq, now, caller)
    stacks = None
    if by is not None and len(periods.runs):
        stacks = _pooled(periods.runs, by, periods.usage, top)
    return PeriodPlot(periods, stacks, resolve_axes(ax, caller))


def _check(
    data: object,
    caller: str,
    required: Iterable[str],
    columns: Mapping[str, object],
    top: object,
    ax: object,
) -> tuple[pd.DataFrame, int]:
    """``data`` as a DataFrame with the ``required`` columns and the ``columns`` named by the
    parameters; ``top`` as an int; ``ax`` an Axes or None."""
    frame = check_frame(data, required, caller)
    for param, name in columns.items():
        check_column(frame, name, param, caller)
    checked_top = check_top(top, caller)
    check_axes(ax, caller)
    return frame, checked_top


def _pooled(runs: pd.DataFrame, column: str, usage: pa.Array, top: int) -> Grouping:
    """The groups of ``runs`` by ``column`` in display order, beyond ``top`` pooled."""
    return limit(grouping(runs, column, usage), usage, top)


def resolve_axes(ax: object, caller: str) -> Axes:
    """``ax`` if it is an Axes, the current Axes if it is None; TypeError otherwise."""
    if ax is None:
        import matplotlib.pyplot as plt

        return plt.gca()
    check_axes(ax, caller)
    assert isinstance(ax, Axes)
    return ax


def check_axes(ax: object, caller: str) -> None:
    """A TypeError unless ``ax`` is a matplotlib Axes or None."""
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"{caller}: ax must be a matplotlib Axes or None, got {type(ax).__name__}")


def check_orient(orient: object, caller: str) -> str:
    """``orient`` if it is ``"v"`` or ``"h"``, else a ValueError."""
    if orient not in ORIENTATIONS:
        raise ValueError(f"{caller}: orient must be 'v' or 'h', got {orient!r}")
    assert isinstance(orient, str)
    return orient


def check_label_chars(label_chars: object, caller: str) -> int:
    """``label_chars`` if it is an int of at least :data:`MIN_LABEL_CHARS`, else a ValueError."""
    if (
        isinstance(label_chars, bool)
        or not isinstance(label_chars, int)
        or label_chars < MIN_LABEL_CHARS
    ):
        raise ValueError(
            f"{caller}: label_chars must be an int >= {MIN_LABEL_CHARS}, got {label_chars!r}"
        )
    return label_chars
