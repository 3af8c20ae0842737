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

Each chart is a thin function over a shared preparation step, as seaborn's are: ``_prepare``
checks the arguments once, in one order, and groups the runs (display order, "other" pooled)
before anything is drawn; ``_base`` holds the small drawing helpers; ``_docstrings`` the text of
the parameters the charts share. Modules: ``_cost`` (:func:`plot_cost`), ``_duration``
(:func:`plot_duration`), ``_over_time`` (:func:`plot_cost_over_time`) and ``_outlook``
(:func:`plot_outlook`, also ``SpendOutlook.plot``).
"""

from coreclaw_frames.analysis._periods import FREQUENCIES
from coreclaw_frames.plots._base import (
    MAX_LEGEND_LABEL_CHARS,
    MAX_TICK_LABEL_CHARS,
    NO_DATA_TEXT,
    OTHER_COLOR,
    OTHER_HATCH,
    move_legend,
)
from coreclaw_frames.plots._cost import plot_cost
from coreclaw_frames.plots._duration import plot_duration
from coreclaw_frames.plots._outlook import plot_outlook
from coreclaw_frames.plots._over_time import (
    IN_PROGRESS_HATCH,
    IN_PROGRESS_LABEL,
    INCOMPLETE_GID,
    plot_cost_over_time,
)
from coreclaw_frames.plots._prepare import DEFAULT_HUE_TOP

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
