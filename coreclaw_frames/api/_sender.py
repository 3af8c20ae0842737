"""The client's own transport: one request over HTTP with ``requests``, under a deadline.

:meth:`HTTPTransport.send` sends one :class:`~coreclaw_frames.api._transport.HTTPRequest` and
returns status, headers and the whole body, bounded:

* ``request.timeout`` is a deadline for the whole exchange, from connecting to the last byte
  (see :mod:`~coreclaw_frames.api._watchdog`);
* a body over :data:`~coreclaw_frames.api._transport.MAX_ANSWER_BYTES` (after decompression)
  is refused, in bounded steps, before it fills memory;
* a host that does not resolve or fails TLS, or refuses :data:`CONNECT_FAILURES_TO_STOP`
  connections in a row, raises :class:`~coreclaw_frames.ConnectionFailedError`, which stops a
  batch instead of costing every slug its retries;
* :meth:`HTTPTransport.cancel` (Ctrl-C) cuts every request in flight at once.

Redirects are never followed: the key is only ever sent to the host it was meant for. This
module and the watchdog are the only ones that import ``requests`` or ``urllib3``; it is the
one place where their exceptions become ours.
"""

from __future__ import annotations

import http.cookiejar
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

from coreclaw_frames._errors import (
    CancelledError,
    ConnectionFailedError,
    CoreClawError,
    TransportError,
)
from coreclaw_frames.api._transport import (
    MAX_ANSWER_BYTES,
    BaseTransport,
    HTTPAnswer,
    HTTPRequest,
    answer_too_large,
    download_too_large,
)
from coreclaw_frames.api._watchdog import Attempt, Watchdog, watched_adapter

__all__ = ["CONNECT_FAILURES_TO_STOP", "DEFAULT_POOL_SIZE", "USER_AGENT", "HTTPTransport"]

USER_AGENT = "coreclaw-frames (python)"
#: Connections kept open to one host, by default.
DEFAULT_POOL_SIZE = 8
#: Connections refused (or not accepted in time) in a row before the host counts as down.
CONNECT_FAILURES_TO_STOP = 3
#: Bytes read from the socket at a time.
READ_CHUNK = 64 * 1024
#: Bytes of a download written at a time.
DOWNLOAD_CHUNK = 1024 * 1024


