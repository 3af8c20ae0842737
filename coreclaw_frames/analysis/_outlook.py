"""Spend ahead: the month-end projection with an honest interval, the balance's runway, budget.

The month is the calendar month (UTC) holding ``now``. What it has cost so far is exact: the
``usage`` of every run started in it before ``now`` (runs not final count with their cost so
far). What it will cost is projected from the recent pace, and the 80% interval around that
projection holds both sources of doubt:

* the **rate**: the daily burn is the mean daily spend over the last :data:`WINDOW_DAYS`
  complete days (UTC, by run start), so a change of pace shows within days; and
* the **noise**: day-to-day swings over the days still to come, and how far the mean of a
  few days can be from the true rate.

With ``n`` days in the window, ``R`` the days left and ``s`` the sample standard deviation of
the daily spend over a longer stretch (up to :data:`SPREAD_DAYS` complete days, so that the
rare day a run went wrong is in it), the remaining spend is ``burn * R`` give or take
``t * s * sqrt(R + R**2 / n)``, ``t`` the 90th percentile of Student's t with ``n - 1`` degrees
of freedom. The ``R`` term alone (the noise around a known rate) is too narrow: on the
sandbox's history it holds the month's total in about half the months; with the rate's own
uncertainty it holds it in about four out of five. The arithmetic is exact Decimal throughout.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd

from coreclaw_frames.analysis._frame import check_now, final_mask
from coreclaw_frames.analysis._money import check_money, decimal_sums, money_series, total
from coreclaw_frames.analysis._periods import run_periods
from coreclaw_frames.analysis._projection import (
    DAY,
    INTERVAL_LEVEL,
    MIN_WINDOW_DAYS,
    SPREAD_DAYS,
    WINDOW_DAYS,
    RunwayLimit,
    daily_rate,
    days_in,
    interval,
    runway,
)
from coreclaw_frames.display import count, percent, timestamp, usd, usd_exact

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["SpendOutlook", "spend_outlook"]

#: Day ordinals (as ``run_periods`` gives them) count days from here.
EPOCH = pd.Timestamp(0, tz="UTC")


@dataclass(frozen=True)
class SpendOutlook:
    """Where this month's spend is heading, and how long the balance lasts at this pace.

    Money is exact ``Decimal``; ``None`` where the data cannot tell (``projected`` needs
    :data:`MIN_WINDOW_DAYS` complete days of history before ``now``; the runway a balance).

    Attributes
    ----------
    now, month
        The clock, and the calendar month (UTC) holding it.
    month_to_date
        The exact cost of the runs started in the month before ``now``.
    in_progress
        The part of it spent by runs not final yet (their cost still grows).
    projected, projected_low, projected_high
        The month's projected total and its 80% interval.
    daily_burn, daily_spread
        The mean daily spend over the window, and the standard deviation of the daily
        spend over up to :data:`SPREAD_DAYS` complete days.
    window_days
        How many complete days the window holds (at most :data:`WINDOW_DAYS`).
    days_remaining
        Days from ``now`` to the end of the month.
    last_month
        The total of the month before (None without a run started before this month).
    balance, balance_expires_at
        The balance given, and its expiry when known (from an ``AccountInfo``).
    runway_days, depletion_date, runway_limit
        Days until the balance is spent at the daily burn, or until it expires if sooner
        (``inf`` when nothing is spent and it never expires), when that is, and which came
        first (``"spend"`` or ``"expiry"``).
    budget, over_budget
        The month's budget and whether the projection (or the spend so far) exceeds it.
    latest_start
        The start of the newest run before ``now``: a stale file shows here.
    fetch_failed, not_started, after_now, unknown_cost
        Rows left out (fetch failed; never started; started after ``now``) and runs whose
        cost is unknown (counted as $0).
    daily
        The month's spend per day up to ``now`` (exact), indexed by day.
    """

    now: pd.Timestamp
    month: pd.Period
    month_to_date: Decimal
    in_progress: Decimal
    projected: Decimal | None
    projected_low: Decimal | None
    projected_high: Decimal | None
    daily_burn: Decimal | None
    daily_spread: Decimal | None
    window_days: int
    days_remaining: float
    last_month: Decimal | None
    balance: Decimal | None = None
    balance_expires_at: pd.Timestamp = pd.NaT
    runway_days: float | None = None
    depletion_date: pd.Timestamp = pd.NaT
    runway_limit: RunwayLimit | None = None
    budget: Decimal | None = None
    over_budget: bool | None = None
    latest_start: pd.Timestamp = pd.NaT
    fetch_failed: int = 0
    not_started: int = 0
    after_now: int = 0
    unknown_cost: int = 0
    daily: pd.Series = field(default_factory=pd.Series, compare=False, repr=False)

    @property
    def month_end(self) -> pd.Timestamp:
        """The first instant after the month."""
        return (self.month + 1).start_time.tz_localize("UTC")

    def projection_at(self, when: object) -> tuple[Decimal, Decimal, Decimal] | None:
        """The projected spend of the month up to ``when`` (a time, naive is UTC, between
        ``now`` and the month's end) and its 80% interval; None without a projection.

        Examples
        --------
        >>> outlook.projection_at(outlook.month_end)  # doctest: +SKIP
        (Decimal('2604.1'), Decimal('2398.5'), Decimal('2809.7'))
        """
        if self.daily_burn is None or self.daily_spread is None:
            return None
        moment = min(max(check_now(when, "projection_at"), self.now), self.month_end)
        return interval(
            self.month_to_date,
            self.daily_burn,
            self.daily_spread,
            self.window_days,
            days_in(moment - self.now),
        )

    def plot(self, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """The month's cumulative spend and the projection cone; see
        :func:`coreclaw_frames.plots.plot_outlook`."""
        from coreclaw_frames.plots._outlook import plot_outlook

        return plot_outlook(self, ax=ax, **kwargs)

    def lines(self) -> list[tuple[str, str, str]]:
        """The outlook as (label, value, detail) lines, as the repr and the CLI show it."""
        lines = [
            (
                "Month to date",
                usd(self.month_to_date),
                f"exactly {usd_exact(self.month_to_date)}"
                + (f"; {usd(self.in_progress)} of it not final yet" if self.in_progress else ""),
            )
        ]
        if self.projected is None:
            lines.append(
                (
                    "Projected month-end",
                    "–",
                    f"needs {MIN_WINDOW_DAYS} complete days of history, "
                    f"{self.window_days} before now",
                )
            )
        else:
            level = percent(INTERVAL_LEVEL, places=0)
            lines.append(
                (
                    "Projected month-end",
                    usd(self.projected),
                    f"{level} interval {usd(self.projected_low)} – {usd(self.projected_high)}",
                )
            )
            lines.append(
                (
                    "Daily burn",
                    usd(self.daily_burn),
                    f"mean of the last {self.window_days} complete days; "
                    f"{self.days_remaining:.1f} days to go",
                )
            )
        if self.last_month is not None:
            lines.append(("Last month", usd(self.last_month), self.against_last_month()))
        if self.balance is not None:
            expires = (
                f"expires {timestamp(self.balance_expires_at)} UTC"
                if not pd.isna(self.balance_expires_at)
                else "no expiry known"
            )
            lines.append(("Balance", usd(self.balance), expires))
            lines.append(("Runway", *self.runway_text()))
        if self.budget is not None:
            lines.append(("Budget", usd(self.budget), self.budget_status()))
        lines.append(("Latest run", timestamp(self.latest_start), self._left_out()))
        return lines

    def budget_status(self) -> str:
        """The budget against the projection, in words."""
        if self.budget is None:
            return ""
        if self.month_to_date > self.budget:
            return f"OVER: {usd(self.month_to_date - self.budget)} spent past it already"
        if self.projected is None or self.projected_high is None:
            return f"{usd(self.budget - self.month_to_date)} left; no projection yet"
        if self.over_budget:
            return f"OVER: projected {usd(self.projected - self.budget)} above it"
        if self.projected_high > self.budget:
            return f"at risk: within it, but the interval reaches {usd(self.projected_high)}"
        return f"within it: projected {usd(self.budget - self.projected)} below"

    def against_last_month(self) -> str:
        """Last month, and the projection's change from it, in words."""
        if self.projected is None or self.last_month is None or not self.last_month:
            return f"{self.month - 1}"
        rise = percent(self.projected / self.last_month - 1, signed=True)
        return f"{self.month - 1}; projected {rise}"

    def runway_text(self) -> tuple[str, str]:
        """The runway and what ends it, in words."""
        if self.runway_days is None:
            return "–", "no daily burn to go by"
        if math.isinf(self.runway_days):
            return "unlimited", "nothing spent lately and no expiry"
        why = "when the balance expires" if self.runway_limit == "expiry" else "at the daily burn"
        return f"{self.runway_days:,.1f} days", f"until {timestamp(self.depletion_date)} UTC, {why}"

    def _left_out(self) -> str:
        parts = [
            f"{count(n)} {what}"
            for n, what in (
                (self.fetch_failed, "rows whose fetch failed"),
                (self.not_started, "runs not started"),
                (self.after_now, "runs started after now"),
                (self.unknown_cost, "runs of unknown cost (as $0)"),
            )
            if n
        ]
        return ("left out: " + ", ".join(parts)) if parts else "before now"

    def __repr__(self) -> str:
        heading = f"Spend outlook for {self.month} (UTC), at {timestamp(self.now)} UTC"
        width = max(len(label) for label, _, _ in self.lines())
        value_width = max(len(value) for _, value, _ in self.lines())
        rows = [
            f"  {label:<{width}}  {value:>{value_width}}  {detail}".rstrip()
            for label, value, detail in self.lines()
        ]
        return "\n".join([heading, *rows])

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(label)}</th>"
            f"<td style='text-align:right'>{html.escape(value)}</td>"
            f"<td style='text-align:left'>{html.escape(detail)}</td></tr>"
            for label, value, detail in self.lines()
        )
        heading = html.escape(f"Spend outlook for {self.month} (UTC), at {timestamp(self.now)} UTC")
        return f"<table><caption>{heading}</caption><tbody>{cells}</tbody></table>"


