"""What the charts draw with: category ticks, dollar axes, legends, bars, the "other" group's
look, and text from the data drawn as written (a ``$`` never starts mathtext). Checking the
arguments and grouping the runs come first, in :mod:`coreclaw_frames.plots._prepare`."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import ticker
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from coreclaw_frames.analysis._grouping import VERSION_SEPARATOR, Grouping

if TYPE_CHECKING:
    from matplotlib.container import BarContainer, Container
    from matplotlib.patches import Patch

#: Share of its slot a bar (or a group of dodged bars or boxes) fills.
BAR_FILL = 0.8
#: Tick labels longer than this are shortened with an ellipsis (a version is kept whole).
MAX_TICK_LABEL_CHARS = 28
#: Legend entries longer than this are shortened with an ellipsis; tables show them whole.
MAX_LEGEND_LABEL_CHARS = 32
#: A worker title shortened to make room for its version keeps at least this many characters.
MIN_WORKER_CHARS = 8
ELLIPSIS = "…"
#: Vertical bars' tick labels are tilted once their total length exceeds this many characters.
UPRIGHT_TICK_LABEL_CHARS = 60
TICK_LABEL_ROTATION = 30
NO_DATA_TEXT = "No runs to plot"
#: Tick labels show at most this many decimals of a dollar.
MAX_TICK_DECIMALS = 6
#: Axis and legend titles of the run-frame columns one usually groups by; others show as named.
COLUMN_TITLES = {
    "scraper_title": "Worker",
    "scraper_slug": "Worker slug",
    "version": "Worker · version",
    "origin": "Origin",
    "status": "Status",
}
#: Text properties of every string that comes from the data: drawn as written, never parsed
#: as mathtext (where "$" starts a formula) or handed to LaTeX.
LITERAL_TEXT: dict[str, Any] = {"parse_math": False, "usetex": False}
#: Legends go outside the axes, on the right; a figure saved with ``layout="constrained"``
#: or ``bbox_inches="tight"`` keeps them.
LEGEND_PLACEMENT: dict[str, Any] = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}
#: The pooled "other" group: grey and hatched, so that it never reads as one more group.
OTHER_COLOR = "#bdbdbd"
OTHER_EDGE_COLOR = "#616161"
OTHER_HATCH = "///"
OTHER_TEXT_COLOR = "#616161"


def as_float(cost: Decimal | None) -> float:
    """The one place where money becomes a float: a bar height to draw."""
    return 0.0 if cost is None else float(cost)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis.

    Examples
    --------
    >>> shorten("News Collection 20260305", 10)
    'News Coll…'
    """
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def short_name(groups: Grouping, key: str, limit: int) -> str:
    """A group's name for a tick or a legend: a worker's title shortened, its version whole.

    Examples
    --------
    >>> groups = Grouping("version", None, ["k"], {"k": ("News Collection 20260305", "v1.0.10")})
    >>> short_name(groups, "k", 24)
    'News Collecti… · v1.0.10'
    """
    parts = groups.parts.get(key, (key,))
    if len(parts) == 1:
        return shorten(parts[0], limit)
    worker, version = parts[0], shorten(parts[-1], limit // 2)
    room = max(min(MIN_WORKER_CHARS, limit), limit - len(VERSION_SEPARATOR) - len(version))
    return shorten(worker, room) + VERSION_SEPARATOR + version


def title(column: str) -> str:
    """The axis or legend title of a column."""
    return COLUMN_TITLES.get(column, column)


def set_category_ticks(
    ax: Axes, groups: Grouping, keys: Sequence[str], orient: str, label_chars: int
) -> None:
    """One tick per group on the category axis, names shortened to ``label_chars``, "other"
    in grey italics; in ``"h"`` the first group is at the top."""
    positions = np.arange(len(keys))
    shown = [short_name(groups, key, label_chars) for key in keys]
    if orient == "h":
        ax.set_yticks(positions, shown, **LITERAL_TEXT)
        ax.set_ylabel(title(groups.column), **LITERAL_TEXT)
        labels = ax.get_yticklabels()
        if len(keys):
            ax.set_ylim(len(keys) - 0.5, -0.5)
    else:
        ax.set_xticks(positions, shown, **LITERAL_TEXT)
        ax.set_xlabel(title(groups.column), **LITERAL_TEXT)
        labels = ax.get_xticklabels()
        if sum(len(label) for label in shown) > UPRIGHT_TICK_LABEL_CHARS:
            for text in labels:
                text.set_rotation(TICK_LABEL_ROTATION)
                text.set_horizontalalignment("right")
                text.set_rotation_mode("anchor")
        if len(keys):
            ax.set_xlim(-0.5, len(keys) - 0.5)
    for key, text in zip(keys, labels, strict=True):
        if Grouping.is_other(key):
            text.set_color(OTHER_TEXT_COLOR)
            text.set_fontstyle("italic")


def style_other(patches: Iterable[Patch], *, recolor: bool) -> None:
    """Hatch the patches of the pooled group; grey them too when colour carries no meaning."""
    for patch in patches:
        patch.set_hatch(OTHER_HATCH)
        patch.set_edgecolor(OTHER_EDGE_COLOR)
        if recolor:
            patch.set_facecolor(OTHER_COLOR)


class DollarFormatter(ticker.Formatter):
    """Dollar tick labels with just the decimals the tick step needs: ``$10``, ``$2.50``,
    ``$0.0005``; never more than :data:`MAX_TICK_DECIMALS`.

    Examples
    --------
    >>> formatter = DollarFormatter()
    >>> formatter.set_locs([0.0, 2.5, 5.0, 7.5])
    >>> [formatter(x) for x in (0.0, 2.5)]
    ['$0.0', '$2.5']
    >>> formatter.set_locs([0, 1000, 2000])
    >>> formatter(1000)
    '$1,000'
    """

    decimals = 0

    def set_locs(self, locs: list[float]) -> None:
        super().set_locs(locs)
        values = sorted(float(x) for x in locs if math.isfinite(x))
        steps = [b - a for a, b in itertools.pairwise(values) if b > a]
        step = min(steps) if steps else (abs(values[0]) if values and values[0] else 1.0)
        self.decimals = next(
            (d for d in range(MAX_TICK_DECIMALS + 1) if _whole(step * 10**d)), MAX_TICK_DECIMALS
        )

    def __call__(self, x: float, pos: int | None = None) -> str:
        return f"${x:,.{self.decimals}f}"


def _whole(value: float) -> bool:
    return abs(value - round(value)) < 1e-6 * max(1.0, abs(value))


def dollar_axis(ax: Axes, largest: float, orient: str = "v") -> None:
    """Dollar tick labels (see :class:`DollarFormatter`); 0 to 1 if every value is zero."""
    axis = ax.xaxis if orient == "h" else ax.yaxis
    if largest <= 0 or not math.isfinite(largest):
        (ax.set_xlim if orient == "h" else ax.set_ylim)(0, 1)
    axis.set_major_formatter(DollarFormatter())


def legend(ax: Axes, heading: str, handles: Sequence[Artist | Container]) -> None:
    """Legend of ``handles`` to the right of the axes, where it can never hide a bar or a box.

    Entries are shortened like tick labels. Passing the handles keeps labels starting with
    "_", which ``ax.legend()`` would drop.
    """
    labels = [shorten(str(h.get_label()), MAX_LEGEND_LABEL_CHARS) for h in handles]
    drawn = ax.legend(
        handles=handles, labels=labels, title=heading, fontsize="small", **LEGEND_PLACEMENT
    )
    for text in (*drawn.get_texts(), drawn.get_title()):
        text.update(LITERAL_TEXT)


def no_data(ax: Axes) -> None:
    """Say that there is nothing to draw."""
    ax.text(0.5, 0.5, NO_DATA_TEXT, transform=ax.transAxes, ha="center", va="center")


def stack_bars(
    ax: Axes,
    positions: Any,
    heights: np.ndarray,
    labels: Sequence[str | None],
    *,
    stacked: bool,
    width: Any,
    orient: str = "v",
    kwargs: dict[str, Any],
) -> tuple[np.ndarray, list[BarContainer]]:
    """Draw one bar series per row of ``heights``, stacked or side by side.

    Returns the top of each slot's stack (or its tallest bar) and the series drawn.
    """
    slots = heights.shape[1] if heights.ndim == 2 else 0
    top = np.zeros(slots)
    count = max(len(labels), 1)
    series = []
    for i, (row, label) in enumerate(zip(heights, labels, strict=True)):
        if stacked:
            container = _bars(ax, positions, row, width, top, label, orient, kwargs)
            # Axes.bar turns a height into (bottom + height) - bottom, which is off by a
            # rounding error; keep every bar exactly float(exact sum).
            for rectangle, height in zip(container, row, strict=True):
                (rectangle.set_width if orient == "h" else rectangle.set_height)(height)
            top = top + row
        else:
            offset = (i - (count - 1) / 2) * width / count
            container = _bars(
                ax, positions + offset, row, width / count, None, label, orient, kwargs
            )
            top = np.maximum(top, row)
        series.append(container)
    return top, series


def _bars(
    ax: Axes,
    positions: Any,
    row: np.ndarray,
    width: Any,
    base: np.ndarray | None,
    label: str | None,
    orient: str,
    kwargs: dict[str, Any],
) -> BarContainer:
    if orient == "h":
        return ax.barh(positions, row, height=width, left=base, label=label, **kwargs)
    return ax.bar(positions, row, width=width, bottom=base, label=label, **kwargs)


def move_legend(ax: Axes, loc: str, **kwargs: Any) -> None:
    """Draw the legend of ``ax`` again at ``loc``, entries, title and colours kept; nothing
    happens without a legend.

    Like seaborn's ``move_legend``: a legend cannot be moved once drawn, only redrawn.
    ``loc="outside lower center"`` (any ``"outside ..."``) puts it on the figure, outside
    every axes, where a constrained layout makes room for it; ``kwargs`` go to
    :meth:`~matplotlib.axes.Axes.legend` (``ncols``, ``bbox_to_anchor``, ...).
    """
    old = ax.get_legend()
    if old is None:
        return
    handles = list(old.legend_handles)
    labels = [text.get_text() for text in old.get_texts()]
    options = {"title": old.get_title().get_text(), "fontsize": "small", "loc": loc, **kwargs}
    old.remove()
    if loc.startswith("outside"):
        drawn = ax.figure.legend(handles=handles, labels=labels, **options)
    else:
        drawn = ax.legend(handles=handles, labels=labels, **options)
    for text in (*drawn.get_texts(), drawn.get_title()):
        text.update(LITERAL_TEXT)
