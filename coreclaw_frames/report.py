"""A self-contained HTML cost report of a run frame.

The report is one file that anyone can open offline, attach to an email or archive: the CSS is
inline, the charts are embedded as base64 PNG, and nothing refers to a network resource. Every
string that comes from the data is HTML-escaped.

Charts are drawn on bare :class:`matplotlib.figure.Figure` objects rather than through
``pyplot``, so writing a report neither opens windows nor touches the caller's current figure
or backend. Money is shown rounded to cents (means and per-1,000 costs to tenths of a cent)
but every figure is computed exactly; the grand total is also printed exactly.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from coreclaw_frames.display import (
    UNIT_COST_PLACES,
    count,
    duration,
    percent,
    plain,
    size,
    timestamp,
    usd,
)
from coreclaw_frames.plots import plot_cost, plot_cost_over_time, plot_duration
from coreclaw_frames.summary import (
    REGRESSION_THRESHOLD,
    SUMMARY_INPUT_COLUMNS,
    VERSION_COLUMN,
    WORKER_COLUMN,
    _check_frame,
    _split_fetch_failures,
    _usage_array,
    summary,
    version_regressions,
)

__all__ = ["cost_report"]

#: Columns the report reads.
REPORT_COLUMNS = (
    WORKER_COLUMN,
    VERSION_COLUMN,
    "started_at",
    "finished_at",
    *SUMMARY_INPUT_COLUMNS,
)
#: Chart size (inches) and resolution: sharp on screen, a few tens of kB each.
FIGURE_SIZE = (10.0, 4.8)
FIGURE_DPI = 100
#: Cost-over-time bars per day up to this many days covered, per week up to a year, else month.
DAILY_UP_TO_DAYS = 62
WEEKLY_UP_TO_DAYS = 366
PERCENT = 100

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem;
       color: #1f2328; max-width: 1100px; }
h1 { margin-bottom: 0.2rem; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid #d0d7de; padding-bottom: 0.3rem; }
h3 { margin-top: 1.5rem; }
.muted { color: #59636e; }
.totals { display: flex; gap: 1rem; flex-wrap: wrap; margin: 1rem 0; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.6rem 1rem; min-width: 9rem; }
.card .label { color: #59636e; font-size: 0.85rem; }
.card .value { font-size: 1.4rem; font-weight: 600; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #d0d7de; padding: 0.3rem 0.6rem; text-align: left; }
th { background: #f6f8fa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.flag { color: #cf222e; font-weight: 600; }
img { max-width: 100%; height: auto; }
"""


# --- formatting ------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


# --- HTML building blocks --------------------------------------------------------------------

Cell = tuple[str, bool]  # (already-escaped HTML, numeric?)


_NUM = ' class="num"'


