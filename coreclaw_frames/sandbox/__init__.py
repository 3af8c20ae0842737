"""A CoreClaw-v1-compatible sandbox: a seeded synthetic account served over loopback HTTP.

The demo, the integration tests and the benchmarks run against it, because nothing here can
reach the production API.

Example:
    >>> from coreclaw_frames.sandbox import serve
    >>> with serve(runs=100) as srv:
    ...     srv.url.startswith("http://127.0.0.1:"), len(srv.account)
    (True, 100)
"""

from coreclaw_frames.sandbox.account import DEFAULT_RUNS, Account, Worker, build_account
from coreclaw_frames.sandbox.server import (
    DEFAULT_API_KEY,
    DISABLED_USER_API_KEY,
    EXPIRED_API_KEY,
    FAULT_KINDS,
    MAX_PAGE_SIZE,
    UNKNOWN_USER_API_KEY,
    CounterSnapshot,
    SandboxServer,
    serve,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_RUNS",
    "DISABLED_USER_API_KEY",
    "EXPIRED_API_KEY",
    "FAULT_KINDS",
    "MAX_PAGE_SIZE",
    "UNKNOWN_USER_API_KEY",
    "Account",
    "CounterSnapshot",
    "SandboxServer",
    "Worker",
    "build_account",
    "serve",
]
