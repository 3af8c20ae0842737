"""``df.coreclaw``: every method is the function of its name, called with the frame, and shows
that function's parameters and docstring."""

from __future__ import annotations

import inspect
import pydoc
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest
from matplotlib.figure import Figure

import coreclaw_frames as ccf
from coreclaw_frames import analysis, plots, report
from coreclaw_frames._accessor import CoreClawAccessor, FrameMethod
from coreclaw_frames.sandbox import build_account, run_frame

NOW = "2026-03-16"
#: Every method built from a function, and the module of that function.
METHODS = {
    name: value.module
    for name, value in vars(CoreClawAccessor).items()
    if isinstance(value, FrameMethod)
}
MODULES = {
    "coreclaw_frames.analysis": analysis,
    "coreclaw_frames.plots": plots,
    "coreclaw_frames.report": report,
}


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    return run_frame(build_account(seed=0, runs=400), api_version="v1")


def without_first(function) -> list[inspect.Parameter]:
    return list(inspect.signature(function).parameters.values())[1:]


def test_the_accessor_offers_every_analysis_plot_and_report_method() -> None:
    assert set(METHODS) == {
        "summary",
        "failure_costs",
        "period_totals",
        "spend_outlook",
        "cost_anomalies",
        "version_regressions",
        "plot_cost",
        "plot_duration",
        "plot_cost_over_time",
        "cost_report",
    }


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_method_shows_the_parameters_of_its_function_without_the_frame(
    runs: pd.DataFrame, name: str
) -> None:
    function = getattr(MODULES[METHODS[name]], name)
    method = getattr(runs.coreclaw, name)
    signature = inspect.signature(method)
    assert list(signature.parameters.values()) == without_first(function)
    assert signature.return_annotation == inspect.signature(function).return_annotation
    unbound = inspect.signature(getattr(CoreClawAccessor, name))
    assert next(iter(unbound.parameters)) == "self"
    assert list(unbound.parameters.values())[1:] == without_first(function)


def test_help_of_a_plot_method_shows_its_real_parameters_and_docs(runs: pd.DataFrame) -> None:
    text = pydoc.render_doc(runs.coreclaw.plot_cost, renderer=pydoc.plaintext)
    assert "plot_cost(*, by: 'str' = 'scraper_title', hue:" in text
    assert "label_chars: 'int' = 28, **kwargs" in text
    assert "``df.coreclaw.plot_cost(...)`` is :func:`coreclaw_frames.plots.plot_cost`" in text
    assert inspect.cleandoc(plots.plot_cost.__doc__ or "") in runs.coreclaw.plot_cost.__doc__
    assert runs.coreclaw.plot_cost.__name__ == "plot_cost"


def test_the_class_help_lists_the_methods(runs: pd.DataFrame) -> None:
    text = pydoc.render_doc(CoreClawAccessor, renderer=pydoc.plaintext)
    for name in METHODS:
        assert f"{name}(self, " in text


def test_a_method_calls_its_function_with_the_frame(runs: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        runs.coreclaw.summary("status"), analysis.summary(runs, by="status")
    )
    pd.testing.assert_frame_equal(
        runs.coreclaw.period_totals("W", now=NOW), analysis.period_totals(runs, "W", now=NOW)
    )
    ax = Figure().subplots()
    # Every parameter of the function is a parameter of the method, orient and top too.
    assert runs.coreclaw.plot_cost(by="version", orient="h", top=3, ax=ax) is ax
    assert [t.get_text() for t in ax.get_yticklabels()][-1].startswith("other (")


def test_errors_name_the_function(runs: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="plot_duration: by='nope'"):
        runs.coreclaw.plot_duration(by="nope")
    with pytest.raises(TypeError, match="unexpected keyword argument 'bye'"):
        runs.coreclaw.summary(bye="status")


def test_each_frame_calls_the_function_with_itself() -> None:
    first, second = (
        run_frame(build_account(seed=0, runs=30)),
        run_frame(build_account(seed=1, runs=40)),
    )
    assert first.coreclaw.summary(by="status")["runs"].sum() == 30
    assert second.coreclaw.summary(by="status")["runs"].sum() == 40


@pytest.mark.slow
def test_only_the_plot_methods_import_matplotlib() -> None:
    code = (
        "import sys, coreclaw_frames as ccf\n"
        "from coreclaw_frames.sandbox import build_account, run_frame\n"
        "df = run_frame(build_account(seed=0, runs=20))\n"
        "df.coreclaw.summary()\n"
        "assert 'matplotlib' not in sys.modules, 'imported by an analysis method'\n"
        "df.coreclaw.plot_cost\n"
        "assert 'matplotlib' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_package_exposes_the_same_functions(runs: pd.DataFrame) -> None:
    assert runs.coreclaw.cost_anomalies.__doc__.endswith(inspect.getdoc(ccf.cost_anomalies))
