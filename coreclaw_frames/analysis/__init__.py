"""Analysis of run frames in pure pandas: grouping and order, versions, statistics, periods.

The plots, the report and the ``df.coreclaw`` accessor all group, order and total runs
through this package, so a chart lists its groups exactly like the tables do. Modules:
``frame`` (checks, the rows that are runs, finality, the clock), ``money`` (exact sums),
``versions`` (version order), ``grouping`` (groups and their order), ``stats`` (summary and
failure costs), ``regressions`` (version regressions), ``periods`` (totals per period),
``outlook`` and ``projection`` (the month ahead: projection, runway, budget) and ``anomalies``
(runs far costlier than usual).

>>> from coreclaw_frames.analysis import summary, version_key
"""

from coreclaw_frames.analysis.anomalies import ANOMALY_COLUMNS, cost_anomalies
from coreclaw_frames.analysis.frame import final_mask
from coreclaw_frames.analysis.grouping import (
    DEFAULT_TOP,
    MISSING_LABEL,
    OTHER_LABEL,
    VERSION_SEPARATOR,
    group_order,
)
from coreclaw_frames.analysis.money import MONEY_DTYPE
from coreclaw_frames.analysis.outlook import SpendOutlook, spend_outlook
from coreclaw_frames.analysis.periods import FREQUENCIES, PERIOD_COLUMNS, period_totals
from coreclaw_frames.analysis.projection import WINDOW_DAYS
from coreclaw_frames.analysis.regressions import (
    MIN_RUNS,
    REGRESSION_COLUMNS,
    REGRESSION_THRESHOLD,
    version_regressions,
)
from coreclaw_frames.analysis.stats import (
    FAILURE_COLUMNS,
    SUMMARY_COLUMNS,
    failure_costs,
    summary,
)
from coreclaw_frames.analysis.versions import version_key

__all__ = [
    "ANOMALY_COLUMNS",
    "DEFAULT_TOP",
    "FAILURE_COLUMNS",
    "FREQUENCIES",
    "MIN_RUNS",
    "MISSING_LABEL",
    "MONEY_DTYPE",
    "OTHER_LABEL",
    "PERIOD_COLUMNS",
    "REGRESSION_COLUMNS",
    "REGRESSION_THRESHOLD",
    "SUMMARY_COLUMNS",
    "VERSION_SEPARATOR",
    "WINDOW_DAYS",
    "SpendOutlook",
    "cost_anomalies",
    "failure_costs",
    "final_mask",
    "group_order",
    "period_totals",
    "spend_outlook",
    "summary",
    "version_key",
    "version_regressions",
]
