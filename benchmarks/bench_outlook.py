"""The spend outlook backtested: does the 80% interval hold four months out of five?

For every month of a sandbox account's six months of history that the history covers
whole, the month is projected from its 12th and its 20th day (at 00:00 UTC, from what had
started by then) and compared with what it then cost. Printed: per day, the share of months
whose total fell in the 80% interval (the coverage) and the mean absolute percentage error
of the projection (MAPE); first for the default account (seed 0: five months), then over
many seeds, where the coverage is measured on enough months to mean something. As a
baseline, the coverage of an interval of the day-to-day noise alone, without the doubt
about the recent rate: the one the outlook does not use. Last, how long an outlook and
the anomaly search take on a 5,000-run account.

Run: ``.venv/bin/python benchmarks/bench_outlook.py`` (or ``make bench``).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pandas as pd
from _common import report, timed

import coreclaw_frames as ccf
from coreclaw_frames.analysis._projection import T_QUANTILE_90
from coreclaw_frames.sandbox import DEFAULT_RUNS, build_account, run_frame

#: Days of the month projected from (the projection is made at 00:00 UTC of that day).
DAYS = (12, 20)
#: Accounts of the many-seed backtest: 5 whole months each.
SEEDS = range(40)
COVERAGE_TARGET = (0.70, 0.90)


@dataclass(frozen=True)
class Backtest:
    """One month projected from one day: the interval held the total, and the error."""

    inside: bool
    noise_only_inside: bool
    error: float


def whole_months(runs: pd.DataFrame) -> pd.PeriodIndex:
    """The months the history covers from their first day to their last."""
    starts = runs["started_at"].dropna()
    first = starts.min().tz_localize(None).to_period("M") + 1
    last = starts.max().tz_localize(None).to_period("M") - 1
    return pd.period_range(first, last, freq="M")


def backtest(runs: pd.DataFrame, month: pd.Period, day: int) -> Backtest:
    start = month.start_time.tz_localize("UTC")
    end = (month + 1).start_time.tz_localize("UTC")
    outlook = ccf.spend_outlook(runs, now=start + pd.Timedelta(days=day - 1))
    actual = runs.loc[(runs["started_at"] >= start) & (runs["started_at"] < end), "usage"].sum()
    assert outlook.projected is not None and outlook.daily_spread is not None
    assert outlook.projected_low is not None and outlook.projected_high is not None
    # The baseline: t * s * sqrt(days left), without the doubt about the rate.
    noise = float(T_QUANTILE_90[outlook.window_days - 1] * outlook.daily_spread) * math.sqrt(
        outlook.days_remaining
    )
    projected = float(outlook.projected)
    return Backtest(
        inside=outlook.projected_low <= actual <= outlook.projected_high,
        noise_only_inside=projected - noise <= float(actual) <= projected + noise,
        error=abs(projected / float(actual) - 1),
    )


def summarise(label: str, results: dict[int, list[Backtest]], *, judged: bool) -> None:
    """Coverage (against its target when ``judged``: enough months) and MAPE per day."""
    low, high = COVERAGE_TARGET
    for day, tests in results.items():
        coverage = sum(t.inside for t in tests) / len(tests)
        name = f"{label}, day {day}: months in the 80% interval ({len(tests)})"
        if judged:
            report(name, coverage, f"{low:.2f}-{high:.2f}", low <= coverage <= high)
        else:  # four months in five of five months: 5/5 happens a third of the time
            print(f"{name:<58} {coverage:>9.2f}   too few months to judge")
    for day, tests in results.items():
        mape = 100 * sum(t.error for t in tests) / len(tests)
        noise = sum(t.noise_only_inside for t in tests) / len(tests)
        print(
            f"{label}, day {day}: MAPE {mape:.1f}%; an interval of the noise alone holds "
            f"{noise:.2f} of the months"
        )


def main() -> None:
    account = build_account(seed=0, runs=DEFAULT_RUNS)
    runs = run_frame(account)
    results = {day: [backtest(runs, m, day) for m in whole_months(runs)] for day in DAYS}
    summarise("seed 0", results, judged=False)

    many: dict[int, list[Backtest]] = {day: [] for day in DAYS}
    for seed in SEEDS:
        frame = run_frame(build_account(seed=seed, runs=DEFAULT_RUNS))
        for day in DAYS:
            many[day].extend(backtest(frame, m, day) for m in whole_months(frame))
    summarise(f"{len(SEEDS)} seeds", many, judged=True)

    seconds, _ = timed(lambda: ccf.spend_outlook(runs, balance=account.balance), repeat=5)
    print(f"spend_outlook of {len(runs):,} runs: {1000 * seconds:.1f} ms")
    seconds, _ = timed(lambda: ccf.cost_anomalies(runs), repeat=5)
    print(f"cost_anomalies of {len(runs):,} runs: {1000 * seconds:.1f} ms")


if __name__ == "__main__":
    main()
