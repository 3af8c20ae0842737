"""Analysis of run frames in pure pandas: grouping and order, versions, statistics, periods.

The plots, the report and the ``df.coreclaw`` accessor all group, order and total runs
through this package, so a chart lists its groups exactly like the tables do. Modules:
``_frame`` (checks, the rows that are runs, finality, the clock), ``_money`` (exact sums),
``_versions`` (version order), ``_grouping`` (groups and their order), ``_stats`` (summary and
failure costs), ``_regressions`` (version regressions), ``_periods`` (totals per period),
``_outlook`` and ``_projection`` (the month ahead: projection, runway, budget) and ``_anomalies``
(runs far costlier than usual).

Examples
--------
>>> from coreclaw_frames.analysis import summary, version_key
"""

from coreclaw_frames.analysis._anomalies import ANOMALY_COLUMNS, cost_anomalies
from coreclaw_frames.analysis._frame import final_mask
from coreclaw_frames.analysis._grouping import (
    DEFAULT_TOP,
    MISSING_LABEL,
    OTHER_LABEL,
    VERSION_SEPARATOR,
    group_order,
)
from coreclaw_frames.analysis._money import MONEY_DTYPE
from coreclaw_frames.analysis._outlook import SpendOutlook, spend_outlook
from coreclaw_frames.analysis._periods import FREQUENCIES, PERIOD_COLUMNS, period_totals
from coreclaw_frames.analysis._projection import WINDOW_DAYS
from coreclaw_frames.analysis._regressions import (
    MIN_RUNS,
    REGRESSION_COLUMNS,
    REGRESSION_THRESHOLD,
    version_regressions,
)
from coreclaw_frames.analysis._stats import (
    FAILURE_COLUMNS,
    SUMMARY_COLUMNS,
    failure_costs,
    summary,
)
from coreclaw_frames.analysis._versions import version_key

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
