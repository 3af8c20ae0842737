"""Layout checks of drawn matplotlib figures, shared by the plot, report and notebook tests.

``layout_problems(figure)`` lists every text that a reader would see clipped or overlapping:
a tick label, axis label, date offset or legend entry that extends outside the figure, two
such texts that overlap, or an axes legend that covers its axes. Tilted tick labels are
parallel strips: two neighbours overlap when the gap between their baselines is smaller than
their height.
"""

from __future__ import annotations

import itertools
import math

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

#: Rounding of text extents, in pixels.
TOLERANCE_PX = 1.0


def _shown(text: Text) -> bool:
    return bool(text.get_visible() and text.get_text().strip())


def _tick_labels(ax: Axes, axis_name: str) -> list[Text]:
    """The major tick labels drawn on one axis (ticks outside the view are not drawn)."""
    axis = ax.xaxis if axis_name == "x" else ax.yaxis
    low, high = sorted(axis.get_view_interval())
    span = high - low
    labels = []
    for tick in axis.get_major_ticks():
        position = tick.get_loc()
        if low - 1e-9 * span <= position <= high + 1e-9 * span:
            labels.extend(t for t in (tick.label1, tick.label2) if _shown(t))
    return labels


def _legend_texts(figure: Figure) -> list[Text]:
    legends = [ax.get_legend() for ax in figure.axes] + list(figure.legends)
    return [
        text
        for legend in legends
        if legend is not None
        for text in (*legend.get_texts(), legend.get_title())
        if _shown(text)
    ]


def _inside(inner: Bbox, outer: Bbox) -> bool:
    return (
        inner.x0 >= outer.x0 - TOLERANCE_PX
        and inner.y0 >= outer.y0 - TOLERANCE_PX
        and inner.x1 <= outer.x1 + TOLERANCE_PX
        and inner.y1 <= outer.y1 + TOLERANCE_PX
    )


def _overlap(a: Bbox, b: Bbox) -> bool:
    return (
        min(a.x1, b.x1) - max(a.x0, b.x0) > TOLERANCE_PX
        and min(a.y1, b.y1) - max(a.y0, b.y0) > TOLERANCE_PX
    )


def _upright_height(text: Text, renderer: object) -> float:
    """The height of ``text`` drawn without rotation."""
    upright = Text(text=text.get_text())
    upright.update_from(text)
    upright.set_rotation(0)
    upright.set_figure(text.figure)
    return float(upright.get_window_extent(renderer).height)


def _tilted_overlaps(labels: list[Text], renderer: object) -> list[str]:
    """Neighbouring tilted labels whose baselines are closer than their height."""
    problems = []
    ordered = sorted(labels, key=lambda t: t.get_window_extent(renderer).x1)
    for left, right in itertools.pairwise(ordered):
        angle = math.radians(left.get_rotation())
        gap = (right.get_window_extent(renderer).x1 - left.get_window_extent(renderer).x1) * abs(
            math.sin(angle)
        )
        if gap + TOLERANCE_PX < _upright_height(left, renderer):
            names = f"{left.get_text()!r}, {right.get_text()!r}"
            problems.append(f"tilted tick labels overlap: {names}")
    return problems


def layout_problems(figure: Figure, dpi: float | None = None) -> list[str]:
    """Every clipped or overlapping text of ``figure`` (drawn here, at ``dpi`` if given: the
    resolution it is saved at), as readable messages."""
    if dpi is not None:
        figure.set_dpi(dpi)
    if not hasattr(figure.canvas, "get_renderer"):  # a bare Figure, as the report draws
        FigureCanvasAgg(figure)
    # A constrained layout settles on the second draw (so do Jupyter's and the report's);
    # where each text lands is known from drawing without rasterizing.
    figure.draw_without_rendering()
    figure.draw_without_rendering()
    renderer = figure.canvas.get_renderer()
    frame = figure.bbox
    problems: list[str] = []
    texts: list[Text] = []
    tilted: list[list[Text]] = []
    for ax in figure.axes:
        for axis_name in ("x", "y"):
            labels = _tick_labels(ax, axis_name)
            slanted = [t for t in labels if t.get_rotation() % 90]
            if slanted:
                tilted.append(slanted)
                problems += _tilted_overlaps(slanted, renderer)
            texts += labels
        axis_texts = (ax.xaxis.label, ax.yaxis.label, ax.xaxis.get_offset_text(), ax.title)
        texts += [t for t in axis_texts if _shown(t)]
        legend = ax.get_legend()
        if legend is not None and _overlap(legend.get_window_extent(renderer), ax.bbox):
            problems.append(f"the legend covers the axes of {ax.get_xlabel()!r}")
    texts += _legend_texts(figure)
    extents = [(t, t.get_window_extent(renderer)) for t in texts]
    for text, extent in extents:
        if not _inside(extent, frame):
            problems.append(f"{text.get_text()!r} extends outside the figure: {extent}")
    same_strip = {id(t): i for i, strip in enumerate(tilted) for t in strip}
    for (a, box_a), (b, box_b) in itertools.combinations(extents, 2):
        if id(a) in same_strip and same_strip.get(id(b)) == same_strip[id(a)]:
            continue  # checked as parallel strips above
        if a is not b and _overlap(box_a, box_b):
            problems.append(f"{a.get_text()!r} overlaps {b.get_text()!r}")
    return problems


def assert_layout(figure: Figure, dpi: float | None = None) -> None:
    """Fail with every problem :func:`layout_problems` finds."""
    problems = layout_problems(figure, dpi)
    assert not problems, "\n".join(problems)
