"""The report's charts, each drawn twice: for wide screens and for phones.

Images hold twice the pixels they are shown at (sharp on high-density screens) and are stored
as palette PNGs, inside the HTML as base64. Charts are drawn on bare
:class:`matplotlib.figure.Figure` objects rather than through ``pyplot``, so writing a report
neither opens windows nor touches the caller's current figure or backend.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import pandas as pd
import PIL.Image
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from coreclaw_frames.analysis._frame import VERSION_COLUMN, WORKER_COLUMN
from coreclaw_frames.analysis._grouping import DEFAULT_TOP
from coreclaw_frames.analysis._outlook import SpendOutlook
from coreclaw_frames.analysis._projection import WINDOW_DAYS
from coreclaw_frames.plots import (
    MAX_TICK_LABEL_CHARS,
    move_legend,
    plot_cost,
    plot_cost_over_time,
    plot_duration,
    plot_outlook,
)

__all__ = [
    "CSS_PX_PER_INCH",
    "NARROW_SCREEN_PX",
    "PIXEL_RATIO",
    "Chart",
    "Image",
    "draw_charts",
    "outlook_chart",
]

#: CSS pixels per inch: a figure of W inches shows W * 96 px wide.
CSS_PX_PER_INCH = 96
#: Images hold this many pixels per CSS pixel, sharp on high-density screens.
PIXEL_RATIO = 2
#: Charts are stored as palette PNGs of this many colours.
PALETTE_COLORS = 256
QUANTIZE = PIL.Image.Quantize.FASTOCTREE
#: Chart widths (inches): wide screens, and phones (below NARROW_SCREEN_PX).
WIDE_INCHES = 10.0
NARROW_INCHES = 3.75
NARROW_SCREEN_PX = 640
#: Chart heights (inches): a fixed one for time, and per group for the category charts.
TIME_CHART_INCHES = 4.8
NARROW_TIME_CHART_INCHES = 5.6
CATEGORY_CHART_BASE_INCHES = 1.2
INCHES_PER_GROUP = 0.36
MIN_CATEGORY_CHART_INCHES = 2.6
#: Narrow charts: group names shortened to this many characters, the legend below the axes
#: in this many columns.
NARROW_LABEL_CHARS = 18
NARROW_LEGEND_COLUMNS = 2
#: The outlook's legend entries hold figures: one a line on a phone.
OUTLOOK_LEGEND_COLUMNS = 1
#: Cost-over-time bars per day up to this many days covered, per week up to a year, else month.
DAILY_UP_TO_DAYS = 62
WEEKLY_UP_TO_DAYS = 366


@dataclass(frozen=True)
class Image:
    """A PNG as base64, with the size it is shown at (CSS px; it holds twice as many pixels)."""

    data: str
    width: int
    height: int


@dataclass(frozen=True)
class Chart:
    """A chart drawn twice, for wide screens and for phones, with its title and caption."""

    title: str
    caption: str
    wide: Image
    narrow: Image


#: Draws a chart on the axes, group names shortened to the int given.
Draw = Callable[[Axes, int], Axes]


def render(draw: Draw, width: float, height: float, *, narrow: bool, legend_columns: int) -> Image:
    """``draw`` on a figure of about ``width`` x ``height`` inches, made a whole number of
    CSS pixels so that the image holds exactly PIXEL_RATIO times as many."""
    css_width, css_height = round(width * CSS_PX_PER_INCH), round(height * CSS_PX_PER_INCH)
    size = (css_width / CSS_PX_PER_INCH, css_height / CSS_PX_PER_INCH)
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.subplots()
    draw(axes, NARROW_LABEL_CHARS if narrow else MAX_TICK_LABEL_CHARS)
    if narrow:
        move_legend(axes, "outside lower center", ncols=legend_columns)
    figure.set_dpi(CSS_PX_PER_INCH * PIXEL_RATIO)
    return Image(encode(figure), css_width, css_height)


def encode(figure: Figure) -> str:
    """``figure`` at its resolution as a palette PNG, in base64."""
    # A constrained layout settles when laid out once before the draw that rasterizes. The
    # Agg canvas's own buffer is the picture a PNG of the figure would hold, without writing
    # that PNG and reading it back.
    layout = figure.get_layout_engine()
    if layout is not None:
        layout.execute(figure)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    size = canvas.get_width_height(physical=True)
    drawn = PIL.Image.frombuffer("RGBA", size, canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    # Flat colours need no more than a palette: a quarter of the bytes, the same picture.
    palette = drawn.convert("RGB").quantize(PALETTE_COLORS, method=QUANTIZE)
    # Quantizing averages colours, and the background would come out a shade off white:
    # the palette entry of a corner pixel gets the figure's own colour back.
    colors = palette.getpalette() or []
    corner = cast(int, palette.getpixel((0, 0)))  # a palette image's pixels are indices
    colors[3 * corner : 3 * corner + 3] = [round(255 * c) for c in to_rgb(figure.get_facecolor())]
    palette.putpalette(colors)
    buffer = io.BytesIO()
    palette.save(buffer, format="png", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def chart(
    title: str,
    caption: str,
    draw: Draw,
    groups: int | None = None,
    *,
    legend_columns: int = NARROW_LEGEND_COLUMNS,
) -> Chart:
    """``draw`` rendered wide and narrow; ``groups`` (category charts) sets the height, and
    ``legend_columns`` the columns of the narrow chart's legend."""
    if groups is None:
        wide, narrow = TIME_CHART_INCHES, NARROW_TIME_CHART_INCHES
    else:
        wide = narrow = max(
            MIN_CATEGORY_CHART_INCHES, CATEGORY_CHART_BASE_INCHES + INCHES_PER_GROUP * groups
        )
    return Chart(
        title,
        caption,
        render(draw, WIDE_INCHES, wide, narrow=False, legend_columns=legend_columns),
        render(draw, NARROW_INCHES, narrow, narrow=True, legend_columns=legend_columns),
    )


