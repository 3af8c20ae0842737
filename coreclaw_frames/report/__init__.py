"""A self-contained HTML cost report of a run frame, for the people who pay the bills.

The report is one file that anyone can open offline, attach to an email or archive: the CSS is
inline, the charts are embedded as base64 PNG, and nothing refers to a network resource. The
HTML comes from a Jinja2 template (``report.html.jinja`` in this package) that escapes
everything by default, so any text from the data shows as written. Money is computed exactly
and shown rounded to cents (unit costs to a hundredth of a cent); the grand total is also
shown exactly.

Modules: ``_tables`` (what each table shows, as text) and ``_charts`` (the charts as images).
"""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from coreclaw_frames._runs import AccountInfo
from coreclaw_frames.analysis._anomalies import (
    MIN_GROUP_RUNS,
    MIN_TIMES_USUAL,
    SCORE_THRESHOLD,
    cost_anomalies,
)
from coreclaw_frames.analysis._counts import count_total
from coreclaw_frames.analysis._frame import (
    TIME_COLUMNS,
    VERSION_COLUMN,
    WORKER_COLUMN,
    check_dtypes,
    check_frame,
    check_now,
    final_mask,
    split_fetch_failures,
    utc_times,
)
from coreclaw_frames.analysis._money import check_money, total, usage_array
from coreclaw_frames.analysis._outlook import spend_outlook
from coreclaw_frames.analysis._periods import run_period_totals
from coreclaw_frames.analysis._projection import WINDOW_DAYS
from coreclaw_frames.analysis._regressions import (
    MIN_RUNS,
    REGRESSION_THRESHOLD,
    run_version_regressions,
)
from coreclaw_frames.analysis._stats import (
    SUMMARY_INPUT_COLUMNS,
    SUMMARY_TYPED_COLUMNS,
    run_failure_costs,
    run_summary,
)
from coreclaw_frames.display import count, plain, size, timestamp, usd, usd_exact
from coreclaw_frames.report._charts import NARROW_SCREEN_PX, draw_charts, outlook_chart
from coreclaw_frames.report._tables import (
    ANOMALY_ROWS,
    Card,
    anomaly_table,
    failure_table,
    monthly_table,
    outlook_cards,
    regression_table,
    share,
    version_table,
    worker_table,
)

__all__ = ["REPORT_COLUMNS", "cost_report"]

#: Columns the report reads.
REPORT_COLUMNS = (
    WORKER_COLUMN,
    VERSION_COLUMN,
    "started_at",
    "finished_at",
    *SUMMARY_INPUT_COLUMNS,
)
TEMPLATE = "report.html.jinja"
PERCENT = 100
CALLER = "cost_report"


def _period(runs: pd.DataFrame) -> tuple[str, str] | None:
    """The first start and the last start or end of the runs, None without started runs."""
    starts = runs["started_at"].dropna()
    if starts.empty:
        return None
    ends = runs["finished_at"].dropna()
    last = max(starts.max(), ends.max()) if len(ends) else starts.max()
    return timestamp(starts.min()), timestamp(last)


def _cards(runs: pd.DataFrame, usage: Any, by_worker: pd.DataFrame) -> list[Card]:
    status = runs["status"]
    final = final_mask(runs)
    grand_total = total(usage)
    lost = total(
        usage, status.isin(["failed", "aborting", "aborted"]).to_numpy(bool, na_value=False)
    )
    moving = total(usage, ~final)
    outcomes = run_summary(runs, "status", CALLER)["runs"]
    breakdown = [f"{count(n)} {name}" for name, n in outcomes.items() if n]
    traffic = count_total(runs["traffic"], "traffic", CALLER)
    return [
        Card("Total cost", usd(grand_total), [f"exactly {usd_exact(grand_total)}"], wide=True),
        Card("Failed & aborted", usd(lost), [f"{share(lost, grand_total)} of the cost"]),
        Card("Not final yet", usd(moving), [f"{count(int((~final).sum()))} runs still going"]),
        Card("Runs", count(len(runs)), breakdown, wide=True),
        Card("Results", count(count_total(runs["results"], "results", CALLER))),
        Card("Traffic", size(traffic), [f"{count(traffic)} B"]),
        Card("Workers", count(len(by_worker))),
    ]


def _notes(usage: Any, fetch_failed: int, not_started: int) -> list[str]:
    notes = []
    if fetch_failed:
        notes.append(
            f"{fetch_failed:,} row(s) whose fetch failed are left out: they carry no run data."
        )
    unknown = usage.null_count
    if unknown:
        notes.append(f"{unknown:,} run(s) have no known cost and count as $0.")
    if not_started:
        notes.append(
            f"{not_started:,} run(s) have not started yet: they belong to no month, so the "
            "monthly totals and the cost over time leave them out (the total cost has them)."
        )
    return notes


