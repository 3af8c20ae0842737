"""An embedded CoreClaw-v1-compatible HTTP server on loopback.

No machine of ours can reach production, so the demo, the integration tests and the benchmarks
all talk to this server over real HTTP. It speaks the documented v1 contract (POST + JSON
envelopes with error codes, HTTP 200 for API errors) and can misbehave on purpose the way real
gateways do: latency, HTML 5xx pages, HTTP 429 with Retry-After, dropped connections, truncated
bodies, answers slower than a client's timeout, and a token-bucket rate limit. Injected faults
are drawn from a seeded RNG but capped per request, so a client that retries enough always gets
through and a test can assert that nothing is lost.

Every request goes through the same steps, in this order:

1. route: an unknown path, or any method but POST on a known path, answers 4040 "Resource not
   found" with HTTP 200 (the v1 API only routes POST, so a GET is as unknown as a wrong path);
2. auth: `api-key: <key>` or `Authorization: Bearer <key>` (4010, 20001, 20002, 10001, 10002);
3. rate limit (4290, counted as rejected);
4. fault injection;
5. body and parameter validation (4000), then the endpoint itself (70001 for unknown runs).

`latency` is added before any of these, so it delays every answer, errors included.
"""

from __future__ import annotations

import json
import logging
import math
import random
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeGuard, cast
from urllib.parse import urlsplit

from coreclaw_frames.sandbox.account import (
    ALL_STATUSES,
    DEFAULT_RUNS,
    STATUS_ABORTED,
    Account,
    build_account,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DISABLED_USER_API_KEY",
    "EXPIRED_API_KEY",
    "FAULT_KINDS",
    "MAX_PAGE_SIZE",
    "UNKNOWN_USER_API_KEY",
    "CounterSnapshot",
    "SandboxServer",
    "serve",
]

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- public constants

DEFAULT_API_KEY = "sandbox-key-0123456789abcdef"
"""The key the sandbox accepts unless `api_key` says otherwise."""

EXPIRED_API_KEY = "sandbox-key-expired"
"""Always answered with 20002 "API key expired"."""

DISABLED_USER_API_KEY = "sandbox-key-user-disabled"
"""Always answered with 10002 "User disabled"."""

UNKNOWN_USER_API_KEY = "sandbox-key-user-unknown"
"""Always answered with 10001 "User does not exist"."""

FAULT_KINDS: tuple[str, ...] = (
    "http_500",
    "http_502",
    "http_503",
    "http_429",
    "code_5000",
    "code_4290",
    "drop",
    "truncated",
    "slow",
)
"""Every kind of transient failure the sandbox can inject (see `serve`)."""

MAX_PAGE_SIZE = 100
"""Largest `page_size` accepted by run/list and run/result/list."""

