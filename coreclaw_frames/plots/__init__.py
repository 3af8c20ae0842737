"""Cost and duration charts of a run frame, drawn with matplotlib.

The functions follow seaborn's conventions so that they compose with any figure layout: they
draw on ``ax`` (default: the current axes), pass extra keyword arguments to the matplotlib
call that draws, and return the Axes. They never create windows or switch backends.

Grouping and ordering come from :mod:`coreclaw_frames.analysis`, so a chart lists its groups
exactly like the tables: statuses in lifecycle order, versions as versions within their
worker, workers by total cost. Costs are summed exactly as decimals and turned into floats
only as bar lengths. Beyond ``top`` groups the cheapest are pooled into one grey, hatched
"other" group, drawn last. Long names are shortened with an ellipsis (the tables have them
whole), and text from the data is drawn as written: a ``$`` never starts mathtext.

Modules: ``cost`` (:func:`plot_cost`), ``duration`` (:func:`plot_duration`), ``over_time``
(:func:`plot_cost_over_time`), ``outlook`` (:func:`plot_outlook`, also ``SpendOutlook.plot``)
and ``_base`` (what they share).
"""

from coreclaw_frames.analysis.periods import FREQUENCIES
from coreclaw_frames.plots._base import (
    MAX_LEGEND_LABEL_CHARS,
    MAX_TICK_LABEL_CHARS,
    NO_DATA_TEXT,
    OTHER_COLOR,
    OTHER_HATCH,
    move_legend,
)
from coreclaw_frames.plots.cost import DEFAULT_HUE_TOP, plot_cost
from coreclaw_frames.plots.duration import plot_duration
from coreclaw_frames.plots.outlook import plot_outlook
from coreclaw_frames.plots.over_time import (
    IN_PROGRESS_HATCH,
    IN_PROGRESS_LABEL,
    INCOMPLETE_GID,
    plot_cost_over_time,
)

__all__ = [
    "DEFAULT_HUE_TOP",
    "FREQUENCIES",
    "INCOMPLETE_GID",
    "IN_PROGRESS_HATCH",
    "IN_PROGRESS_LABEL",
    "MAX_LEGEND_LABEL_CHARS",
    "MAX_TICK_LABEL_CHARS",
    "NO_DATA_TEXT",
    "OTHER_COLOR",
    "OTHER_HATCH",
    "move_legend",
    "plot_cost",
    "plot_cost_over_time",
    "plot_duration",
    "plot_outlook",
]