@cache
def _template() -> jinja2.Template:
    source = resources.files(__name__).joinpath(TEMPLATE).read_text(encoding="utf-8")
    environment = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.from_string(source)


def cost_report(
    data: pd.DataFrame | str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    now: object = None,
    balance: object = None,
    budget: object = None,
) -> Path:
    """Write a self-contained HTML cost report of ``data`` to ``path``.

    Sections: the outlook (this month so far, its projected total with an 80% interval
    against last month, the daily burn, the balance's runway and the budget when given, runs
    far costlier than usual, and a chart of the month with the projection cone; see
    :func:`~coreclaw_frames.spend_outlook` and :func:`~coreclaw_frames.cost_anomalies`), the
    headline totals (the exact total cost, the spend on failed and aborted runs, the cost of
    runs not final yet, runs, results, traffic), monthly totals (the current month marked as
    not over), cost by worker, by worker and version, failed and aborted spend by worker, the
    charts, and version regressions (see
    :func:`~coreclaw_frames.analysis.version_regressions`). Rows whose fetch failed are
    left out and counted. It needs no network to view: CSS inline, charts as base64 PNG.

    Parameters
    ----------
    data
        A run frame, or the path of a Parquet file or dataset written by ``to_parquet``.
    path
        Where to write the HTML; parent directories are created, a file is overwritten.
    now
        The report's clock (a time, naive is UTC, or unix seconds; default the current
        time): the period containing it is marked as not over, and the outlook looks at
        its month.
    balance
        The prepaid balance, for the runway: a ``Decimal``, a number or a numeric string, or
        the :class:`~coreclaw_frames.AccountInfo` of ``account_info()`` (with its expiry).
    budget
        The month's budget, like ``balance``: the outlook says whether the projection is
        within it.

    Returns
    -------
    Path
        The path written.

    Examples
    --------
    >>> cost_report(df, "reports/costs.html")  # doctest: +SKIP
    PosixPath('reports/costs.html')
    >>> cost_report("runs.parquet", "reports/costs.html")  # doctest: +SKIP
    PosixPath('reports/costs.html')
    """
    caller = CALLER
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"{caller}: path must be a str or os.PathLike, got {type(path).__name__}")
    clock = check_now(now, caller)
    if balance is not None and not isinstance(balance, AccountInfo):
        check_money(balance, "balance", caller)
    if budget is not None:
        check_money(budget, "budget", caller, negative=False)
    if isinstance(data, str | os.PathLike):
        from coreclaw_frames.parquet import read_parquet

        data = read_parquet(data)
    # Checked once, here: every table and chart below reads the same frame.
    frame = check_frame(data, REPORT_COLUMNS, caller)
    check_dtypes(frame, (*TIME_COLUMNS, *SUMMARY_TYPED_COLUMNS), caller)
    frame = utc_times(frame)
    outlook = spend_outlook(frame, now=clock, balance=balance, budget=budget)
    anomalies = cost_anomalies(frame)
    runs, fetch_failed = split_fetch_failures(frame)
    usage = usage_array(runs["usage"], caller)
    by_worker = run_summary(runs, WORKER_COLUMN, caller)
    by_version = run_summary(runs, VERSION_COLUMN, caller)
    months = run_period_totals(runs, "M", clock, caller)
    regressions = run_version_regressions(runs, MIN_RUNS, REGRESSION_THRESHOLD, caller)
    grand_total = total(usage)

    html = _template().render(
        period=_period(runs),
        generated=timestamp(clock),
        notes=_notes(usage, fetch_failed, months.attrs["not_started"]),
        outlook_cards=outlook_cards(outlook),
        outlook_chart=outlook_chart(outlook),
        window_days=WINDOW_DAYS,
        anomalies=anomaly_table(anomalies),
        anomaly_count=len(anomalies),
        anomaly_rows=ANOMALY_ROWS,
        too_small=len(anomalies.attrs["too_small"]),
        too_small_runs=anomalies.attrs["too_small_runs"],
        min_group_runs=MIN_GROUP_RUNS,
        score_threshold=plain(SCORE_THRESHOLD),
        min_times_usual=MIN_TIMES_USUAL,
        cards=_cards(runs, usage, by_worker),
        monthly=monthly_table(months),
        workers=worker_table(by_worker, grand_total),
        versions=version_table(by_version),
        failures=failure_table(run_failure_costs(runs, WORKER_COLUMN, caller)),
        charts=draw_charts(runs, clock, len(by_worker), len(by_version)),
        regressions=regression_table(regressions, REGRESSION_THRESHOLD),
        threshold=f"{plain(REGRESSION_THRESHOLD * PERCENT)}%",
        min_runs=MIN_RUNS,
        compared=regressions.attrs["compared"],
        too_few_runs=regressions.attrs["too_few_runs"],
        narrow_screen=NARROW_SCREEN_PX,
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    return target