def _balance(value: object, caller: str) -> tuple[Decimal | None, pd.Timestamp]:
    """The balance and its expiry (NaT when unknown) of ``balance=``."""
    from coreclaw_frames._runs import AccountInfo

    if value is None:
        return None, pd.NaT
    if isinstance(value, AccountInfo):
        return check_money(value.balance, "balance", caller), value.balance_expiration_at
    return check_money(value, "balance", caller), pd.NaT


def spend_outlook(
    runs: pd.DataFrame, *, now: object = None, balance: object = None, budget: object = None
) -> SpendOutlook:
    """This month's spend so far, its projected total with an 80% interval, the balance's
    runway and the budget's status.

    Parameters
    ----------
    runs
        A run frame. Rows whose fetch failed, runs that never started and runs started after
        ``now`` are left out (and counted); unknown costs count as $0.
    now
        The clock (a time, naive is UTC, or unix seconds; default the current time): the
        month holding it is projected from the :data:`WINDOW_DAYS` complete days before it.
    balance
        The prepaid balance: a ``Decimal``, a number or a numeric string, or the
        :class:`~coreclaw_frames.AccountInfo` of ``account_info()`` (its expiry then bounds
        the runway). A float is read through its text, never its binary value.
    budget
        The month's budget, like ``balance`` (not negative).

    Returns
    -------
    SpendOutlook
        With ``month_to_date``, ``projected`` (``projected_low``/``projected_high``: the 80%
        interval), ``daily_burn``, ``balance``, ``runway_days``, ``depletion_date``,
        ``budget`` and ``over_budget``; money exact. Shown readably when printed, and as a
        table in Jupyter; ``.plot()`` draws the month and the projection cone.

    Examples
    --------
    >>> from coreclaw_frames.sandbox import build_account, run_frame
    >>> df = run_frame(build_account(seed=0, runs=3000))
    >>> outlook = spend_outlook(df, now="2026-03-16", balance="1000", budget=2000)
    >>> outlook.month, outlook.month_to_date == df.loc[
    ...     df["started_at"] >= "2026-03-01", "usage"].sum()
    (Period('2026-03', 'M'), True)
    >>> outlook.projected_low <= outlook.projected <= outlook.projected_high
    True
    """
    caller = "spend_outlook"
    periods = run_periods(runs, "D", now, caller)
    clock = periods.now
    money_balance, expires = _balance(balance, caller)
    money_budget = None if budget is None else check_money(budget, "budget", caller, negative=False)

    before_now = (periods.runs["started_at"] < clock).to_numpy(dtype=bool, na_value=False)
    started = periods.runs.loc[before_now, "started_at"]
    usage = periods.usage.filter(before_now)
    day_of_run = periods.ordinals[before_now]
    month = clock.tz_localize(None).to_period("M")
    month_start, month_end = (period.start_time.tz_localize("UTC") for period in (month, month + 1))
    in_month = (started >= month_start).to_numpy(dtype=bool)
    month_to_date = total(usage, in_month)
    sums = decimal_sums([day_of_run], usage)["cost"]

    def day_total(day: pd.Timestamp) -> Decimal:
        value = sums.get((day - EPOCH) // DAY)
        return Decimal(0) if value is None or pd.isna(value) else value

    today = clock.floor("D")
    first_day = started.min().floor("D") if len(started) else today
    window_days = min(WINDOW_DAYS, (today - first_day).days)
    spread_days = min(SPREAD_DAYS, (today - first_day).days)
    remaining = days_in(month_end - clock)
    burn = spread = low = high = projected = None
    if window_days >= MIN_WINDOW_DAYS:
        burn, _ = daily_rate([day_total(today - (i + 1) * DAY) for i in range(window_days)])
        _, spread = daily_rate([day_total(today - (i + 1) * DAY) for i in range(spread_days)])
        projected, low, high = interval(month_to_date, burn, spread, window_days, remaining)

    last_month = None
    if len(started) and started.min() < month_start:
        previous = (month - 1).start_time.tz_localize("UTC")
        last_month = total(usage, (started >= previous).to_numpy(dtype=bool) & ~in_month)
    over_budget = None
    if money_budget is not None and month_to_date > money_budget:
        over_budget = True  # spent past it already, whatever the projection
    elif money_budget is not None and projected is not None:
        over_budget = projected > money_budget
    runway_days, depletion, limit = runway(money_balance, expires, burn, clock)
    month_days = pd.date_range(month_start, today, freq="D", name="day")
    return SpendOutlook(
        now=clock,
        month=month,
        month_to_date=month_to_date,
        in_progress=total(usage, in_month & ~final_mask(periods.runs.loc[before_now])),
        projected=projected,
        projected_low=low,
        projected_high=high,
        daily_burn=burn,
        daily_spread=spread,
        window_days=window_days,
        days_remaining=float(remaining),
        last_month=last_month,
        balance=money_balance,
        balance_expires_at=expires,
        runway_days=runway_days,
        depletion_date=depletion,
        runway_limit=limit,
        budget=money_budget,
        over_budget=over_budget,
        latest_start=started.max() if len(started) else pd.NaT,
        fetch_failed=periods.fetch_failed,
        not_started=periods.not_started,
        after_now=int((~before_now).sum()),
        unknown_cost=int(usage.null_count),
        daily=money_series([day_total(day) for day in month_days], month_days),
    )
