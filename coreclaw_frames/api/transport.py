"""The HTTP transport: one session, retries, rate control, deadlines, and answers handed to a
dialect.

:meth:`Transport.call` sends one :class:`~coreclaw_frames.api.dialect.Request` with retries
(decided by the pure functions of :mod:`coreclaw_frames.api.retry`, run by tenacity) under a
rate controller shared by every thread, and returns what the dialect unwraps from the answer.
It is the one place where ``requests`` exceptions become ours. Bounds:

* ``timeout`` is a deadline for each attempt, from connecting to the last byte (see
  :mod:`~coreclaw_frames.api.watchdog`);
* answers over :data:`MAX_ANSWER_BYTES` (after decompression) are refused;
* a host that does not resolve or fails TLS, or refuses :data:`CONNECT_FAILURES_TO_STOP`
  connections in a row, raises :class:`~coreclaw_frames.ConnectionFailedError`, which stops a
  batch instead of costing every slug its retries;
* :meth:`Transport.cancel` (Ctrl-C) cuts every request in flight and every wait at once.

Redirects are never followed: the key is only ever sent to the configured host. A server that
quotes the key back (in an error message, in a run's ``err_msg``) never gets it any further:
:func:`scrub_secret` replaces it in every answer body, before anything reads the body.
"""

from __future__ import annotations

import http.cookiejar
import json
import logging
import random
import re
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import tenacity
from urllib3.exceptions import NameResolutionError, NewConnectionError

from coreclaw_frames.api.dialect import Dialect, Request, server_date
from coreclaw_frames.api.retry import RateController, RetryBudget, retry_delay, should_retry
from coreclaw_frames.api.watchdog import Attempt, Watchdog, watched_adapter
from coreclaw_frames.errors import (
    AnswerTooLargeError,
    CancelledError,
    ConnectionFailedError,
    CoreClawError,
    RateLimitError,
    RetriesExhaustedError,
    TransportError,
)

__all__ = [
    "CONNECT_FAILURES_TO_STOP",
    "MAX_ANSWER_BYTES",
    "MIN_SECRET_CHARS",
    "REDACTED",
    "USER_AGENT",
    "Transport",
    "scrub_secret",
]

logger = logging.getLogger("coreclaw_frames")

USER_AGENT = "coreclaw-frames (python)"
#: The largest answer accepted, after decompression (bytes). A page of 100 runs is ~40 KB.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
#: Connections refused (or not accepted in time) in a row before the host counts as down.
CONNECT_FAILURES_TO_STOP = 3
#: Bytes read from the socket at a time.
READ_CHUNK = 64 * 1024
#: An HTTP ``Date`` names a whole second.
DATE_RESOLUTION = 1.0
#: What the key is replaced with in an answer that quotes it.
REDACTED = "***"
#: A key shorter than this is not looked for in answers: it could not be told apart from
#: ordinary text (CoreClaw's keys are far longer).
MIN_SECRET_CHARS = 8
# One escape of a JSON string: \uXXXX or a short escape. Those of ASCII characters decoded are
# enough to find an escaped key (keys are printable ASCII); scanning every escape keeps the
# scan aligned ("\\u0041" is a backslash and "u0041").
_JSON_ESCAPE = re.compile(rb'\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))')
_SHORT_ESCAPES = {b'"': b'"', b"\\": b"\\", b"/": b"/"}


