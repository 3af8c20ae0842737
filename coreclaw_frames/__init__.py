"""coreclaw-frames: CoreClaw run data as typed pandas DataFrames.

>>> import coreclaw_frames as ccf
>>> df = ccf.fetch_runs(slugs)  # doctest: +SKIP

See the README for the run frame's columns, and ``coreclaw_frames.sandbox`` for a local
CoreClaw-compatible server to try everything without an account.
"""

import importlib.metadata as _metadata

from coreclaw_frames import accessor as _accessor  # noqa: F401  (registers df.coreclaw)
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
from coreclaw_frames.plots import plot_cost, plot_cost_over_time, plot_duration
from coreclaw_frames.report import cost_report
from coreclaw_frames.results import fetch_results
from coreclaw_frames.runs import AccountInfo, account_info, fetch_runs, list_runs
from coreclaw_frames.schema import RUN_COLUMNS, SCHEMA_VERSION
from coreclaw_frames.sync import sync_runs

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
    "TransportError",
    "__version__",
    "account_info",
    "cost_report",
    "fetch_results",
    "fetch_runs",
    "list_runs",
    "plot_cost",
    "plot_cost_over_time",
    "plot_duration",
    "read_parquet",
    "sync_runs",
    "to_parquet",
]
