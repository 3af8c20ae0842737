"""The statistics of the spend outlook: the daily burn, the projection's interval, the runway.

The daily burn is the mean daily spend over the last :data:`WINDOW_DAYS` complete days; the
month's remaining spend is projected at that rate. Its 80% interval holds two kinds of doubt:
the noise of the days still to come (``days``) and how far the mean of a few days can be from
the true rate (``days**2 / window``), scaled by Student's t and by the standard deviation of
the daily spend over a longer stretch, up to :data:`SPREAD_DAYS` complete days: two weeks
rarely hold the day a run went wrong and cost many times its usual, and an interval measured
on them alone is too narrow. Everything is exact Decimal arithmetic, rounded to the run
frame's ten places.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal, localcontext
from typing import Literal

import pandas as pd

from coreclaw_frames.analysis._money import DECIMAL_PRECISION, money, ratio

__all__ = [
    "INTERVAL_LEVEL",
    "MIN_WINDOW_DAYS",
    "SPREAD_DAYS",
    "T_QUANTILE_90",
    "WINDOW_DAYS",
    "RunwayLimit",
    "daily_rate",
    "days_in",
    "interval",
    "runway",
]

#: Complete days (UTC) the daily burn averages: two whole weeks, so weekends weigh as usual.
WINDOW_DAYS = 14
#: Complete days (UTC) whose daily spend measures how much days swing: about a quarter, so
#: that the rare expensive day is in it.
SPREAD_DAYS = 90
#: Fewer complete days of history than this give no projection: no spread can be measured.
MIN_WINDOW_DAYS = 2
#: The share of months whose total the interval is meant to hold.
INTERVAL_LEVEL = 0.8
#: The 90th percentile of Student's t by degrees of freedom (the window's days less one):
#: the two-sided 80% interval's factor.
T_QUANTILE_90: dict[int, Decimal] = {
    1: Decimal("3.0777"),
    2: Decimal("1.8856"),
    3: Decimal("1.6377"),
    4: Decimal("1.5332"),
    5: Decimal("1.4759"),
    6: Decimal("1.4398"),
    7: Decimal("1.4149"),
    8: Decimal("1.3968"),
    9: Decimal("1.3830"),
    10: Decimal("1.3722"),
    11: Decimal("1.3634"),
    12: Decimal("1.3562"),
    13: Decimal("1.3502"),
}
SECONDS_PER_DAY = 86_400
NANOSECONDS_PER_SECOND = 10**9
DAY = pd.Timedelta(days=1)
#: What ends a runway: the balance spent, or the balance's expiry.
RunwayLimit = Literal["spend", "expiry"]


def days_in(span: pd.Timedelta) -> Decimal:
    """A time span in days, exactly (from its nanoseconds).

    Examples
    --------
    >>> days_in(pd.Timedelta(hours=36))
    Decimal('1.5')
    """
    with localcontext() as context:
        context.prec = DECIMAL_PRECISION
        return Decimal(span.value) / (SECONDS_PER_DAY * NANOSECONDS_PER_SECOND)


def daily_rate(days: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """The mean and sample standard deviation of daily totals (at least two), exact.

    Examples
    --------
    >>> daily_rate([Decimal(90), Decimal(110)])
    (Decimal('100.0000000000'), Decimal('14.1421356237'))
    """
    if len(days) < MIN_WINDOW_DAYS:
        raise ValueError(f"a daily rate needs {MIN_WINDOW_DAYS} days or more, got {len(days)}")
    mean = ratio(sum(days, Decimal(0)), len(days)) or Decimal(0)
    with localcontext() as context:
        context.prec = DECIMAL_PRECISION
        variance = sum(((day - mean) ** 2 for day in days), Decimal(0)) / (len(days) - 1)
        return mean, money(variance.sqrt()) or Decimal(0)


def interval(
    so_far: Decimal, burn: Decimal, spread: Decimal, window: int, days: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """Spend after ``days`` more days at ``burn`` a day, and its 80% interval.

    ``burn`` is the mean of ``window`` daily totals and ``spread`` the standard deviation of
    daily totals (over :data:`SPREAD_DAYS` at most). The low end is never below ``so_far``:
    costs do not go down.

    Examples
    --------
    >>> interval(Decimal(0), Decimal(100), Decimal(0), 14, Decimal(10))
    (Decimal('1000.0000000000'), Decimal('1000.0000000000'), Decimal('1000.0000000000'))
    """
    with localcontext() as context:
        context.prec = DECIMAL_PRECISION
        middle = so_far + burn * days
        half = T_QUANTILE_90[window - 1] * spread * (days + days * days / window).sqrt()
        low = max(so_far, middle - half)
        return money(middle) or so_far, money(low) or so_far, money(middle + half) or so_far


def runway(
    balance: Decimal | None, expires: pd.Timestamp, burn: Decimal | None, now: pd.Timestamp
) -> tuple[float | None, pd.Timestamp, RunwayLimit | None]:
    """Days the balance lasts at ``burn`` a day, when it ends, and what ends it.

    The expiry (NaT when unknown) ends it if it comes first. ``inf`` days (and NaT) when
    nothing is spent and nothing expires; None without a balance or a burn.

    Examples
    --------
    >>> now = pd.Timestamp("2026-03-16", tz="UTC")
    >>> runway(Decimal(1000), pd.NaT, Decimal(100), now)
    (10.0, Timestamp('2026-03-26 00:00:00+0000', tz='UTC'), 'spend')
    """
    if balance is None or burn is None:
        return None, pd.NaT, None
    if balance <= 0:
        return 0.0, now, "spend"
    spent_in = float(ratio(balance, burn) or 0) if burn > 0 else math.inf
    if not pd.isna(expires):
        to_expiry = max(0.0, (expires - now) / DAY)
        if to_expiry < spent_in:
            return to_expiry, max(expires, now), "expiry"
    if math.isinf(spent_in):
        return spent_in, pd.NaT, None
    return spent_in, (now + pd.Timedelta(days=spent_in)).floor("s"), "spend"
