"""An embedded CoreClaw-compatible HTTP server on loopback, speaking API v1 and API v2.

No machine of ours can reach production, so the demo, the integration tests and the benchmarks
all talk to this server over real HTTP. One seeded account is served through both versions:
v1 (``POST /api/v1/...``, JSON bodies, HTTP 200 envelopes with error codes; see
`coreclaw_frames.sandbox._v1`) and v2 (``GET /api/v2/...``, query parameters, HTTP statuses
paired with codes, month-bounded Run History; see `coreclaw_frames.sandbox._v2`). The server
can misbehave on purpose the way real gateways do: latency, HTML 5xx pages, HTTP 429 with
Retry-After, dropped connections, truncated bodies, answers slower than a client's timeout, and
a token-bucket rate limit (see `coreclaw_frames.sandbox._faults`).

A path equal to ``/api/v2`` or below it is v2's; every other path is v1's. Every request then
goes through the same steps, in this order:

1. route: an unknown path or method answers "not found" (v1: HTTP 200 code 4040, and v1 routes
   POST only; v2: HTTP 404 code 11004, and v2 routes GET only);
2. auth (v1: 4010, 20001, 20002, 10001, 10002; v2: HTTP 401 with 12001 or 12002);
3. rate limit (v1: HTTP 200 code 4290; v2: HTTP 429 code 13000; counted as rejected);
4. fault injection;
5. parameter validation (v1 4000; v2 11000 with HTTP 422 or 400), then the endpoint itself.

`latency` is added before any of these, so it delays every answer, errors included.

v2's results export answers with a link to a second loopback server, the storage host
(`SandboxServer.storage_url`), which serves the file without the API key and refuses any
request that carries one (see `coreclaw_frames.sandbox._storage`); it starts and stops with
the API server.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any, cast

from coreclaw_frames.sandbox._account import DEFAULT_RUNS, Account, build_account
from coreclaw_frames.sandbox._echo import echo_credential
from coreclaw_frames.sandbox._faults import (
    ENVELOPE_FAULTS,
    FAULT_KINDS,
    GATEWAY_FAULTS,
    Counters,
    CounterSnapshot,
    FaultInjector,
    TokenBucket,
)
from coreclaw_frames.sandbox._knobs import check_knobs
from coreclaw_frames.sandbox._protocol import (
    DEFAULT_API_KEY,
    KEY_OK,
    SPECIAL_KEYS,
    Answer,
    Api,
    Request,
    check_key,
    gateway_page,
)
from coreclaw_frames.sandbox._storage import Storage, s3_error
from coreclaw_frames.sandbox._v1 import V1Api
from coreclaw_frames.sandbox._v2 import V2Api
from coreclaw_frames.sandbox._wire import HTTPServer

__all__ = ["SandboxServer", "serve"]

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_CONSECUTIVE_FAULTS = 2
DEFAULT_SLOW_SECONDS = 2.0
DEFAULT_RETRY_AFTER = 1
DEFAULT_MISSING_RUN = "404"
DEFAULT_CROSS_MONTH_STATUS = 400
DEFAULT_LINK_TTL = 3600.0

SHUTDOWN_POLL_SECONDS = 0.05
"""How often the accept loop checks for shutdown: bounds how long `stop()` takes."""


class SandboxServer:
    """A CoreClaw-compatible server (API v1 and v2) on loopback, started and stopped explicitly
    (`start`, `stop`) or as a context manager; most code wants `serve`, which takes the same
    parameters.

    Both versions serve the same account, share the rate limit, the fault draws and the
    counters.

    Parameters
    ----------
    port : int, default 0
        TCP port; 0 picks a free ephemeral one (read it back from `srv.url`).
    host : str, default "127.0.0.1"
        Interface to bind; keep the loopback default.
    seed : int, default 0
        Seeds the synthetic account and the fault draws.
    runs : int, default 5000
        Number of historical runs in the account.
    latency : float, default 0.0
        Seconds added before every answer.
    fault_rate : float, default 0.0
        Share of requests, in [0, 1], that fail transiently.
    faults : iterable of str, default FAULT_KINDS
        The kinds to draw from, uniformly; a subset of `FAULT_KINDS`:
        ``http_500``/``http_502``/``http_503`` (HTML gateway page with that status),
        ``http_429`` (HTML page, ``Retry-After: <retry_after>``), ``code_5000`` and
        ``code_4290`` (error envelopes: v1 HTTP 200 with code 5000 or 4290; v2 HTTP 500
        with code 10000, or HTTP 429 with code 13000 and no Retry-After), ``drop``
        (connection closed, no answer), ``truncated`` (the answer's status, half its JSON
        body, matching Content-Length), ``slow`` (correct answer after `slow_seconds`).
    max_consecutive_faults : int, default 2
        The same request (method, path, query and body) never faults more often in a row,
        so `max_consecutive_faults + 1` attempts always get through.
    slow_seconds : float, default 2.0
        Delay of the ``slow`` fault; make it longer than the client's timeout.
    retry_after : int, default 1
        The Retry-After value of ``http_429``, in seconds (0 allowed).
    rate_limit : float, optional
        Requests per second allowed (token bucket, shared by both versions); None for no
        limit. Requests over the limit get HTTP 200 with code 4290 in v1, HTTP 429 with code
        13000 and no Retry-After in v2.
    rate_burst : float, optional
        Bucket capacity; default ``max(1, rate_limit)``.
    api_key : str, default "sandbox-key-0123456789abcdef"
        The key that authenticates.
    echo_key : bool or "escaped", default False
        Quote the credential a request carried (right or wrong) in every error message and
        every run's ``err_msg``, as a careless server might; ``"escaped"`` spells it with
        JSON ``\\u`` escapes (see `coreclaw_frames.sandbox._echo`).
    grow_on_list : int, default 0
        Each Run History request (v1 run/list, v2 worker-runs list) first adds this many new
        ready/running runs.
    account : Account, optional
        Serve this prebuilt account instead of building one from `seed` and `runs`.
    missing_run : {"404", "70001", "mixed"}, default "404"
        How v2 answers a run that does not exist (detail and results): ``"404"`` (HTTP 404,
        code 11004), ``"70001"`` (HTTP 200, code 70001 "run not found") or ``"mixed"`` (one
        or the other, chosen deterministically per slug). v1 always answers 70001.
    cross_month_status : int, default 400
        The HTTP status of v2's refusal of a Run History time range that crosses a UTC+8
        calendar month (code 11000), in [200, 599].
    accounts : mapping of str to Account, optional
        Further API keys, each reading its own account (a second account on one server);
        `api_key` reads `account`.
    clock_offset : float, default 0.0
        Seconds added to this machine's clock in the ``Date`` header of every answer: a
        server whose clock is ahead (> 0) or behind (< 0) the client's.
    max_results : int, optional
        Build a big account whose succeeded runs hold 0 to `max_results` rows, skewed, about
        a ninth of it on average (``runs=2000, max_results=5000``: about a million rows); see
        `build_account`. Ignored when `account` is given.
    drift_runs : int, default 0
        Add to the built account a worker whose rows change shape between versions, reached
        as ``srv.account.worker(DRIFT_WORKER_PATH)``, and this many runs of it; see
        `build_account`. Ignored when `account` is given.
    storage_fault_rate : float, default 0.0
        Share of storage host downloads, in [0, 1], that fail transiently: HTTP 503 (XML
        ``SlowDown``), a dropped connection, or a body cut short of its Content-Length, drawn
        uniformly and deterministically from `seed`; the same URL never fails more than
        `max_consecutive_faults` times in a row.
    link_ttl : float, default 3600.0
        Seconds an export ``download_url`` stays valid after it is issued; later the storage
        host answers 403 with an S3 ``AccessDenied`` "Request has expired" XML body. 0 issues
        links that have already expired.
    storage_redirect : str, optional
        An ``http(s)://`` URL: the storage host answers every valid download with a 302 to it
        instead of the file, as a host sending clients on to a third host would.

    Attributes
    ----------
    url : str
        The server's base URL.
    storage_url : str
        The storage host's base URL, where export links point.
    port : int
        The bound port.
    api_key : str
        The key that authenticates.
    account : Account
        The served `Account`, shared by both versions; tests may change it live with
        `add_run` and `finish_runs`. Further keys given in `accounts` read their own
        accounts (`account_of`).
    counters : CounterSnapshot
        The request counters.
    latency : float
        The knob of that name, read on every request.
    slow_seconds : float
        The knob of that name, read on every request.
    retry_after : int
        The knob of that name, read on every request.
    echo_key : bool or str
        The knob of that name, read on every request.
    grow_on_list : int
        The knob of that name, read on every request.
    missing_run : str
        The knob of that name, read on every request.
    cross_month_status : int
        The knob of that name, read on every request.
    clock_offset : float
        The knob of that name, read on every request.
    link_ttl : float
        The knob of that name, read whenever a link is issued.
    storage_redirect : str or None
        The knob of that name, read on every storage request.

    Raises
    ------
    ValueError
        Naming the bad value when a knob is out of range.

    Examples
    --------
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
        echo_key: bool | str = False,
        grow_on_list: int = 0,
        account: Account | None = None,
        missing_run: str = DEFAULT_MISSING_RUN,
        cross_month_status: int = DEFAULT_CROSS_MONTH_STATUS,
        accounts: Mapping[str, Account] | None = None,
        clock_offset: float = 0.0,
        max_results: int | None = None,
        drift_runs: int = 0,
        storage_fault_rate: float = 0.0,
        link_ttl: float = DEFAULT_LINK_TTL,
        storage_redirect: str | None = None,
    ) -> None:
        fault_kinds = check_knobs(locals())  # every parameter, by name
        others = dict(accounts or {})

        self.host = host
        self.api_key = api_key
        self.echo_key = echo_key
        self.account = (
            account
            if account is not None
            else build_account(seed=seed, runs=runs, max_results=max_results, drift_runs=drift_runs)
        )
        self.latency = float(latency)
        self.slow_seconds = float(slow_seconds)
        self.retry_after = retry_after
        self.grow_on_list = grow_on_list
        self.missing_run = missing_run
        self.cross_month_status = cross_month_status
        self.clock_offset = float(clock_offset)
        self.link_ttl = float(link_ttl)
        self.storage_redirect = storage_redirect
        self._accounts = others
        self._port = port
        self._counters = Counters()
        self._faults = (
            FaultInjector(seed, float(fault_rate), fault_kinds, max_consecutive_faults)
            if fault_rate > 0
            else None
        )
        self._bucket = (
            TokenBucket(rate_limit, rate_burst if rate_burst is not None else max(1.0, rate_limit))
            if rate_limit is not None
            else None
        )
        self._v1 = V1Api(self)
        self._v2 = V2Api(self)
        self._storage = Storage(
            self, self._counters, seed, float(storage_fault_rate), max_consecutive_faults
        )
        self._stopping = threading.Event()
        self._httpd: HTTPServer | None = None
        self._storage_httpd: HTTPServer | None = None
        self._threads: list[threading.Thread] = []

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

    @property
    def storage_url(self) -> str:
        """The storage host's base URL, e.g. ``http://127.0.0.1:8766``; its port is another
        ephemeral one, bound by `start`."""
        port = 0 if self._storage_httpd is None else self._storage_httpd.server_address[1]
        return f"http://{self.host}:{port}"

    def start(self) -> SandboxServer:
        """Bind the API server and the storage host, serve each in a background daemon
        thread. Returns self."""
        if self._httpd is not None:
            raise RuntimeError("a SandboxServer starts only once; create a new one")
        self._httpd = HTTPServer((self.host, self._port), self._answer, self.clock)
        self._storage_httpd = HTTPServer((self.host, 0), self._answer_storage, self.clock)
        self._storage.base_url = self.storage_url
        for httpd, name in ((self._httpd, "sandbox"), (self._storage_httpd, "sandbox-storage")):
            thread = threading.Thread(
                target=httpd.serve_forever,
                args=(SHUTDOWN_POLL_SECONDS,),
                name=f"coreclaw-{name}-{self.port}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and join the threads. Idempotent."""
        if not self._threads:
            return
        self._stopping.set()
        for httpd in (self._httpd, self._storage_httpd):
            assert httpd is not None
            httpd.shutdown()
            httpd.close_connections()
            httpd.server_close()
        for thread in self._threads:
            thread.join()
        self._threads = []

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def clock(self) -> float:
        """The server's time (unix seconds), as its answers' ``Date`` header tells it: this
        machine's clock plus `clock_offset`."""
        return time.time() + self.clock_offset

    def account_of(self, api_key: str) -> Account:
        """The account an API key reads: `account` for `api_key`, else one of `accounts`."""
        return self._accounts.get(api_key, self.account)

    def known_keys(self) -> tuple[str, ...]:
        """Every API key the server knows: those that authenticate and the special ones."""
        return (self.api_key, *self._accounts, *SPECIAL_KEYS)

    def export_link(self, account: Account, slug: str, fmt: str, keys: tuple[str, ...]) -> str:
        """A new download URL on the storage host (v2's results export)."""
        return self._storage.issue(account, slug, fmt, keys)

    # ------------------------------------------------------------------ counters

    @property
    def counters(self) -> CounterSnapshot:
        """A consistent snapshot of the request counters (a new copy on every access)."""
        return self._counters.snapshot()

    def reset_counters(self) -> None:
        """Set every counter back to zero."""
        self._counters.reset()

    # ------------------------------------------------------------------ request pipeline

    def pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def _answer_storage(self, request: Request) -> Answer:
        try:
            return self._storage.answer(request)
        except Exception:
            logger.exception("sandbox storage failed on %s %s", request.method, request.path)
            return s3_error(500, "InternalError", "We encountered an internal error.")

    def _api(self, path: str) -> Api:
        """The API version a path belongs to."""
        prefix = self._v2.prefix
        return self._v2 if path == prefix or path.startswith(prefix + "/") else self._v1

    def _answer(self, request: Request) -> Answer:
        """Everything but the wire: one parsed request in, one answer out."""
        api = self._api(request.path)
        try:
            answer = self._pipeline(api, request)
            return echo_credential(answer, api.credentials(request)[1], self.echo_key)
        except Exception:
            logger.exception("sandbox failed on %s %s", request.method, request.path)
            return api.internal_error()

    def _pipeline(self, api: Api, request: Request) -> Answer:
        route = api.route(request)
        scheme, key = api.credentials(request)
        self._counters.request(
            path=request.path,
            route=route.name,
            slug=route.slug,
            scheme=scheme,
            query_keys=(name for name, _ in request.query),
        )
        self.pause(self.latency)

        if route.endpoint is None:
            return api.not_found()
        auth = check_key(key, (self.api_key, *self._accounts))
        if auth != KEY_OK:
            return api.auth_error(auth)
        if self._bucket is not None and not self._bucket.take():
            self._counters.rejected()
            return api.rate_limited()

        fault = None
        if self._faults is not None:
            fault = self._faults.draw(request.method, request.target, request.body or b"")
        if fault is not None:
            self._counters.fault(fault)
            if fault in GATEWAY_FAULTS:
                extra = (("Retry-After", str(self.retry_after)),) if fault == "http_429" else ()
                return gateway_page(GATEWAY_FAULTS[fault], extra)
            if fault in ENVELOPE_FAULTS:
                return api.envelope_fault(fault)
            if fault == "drop":
                return Answer(drop=True)
            if fault == "slow":
                self.pause(self.slow_seconds)

        answer = route.endpoint(self.account_of(key))
        if fault == "truncated":
            half = answer.body[: len(answer.body) // 2]
            answer = Answer(status=answer.status, body=half, content_type=answer.content_type)
        return answer


# --------------------------------------------------------------------------- entry point


@contextmanager
def serve(**options: Any) -> Iterator[SandboxServer]:
    """Run a CoreClaw-compatible sandbox (API v1 and v2) on loopback for a `with` block.

    ``options`` are the parameters of `SandboxServer`, documented there (`runs`, `latency`,
    `fault_rate`, `rate_limit`, `api_key`, ...): ``with serve(**options) as srv`` is
    ``with SandboxServer(**options) as srv``.

    Examples
    --------
    >>> import json, urllib.request
    >>> with serve(runs=3) as srv:
    ...     request = urllib.request.Request(
    ...         srv.url + "/api/v1/run/list",
    ...         data=json.dumps({"page_index": 1, "page_size": 10}).encode(),
    ...         headers={"api-key": srv.api_key, "Content-Type": "application/json"},
    ...     )
    ...     with urllib.request.urlopen(request) as response:
    ...         v1_count = json.load(response)["data"]["count"]
    ...     slug = srv.account.runs[0]["slug"]
    ...     request = urllib.request.Request(
    ...         f"{srv.url}/api/v2/worker-runs/{slug}",
    ...         headers={"Authorization": f"Bearer {srv.api_key}"},
    ...     )
    ...     with urllib.request.urlopen(request) as response:
    ...         v1_count, json.load(response)["data"]["slug"] == slug
    (3, True)
    """
    with SandboxServer(**options) as server:
        yield server


# help() and editors show the server's parameters, not ``**options``.
serve.__signature__ = inspect.signature(SandboxServer).replace(  # type: ignore[attr-defined]
    return_annotation="Iterator[SandboxServer]"
)
