"""The ``df.coreclaw`` accessor: the analysis, plots and report as methods of a run frame.

Registering an accessor lets notebook users chain ``df.query(...).coreclaw.plot_cost()``
without importing anything else. The methods only delegate: the functions in
:mod:`coreclaw_frames.analysis`, :mod:`coreclaw_frames.plots` and
:mod:`coreclaw_frames.report` hold the logic and the validation. Plotting modules are imported
on first use, so importing the package does not import matplotlib.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from coreclaw_frames import analysis
from coreclaw_frames.analysis import DEFAULT_TOP, MIN_RUNS, REGRESSION_THRESHOLD
from coreclaw_frames.display import ReadableFrame

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.axes import Axes

__all__ = ["CoreClawAccessor"]


@pd.api.extensions.register_dataframe_accessor("coreclaw")
class CoreClawAccessor:
    """Run-frame methods under ``df.coreclaw``.

    Examples
    --------
    >>> from coreclaw_frames.sandbox import build_account, run_frame
    >>> df = run_frame(build_account(seed=0, runs=300), api_version="v1")
    >>> list(df.coreclaw.summary(by="status").index)
    ['ready', 'running', 'succeeded', 'failed', 'aborting', 'aborted']
    """

    def __init__(self, pandas_obj: pd.DataFrame) -> None:
        self._frame = pandas_obj

    def readable(self) -> pd.DataFrame:
        """The frame as it is, shown readably: costs in dollars, durations as ``h:mm:ss``,
        traffic in binary units (a :class:`~coreclaw_frames.display.ReadableFrame`).

        Examples
        --------
        >>> df.head().coreclaw.readable()  # doctest: +SKIP
        """
        return ReadableFrame(self._frame)

    def summary(self, by: str | Sequence[str] = "scraper_title") -> pd.DataFrame:
        """One row of run statistics per group; see :func:`coreclaw_frames.analysis.summary`.

        Examples
        --------
        >>> df.coreclaw.summary(by="version")  # doctest: +SKIP
        """
        return analysis.summary(self._frame, by=by)

    def failure_costs(self, by: str | Sequence[str] = "scraper_title") -> pd.DataFrame:
        """What failed and aborted runs cost per group; see
        :func:`coreclaw_frames.analysis.failure_costs`.

        Examples
        --------
        >>> df.coreclaw.failure_costs()  # doctest: +SKIP
        """
        return analysis.failure_costs(self._frame, by=by)

    def period_totals(self, freq: str = "M", *, now: object = None) -> pd.DataFrame:
        """Runs, exact costs and traffic per month (week, day); see
        :func:`coreclaw_frames.analysis.period_totals`.

        Examples
        --------
        >>> df.coreclaw.period_totals()  # doctest: +SKIP
        """
        return analysis.period_totals(self._frame, freq, now=now)

    def spend_outlook(
        self, *, now: object = None, balance: object = None, budget: object = None
    ) -> analysis.SpendOutlook:
        """This month so far, its projection, the balance's runway and the budget's status;
        see :func:`coreclaw_frames.analysis.spend_outlook`.

        Examples
        --------
        >>> df.coreclaw.spend_outlook(budget=2000).over_budget  # doctest: +SKIP
        """
        return analysis.spend_outlook(self._frame, now=now, balance=balance, budget=budget)

    def cost_anomalies(self, *, by: str = "scraper_slug") -> pd.DataFrame:
        """Runs far costlier than their worker's usual; see
        :func:`coreclaw_frames.analysis.cost_anomalies`.

        Examples
        --------
        >>> df.coreclaw.cost_anomalies(by="version")  # doctest: +SKIP
        """
        return analysis.cost_anomalies(self._frame, by=by)

    def version_regressions(
        self,
        *,
        min_runs: int = MIN_RUNS,
        threshold: float | Decimal = REGRESSION_THRESHOLD,
    ) -> pd.DataFrame:
        """Versions slower or costlier than the previous one of the same worker.

        See :func:`coreclaw_frames.analysis.version_regressions`.

        Examples
        --------
        >>> df.coreclaw.version_regressions(min_runs=50, threshold=0.2)  # doctest: +SKIP
        """
        return analysis.version_regressions(self._frame, min_runs=min_runs, threshold=threshold)

    def plot_cost(
        self,
        *,
        by: str = "scraper_title",
        hue: str | None = None,
        ax: Axes | None = None,
        top: int = DEFAULT_TOP,
        **kwargs: Any,
    ) -> Axes:
        """Total cost per group as bars; see :func:`coreclaw_frames.plots.plot_cost`.

        Examples
        --------
        >>> df.coreclaw.plot_cost(by="version", hue="origin")  # doctest: +SKIP
        """
        from coreclaw_frames.plots import plot_cost

        return plot_cost(self._frame, by=by, hue=hue, ax=ax, top=top, **kwargs)

    def plot_duration(
        self,
        *,
        by: str = "scraper_title",
        hue: str | None = None,
        ax: Axes | None = None,
        top: int = DEFAULT_TOP,
        **kwargs: Any,
    ) -> Axes:
        """Duration distribution per group; see :func:`coreclaw_frames.plots.plot_duration`.

        Examples
        --------
        >>> df.coreclaw.plot_duration(by="status")  # doctest: +SKIP
        """
        from coreclaw_frames.plots import plot_duration

        return plot_duration(self._frame, by=by, hue=hue, ax=ax, top=top, **kwargs)

    def plot_cost_over_time(
        self,
        *,
        freq: str = "D",
        by: str | None = None,
        ax: Axes | None = None,
        now: object = None,
        **kwargs: Any,
    ) -> Axes:
        """Cost per period; see :func:`coreclaw_frames.plots.plot_cost_over_time`.

        Examples
        --------
        >>> df.coreclaw.plot_cost_over_time(freq="W", by="scraper_title")  # doctest: +SKIP
        """
        from coreclaw_frames.plots import plot_cost_over_time

        return plot_cost_over_time(self._frame, freq=freq, by=by, ax=ax, now=now, **kwargs)

    def cost_report(
        self,
        path: str | os.PathLike[str],
        *,
        now: object = None,
        balance: object = None,
        budget: object = None,
    ) -> Path:
        """Write the HTML cost report; see :func:`coreclaw_frames.report.cost_report`.

        Examples
        --------
        >>> df.coreclaw.cost_report("reports/costs.html")  # doctest: +SKIP
        """
        from coreclaw_frames.report import cost_report

        return cost_report(self._frame, path, now=now, balance=balance, budget=budget)
