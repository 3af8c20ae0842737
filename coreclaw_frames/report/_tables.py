"""The report's tables: what each one shows, in which order, formatted for people.

Every value comes exact from :mod:`coreclaw_frames.analysis` and is turned into text here, with
the formatters of :mod:`coreclaw_frames.display`; the template only lays the cells out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from coreclaw_frames.analysis._counts import count_total
from coreclaw_frames.analysis._money import money
from coreclaw_frames.analysis._outlook import SpendOutlook
from coreclaw_frames.analysis._projection import INTERVAL_LEVEL, MIN_WINDOW_DAYS
from coreclaw_frames.display import (
    PERCENT_PLACES,
    UNIT_COST_PLACES,
    change,
    count,
    duration,
    percent,
    size,
    times,
    timestamp,
    usd,
)

__all__ = [
    "ANOMALY_ROWS",
    "Card",
    "Cell",
    "Table",
    "anomaly_table",
    "failure_table",
    "flagged_change",
    "group_cells",
    "label",
    "monthly_table",
    "outlook_cards",
    "regression_table",
    "share",
    "total_of",
    "version_table",
    "worker_table",
]

#: The most decimals a flagged change is shown with.
MAX_PERCENT_PLACES = 6
#: How errors of the tables are labelled: the function that draws them.
CALLER = "cost_report"

#: The anomaly table shows the runs with the highest scores, this many at most.
ANOMALY_ROWS = 20


@dataclass(frozen=True)
class Card:
    """A headline figure: what it is, its value, and a line of detail; ``alert`` marks one
    that needs attention (a budget overrun)."""

    label: str
    value: str
    detail: Sequence[str] = ()
    wide: bool = False
    alert: bool = False


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, whether it is a number, extra CSS classes, row span."""

    text: str
    numeric: bool = True
    classes: str = ""
    rowspan: int = 1


@dataclass(frozen=True)
class Table:
    """A table: column headers (text, numeric?), rows of cells, an optional total row."""

    headers: Sequence[tuple[str, bool]]
    rows: Sequence[Sequence[Cell]]
    footer: Sequence[Cell] = ()
    row_classes: Sequence[str] = ()


def label(text: object, *, sticky: bool = True) -> Cell:
    """A row's name: text that may wrap, kept in view while the table scrolls sideways."""
    return Cell(str(text), numeric=False, classes="label sticky" if sticky else "label")


#: The figures of a worker (or a worker's version) that the cost tables show after the cost.
_GROUP_HEADERS: tuple[tuple[str, bool], ...] = (
    ("Runs", True),
    ("Success rate", True),
    ("Mean cost", True),
    ("Cost / 1,000 results", True),
    ("Median duration", True),
    ("p95 duration", True),
    ("Results", True),
    ("Traffic", True),
)


def group_cells(row: Any) -> list[Cell]:
    """The cells after the cost of a summary row (a worker or a worker's version)."""
    return [
        Cell(count(row.runs)),
        Cell(percent(row.success_rate)),
        Cell(usd(row.mean_cost, UNIT_COST_PLACES)),
        Cell(usd(row.cost_per_1k_results, UNIT_COST_PLACES)),
        Cell(duration(row.median_duration)),
        Cell(duration(row.p95_duration)),
        Cell(count(row.results)),
        Cell(size(row.traffic)),
    ]


def share(part: Decimal | None, whole: Decimal) -> str:
    """``part`` as a percentage of ``whole``; "–" when either is missing or zero.

    Examples
    --------
    >>> share(Decimal("25"), Decimal("200"))
    '12.5%'
    """
    return percent(part / whole) if part is not None and whole else percent(None)


def worker_table(table: pd.DataFrame, grand_total: Decimal) -> Table:
    """Cost by worker, from ``summary(by="scraper_title")``: name, cost, share, figures."""
    rows = [
        [
            label(row.Index),
            Cell(usd(row.total_cost)),
            Cell(share(row.total_cost, grand_total)),
            *group_cells(row),
        ]
        for row in table.itertuples()
    ]
    headers = [("Worker", False), ("Cost", True), ("Share", True), *_GROUP_HEADERS]
    return Table(headers, rows)