class HTTPTransport(BaseTransport):
    """Sends requests over HTTP(S) on a pool of ``pool_size`` connections per host.

    Proxies and CA bundles come from the environment (``HTTPS_PROXY``, ``NO_PROXY``,
    ``REQUESTS_CA_BUNDLE``, ...), read once per host. Thread-safe.

    Examples
    --------
    >>> with HTTPTransport(pool_size=4) as transport:
    ...     transport
    HTTPTransport(pool_size=4)
    """

    def __init__(self, *, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        if not isinstance(pool_size, int) or isinstance(pool_size, bool) or pool_size < 1:
            raise ValueError(f"pool_size must be an integer >= 1, got {pool_size!r}")
        self.pool_size = pool_size
        self._lock = threading.Lock()
        self._connect_failures = 0
        self._environment: dict[str, dict[str, Any]] = {}
        self._watchdog = Watchdog()
        self._session = _new_session(pool_size)
        self._closed = False

    def __repr__(self) -> str:
        return f"HTTPTransport(pool_size={self.pool_size})"

    def send(self, request: HTTPRequest) -> HTTPAnswer:
        return self._exchange(request, _read_capped)

    def download(self, request: HTTPRequest, sink: BinaryIO, *, max_bytes: int) -> HTTPAnswer:
        """Stream a 2xx body into ``sink``, a chunk at a time, never holding it whole."""

        def read(response: requests.Response) -> bytes:
            if not 200 <= response.status_code < 300:
                return _read_capped(response)
            _stream_capped(response, sink, max_bytes)
            return b""

        return self._exchange(request, read)

    def _exchange(
        self, request: HTTPRequest, read: Callable[[requests.Response], bytes]
    ) -> HTTPAnswer:
        """Send ``request`` under its deadline; ``read`` takes the answer's body."""
        if self._closed:
            raise CoreClawError("this transport is closed")
        settings = self._settings_for(request.url)
        with Attempt(self._watchdog, time.monotonic() + request.timeout) as attempt:
            try:
                response = self._session.request(
                    request.method,
                    request.url,
                    params=request.params or None,
                    json=request.json,
                    headers=request.headers,
                    timeout=(request.timeout, request.timeout),
                    allow_redirects=False,
                    stream=True,
                    **settings,
                )
                try:
                    body = read(response)
                finally:
                    response.close()
            except requests.RequestException as exc:
                error = self._translate(exc, attempt, request)
                if any(value in str(exc) for value in request.headers.values()):
                    raise error from None  # never chain a text that quotes the key
                raise error from exc
        with self._lock:
            self._connect_failures = 0
        return HTTPAnswer(response.status_code, response.headers, body)

    def cancel(self) -> None:
        self._watchdog.cancel()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._watchdog.close()
            self._session.close()

    def _settings_for(self, url: str) -> dict[str, Any]:
        """The proxies and CA bundle the environment sets for ``url``'s host, read once: the
        session does not read the environment on every call (a quarter of its time on
        loopback)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        settings = self._environment.get(origin)
        if settings is None:
            with requests.Session() as reader:
                merged = reader.merge_environment_settings(origin, {}, None, None, None)
            settings = {"proxies": merged["proxies"], "verify": merged["verify"]}
            self._environment[origin] = settings
        return settings

    def _translate(
        self, exc: requests.RequestException, attempt: Attempt, request: HTTPRequest
    ) -> CoreClawError:
        """Our error for a failure of ``requests``, naming the host where it is at fault."""
        host = urlsplit(request.url).netloc
        if attempt.cancelled:
            return CancelledError("interrupted")
        if attempt.expired or (
            isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectTimeout)
        ):
            return TransportError(f"no complete answer within {request.timeout:g}s")
        if isinstance(exc, requests.exceptions.SSLError):
            return ConnectionFailedError(
                f"TLS with {host} failed ({_reason(exc)}); is it an https:// server?"
            )
        cause = _cause(exc)
        if isinstance(cause, NameResolutionError):
            return ConnectionFailedError(f"cannot connect to {host}: the name does not resolve")
        if isinstance(exc, requests.ConnectTimeout):
            return self._connect_failed(host, f"no connection within {request.timeout:g}s")
        if isinstance(cause, NewConnectionError):
            return self._connect_failed(host, _reason(cause))
        if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
            return TransportError(f"connection to {host} lost ({_reason(exc)})")
        return TransportError(f"request failed ({type(exc).__name__})")

    def _connect_failed(self, host: str, why: str) -> CoreClawError:
        with self._lock:
            self._connect_failures += 1
            failures = self._connect_failures
        if failures >= CONNECT_FAILURES_TO_STOP:
            return ConnectionFailedError(
                f"cannot connect to {host}: {why} ({failures} attempts in a row)"
            )
        return TransportError(f"cannot connect to {host}: {why}")


def _read_capped(response: requests.Response) -> bytes:
    """The whole body, refused past MAX_ANSWER_BYTES after decompression."""
    declared = response.headers.get("Content-Length", "")
    encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
    declared_size = int(declared) if declared.isascii() and declared.isdigit() else 0
    if not encoded and declared_size > MAX_ANSWER_BYTES:
        raise answer_too_large()
    parts, total = [], 0
    for chunk in response.iter_content(READ_CHUNK):
        total += len(chunk)
        if total > MAX_ANSWER_BYTES:
            raise answer_too_large()
        parts.append(chunk)
    return b"".join(parts)


def _stream_capped(response: requests.Response, sink: BinaryIO, max_bytes: int) -> None:
    """Write the body to ``sink``; refused past ``max_bytes``, failed if cut short."""
    declared = response.headers.get("Content-Length", "")
    encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
    declared_size = int(declared) if declared.isascii() and declared.isdigit() else None
    if not encoded and declared_size is not None and declared_size > max_bytes:
        raise download_too_large(max_bytes)
    total = 0
    for chunk in response.iter_content(DOWNLOAD_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise download_too_large(max_bytes)
        sink.write(chunk)
    if not encoded and declared_size is not None and total != declared_size:
        raise TransportError(f"download ended after {total:,} of {declared_size:,} bytes")


def _cause(exc: BaseException) -> BaseException | None:
    """The urllib3 error behind a requests error (``MaxRetryError.reason``), if any."""
    inner = exc.args[0] if exc.args else None
    return getattr(inner, "reason", inner) if isinstance(inner, BaseException) else None


def _reason(exc: BaseException) -> str:
    """A short reason for ``exc``: the OS error's text when there is one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror.lower()
        seen = seen.__cause__ or seen.__context__ or _cause(seen)
        if seen is exc:
            break
    return type(exc).__name__


def _new_session(pool_size: int) -> requests.Session:
    session = requests.Session()
    # The environment is read once per host (HTTPTransport._settings_for), not on every call.
    session.trust_env = False
    adapter = watched_adapter(pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    # The session is shared by threads: refusing cookies removes its only shared mutable state.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session