MAX_PAGE_INDEX = 2**31 - 1
"""Largest `page_index` accepted (a 32-bit int, as a typical backend stores it)."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_CONSECUTIVE_FAULTS = 2
DEFAULT_SLOW_SECONDS = 2.0
DEFAULT_RETRY_AFTER = 1

# --------------------------------------------------------------------------- wire constants

REQUEST_QUEUE_SIZE = 1024
"""listen() backlog: a burst of hundreds of new connections must not be refused."""

SHUTDOWN_POLL_SECONDS = 0.05
"""How often the accept loop checks for shutdown: bounds how long `stop()` takes."""

MAX_BODY_BYTES = 1 << 20
"""Request bodies above this are refused with 4000 (and the connection closed)."""

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"

PATH_RUN_DETAIL = "/api/v1/run/detail"
PATH_RUN_LIST = "/api/v1/run/list"
PATH_RUN_RESULTS = "/api/v1/run/result/list"
PATH_ACCOUNT_INFO = "/api/v1/account/info"

CODE_OK = 0
CODE_INVALID_PARAMETERS = 4000
CODE_UNAUTHORIZED = 4010
CODE_NOT_FOUND = 4040
CODE_RATE_LIMITED = 4290
CODE_INTERNAL_ERROR = 5000
CODE_USER_MISSING = 10001
CODE_USER_DISABLED = 10002
CODE_KEY_INVALID = 20001
CODE_KEY_EXPIRED = 20002
CODE_RUN_MISSING = 70001

MESSAGES: dict[int, str] = {
    CODE_OK: "success",
    CODE_INVALID_PARAMETERS: "Invalid request parameters",
    CODE_UNAUTHORIZED: "Unauthorized",
    CODE_NOT_FOUND: "Resource not found",
    CODE_RATE_LIMITED: "Rate limit exceeded",
    CODE_INTERNAL_ERROR: "Internal server error",
    CODE_USER_MISSING: "User does not exist",
    CODE_USER_DISABLED: "User disabled",
    CODE_KEY_INVALID: "API key invalid",
    CODE_KEY_EXPIRED: "API key expired",
    CODE_RUN_MISSING: "Run record does not exist",
}
"""The message sent with each API code."""

_SPECIAL_KEYS: dict[str, int] = {
    EXPIRED_API_KEY: CODE_KEY_EXPIRED,
    DISABLED_USER_API_KEY: CODE_USER_DISABLED,
    UNKNOWN_USER_API_KEY: CODE_USER_MISSING,
}

_GATEWAY_FAULTS: dict[str, int] = {
    "http_500": 500,
    "http_502": 502,
    "http_503": 503,
    "http_429": 429,
}
_ENVELOPE_FAULTS: dict[str, int] = {
    "code_5000": CODE_INTERNAL_ERROR,
    "code_4290": CODE_RATE_LIMITED,
}

_HTML_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

Payload = dict[str, Any]


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class _Answer:
    """What the handler writes back: an HTTP message, or nothing at all (`drop`)."""

    status: int = HTTPStatus.OK
    body: bytes = b""
    content_type: str = JSON_CONTENT_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False


def _envelope(code: int, data: Any = None) -> _Answer:
    document = {"code": code, "message": MESSAGES[code], "data": data}
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return _Answer(body=body)


def _gateway_page(status: int, headers: tuple[tuple[str, str], ...] = ()) -> _Answer:
    reason = HTTPStatus(status).phrase
    body = _HTML_PAGE.format(status=status, reason=reason).encode()
    return _Answer(status=status, body=body, content_type=HTML_CONTENT_TYPE, headers=headers)


class _ApiError(Exception):
    """Raised inside an endpoint to answer with an error envelope."""

    def __init__(self, code: int) -> None:
        super().__init__(MESSAGES[code])
        self.code = code


# --------------------------------------------------------------------------- parameters


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _required_int(payload: Payload, name: str, low: int, high: int) -> int:
    value = payload.get(name)
    if _is_int(value) and low <= value <= high:
        return value
    raise _ApiError(CODE_INVALID_PARAMETERS)


def _required_slug(payload: Payload) -> str:
    value = payload.get("run_slug")
    if not isinstance(value, str) or not value:
        raise _ApiError(CODE_INVALID_PARAMETERS)
    return value


def _page(payload: Payload) -> tuple[int, int]:
    return (
        _required_int(payload, "page_index", 1, MAX_PAGE_INDEX),
        _required_int(payload, "page_size", 1, MAX_PAGE_SIZE),
    )


def _parse_object(body: bytes | None) -> Payload | None:
    """The request body as a JSON object, or None when it is anything else."""
    if body is None:
        return None
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    return document if isinstance(document, dict) else None


# --------------------------------------------------------------------------- shared state


@dataclass(frozen=True)
class CounterSnapshot:
    """A consistent copy of the sandbox's request counters at one instant.

    `requests_by_path` counts every request by URL path; `requests_by_slug` counts run/detail
    and run/result/list requests by their `run_slug`; `rejected` counts rate-limited answers;
    `faults` counts injected faults by kind; `total` counts every request received.
    """

    total: int = 0
    rejected: int = 0
    requests_by_path: Counter[str] = field(default_factory=Counter)
    requests_by_slug: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)


class _Counters:
    """Lock-protected request counters; read them through `snapshot()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._rejected = 0
        self._by_path: Counter[str] = Counter()
        self._by_slug: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()

    def request(self, path: str, slug: str | None) -> None:
        with self._lock:
            self._total += 1
            self._by_path[path] += 1
            if slug is not None:
                self._by_slug[slug] += 1

    def rejected(self) -> None:
        with self._lock:
            self._rejected += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def reset(self) -> None:
        with self._lock:
            self._total = self._rejected = 0
            self._by_path.clear()
            self._by_slug.clear()
            self._faults.clear()

    def snapshot(self) -> CounterSnapshot:
        with self._lock:
            return CounterSnapshot(
                total=self._total,
                rejected=self._rejected,
                requests_by_path=Counter(self._by_path),
                requests_by_slug=Counter(self._by_slug),
                faults=Counter(self._faults),
            )


class _TokenBucket:
    """`capacity` tokens, refilled continuously at `rate` per second on the monotonic clock."""

    def __init__(self, rate: float, capacity: float) -> None:
        self._rate = rate
        self._capacity = capacity
        self._tokens = capacity
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Take one token; False when the bucket is empty."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class _FaultInjector:
    """Seeded, lock-protected fault draws that never starve one request.

    A request is identified by its path and raw body. After `max_consecutive` faults in a row
    for the same request the next one always goes through; only requests in the middle of a
    fault streak are remembered, so memory stays bounded by the requests being retried.
    """

    def __init__(
        self, seed: int, rate: float, kinds: tuple[str, ...], max_consecutive: int
    ) -> None:
        self._rng = random.Random(seed)
        self._rate = rate
        self._kinds = kinds
        self._max_consecutive = max_consecutive
        self._streaks: dict[tuple[str, bytes], int] = {}
        self._lock = threading.Lock()

    def draw(self, path: str, body: bytes) -> str | None:
        """The fault kind to inject for this request, or None to answer normally."""
        key = (path, body)
        with self._lock:
            streak = self._streaks.get(key, 0)
            if streak < self._max_consecutive and self._rng.random() < self._rate:
                self._streaks[key] = streak + 1
                return self._kinds[self._rng.randrange(len(self._kinds))]
            self._streaks.pop(key, None)
            return None


# --------------------------------------------------------------------------- validation


def _check_number(name: str, value: Any, *, low: float, high: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        bounds = f"in [{low}, {high}]" if high != math.inf else f">= {low}"
        raise ValueError(f"{name} must be a number {bounds}, got {value!r}")


def _check_int(name: str, value: Any, *, low: int, high: int | None = None) -> None:
    if not _is_int(value) or value < low or (high is not None and value > high):
        bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an int {bounds}, got {value!r}")


def _check_faults(faults: Iterable[str], fault_rate: float) -> tuple[str, ...]:
    if isinstance(faults, str):
        raise ValueError(f"faults must be a collection of fault kinds, got the string {faults!r}")
    kinds = tuple(dict.fromkeys(faults))
    for kind in kinds:
        if kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}"
            )
    if fault_rate > 0 and not kinds:
        raise ValueError(f"fault_rate is {fault_rate!r} but faults is empty")
    return kinds


# --------------------------------------------------------------------------- the server


class SandboxServer:
    """A CoreClaw-v1-compatible server on loopback, started and stopped explicitly.

    Most code wants the `serve` context manager instead; the parameters are the same and
    documented there. Also usable as a context manager itself.

    Example:
        >>> with SandboxServer(runs=10) as srv:
        ...     srv.url.startswith("http://127.0.0.1:")
        True
    """

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = DEFAULT_HOST,
        seed: int = 0,
        runs: int = DEFAULT_RUNS,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        faults: Iterable[str] = FAULT_KINDS,
        max_consecutive_faults: int = DEFAULT_MAX_CONSECUTIVE_FAULTS,
        slow_seconds: float = DEFAULT_SLOW_SECONDS,
        retry_after: int = DEFAULT_RETRY_AFTER,
        rate_limit: float | None = None,
        rate_burst: float | None = None,
        api_key: str = DEFAULT_API_KEY,
        grow_on_list: int = 0,
        account: Account | None = None,
    ) -> None:
        _check_int("port", port, low=0, high=65535)
        _check_number("latency", latency, low=0.0)
        _check_number("fault_rate", fault_rate, low=0.0, high=1.0)
        fault_kinds = _check_faults(faults, fault_rate)
        _check_int("max_consecutive_faults", max_consecutive_faults, low=0)
        _check_number("slow_seconds", slow_seconds, low=0.0)
        _check_int("retry_after", retry_after, low=0)
        if rate_limit is not None:
            _check_number("rate_limit", rate_limit, low=0.0)
            if rate_limit == 0:
                raise ValueError("rate_limit must be > 0 (or None for no limit), got 0")
        if rate_burst is not None:
            if rate_limit is None:
                raise ValueError(f"rate_burst={rate_burst!r} needs a rate_limit")
            _check_number("rate_burst", rate_burst, low=1.0)
        if not isinstance(api_key, str) or not api_key or api_key in _SPECIAL_KEYS:
            raise ValueError(
                f"api_key must be a non-empty string other than the special keys, got {api_key!r}"
            )
        _check_int("grow_on_list", grow_on_list, low=0)

        self.host = host
        self.api_key = api_key
        self.account = account if account is not None else build_account(seed=seed, runs=runs)
        self.latency = float(latency)
        self.slow_seconds = float(slow_seconds)
        self.retry_after = retry_after
        self.grow_on_list = grow_on_list
        self._port = port
        self._counters = _Counters()
        self._faults = (
            _FaultInjector(seed, float(fault_rate), fault_kinds, max_consecutive_faults)
            if fault_rate > 0
            else None
        )
        self._bucket = (
            _TokenBucket(rate_limit, rate_burst if rate_burst is not None else max(1.0, rate_limit))
            if rate_limit is not None
            else None
        )
        self._endpoints: dict[str, Callable[[Payload], Any]] = {
            PATH_RUN_DETAIL: self._run_detail,
            PATH_RUN_LIST: self._run_list,
            PATH_RUN_RESULTS: self._run_results,
            PATH_ACCOUNT_INFO: self._account_info,
        }
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        """The bound port (the ephemeral one when started with port 0)."""
        if self._httpd is None:
            return self._port
        return cast(int, self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:8765``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        """Bind and serve in a background daemon thread. Returns self."""
        if self._httpd is not None:
            raise RuntimeError("a SandboxServer starts only once; create a new one")
        self._httpd = _HTTPServer((self.host, self._port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            args=(SHUTDOWN_POLL_SECONDS,),
            name=f"coreclaw-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and join the threads. Idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        thread.join()
        self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ counters

    @property
    def counters(self) -> CounterSnapshot:
        """A consistent snapshot of the request counters (a new copy on every access)."""
        return self._counters.snapshot()

    def reset_counters(self) -> None:
        """Set every counter back to zero."""
        self._counters.reset()

    # ------------------------------------------------------------------ request pipeline

    def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def _authenticate(self, headers: Message) -> int:
        key = (headers.get("api-key") or "").strip()
        if not key:
            scheme, _, credentials = (headers.get("Authorization") or "").strip().partition(" ")
            if scheme.lower() == "bearer":
                key = credentials.strip()
        if not key:
            return CODE_UNAUTHORIZED
        if key == self.api_key:
            return CODE_OK
        return _SPECIAL_KEYS.get(key, CODE_KEY_INVALID)

    def _answer(self, method: str, path: str, headers: Message, body: bytes | None) -> _Answer:
        """Everything but the wire: one parsed request in, one answer out.

        `body` is None when the request body could not be read (bad framing or too large).
        """
        payload = _parse_object(body)
        slug = None
        if path in (PATH_RUN_DETAIL, PATH_RUN_RESULTS) and payload is not None:
            candidate = payload.get("run_slug")
            slug = candidate if isinstance(candidate, str) else None
        self._counters.request(path, slug)
        self._pause(self.latency)

        endpoint = self._endpoints.get(path)
        if endpoint is None or method != "POST":
            return _envelope(CODE_NOT_FOUND)
        auth = self._authenticate(headers)
        if auth != CODE_OK:
            return _envelope(auth)
        if self._bucket is not None and not self._bucket.take():
            self._counters.rejected()
            return _envelope(CODE_RATE_LIMITED)

        fault = self._faults.draw(path, body or b"") if self._faults is not None else None
        if fault is not None:
            self._counters.fault(fault)
            if fault in _GATEWAY_FAULTS:
                extra = (("Retry-After", str(self.retry_after)),) if fault == "http_429" else ()
                return _gateway_page(_GATEWAY_FAULTS[fault], extra)
            if fault in _ENVELOPE_FAULTS:
                return _envelope(_ENVELOPE_FAULTS[fault])
            if fault == "drop":
                return _Answer(drop=True)
            if fault == "slow":
                self._pause(self.slow_seconds)

        try:
            if payload is None:
                raise _ApiError(CODE_INVALID_PARAMETERS)
            answer = _envelope(CODE_OK, endpoint(payload))
        except _ApiError as error:
            answer = _envelope(error.code)
        if fault == "truncated":
            answer = _Answer(body=answer.body[: len(answer.body) // 2])
        return answer

    # ------------------------------------------------------------------ endpoints

    def _run_detail(self, payload: Payload) -> Any:
        record = self.account.run(_required_slug(payload))
        if record is None:
            raise _ApiError(CODE_RUN_MISSING)
        return record

    def _run_list(self, payload: Payload) -> Any:
        page_index, page_size = _page(payload)
        status = payload.get("status")
        if status is None:
            status = ALL_STATUSES
        elif not _is_int(status) or not ALL_STATUSES <= status <= STATUS_ABORTED:
            raise _ApiError(CODE_INVALID_PARAMETERS)
        scraper_slug = payload.get("scraper_slug")
        if scraper_slug is not None and not isinstance(scraper_slug, str):
            raise _ApiError(CODE_INVALID_PARAMETERS)
        if self.grow_on_list:
            self.account.add_runs(self.grow_on_list)
        count, records = self.account.list_runs(page_index, page_size, status, scraper_slug or None)
        return {"count": count, "list": records}

    def _run_results(self, payload: Payload) -> Any:
        slug = _required_slug(payload)
        page_index, page_size = _page(payload)
        if self.account.run(slug) is None:
            raise _ApiError(CODE_RUN_MISSING)
        count, headers, rows = self.account.results(slug, page_index, page_size)
        return {
            "count": count,
            "headers": headers,
            "list": rows,
            "page_index": page_index,
            "page_size": page_size,
        }

    def _account_info(self, payload: Payload) -> Any:
        return {
            "balance": self.account.balance,
            "traffic": self.account.traffic,
            "traffic_expiration_at": self.account.traffic_expiration_at,
        }


# --------------------------------------------------------------------------- the wire


class _BadRequestBody(Exception):
    """The request body cannot be read reliably; the connection must be closed after answering."""


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its sandbox and can close its open connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = REQUEST_QUEUE_SIZE

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open connection so idle keep-alive handlers exit at once."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up (after a timeout, say) is normal here; anything else is a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Reads one HTTP/1.1 request, asks the sandbox for the answer, writes it (keep-alive)."""

    protocol_version = "HTTP/1.1"
    server_version = "CoreClawSandbox/1.0"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise _BadRequestBody from None
        if not 0 <= length <= MAX_BODY_BYTES:
            raise _BadRequestBody
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(MAX_BODY_BYTES)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequestBody from None
            total += size
            if size < 0 or total > MAX_BODY_BYTES:
                raise _BadRequestBody
            if size == 0:
                while self.rfile.readline(MAX_BODY_BYTES) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(MAX_BODY_BYTES)  # the CRLF after each chunk

    def _serve(self) -> None:
        try:
            body: bytes | None = self._read_body()
        except _BadRequestBody:
            body = None
            self.close_connection = True
        path = urlsplit(self.path).path
        try:
            answer = self.server.sandbox._answer(self.command, path, self.headers, body)
        except Exception:
            logger.exception("sandbox failed on %s %s", self.command, path)
            answer = _envelope(CODE_INTERNAL_ERROR)
        if answer.drop:
            self.close_connection = True
            return
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers:
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    do_POST = _serve
    do_GET = _serve
    do_PUT = _serve
    do_PATCH = _serve
    do_DELETE = _serve
    do_HEAD = _serve
    do_OPTIONS = _serve


# --------------------------------------------------------------------------- entry point


@contextmanager
def serve(
    *,
    port: int = 0,
    host: str = DEFAULT_HOST,
    seed: int = 0,
    runs: int = DEFAULT_RUNS,
    latency: float = 0.0,
    fault_rate: float = 0.0,
    faults: Iterable[str] = FAULT_KINDS,
    max_consecutive_faults: int = DEFAULT_MAX_CONSECUTIVE_FAULTS,
    slow_seconds: float = DEFAULT_SLOW_SECONDS,
    retry_after: int = DEFAULT_RETRY_AFTER,
    rate_limit: float | None = None,
    rate_burst: float | None = None,
    api_key: str = DEFAULT_API_KEY,
    grow_on_list: int = 0,
    account: Account | None = None,
) -> Iterator[SandboxServer]:
    """Run a CoreClaw-v1-compatible sandbox on loopback for the duration of a `with` block.

    Parameters:
        port: TCP port; 0 picks a free ephemeral one (read it back from `srv.url`).
        host: interface to bind; keep the loopback default.
        seed: seeds the synthetic account and the fault draws.
        runs: number of historical runs in the account.
        latency: seconds added before every answer.
        fault_rate: share of requests, in [0, 1], that fail transiently.
        faults: the kinds to draw from, uniformly; a subset of `FAULT_KINDS`:
            ``http_500``/``http_502``/``http_503`` (HTML gateway page with that status),
            ``http_429`` (HTML page, ``Retry-After: <retry_after>``), ``code_5000`` and
            ``code_4290`` (HTTP 200 error envelopes), ``drop`` (connection closed, no answer),
            ``truncated`` (HTTP 200, half the JSON body, matching Content-Length), ``slow``
            (correct answer after `slow_seconds`).
        max_consecutive_faults: the same request (path and body) never faults more often in a
            row, so `max_consecutive_faults + 1` attempts always get through.
        slow_seconds: delay of the ``slow`` fault; make it longer than the client's timeout.
        retry_after: the Retry-After value of ``http_429``, in seconds (0 allowed).
        rate_limit: requests per second allowed (token bucket); None for no limit. Requests
            over the limit get HTTP 200 with code 4290.
        rate_burst: bucket capacity; default ``max(1, rate_limit)``.
        api_key: the key that authenticates.
        grow_on_list: each run/list request first adds this many new ready/running runs.
        account: serve this prebuilt account instead of building one from `seed` and `runs`.

    Raises ValueError naming the bad value when a knob is out of range.

    Example:
        >>> import json, urllib.request
        >>> with serve(runs=3) as srv:
        ...     request = urllib.request.Request(
        ...         srv.url + "/api/v1/run/list",
        ...         data=json.dumps({"page_index": 1, "page_size": 10}).encode(),
        ...         headers={"api-key": srv.api_key, "Content-Type": "application/json"},
        ...     )
        ...     with urllib.request.urlopen(request) as response:
        ...         json.load(response)["data"]["count"]
        3
    """
    server = SandboxServer(
        port=port,
        host=host,
        seed=seed,
        runs=runs,
        latency=latency,
        fault_rate=fault_rate,
        faults=faults,
        max_consecutive_faults=max_consecutive_faults,
        slow_seconds=slow_seconds,
        retry_after=retry_after,
        rate_limit=rate_limit,
        rate_burst=rate_burst,
        api_key=api_key,
        grow_on_list=grow_on_list,
        account=account,
    )
    with server:
        yield server