def version_table(table: pd.DataFrame) -> Table:
    """Cost by worker and version, from ``summary(by="version")``: each worker's name once,
    spanning its versions' rows."""
    spans = table.groupby(level=0, sort=False).size()
    rows = []
    previous = None
    for row in table.itertuples():  # one pass: per-group itertuples is slow
        worker, version = row.Index
        cells = [label(version, sticky=False), Cell(usd(row.total_cost)), *group_cells(row)]
        if worker != previous:
            cells.insert(0, Cell(worker, False, "label sticky", rowspan=int(spans[worker])))
        previous = worker
        rows.append(cells)
    headers = [("Worker", False), ("Version", False), ("Cost", True), *_GROUP_HEADERS]
    return Table(headers, rows)


def failure_table(table: pd.DataFrame) -> Table:
    """Failed and aborted spend by worker, from ``failure_costs``, with a total row."""
    rows = [
        [
            label(row.Index),
            Cell(usd(row.failed_or_aborted_cost)),
            Cell(percent(row.failed_or_aborted_share)),
            Cell(count(row.failed)),
            Cell(usd(row.failed_cost)),
            Cell(count(row.aborted)),
            Cell(usd(row.aborted_cost)),
        ]
        for row in table.itertuples()
    ]
    lost = total_of(table["failed_or_aborted_cost"])
    footer = [
        label("All workers"),
        Cell(usd(lost)),
        Cell(share(lost, total_of(table["total_cost"]))),
        Cell(count(count_total(table["failed"], "failed", CALLER))),
        Cell(usd(total_of(table["failed_cost"]))),
        Cell(count(count_total(table["aborted"], "aborted", CALLER))),
        Cell(usd(total_of(table["aborted_cost"]))),
    ]
    headers = [
        ("Worker", False),
        ("Failed & aborted cost", True),
        ("Share of the worker's cost", True),
        ("Failed runs", True),
        ("Failed cost", True),
        ("Aborted runs", True),
        ("Aborted cost", True),
    ]
    return Table(headers, rows, footer)


def total_of(values: pd.Series) -> Decimal:
    """The exact sum of a money column (missing values count as none)."""
    return money(sum((v for v in values if not pd.isna(v)), Decimal(0))) or Decimal(0)


def monthly_table(months: pd.DataFrame) -> Table:
    """Monthly totals, from ``period_totals``: the month not over marked, a total row."""
    rows, classes = [], []
    for period, row in zip(months.index, months.itertuples(), strict=True):
        lost = row.failed_cost + row.aborted_cost
        name = str(period) if row.complete else f"{period} (so far)"
        rows.append(
            [
                label(name),
                Cell(usd(row.total_cost)),
                Cell(count(row.runs)),
                Cell(usd(lost)),
                Cell(usd(row.in_progress_cost)),
                Cell(size(row.traffic)),
            ]
        )
        classes.append("" if row.complete else "incomplete")
    footer = [
        label("All months"),
        Cell(usd(total_of(months["total_cost"]))),
        Cell(count(count_total(months["runs"], "runs", CALLER))),
        Cell(usd(total_of(months["failed_cost"]) + total_of(months["aborted_cost"]))),
        Cell(usd(total_of(months["in_progress_cost"]))),
        Cell(size(count_total(months["traffic"], "traffic", CALLER))),
    ]
    headers = [
        ("Month (UTC)", False),
        ("Cost", True),
        ("Runs", True),
        ("Failed & aborted", True),
        ("Not final yet", True),
        ("Traffic", True),
    ]
    return Table(headers, rows, footer if len(rows) else (), classes)


def flagged_change(value: Any, threshold: Decimal) -> str:
    """A change above ``threshold``, with as many decimals as it takes not to read as the
    threshold itself (a rise of 10.04% over a 10% threshold shows as +10.04%, not +10.0%).

    Examples
    --------
    >>> flagged_change(0.1004, Decimal("0.10")), flagged_change(0.25, Decimal("0.10"))
    ('+10.04%', '+25.0%')
    """
    places = PERCENT_PLACES
    while places < MAX_PERCENT_PLACES and change(value, places=places) == change(
        float(threshold), places=places
    ):
        places += 1
    return change(value, places=places)


