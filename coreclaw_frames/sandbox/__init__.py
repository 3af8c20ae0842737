"""A CoreClaw-compatible sandbox: a seeded synthetic account served over loopback HTTP.

The demo, the integration tests and the benchmarks run against it, because nothing here can
reach the production API. It speaks API v1 (``POST /api/v1/...``) and API v2
(``GET /api/v2/...``) side by side, from the same account, each with its documented quirks.

Modules: `_account` (the account and its clock), `_records` and `_workers` (how runs and result
rows are drawn), `_drift` (a worker whose rows change shape between versions), `_v1` and `_v2`
(each version's routes, envelopes, codes and record shape), `_export` and `_storage` (v2's
results export: the files, and the storage host that serves them), `_faults` (fault injection,
rate limit, counters), `_protocol` (what the versions share), `_wire` (HTTP), `_knobs` (knob
checks) and `_server` (`serve`, `SandboxServer` and the request pipeline); `_frames` gives an
account's run frame without a server (`run_frame`).

Results export: ``GET /api/v2/worker-runs/{slug}/result/export?format=&filter_keys=`` answers
``data.download_url``, a link on the storage host (`SandboxServer.storage_url`), a second
loopback server that serves the file (csv, json or jsonl) and refuses any request carrying a
credential; knobs `storage_fault_rate`, `link_ttl`, `storage_redirect`.

Big runs and schema drift stay out of the default account, whose records never change: build
an account with ``max_results=5000`` (``serve(runs=2000, max_results=5000)``: 2,000 runs, 0 to
5,000 rows each, about a million rows) for big runs, and with ``drift_runs=N`` for N runs of a
worker whose rows change type between versions, found as
``srv.account.worker(DRIFT_WORKER_PATH)``.

Examples
--------
>>> from coreclaw_frames.sandbox import serve
>>> with serve(runs=100) as srv:
...     srv.url.startswith("http://127.0.0.1:"), len(srv.account)
(True, 100)
"""

from coreclaw_frames.sandbox._account import DEFAULT_RUNS, Account, Worker, build_account
from coreclaw_frames.sandbox._drift import DRIFT_WORKER_PATH
from coreclaw_frames.sandbox._export import EXPORT_FORMATS, RENDERED_FORMATS
from coreclaw_frames.sandbox._faults import FAULT_KINDS, CounterSnapshot
from coreclaw_frames.sandbox._frames import run_frame
from coreclaw_frames.sandbox._protocol import (
    AUTH_API_KEY,
    AUTH_BEARER,
    AUTH_NONE,
    AUTH_TOKEN_QUERY,
    DEFAULT_API_KEY,
    DISABLED_USER_API_KEY,
    EXPIRED_API_KEY,
    MAX_PAGE_SIZE,
    UNKNOWN_USER_API_KEY,
)
from coreclaw_frames.sandbox._records import (
    STATUS_ABORTED,
    STATUS_FAILED,
    STATUS_READY,
    STATUS_RUNNING,
    STATUS_SUCCEEDED,
)
from coreclaw_frames.sandbox._server import SandboxServer, serve
from coreclaw_frames.sandbox._storage import STORAGE_FAULT_KINDS
from coreclaw_frames.sandbox._v1 import (
    ROUTE_V1_ACCOUNT_INFO,
    ROUTE_V1_NOT_FOUND,
    ROUTE_V1_RUN_DETAIL,
    ROUTE_V1_RUN_LIST,
    ROUTE_V1_RUN_RESULTS,
)
from coreclaw_frames.sandbox._v2 import (
    MISSING_RUN_MODES,
    ROUTE_V2_ACCOUNT,
    ROUTE_V2_NOT_FOUND,
    ROUTE_V2_RUN_DETAIL,
    ROUTE_V2_RUN_LIST,
    ROUTE_V2_RUN_RESULT,
    ROUTE_V2_RUN_RESULT_EXPORT,
    v2_run_record,
)

__all__ = [
    "AUTH_API_KEY",
    "AUTH_BEARER",
    "AUTH_NONE",
    "AUTH_TOKEN_QUERY",
    "DEFAULT_API_KEY",
    "DEFAULT_RUNS",
    "DISABLED_USER_API_KEY",
    "DRIFT_WORKER_PATH",
    "EXPIRED_API_KEY",
    "EXPORT_FORMATS",
    "FAULT_KINDS",
    "MAX_PAGE_SIZE",
    "MISSING_RUN_MODES",
    "RENDERED_FORMATS",
    "ROUTE_V1_ACCOUNT_INFO",
    "ROUTE_V1_NOT_FOUND",
    "ROUTE_V1_RUN_DETAIL",
    "ROUTE_V1_RUN_LIST",
    "ROUTE_V1_RUN_RESULTS",
    "ROUTE_V2_ACCOUNT",
    "ROUTE_V2_NOT_FOUND",
    "ROUTE_V2_RUN_DETAIL",
    "ROUTE_V2_RUN_LIST",
    "ROUTE_V2_RUN_RESULT",
    "ROUTE_V2_RUN_RESULT_EXPORT",
    "STATUS_ABORTED",
    "STATUS_FAILED",
    "STATUS_READY",
    "STATUS_RUNNING",
    "STATUS_SUCCEEDED",
    "STORAGE_FAULT_KINDS",
    "UNKNOWN_USER_API_KEY",
    "Account",
    "CounterSnapshot",
    "SandboxServer",
    "Worker",
    "build_account",
    "run_frame",
    "serve",
    "v2_run_record",
]
