"""coreclaw-frames: CoreClaw run data as typed pandas DataFrames.

>>> import coreclaw_frames as ccf
>>> df = ccf.fetch_runs(slugs)  # doctest: +SKIP

See the README for the run frame's columns, and ``coreclaw_frames.sandbox`` for a local
CoreClaw-compatible server to try everything without an account. The plots and the report
are imported on first use, so ``import coreclaw_frames`` does not import matplotlib.
"""

import importlib as _importlib
import importlib.metadata as _metadata
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from coreclaw_frames import accessor as _accessor  # noqa: F401  (registers df.coreclaw)
from coreclaw_frames.analysis import (
    SpendOutlook,
    cost_anomalies,
    failure_costs,
    period_totals,
    spend_outlook,
)
from coreclaw_frames.api import Client
from coreclaw_frames.cache import CacheWarning
from coreclaw_frames.errors import (
    AnswerTooLargeError,
    APIError,
    AuthenticationError,
    BatchFetchError,
    ConnectionFailedError,
    CoreClawError,
    InvalidRequestError,
    NotFoundError,
    ParquetFormatError,
    RateLimitError,
    RetriesExhaustedError,
    ServerError,
    TransportError,
)
from coreclaw_frames.parquet import read_parquet, to_parquet
from coreclaw_frames.results import fetch_results
from coreclaw_frames.runs import AccountInfo, account_info, fetch_runs, list_runs
from coreclaw_frames.schema import RUN_COLUMNS, SCHEMA_VERSION
from coreclaw_frames.sync import sync_runs

if _TYPE_CHECKING:
    from coreclaw_frames.plots import plot_cost, plot_cost_over_time, plot_duration
    from coreclaw_frames.report import cost_report

#: Public names imported on first use (PEP 562), so that importing the package does not
#: import matplotlib: the module each comes from.
_LAZY = {
    "cost_report": "coreclaw_frames.report",
    "plot_cost": "coreclaw_frames.plots",
    "plot_cost_over_time": "coreclaw_frames.plots",
    "plot_duration": "coreclaw_frames.plots",
}


def __getattr__(name: str) -> _Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


try:
    __version__ = _metadata.version("coreclaw-frames")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

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
    "InvalidRequestError",
    "NotFoundError",
    "ParquetFormatError",
    "RateLimitError",
    "RetriesExhaustedError",
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
    "list_runs",
    "period_totals",
    "plot_cost",
    "plot_cost_over_time",
    "plot_duration",
    "read_parquet",
    "spend_outlook",
    "sync_runs",
    "to_parquet",
]