def regression_table(regressions: pd.DataFrame, threshold: Decimal) -> Table:
    """Version regressions, changes above ``threshold`` flagged, "n/a" without a baseline."""

    def flagged(value: Any, flag: bool) -> Cell:
        if flag:
            return Cell(flagged_change(value, threshold), classes="flag")
        return Cell(change(value))

    rows = [
        [
            label(row.scraper_title),
            Cell(f"{row.previous_version} → {row.version}", numeric=False),
            Cell(f"{count(row.previous_runs)} → {count(row.runs)}"),
            Cell(f"{duration(row.previous_median_duration)} → {duration(row.median_duration)}"),
            flagged(row.duration_change, row.duration_regressed),
            Cell(
                f"{usd(row.previous_cost_per_1k_results, UNIT_COST_PLACES)} → "
                f"{usd(row.cost_per_1k_results, UNIT_COST_PLACES)}"
            ),
            flagged(row.cost_change, row.cost_regressed),
        ]
        for row in regressions.itertuples()
    ]
    headers = [
        ("Worker", False),
        ("Versions", False),
        ("Finished runs", True),
        ("Median duration", True),
        ("Change", True),
        ("Cost / 1,000 results", True),
        ("Change", True),
    ]
    return Table(headers, rows)


def outlook_cards(outlook: SpendOutlook) -> list[Card]:
    """The outlook's figures: the month so far, the projection, the burn, and the balance's
    runway and the budget when the outlook has them."""
    so_far = [f"up to {timestamp(outlook.now)} UTC"]
    if outlook.in_progress:
        so_far.append(f"{usd(outlook.in_progress)} of it not final yet")
    cards = [Card("Month to date", usd(outlook.month_to_date), so_far, wide=True)]
    last = [f"last month {usd(outlook.last_month)}"] if outlook.last_month is not None else []
    if outlook.projected is None:
        needs = f"needs {MIN_WINDOW_DAYS} complete days of history"
        cards.append(Card("Projected month-end", usd(None), [needs, *last], wide=True))
    else:
        level = percent(INTERVAL_LEVEL, places=0)
        interval = f"{level} interval {usd(outlook.projected_low)} – {usd(outlook.projected_high)}"
        if outlook.last_month:
            last = [
                f"last month {usd(outlook.last_month)} ("
                f"{change(outlook.projected / outlook.last_month - 1)})"
            ]
        cards.append(Card("Projected month-end", usd(outlook.projected), [interval, *last], True))
        cards.append(
            Card(
                "Daily burn",
                usd(outlook.daily_burn),
                [f"mean of the last {outlook.window_days} complete days"],
            )
        )
    if outlook.balance is not None:
        expiry = outlook.balance_expires_at
        expires = [] if pd.isna(expiry) else [f"expires {timestamp(expiry)} UTC"]
        cards.append(Card("Balance", usd(outlook.balance), expires))
        runway, why = outlook.runway_text()
        cards.append(Card("Runway", runway, [why], wide=True))
    if outlook.budget is not None:
        over = bool(outlook.over_budget)
        cards.append(
            Card("Budget", usd(outlook.budget), [outlook.budget_status()], wide=True, alert=over)
        )
    return cards


def anomaly_table(found: pd.DataFrame) -> Table:
    """Runs far costlier than usual, from ``cost_anomalies``, the highest scores first: the
    worker and the cost first, so that a phone shows them without scrolling."""
    rows = [
        [
            label(row.scraper_title),
            Cell(usd(row.cost, UNIT_COST_PLACES)),
            Cell(times(row.times_usual), classes="flag"),
            Cell(usd(row.usual_cost, UNIT_COST_PLACES)),
            Cell(f"{row.score:.1f}"),
            Cell(str(row.version), numeric=False),
            Cell(timestamp(row.started_at), numeric=False),
            Cell(str(row.status), numeric=False),
            Cell(str(row.slug), numeric=False),
        ]
        for row in found.head(ANOMALY_ROWS).itertuples()
    ]
    headers = [
        ("Worker", False),
        ("Cost", True),
        ("Times usual", True),
        ("Usual cost", True),
        ("Score", True),
        ("Version", False),
        ("Started (UTC)", False),
        ("Status", False),
        ("Run", False),
    ]
    return Table(headers, rows)
