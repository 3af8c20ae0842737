"""coreclaw-frames: CoreClaw run data as typed pandas DataFrames.

See the README for the run frame's columns, and ``coreclaw_frames.sandbox`` for a local
CoreClaw-compatible server to try everything without an account. What talks to the API (the
client and the fetch functions), the plots and the report are imported on first use, so
``import coreclaw_frames`` (or ``coreclaw_frames.parquet``, ``coreclaw_frames.analysis``)
imports no HTTP library and not matplotlib.

Examples
--------
>>> import coreclaw_frames as ccf
>>> df = ccf.fetch_runs(slugs)  # doctest: +SKIP
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from coreclaw_frames import _accessor  # noqa: F401  (registers df.coreclaw)
from coreclaw_frames._arrow import from_arrow, to_arrow
from coreclaw_frames._cache import CacheWarning
from coreclaw_frames._errors import (
    AnswerTooLargeError,
    APIError,
    AuthenticationError,
    BatchFetchError,
    ConnectionFailedError,
    CoreClawError,
    ExportUnavailableError,
    InvalidRequestError,
    NotFoundError,
    ParquetFormatError,
    RateLimitError,
    ResultsSyncError,
    RetriesExhaustedError,
    ServerError,
    TransportError,
)
from coreclaw_frames._lazy import lazy_names as _lazy_names
from coreclaw_frames.analysis import (
    SpendOutlook,
    cost_anomalies,
    failure_costs,
    period_totals,
    spend_outlook,
)
from coreclaw_frames.api import RetryPolicy
from coreclaw_frames.parquet import read_parquet, to_parquet
from coreclaw_frames.schema import RUN_COLUMNS, SCHEMA_VERSION

if _TYPE_CHECKING:
    from coreclaw_frames._results import fetch_results
    from coreclaw_frames._results_store import ResultsSyncSummary, read_results, sync_results
    from coreclaw_frames._runs import AccountInfo, account_info, fetch_runs, list_runs
    from coreclaw_frames._sync import sync_runs
    from coreclaw_frames.api._client import Client
    from coreclaw_frames.plots import plot_cost, plot_cost_over_time, plot_duration
    from coreclaw_frames.report import cost_report

#: Public names imported on first use (PEP 562), so that importing the package imports
#: neither an HTTP library nor matplotlib: the module each comes from.
_LAZY = {
    "AccountInfo": "coreclaw_frames._runs",
    "Client": "coreclaw_frames.api._client",
    "account_info": "coreclaw_frames._runs",
    "cost_report": "coreclaw_frames.report",
    "fetch_results": "coreclaw_frames._results",
    "fetch_runs": "coreclaw_frames._runs",
    "list_runs": "coreclaw_frames._runs",
    "plot_cost": "coreclaw_frames.plots",
    "plot_cost_over_time": "coreclaw_frames.plots",
    "plot_duration": "coreclaw_frames.plots",
    "read_results": "coreclaw_frames._results_store",
    "ResultsSyncSummary": "coreclaw_frames._results_store",
    "sync_results": "coreclaw_frames._results_store",
    "sync_runs": "coreclaw_frames._sync",
}


__getattr__, __dir__ = _lazy_names(__name__, _LAZY)


#: The package's version: the one place it is written (pyproject.toml reads it from here).
__version__ = "0.2.0"

__all__ = [
    "RUN_COLUMNS",
    "SCHEMA_VERSION",
    "APIError",
    "AccountInfo",
    "AnswerTooLargeError",
    "AuthenticationError",
    "BatchFetchError",
    "CacheWarning",
    "Client",
    "ConnectionFailedError",
    "CoreClawError",
    "ExportUnavailableError",
    "InvalidRequestError",
    "NotFoundError",
    "ParquetFormatError",
    "RateLimitError",
    "ResultsSyncError",
    "ResultsSyncSummary",
    "RetriesExhaustedError",
    "RetryPolicy",
    "ServerError",
    "SpendOutlook",
    "TransportError",
    "__version__",
    "account_info",
    "cost_anomalies",
    "cost_report",
    "failure_costs",
    "fetch_results",
    "fetch_runs",
    "from_arrow",
    "list_runs",
    "period_totals",
    "plot_cost",
    "plot_cost_over_time",
    "plot_duration",
    "read_parquet",
    "read_results",
    "spend_outlook",
    "sync_results",
    "sync_runs",
    "to_arrow",
    "to_parquet",
]
