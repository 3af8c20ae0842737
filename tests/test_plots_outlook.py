"""The outlook chart: the month's spend, the projection and its cone, the reference lines."""

from __future__ import annotations

from decimal import Decimal

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from figure_layout import assert_layout
from matplotlib.collections import PolyCollection

import coreclaw_frames as ccf
from coreclaw_frames.plots import move_legend, plot_outlook
from coreclaw_frames.plots._outlook import BUDGET_COLOR
from coreclaw_frames.sandbox import build_account, run_frame
from coreclaw_frames.schema import empty_run_frame

NOW = "2026-03-16 09:30"


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    return run_frame(build_account(seed=0, runs=3000))


def legend_texts(ax: plt.Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def test_the_line_ends_at_the_month_so_far_and_the_cone_at_the_interval(
    runs: pd.DataFrame,
) -> None:
    info = ccf.AccountInfo(Decimal(900), pd.Timestamp("2027-01-01", tz="UTC"), None, pd.NaT)
    outlook = ccf.spend_outlook(runs, now=NOW, balance=info, budget=700)
    fig, ax = plt.subplots(figsize=(10, 4.8), layout="constrained")
    assert outlook.plot(ax=ax) is ax
    spent, projected = ax.get_lines()[:2]
    assert spent.get_ydata()[0] == 0
    assert spent.get_ydata()[-1] == pytest.approx(float(outlook.month_to_date))
    assert projected.get_ydata()[-1] == pytest.approx(float(outlook.projected))
    (cone,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    heights = cone.get_paths()[0].vertices[:, 1]
    assert heights.max() == pytest.approx(float(outlook.projected_high))
    assert heights.min() == pytest.approx(float(outlook.month_to_date))
    assert legend_texts(ax) == [
        "spent so far: $" + f"{outlook.month_to_date:,.2f}",
        "projected: $" + f"{outlook.projected:,.2f}",
        f"80% interval: ${outlook.projected_low:,.2f} – ${outlook.projected_high:,.2f}",
        "budget: $700.00",
        f"last month: ${outlook.last_month:,.2f}",
    ]
    budget = [line for line in ax.get_lines() if line.get_color() == BUDGET_COLOR]
    assert len(budget) == 1 and budget[0].get_ydata()[0] == 700
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "8", "15", "22", "29"]
    assert ax.get_ylim()[0] == 0
    assert_layout(fig)


def test_the_cone_widens_with_the_days_left(runs: pd.DataFrame) -> None:
    outlook = ccf.spend_outlook(runs, now=NOW)
    ax = plot_outlook(outlook)
    (cone,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    vertices = cone.get_paths()[0].vertices
    upper = vertices[1 : len(vertices) // 2, 1]  # fill_between: the lower edge back and forth
    widths = np.diff(upper)
    assert (widths >= 0).all() and upper[-1] > upper[0]


def test_without_a_projection_only_the_spend_is_drawn() -> None:
    outlook = ccf.spend_outlook(empty_run_frame(), now=NOW, budget=5)
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    plot_outlook(outlook, ax=ax, linewidth=3)
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert legend_texts(ax) == ["spent so far: $0.00", "budget: $5.00"]
    assert ax.get_lines()[0].get_linewidth() == 3  # kwargs reach the line
    assert_layout(fig)


def test_eight_figure_amounts_stay_readable_on_a_phone_width(runs: pd.DataFrame) -> None:
    rich = runs.assign(usage=runs["usage"] * 1_000_000)
    outlook = ccf.spend_outlook(rich, now=NOW, budget=10**9)
    fig, ax = plt.subplots(figsize=(3.75, 5.6), layout="constrained")
    plot_outlook(outlook, ax=ax)
    move_legend(ax, "outside lower center", ncols=1)
    assert_layout(fig, dpi=192)


def test_bad_input() -> None:
    with pytest.raises(TypeError, match="outlook must be a SpendOutlook"):
        plot_outlook(empty_run_frame())  # type: ignore[arg-type]
    outlook = ccf.spend_outlook(empty_run_frame(), now=NOW)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot_outlook(outlook, ax="left")  # type: ignore[arg-type]
