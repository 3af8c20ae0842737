"""The layout check the plot, report and notebook tests rely on finds what it is meant to."""

from __future__ import annotations

from figure_layout import layout_problems
from matplotlib.figure import Figure


def figure(width: float = 4.0, height: float = 3.0) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def test_a_tidy_figure_has_no_problem() -> None:
    fig = figure()
    ax = fig.subplots()
    ax.bar(["a", "b", "c"], [1, 2, 3], label="cost")
    ax.set_xlabel("worker")
    fig.legend(loc="outside upper center")
    assert layout_problems(fig, dpi=192) == []


def test_crowded_tick_labels_overlap() -> None:
    fig = figure(width=3.0)
    ax = fig.subplots()
    names = [f"worker name {i}" for i in range(6)]
    ax.bar(names, range(6))
    problems = layout_problems(fig)
    assert any("overlaps" in p for p in problems), problems


def test_tilted_labels_too_close_overlap() -> None:
    fig = figure(width=2.0)
    ax = fig.subplots()
    ax.bar([f"worker {i}" for i in range(30)], range(30))
    ax.tick_params(axis="x", labelrotation=30)
    problems = layout_problems(fig)
    assert any("tilted tick labels overlap" in p for p in problems), problems


def test_text_outside_the_figure_is_clipped() -> None:
    fig = Figure(figsize=(3.0, 2.0))  # no layout engine to make room
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_ylabel("cost (USD)")
    problems = layout_problems(fig)
    assert any("'cost (USD)' extends outside the figure" in p for p in problems), problems


def test_a_legend_over_the_axes_covers_them() -> None:
    fig = figure()
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="spend")
    ax.set_xlabel("day")
    ax.legend(loc="center")
    problems = layout_problems(fig)
    assert problems == ["the legend covers the axes of 'day'"]
