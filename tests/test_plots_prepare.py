"""The step every chart starts with: arguments checked once and in one order, nothing drawn
before they pass, runs grouped and pooled; and the parameter docs the charts share."""

from __future__ import annotations

from typing import Any, cast

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.figure import Figure

from coreclaw_frames.analysis._grouping import OTHER_LABEL
from coreclaw_frames.plots import (
    DEFAULT_HUE_TOP,
    plot_cost,
    plot_cost_over_time,
    plot_duration,
    plot_outlook,
)
from coreclaw_frames.plots._docstrings import PARAMETERS, passed_to
from coreclaw_frames.plots._prepare import prepare_categories, prepare_periods
from coreclaw_frames.sandbox import build_account, run_frame

NOW = "2026-03-16"
CALLER = "chart"


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    frame = run_frame(build_account(seed=0, runs=600), api_version="v1")
    failed = frame.iloc[:5].assign(fetch_error="HTTP 500")
    return pd.concat([frame, failed], ignore_index=True)


def categories(data: Any, **options: Any):
    arguments: dict[str, Any] = {
        "by": "scraper_title",
        "hue": None,
        "ax": None,
        "top": 12,
        "orient": "v",
        "label_chars": 28,
    }
    arguments.update(options)
    return prepare_categories(data, caller=CALLER, **arguments)


# --- the order of the checks -----------------------------------------------------------------


#: The arguments of a category chart, each wrong, in the order they are checked, with a right
#: value ("frame": a run frame with text durations and no usage) and the error when it is the
#: first wrong one.
CHECKS: list[tuple[str, Any, Any, type[Exception], str]] = [
    ("data", [], "frame", TypeError, "chart: data must be a pandas DataFrame"),
    ("required", ("usage",), (), ValueError, "chart: data is missing the required column"),
    ("by", "worker", "status", ValueError, "chart: by='worker'"),
    ("hue", "colour", None, ValueError, "chart: hue='colour'"),
    ("top", 0, 3, ValueError, "chart: top must be a positive integer"),
    ("ax", "left", None, TypeError, "chart: ax must be a matplotlib Axes"),
    ("orient", "x", "h", ValueError, "chart: orient must be"),
    ("label_chars", 2, 10, ValueError, "chart: label_chars must be"),
    ("typed", ("duration",), (), TypeError, "chart: duration must be timedelta64"),
]


@pytest.mark.parametrize("first_wrong", range(len(CHECKS)), ids=[c[0] for c in CHECKS])
def test_the_first_wrong_argument_in_the_documented_order_is_reported(
    runs: pd.DataFrame, first_wrong: int
) -> None:
    frame = runs.assign(duration=runs["duration"].astype(str)).drop(columns="usage")
    arguments = {name: right for name, _, right, _, _ in CHECKS[:first_wrong]}
    arguments.update({name: wrong for name, wrong, _, _, _ in CHECKS[first_wrong:]})
    data = frame if arguments.pop("data") == "frame" else []
    _, _, _, error, message = CHECKS[first_wrong]
    with pytest.raises(error, match=message):
        categories(data, **arguments)
    assert plt.get_fignums() == []


def test_no_figure_is_made_when_the_costs_are_not_exact(runs: pd.DataFrame) -> None:
    with pytest.raises(TypeError, match="chart: usage must hold exact decimals"):
        categories(runs.assign(usage=runs["usage_float"]))
    assert plt.get_fignums() == []


def test_a_chart_of_periods_checks_its_columns_then_by_top_ax_then_freq(runs: pd.DataFrame):
    def periods(data: Any, **options: Any) -> None:
        arguments: dict[str, Any] = {"freq": "W", "by": None, "top": 9, "now": NOW, "ax": None}
        arguments.update(options)
        prepare_periods(data, caller=CALLER, **arguments)

    with pytest.raises(ValueError, match="'started_at'"):
        periods(runs.drop(columns="started_at"), by="worker", top=0)
    with pytest.raises(ValueError, match="by='worker'"):
        periods(runs, by="worker", top=0, freq="H")
    with pytest.raises(ValueError, match="top must be"):
        periods(runs, top=0, ax="left", freq="H")
    with pytest.raises(TypeError, match="ax must be"):
        periods(runs, ax="left", freq="H")
    with pytest.raises(ValueError, match="chart: freq must be one of"):
        periods(runs, freq="H", now="soon")
    assert plt.get_fignums() == []


# --- what the step prepares ------------------------------------------------------------------


def test_failed_fetches_are_left_out_and_the_rest_grouped_in_order(runs: pd.DataFrame) -> None:
    ax = Figure().subplots()
    plot = categories(runs, by="status", hue="origin", ax=ax, orient="h", label_chars=9)
    assert len(plot.runs) == runs["fetch_error"].isna().sum()
    assert len(plot.usage) == len(plot.runs)
    statuses = [s for s in plot.runs["status"].cat.categories if (plot.runs["status"] == s).any()]
    assert plot.groups.order == statuses  # lifecycle order, not appearance or cost
    assert plot.hues is not None and plot.hues.column == "origin"
    assert (plot.axes, plot.orient, plot.label_chars) == (ax, "h", 9)


def test_groups_beyond_top_are_pooled_into_other(runs: pd.DataFrame) -> None:
    plot = categories(runs, by="version", hue="version", top=2, ax=Figure().subplots())
    names = plot.groups.names()
    assert len(names) == 3 and names[-1].startswith(f"{OTHER_LABEL} (")
    assert plot.hues is not None and len(plot.hues.order) == DEFAULT_HUE_TOP + 1


def test_without_hue_there_are_no_hue_groups_and_ax_none_is_the_current_axes(
    runs: pd.DataFrame,
) -> None:
    plot = categories(runs)
    assert plot.hues is None and plot.axes is plt.gca()


def test_periods_are_grouped_only_when_asked_and_when_there_are_runs(runs: pd.DataFrame):
    ax = Figure().subplots()
    plain = prepare_periods(runs, caller=CALLER, freq="W", by=None, top=9, now=NOW, ax=ax)
    stacked = prepare_periods(runs, caller=CALLER, freq="W", by="status", top=2, now=NOW, ax=ax)
    empty = prepare_periods(
        runs.iloc[:0], caller=CALLER, freq="W", by="status", top=2, now=NOW, ax=ax
    )
    assert plain.stacks is None and plain.axes is ax and plain.periods.name == "week"
    assert stacked.stacks is not None and len(stacked.stacks.order) == 3
    assert empty.stacks is None and not len(empty.periods.runs)


# --- the shared parameter docs ---------------------------------------------------------------


@pytest.mark.parametrize("chart", [plot_cost, plot_duration], ids=lambda f: f.__name__)
def test_the_category_charts_share_their_parameter_docs(chart: Any) -> None:
    doc = cast(str, chart.__doc__)
    for entry in PARAMETERS.values():
        assert entry in doc
    assert "{" not in doc.replace("{{", "")  # every placeholder filled


def test_each_chart_says_where_its_keyword_arguments_go() -> None:
    for chart, target in [
        (plot_cost, "Axes.bar` (or ``barh``)"),
        (plot_duration, "Axes.boxplot` (e.g. ``showfliers=False``)"),
        (plot_cost_over_time, "Axes.bar`"),
        (plot_outlook, "Axes.plot` for the line"),
    ]:
        doc = cast(str, chart.__doc__)
        assert PARAMETERS["ax"] in doc
        assert "**kwargs\n    Passed to :meth:`matplotlib.axes." + target in doc
    assert passed_to("x").startswith("**kwargs\n    Passed to x")