def _table(headers: Sequence[tuple[str, bool]], rows: Iterable[Sequence[Cell]]) -> str:
    head = "".join(f"<th{_NUM if num else ''}>{_e(h)}</th>" for h, num in headers)
    body = "".join(
        "<tr>" + "".join(f"<td{_NUM if num else ''}>{c}</td>" for c, num in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_SUMMARY_HEADERS: tuple[tuple[str, bool], ...] = (
    ("Runs", True),
    ("Succeeded", True),
    ("Failed", True),
    ("Aborted", True),
    ("Success rate", True),
    ("Total cost", True),
    ("Mean cost", True),
    ("Median duration", True),
    ("p95 duration", True),
    ("Results", True),
    ("Traffic", True),
    ("Cost / 1,000 results", True),
)


def _summary_cells(row: Any) -> list[Cell]:
    values = [
        count(row.runs),
        count(row.succeeded),
        count(row.failed),
        count(row.aborted),
        percent(row.success_rate),
        usd(row.total_cost),
        usd(row.mean_cost, UNIT_COST_PLACES),
        duration(row.median_duration),
        duration(row.p95_duration),
        count(row.results),
        size(row.traffic),
        usd(row.cost_per_1k_results, UNIT_COST_PLACES),
    ]
    return [(_e(v), True) for v in values]


def _summary_table(table: pd.DataFrame, label: str) -> str:
    if table.empty:
        return '<p class="muted">No runs.</p>'
    rows = [[(_e(row.Index), False), *_summary_cells(row)] for row in table.itertuples()]
    return _table([(label, False), *_SUMMARY_HEADERS], rows)


def _version_tables(table: pd.DataFrame) -> str:
    if table.empty:
        return '<p class="muted">No runs.</p>'
    rows_by_worker: dict[str, list[list[Cell]]] = {}
    for row in table.itertuples():  # one pass: per-group itertuples is slow
        worker, version = row.Index
        rows_by_worker.setdefault(worker, []).append([(_e(version), False), *_summary_cells(row)])
    headers = [("Version", False), *_SUMMARY_HEADERS]
    return "".join(
        f"<h3>{_e(worker)}</h3>" + _table(headers, rows) for worker, rows in rows_by_worker.items()
    )


def _regression_table(regressions: pd.DataFrame) -> str:
    if regressions.empty:
        return '<p class="muted">No version regressions.</p>'

    def flagged(text: str, flag: bool) -> str:
        return f'<span class="flag">{_e(text)}</span>' if flag else _e(text)

    rows = []
    for row in regressions.itertuples():
        rows.append(
            [
                (_e(row.scraper_title), False),
                (_e(row.previous_version), False),
                (_e(row.version), False),
                (_e(f"{count(row.previous_runs)} → {count(row.runs)}"), True),
                (_e(duration(row.previous_median_duration)), True),
                (_e(duration(row.median_duration)), True),
                (flagged(percent(row.duration_change, signed=True), row.duration_regressed), True),
                (_e(usd(row.previous_cost_per_1k_results, UNIT_COST_PLACES)), True),
                (_e(usd(row.cost_per_1k_results, UNIT_COST_PLACES)), True),
                (flagged(percent(row.cost_change, signed=True), row.cost_regressed), True),
            ]
        )
    headers = [
        ("Worker", False),
        ("Previous version", False),
        ("Version", False),
        ("Runs", True),
        ("Previous median duration", True),
        ("Median duration", True),
        ("Change", True),
        ("Previous cost / 1,000 results", True),
        ("Cost / 1,000 results", True),
        ("Change", True),
    ]
    return _table(headers, rows)


def _chart(draw: Callable[[Axes], Axes], title: str) -> str:
    """A chart as an ``<img>`` with an embedded PNG."""
    figure = Figure(figsize=FIGURE_SIZE, layout="constrained")
    axes = figure.subplots()
    draw(axes)
    axes.set_title(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<figure><img alt="{_e(title)}" src="data:image/png;base64,{encoded}"></figure>'


def _time_frequency(runs: pd.DataFrame) -> tuple[str, str]:
    starts = runs["started_at"].dropna()
    days = (starts.max() - starts.min()).days if len(starts) else 0
    if days <= DAILY_UP_TO_DAYS:
        return "D", "day"
    if days <= WEEKLY_UP_TO_DAYS:
        return "W", "week"
    return "M", "month"


def _period(runs: pd.DataFrame) -> str:
    starts = runs["started_at"].dropna()
    if starts.empty:
        return "no started runs"
    ends = runs["finished_at"].dropna()
    last = max(starts.max(), ends.max()) if len(ends) else starts.max()
    return f"{timestamp(starts.min())} to {timestamp(last)} UTC"


def _card(label: str, value: str, detail: str = "") -> str:
    extra = f'<div class="muted">{_e(detail)}</div>' if detail else ""
    return (
        f'<div class="card"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div>{extra}</div>'
    )


# --- the report ------------------------------------------------------------------------------


def cost_report(data: pd.DataFrame | str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Write a self-contained HTML cost report of ``data`` to ``path``.

    The report covers the period of the runs, the totals (runs, cost, results, traffic), the
    cost, duration and cost-over-time charts by worker, the summary tables by worker and by
    version (per worker), and the version regressions (median duration or cost per 1,000
    results more than 10% above the previous version of the same worker). Rows whose fetch
    failed are left out and counted. The file needs no network to view: CSS inline, charts
    as base64 PNG.

    Parameters
    ----------
    data
        A run frame, or the path of a Parquet file or dataset written by ``to_parquet``.
    path
        Where to write the HTML; parent directories are created, a file is overwritten.

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
    caller = "cost_report"
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"{caller}: path must be a str or os.PathLike, got {type(path).__name__}")
    if isinstance(data, str | os.PathLike):
        from coreclaw_frames.parquet import read_parquet

        data = read_parquet(data)
    frame = _check_frame(data, REPORT_COLUMNS, caller)
    target = Path(path)
    runs, fetch_failed = _split_fetch_failures(frame)
    usage = _usage_array(runs["usage"], caller)
    by_worker = summary(runs, by=WORKER_COLUMN)
    by_version = summary(runs, by=[WORKER_COLUMN, VERSION_COLUMN])
    regressions = version_regressions(runs, threshold=REGRESSION_THRESHOLD)

    grand_total: Decimal = pc.sum(usage).as_py() or Decimal(0)
    known_costs = len(usage) - usage.null_count
    freq, period_name = _time_frequency(runs)
    threshold_text = f"{plain(REGRESSION_THRESHOLD * PERCENT)}%"
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")

    cards = [
        _card("Runs", count(len(runs))),
        _card("Cost", usd(grand_total), f"exactly ${plain(grand_total)}"),
        _card("Results", count(runs["results"].sum())),
        _card("Traffic", size(runs["traffic"].sum()), f"{count(runs['traffic'].sum())} B"),
        _card("Workers", count(len(by_worker))),
    ]
    notes = []
    if fetch_failed:
        notes.append(
            f"{fetch_failed:,} row(s) whose fetch failed are left out: they carry no run data."
        )
    if known_costs < len(runs):
        notes.append(f"{len(runs) - known_costs:,} run(s) have no known cost and count as $0.")
    body = [
        "<h1>CoreClaw cost report</h1>",
        f'<p class="muted">Runs started {_e(_period(runs))}. Generated {_e(generated)}.</p>',
        f'<div class="totals">{"".join(cards)}</div>',
        *(f'<p class="muted">{_e(note)}</p>' for note in notes),
        "<h2>Charts</h2>",
        _chart(lambda ax: plot_cost(runs, by=WORKER_COLUMN, ax=ax), "Total cost by worker"),
        _chart(
            lambda ax: plot_cost_over_time(runs, freq=freq, by=WORKER_COLUMN, ax=ax),
            f"Cost per {period_name} by worker",
        ),
        _chart(
            lambda ax: plot_duration(runs, by=WORKER_COLUMN, ax=ax),
            "Duration of finished runs by worker",
        ),
        "<h2>By worker</h2>",
        '<p class="muted">Success rate: succeeded / finished (succeeded, failed, aborted) runs. '
        "Durations: finished runs only.</p>",
        _summary_table(by_worker, "Worker"),
        "<h2>Version regressions</h2>",
        f"<p>A version is listed when its median duration or its cost per 1,000 results is "
        f"more than {_e(threshold_text)} above that of the previous version of the same "
        f"worker, versions taken in version order (v1.0.9 before v1.0.10). Values that "
        f"crossed the threshold are highlighted.</p>",
        _regression_table(regressions),
        "<h2>By version</h2>",
        _version_tables(by_version),
    ]
    document = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>CoreClaw cost report</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(document, encoding="utf-8")
    return target
