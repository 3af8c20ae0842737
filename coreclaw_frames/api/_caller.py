"""Calls: one API request, sent (and sent again) through a transport until it has an answer.

:meth:`Caller.call` turns a dialect's :class:`~coreclaw_frames.api._dialect.Request` into an
:class:`~coreclaw_frames.api._transport.HTTPRequest` for the client's base URL and key, sends it
through the transport with retries (decided by the pure functions of
:mod:`~coreclaw_frames.api._retry` from the client's :class:`RetryPolicy`, run by tenacity)
under a rate controller shared by every thread, and returns what the dialect unwraps from the
answer. On the way the client's own key is scrubbed out of every answer body, before anything
reads it, and the server's clock is read from the ``Date`` header.

:meth:`Caller.cancel` (Ctrl-C) wakes every wait at once and has the transport cut every request
in flight. This module knows nothing of HTTP libraries: any transport does.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO, TypeVar

import tenacity

from coreclaw_frames._errors import (
    CancelledError,
    CoreClawError,
    RateLimitError,
    RetriesExhaustedError,
    TransportError,
)
from coreclaw_frames.api._dialect import Dialect, Request, server_date
from coreclaw_frames.api._download import DOWNLOAD_TIMEOUT, check_download_answer
from coreclaw_frames.api._policy import RetryPolicy
from coreclaw_frames.api._retry import RateController, RetryBudget, retry_delay, should_retry
from coreclaw_frames.api._scrub import scrub_secret, secret_bytes
from coreclaw_frames.api._transport import (
    MAX_ANSWER_BYTES,
    BaseTransport,
    HTTPRequest,
    answer_too_large,
)

__all__ = ["DATE_RESOLUTION", "Caller"]

logger = logging.getLogger("coreclaw_frames")

T = TypeVar("T")

#: An HTTP ``Date`` names a whole second.
DATE_RESOLUTION = 1.0


class Caller:
    """Sends requests to one base URL with one key, through ``transport``. Thread-safe.

    ``clock`` (monotonic seconds) and ``sleep`` drive the waits; by default the real clock and
    a wait that :meth:`cancel` cuts short.
    """

    def __init__(
        self,
        transport: BaseTransport,
        *,
        base_url: str,
        auth_headers: Mapping[str, str],
        secret: str,
        timeout: float,
        policy: RetryPolicy,
        rate_limit: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.transport = transport
        self.base_url = base_url
        self.timeout = timeout
        self.policy = policy
        self._auth_headers = dict(auth_headers)
        self._secret = secret_bytes(secret)
        self._sleeper = sleep
        self.rate = RateController(rate_limit, policy=policy, clock=clock, sleep=self._sleep)
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._epoch = 0  # bumped by cancel(): attempts of an older epoch stop
        self.requests_sent = 0
        #: Download attempts (storage host), counted apart from API requests.
        self.downloads_sent = 0
        #: The whole-download deadline (seconds): a file may take longer than an API answer.
        self.download_timeout = max(timeout, DOWNLOAD_TIMEOUT)
        #: The server's clock minus this machine's (seconds), from the ``Date`` of the latest
        #: answer that had one; None before any.
        self.clock_offset: float | None = None
        self._closed = False

    def close(self) -> None:
        """Close the transport. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self.transport.close()

    def cancel(self) -> None:
        """Stop every request in flight and every wait now (Ctrl-C); later calls go ahead."""
        with self._wake:
            self._epoch += 1
            self._wake.notify_all()
        self.transport.cancel()

    def call(self, request: Request, dialect: Dialect) -> Any:
        """Send ``request`` (with retries) and return the ``data`` of its answer.

        Raises :class:`~coreclaw_frames.CoreClawError` subclasses: ``AuthenticationError`` and
        ``ConnectionFailedError`` at once, ``RetriesExhaustedError`` when retries ran out.
        """
        return self._with_retries(request.what, self._attempt, request, dialect)

    def download(self, url: str, sink: BinaryIO, *, max_bytes: int) -> int:
        """Stream the file at ``url`` into ``sink`` (with retries) and return its size.

        The request carries no credential at all (the file is on another host), follows no
        redirect (see :mod:`~coreclaw_frames.api._download`) and is not paced by the rate
        controller, which speaks for the API host. A retry starts ``sink`` over.
        """
        return self._with_retries("download", self._download_attempt, url, sink, max_bytes)

    def _with_retries(self, what: str, attempt: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise CoreClawError("this Client is closed")
        epoch = self._epoch
        budget = RetryBudget(self.policy, self.rate)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(should_retry),
            stop=lambda state: self._epoch != epoch or budget.exhausted(_error_of(state)),
            wait=lambda state: self._delay(_error_of(state), state.attempt_number),
            sleep=self._sleep,
            before_sleep=lambda state: _log_retry(what, state),
            reraise=True,
        )
        try:
            return retrying(attempt, *args)
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
            delay = retry_delay(error or TransportError("unknown"), attempt, self.policy, self._rng)
        if isinstance(error, RateLimitError):
            delay = min(delay, max(0.0, self.rate.patience_left()))
        return delay

    def _sleep(self, seconds: float) -> None:
        """Wait, unless :meth:`cancel` is called meanwhile: then raise CancelledError."""
        with self._wake:
            epoch = self._epoch
            if self._sleeper is None:
                self._wake.wait_for(lambda: self._epoch != epoch, timeout=seconds)
        if self._sleeper is not None:
            self._sleeper(seconds)
        if self._epoch != epoch:
            raise CancelledError("interrupted")

    def _attempt(self, request: Request, dialect: Dialect) -> Any:
        """One attempt: wait for the rate controller, send, scrub, read the clock, unwrap."""
        sent_at = self.rate.acquire()
        with self._lock:
            self.requests_sent += 1
        answer = self.transport.send(
            HTTPRequest(
                request.method,
                f"{self.base_url}{request.path}",
                params=request.params,
                json=request.json,
                headers=self._auth_headers,
                timeout=self.timeout,
            )
        )
        if len(answer.body) > MAX_ANSWER_BYTES:  # a transport that does not bound its answers
            raise answer_too_large()
        body = scrub_secret(answer.body, self._secret)
        self._read_clock(answer.headers)
        try:
            data = dialect.unwrap(answer.status, answer.headers, body, request.what)
        except RateLimitError as exc:
            self.rate.throttled(sent_at, exc.retry_after)
            raise
        self.rate.answered(sent_at)
        return data

    def _download_attempt(self, url: str, sink: BinaryIO, max_bytes: int) -> int:
        sink.seek(0)
        sink.truncate()
        with self._lock:
            self.downloads_sent += 1
        request = HTTPRequest("GET", url, timeout=self.download_timeout)
        answer = self.transport.download(request, sink, max_bytes=max_bytes)
        check_download_answer(answer, url)
        return sink.tell()

    def _read_clock(self, headers: Mapping[str, str]) -> None:
        """Note how far the server's clock is from ours, from the answer's ``Date``."""
        sent = server_date(headers)
        if sent is not None:
            # Date is the second the answer was sent, cut to the second: on average half a
            # second before it arrived.
            self.clock_offset = sent + DATE_RESOLUTION / 2 - time.time()


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