class Transport:
    """Sends requests to one base URL with one set of auth headers. Thread-safe."""

    def __init__(
        self,
        base_url: str,
        auth_headers: Mapping[str, str],
        *,
        timeout: float,
        max_retries: int,
        rate_limit: float | None,
        pool_size: int,
        secret: str = "",
    ) -> None:
        self.base_url = base_url
        self._secret = secret.encode() if len(secret) >= MIN_SECRET_CHARS else b""
        self.host = urlsplit(base_url).netloc
        self.timeout = timeout
        self.max_retries = max_retries
        self.rate = RateController(rate_limit, sleep=self._sleep)
        self._auth_headers = dict(auth_headers)
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._epoch = 0  # bumped by cancel(): attempts of an older epoch stop
        self._connect_failures = 0
        self.requests_sent = 0
        #: The server's clock minus this machine's (seconds), from the ``Date`` of the latest
        #: answer that had one; None before any.
        self.clock_offset: float | None = None
        self._watchdog = Watchdog()
        self._session = _new_session(base_url, pool_size)
        self._closed = False

    def close(self) -> None:
        """Release the connection pool. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._watchdog.close()
            self._session.close()

    def cancel(self) -> None:
        """Stop every request in flight and every wait now (Ctrl-C); later calls go ahead."""
        with self._wake:
            self._epoch += 1
            self._wake.notify_all()
        self._watchdog.cancel()

    def call(self, request: Request, dialect: Dialect) -> Any:
        """Send ``request`` (with retries) and return the ``data`` of its answer.

        Raises :class:`~coreclaw_frames.CoreClawError` subclasses: ``AuthenticationError`` and
        ``ConnectionFailedError`` at once, ``RetriesExhaustedError`` when retries ran out.
        """
        if self._closed:
            raise CoreClawError("this Client is closed")
        epoch = self._epoch
        budget = RetryBudget(self.max_retries, self.rate)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(should_retry),
            stop=lambda state: self._epoch != epoch or budget.exhausted(_error_of(state)),
            wait=lambda state: self._delay(_error_of(state), state.attempt_number),
            sleep=self._sleep,
            before_sleep=lambda state: _log_retry(request.what, state),
            reraise=True,
        )
        try:
            return retrying(self._send, request, dialect)
        except CoreClawError as exc:
            if self._epoch != epoch:
                raise CancelledError("interrupted") from None
            if should_retry(exc):
                why = None
                if budget.out_of_patience:
                    why = (
                        f"{exc.reason if isinstance(exc, RateLimitError) else exc}: rate "
                        f"limited without a successful answer for {self.rate.patience:g}s; "
                        "gave up"
                    )
                raise RetriesExhaustedError(exc, budget.attempts, why=why) from exc
            raise

    def _delay(self, error: BaseException | None, attempt: int) -> float:
        with self._lock:
            delay = retry_delay(error or TransportError("unknown"), attempt, self._rng)
        if isinstance(error, RateLimitError):
            delay = min(delay, max(0.0, self.rate.patience_left()))
        return delay

    def _sleep(self, seconds: float) -> None:
        """Wait, unless :meth:`cancel` is called meanwhile: then raise CancelledError."""
        with self._wake:
            epoch = self._epoch
            self._wake.wait_for(lambda: self._epoch != epoch, timeout=seconds)
            if self._epoch != epoch:
                raise CancelledError("interrupted")

    def _send(self, request: Request, dialect: Dialect) -> Any:
        """One attempt: wait for the rate controller, send, read, unwrap."""
        sent_at = self.rate.acquire()
        with self._lock:
            self.requests_sent += 1
        with Attempt(self._watchdog, time.monotonic() + self.timeout) as attempt:
            try:
                response = self._session.request(
                    request.method,
                    f"{self.base_url}{request.path}",
                    params=request.params or None,
                    json=request.json,
                    headers=self._auth_headers,
                    timeout=(self.timeout, self.timeout),
                    allow_redirects=False,
                    stream=True,
                )
                try:
                    body = scrub_secret(_read_capped(response), self._secret)
                finally:
                    response.close()
            except requests.RequestException as exc:
                error = self._translate(exc, attempt)
                if any(value in str(exc) for value in self._auth_headers.values()):
                    raise error from None  # never chain a text that quotes the key
                raise error from exc
        with self._lock:
            self._connect_failures = 0
        self._read_clock(response.headers)
        try:
            data = dialect.unwrap(response.status_code, response.headers, body, request.what)
        except RateLimitError as exc:
            self.rate.throttled(sent_at, exc.retry_after)
            raise
        self.rate.answered(sent_at)
        return data

    def _read_clock(self, headers: Mapping[str, str]) -> None:
        """Note how far the server's clock is from ours, from the answer's ``Date``."""
        sent = server_date(headers)
        if sent is not None:
            # Date is the second the answer was sent, cut to the second: on average half a
            # second before it arrived.
            self.clock_offset = sent + DATE_RESOLUTION / 2 - time.time()

    def _translate(self, exc: requests.RequestException, attempt: Attempt) -> CoreClawError:
        """Our error for a failure of ``requests``, naming the host where it is at fault."""
        if attempt.cancelled:
            return CancelledError("interrupted")
        if attempt.expired or (
            isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectTimeout)
        ):
            return TransportError(f"no complete answer within {self.timeout:g}s")
        if isinstance(exc, requests.exceptions.SSLError):
            return ConnectionFailedError(
                f"TLS with {self.host} failed ({_reason(exc)}); is it an https:// server?"
            )
        cause = _cause(exc)
        if isinstance(cause, NameResolutionError):
            return ConnectionFailedError(
                f"cannot connect to {self.host}: the name does not resolve"
            )
        if isinstance(exc, requests.ConnectTimeout):
            return self._connect_failed(f"no connection within {self.timeout:g}s")
        if isinstance(cause, NewConnectionError):
            return self._connect_failed(_reason(cause))
        if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
            return TransportError(f"connection to {self.host} lost ({_reason(exc)})")
        return TransportError(f"request failed ({type(exc).__name__})")

    def _connect_failed(self, why: str) -> CoreClawError:
        with self._lock:
            self._connect_failures += 1
            failures = self._connect_failures
        if failures >= CONNECT_FAILURES_TO_STOP:
            return ConnectionFailedError(
                f"cannot connect to {self.host}: {why} ({failures} attempts in a row)"
            )
        return TransportError(f"cannot connect to {self.host}: {why}")


def _read_capped(response: requests.Response) -> bytes:
    """The whole body, refused past MAX_ANSWER_BYTES after decompression."""
    declared = response.headers.get("Content-Length", "")
    encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
    declared_size = int(declared) if declared.isascii() and declared.isdigit() else 0
    if not encoded and declared_size > MAX_ANSWER_BYTES:
        raise _too_large()
    parts, total = [], 0
    for chunk in response.iter_content(READ_CHUNK):
        total += len(chunk)
        if total > MAX_ANSWER_BYTES:
            raise _too_large()
        parts.append(chunk)
    return b"".join(parts)


def scrub_secret(body: bytes, secret: bytes) -> bytes:
    r"""``body`` with every occurrence of ``secret`` replaced by :data:`REDACTED`, also where a
    JSON string spells it with escapes (``\u0073k-...``); ``body`` itself when it holds none.

    >>> scrub_secret(b'{"message": "bad key sk-12345678"}', b"sk-12345678")
    b'{"message": "bad key ***"}'
    >>> scrub_secret(b'{"message": "bad key \\u0073k-12345678"}', b"sk-12345678")
    b'{"message":"bad key ***"}'
    """
    if not secret:
        return body
    if secret in body:
        body = body.replace(secret, REDACTED.encode())
    if b"\\" not in body or secret not in _JSON_ESCAPE.sub(_ascii_escape, body):
        return body
    text = secret.decode()
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # not JSON: what is quoted of it must not hold the key
        return _JSON_ESCAPE.sub(_ascii_escape, body).replace(secret, REDACTED.encode())
    clean = _scrub_strings(document, text)
    return json.dumps(clean, ensure_ascii=False, separators=(",", ":")).encode()


def _ascii_escape(match: re.Match[bytes]) -> bytes:
    code, short = match.groups()
    if short is not None:
        return _SHORT_ESCAPES.get(short, match.group(0))
    value = int(code, 16)
    return bytes([value]) if value < 0x80 else match.group(0)


def _scrub_strings(value: Any, secret: str) -> Any:
    """``value`` (decoded JSON) with ``secret`` replaced in every string, keys included."""
    if isinstance(value, str):
        return value.replace(secret, REDACTED)
    if isinstance(value, list):
        return [_scrub_strings(item, secret) for item in value]
    if isinstance(value, dict):
        return {
            _scrub_strings(key, secret): _scrub_strings(item, secret) for key, item in value.items()
        }
    return value


def _too_large() -> AnswerTooLargeError:
    return AnswerTooLargeError(f"answer larger than {MAX_ANSWER_BYTES // 2**20} MiB refused")


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


def _error_of(state: tenacity.RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


def _log_retry(what: str, state: tenacity.RetryCallState) -> None:
    # Retries are routine; DEBUG keeps them out of a notebook's output unless asked for.
    sleep = state.next_action.sleep if state.next_action else 0.0
    logger.debug(
        "%s attempt %d failed (%s); retrying in %.2fs",
        what,
        state.attempt_number,
        _error_of(state),
        sleep,
    )


def _new_session(base_url: str, pool_size: int) -> requests.Session:
    session = requests.Session()
    # requests reads proxy and CA-bundle variables from the environment on every call (a
    # quarter of its time on loopback); read them once, for the one host we talk to.
    settings = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    session.trust_env = False
    adapter = watched_adapter(pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    # The session is shared by threads: refusing cookies removes its only shared mutable state.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session
