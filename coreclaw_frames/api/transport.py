"""The HTTP transport: one session, retries, rate control, and answers handed to a dialect.

:meth:`Transport.call` sends one :class:`~coreclaw_frames.api.dialect.Request` with retries
(decided by the pure functions of :mod:`coreclaw_frames.api.retry`, run by tenacity) under a
rate controller shared by every thread, and returns what the dialect unwraps from the answer.
It is the one place where ``requests`` exceptions become ours. Redirects are never followed:
the key is only ever sent to the configured host.
"""

from __future__ import annotations

import http.cookiejar
import logging
import random
import threading
from collections.abc import Mapping
from typing import Any

import requests
import tenacity
from requests.adapters import HTTPAdapter

from coreclaw_frames.api.dialect import Dialect, Request
from coreclaw_frames.api.retry import RateController, RetryBudget, retry_delay, should_retry
from coreclaw_frames.errors import (
    CoreClawError,
    RateLimitError,
    RetriesExhaustedError,
    TransportError,
)

__all__ = ["USER_AGENT", "Transport"]

logger = logging.getLogger("coreclaw_frames")

USER_AGENT = "coreclaw-frames (python)"


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
    ) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.rate = RateController(rate_limit)
        self._auth_headers = dict(auth_headers)
        self._rng = random.Random()
        self._rng_lock = threading.Lock()
        self._session = _new_session(base_url, pool_size)
        self._closed = False

    def close(self) -> None:
        """Release the connection pool. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._session.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def call(self, request: Request, dialect: Dialect) -> Any:
        """Send ``request`` (with retries) and return the ``data`` of its answer.

        Raises :class:`~coreclaw_frames.CoreClawError` subclasses: ``AuthenticationError`` at
        once, ``RetriesExhaustedError`` when retries ran out.
        """
        if self._closed:
            raise CoreClawError("this Client is closed")
        budget = RetryBudget(self.max_retries)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(should_retry),
            stop=lambda state: budget.exhausted(_error_of(state)),
            wait=lambda state: self._delay(_error_of(state), state.attempt_number),
            before_sleep=lambda state: _log_retry(request.what, state),
            reraise=True,
        )
        try:
            return retrying(self._send, request, dialect)
        except CoreClawError as exc:
            if should_retry(exc):
                attempts = budget.failures + budget.rate_limited
                raise RetriesExhaustedError(exc, attempts) from exc
            raise

    def _delay(self, error: BaseException | None, attempt: int) -> float:
        with self._rng_lock:
            return retry_delay(error or TransportError("unknown"), attempt, self._rng)

    def _send(self, request: Request, dialect: Dialect) -> Any:
        """One attempt: wait for the rate controller, send, unwrap."""
        sent_at = self.rate.acquire()
        try:
            response = self._session.request(
                request.method,
                f"{self.base_url}{request.path}",
                params=request.params or None,
                json=request.json,
                headers=self._auth_headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise TransportError(f"timeout after {self.timeout:g}s") from exc
        except requests.ConnectionError as exc:
            raise TransportError(f"connection failed ({type(exc).__name__})") from exc
        except requests.RequestException as exc:
            raise TransportError(f"request failed ({type(exc).__name__})") from exc
        try:
            return dialect.unwrap(
                response.status_code, response.headers, response.content, request.what
            )
        except RateLimitError as exc:
            self.rate.throttled(sent_at, exc.retry_after)
            raise


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
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    # The session is shared by threads: refusing cookies removes its only shared mutable state.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session