def time_frequency(runs: pd.DataFrame) -> tuple[str, str]:
    """The period of the cost-over-time chart for the time the runs span, and its name."""
    starts = runs["started_at"].dropna()
    days = (starts.max() - starts.min()).days if len(starts) else 0
    if days <= DAILY_UP_TO_DAYS:
        return "D", "day"
    if days <= WEEKLY_UP_TO_DAYS:
        return "W", "week"
    return "M", "month"


def draw_charts(runs: pd.DataFrame, now: pd.Timestamp, workers: int, versions: int) -> list[Chart]:
    """The report's charts of ``runs``, which have that many ``workers`` and ``versions``."""
    freq, period_name = time_frequency(runs)
    # Beyond DEFAULT_TOP groups the rest share one bar: a chart never has more than this.
    shown_workers, shown_versions = (min(n, DEFAULT_TOP + 1) for n in (workers, versions))
    pooled = (
        f"The {DEFAULT_TOP} most expensive versions; the rest pooled into the hatched grey bar."
        if versions > DEFAULT_TOP + 1
        else "Every version of every worker."
    )
    return [
        chart(
            "Cost by worker",
            "Each bar split by run status: failed and aborted runs cost money too.",
            lambda ax, chars: plot_cost(
                runs, by=WORKER_COLUMN, hue="status", orient="h", label_chars=chars, ax=ax
            ),
            shown_workers,
        ),
        chart(
            f"Cost per {period_name}",
            f"By run start (UTC). Hatched: the cost so far of runs not final yet. Shaded, if "
            f"any: the {period_name} not over yet.",
            lambda ax, _: plot_cost_over_time(runs, freq=freq, by=WORKER_COLUMN, now=now, ax=ax),
        ),
        chart(
            "Cost by worker and version",
            pooled,
            lambda ax, chars: plot_cost(
                runs, by=VERSION_COLUMN, orient="h", label_chars=chars, ax=ax
            ),
            shown_versions,
        ),
        chart(
            "Duration of finished runs by worker",
            "Boxes: the middle half of the runs, the line the median; dots: outliers.",
            lambda ax, chars: plot_duration(
                runs, by=WORKER_COLUMN, orient="h", label_chars=chars, ax=ax
            ),
            shown_workers,
        ),
    ]


def outlook_chart(outlook: SpendOutlook) -> Chart:
    """The month's cumulative spend and the projection cone."""
    return chart(
        "This month and where it is heading",
        f"Cumulative spend by run start (UTC). Dashed: the projection at the mean daily spend "
        f"of the last {WINDOW_DAYS} complete days; shaded: its 80% interval.",
        lambda ax, _: plot_outlook(outlook, ax=ax),
        legend_columns=OUTLOOK_LEGEND_COLUMNS,
    )
