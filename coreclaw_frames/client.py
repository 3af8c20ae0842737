"""The CoreClaw client: configuration, the HTTP session, and one request in, data or error out.

:meth:`Client.request` sends one API call with retries and rate control; :func:`unwrap` turns an
HTTP answer into the envelope's ``data`` or the right :class:`~coreclaw_frames.CoreClawError`.
This module knows nothing of pandas.
"""

from __future__ import annotations

import email.utils
import http.cookiejar
import ipaddress
import json
import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import tenacity
from requests.adapters import HTTPAdapter

from coreclaw_frames.errors import (
    CoreClawError,
    InvalidRequestError,
    RateLimitError,
    RetriesExhaustedError,
    TransportError,
    error_for_code,
    error_for_http_status,
)
from coreclaw_frames.retry import RateController, RetryBudget, retry_delay, should_retry

__all__ = ["DEFAULT_BASE_URL", "Client", "unwrap"]

logger = logging.getLogger("coreclaw_frames")

DEFAULT_BASE_URL = "https://openapi.coreclaw.com"
API_PREFIX = "/api/v1/"
#: The largest page the list endpoints (run/list, run/result/list) serve.
MAX_PAGE_SIZE = 100
API_KEY_ENV = "CORECLAW_API_KEY"
BASE_URL_ENV = "CORECLAW_BASE_URL"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_WORKERS = 8
DEFAULT_MAX_RETRIES = 5
USER_AGENT = "coreclaw-frames (python)"
#: How much of an unreadable body an error message quotes.
BODY_EXCERPT = 80


class Client:
    """Connection to the CoreClaw API, shared by every call of a batch.

    Thread-safe; a context manager; ``close()`` releases its connection pool.

    Parameters
    ----------
    api_key:
        Your CoreClaw API key; default ``$CORECLAW_API_KEY``. Never shown in ``repr``, errors,
        logs or frames, and never sent anywhere but ``base_url``.
    base_url:
        Default ``$CORECLAW_BASE_URL``, then ``https://openapi.coreclaw.com``. Plain ``http://``
        only for loopback hosts (such as the sandbox).
    timeout:
        Seconds to wait for a connection and for an answer.
    max_workers:
        Requests in flight at once during a batch.
    max_retries:
        Retries of a request after a transient failure (connection, timeout, HTTP 5xx, code
        5000, unreadable body). Rate-limit answers have a larger allowance of their own.
    rate_limit:
        Client-side cap in requests/second (default: none; the client still slows down
        whenever the server says so).
    cache_dir:
        Directory where finished runs are kept between sessions (default: no cache).

    Example
    -------
    >>> with Client(api_key="my-key", base_url="http://127.0.0.1:8765") as client:
    ...     client
    Client(base_url='http://127.0.0.1:8765', api_key='***', max_workers=8, ...)
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_workers: int = DEFAULT_MAX_WORKERS,
        max_retries: int = DEFAULT_MAX_RETRIES,
        rate_limit: float | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError(f"no API key: pass api_key=... or set ${API_KEY_ENV}")
        self.base_url = _check_base_url(
            base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        )
        self.timeout = _check_number("timeout", timeout, minimum=0.0, exclusive=True)
        self.max_workers = _check_int("max_workers", max_workers, minimum=1)
        self.max_retries = _check_int("max_retries", max_retries, minimum=0)
        self.rate_limit = (
            None
            if rate_limit is None
            else _check_number("rate_limit", rate_limit, minimum=0.0, exclusive=True)
        )
        if cache_dir is not None and not isinstance(cache_dir, str | os.PathLike):
            raise TypeError(f"cache_dir must be a path or None, got {cache_dir!r}")
        self.cache_dir = cache_dir
        self._api_key = api_key
        self._rate = RateController(self.rate_limit)
        self._rng = random.Random()
        self._rng_lock = threading.Lock()
        self._session = _new_session(self.base_url, self.max_workers)
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"Client(base_url={self.base_url!r}, api_key='***', max_workers={self.max_workers}, "
            f"max_retries={self.max_retries}, timeout={self.timeout}, "
            f"rate_limit={self.rate_limit}, cache_dir={self.cache_dir!r})"
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._session.close()

    def request(self, endpoint: str, payload: Mapping[str, Any]) -> Any:
        """Call ``POST /api/v1/<endpoint>`` and return the envelope's ``data``.

        Transient failures are retried with backoff; a rate-limit answer slows every thread of
        this client down. Raises :class:`~coreclaw_frames.CoreClawError` subclasses:
        ``AuthenticationError`` at once, ``RetriesExhaustedError`` when retries ran out.

        >>> client.request("run/detail", {"run_slug": SLUG})  # doctest: +SKIP
        {'status': 3, 'slug': '01KSFDS8XWTJME33C08XMCR6B9', 'usage': '0.0217', ...}
        """
        if self._closed:
            raise CoreClawError("this Client is closed")
        budget = RetryBudget(self.max_retries)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(should_retry),
            stop=lambda state: budget.exhausted(_error_of(state)),
            wait=lambda state: self._delay(_error_of(state), state.attempt_number),
            before_sleep=lambda state: _log_retry(endpoint, state),
            reraise=True,
        )
        try:
            return retrying(self._send, endpoint, payload)
        except CoreClawError as exc:
            if should_retry(exc):
                attempts = budget.failures + budget.rate_limited
                raise RetriesExhaustedError(exc, attempts) from exc
            raise

    def _delay(self, error: BaseException | None, attempt: int) -> float:
        with self._rng_lock:
            return retry_delay(error or TransportError("unknown"), attempt, self._rng)

    def _send(self, endpoint: str, payload: Mapping[str, Any]) -> Any:
        """One attempt: wait for the rate controller, POST, unwrap."""
        sent_at = self._rate.acquire()
        try:
            response = self._session.post(
                f"{self.base_url}{API_PREFIX}{endpoint}",
                json=payload,
                headers={"api-key": self._api_key},
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
            return unwrap(response.status_code, response.headers, response.content)
        except RateLimitError as exc:
            self._rate.throttled(sent_at, exc.retry_after)
            raise


def unwrap(status: int, headers: Mapping[str, str], body: bytes) -> Any:
    """The ``data`` of a CoreClaw answer, or the error it stands for.

    Checks, in order: HTTP status (gateways answer 429/5xx with HTML), JSON shape, ``code``.

    >>> unwrap(200, {}, b'{"code": 0, "message": "success", "data": {"balance": "1.5"}}')
    {'balance': '1.5'}
    >>> unwrap(200, {}, b'{"code": 70001, "message": "Run record does not exist", "data": null}')
    Traceback (most recent call last):
    ...
    coreclaw_frames.errors.NotFoundError: Run record does not exist
    """
    if 300 <= status < 400:
        target = urlsplit(headers.get("Location", "")).netloc or "an unknown host"
        raise InvalidRequestError(
            f"HTTP {status} redirect to {target} not followed (the API key is only sent to "
            "the configured base_url)",
            http_status=status,
        )
    if not 200 <= status < 300:
        raise error_for_http_status(status, retry_after=parse_retry_after(headers))
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TransportError(
            f"malformed answer (HTTP {status}): body is not JSON: {_excerpt(body)}"
        ) from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("code"), int):
        raise TransportError(
            f"malformed answer (HTTP {status}): no envelope with an integer code: {_excerpt(body)}"
        )
    code = envelope["code"]
    if code != 0:
        error = error_for_code(code, str(envelope.get("message", "")), http_status=status)
        if isinstance(error, RateLimitError):
            error.retry_after = parse_retry_after(headers)
        raise error
    return envelope.get("data")


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header (delay-seconds or HTTP-date); ``None`` if absent.

    >>> parse_retry_after({"Retry-After": "3"})
    3.0
    """
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _excerpt(body: bytes) -> str:
    text = body[:BODY_EXCERPT].decode("utf-8", errors="replace")
    return repr(text) + ("..." if len(body) > BODY_EXCERPT else "")


def _error_of(state: tenacity.RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


def _log_retry(endpoint: str, state: tenacity.RetryCallState) -> None:
    # Retries are routine; DEBUG keeps them out of a notebook's output unless asked for.
    sleep = state.next_action.sleep if state.next_action else 0.0
    logger.debug(
        "%s attempt %d failed (%s); retrying in %.2fs",
        endpoint,
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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_base_url(url: str) -> str:
    if not isinstance(url, str):
        raise TypeError(f"base_url must be a string, got {type(url).__name__}")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must look like https://host[:port], got {url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"base_url {url!r} uses plain http:// to a non-loopback host; the API key would "
            "travel unencrypted. Use https://"
        )
    if parts.query or parts.fragment or parts.path.strip("/"):
        raise ValueError(f"base_url must be scheme://host[:port] only, got {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _check_int(name: str, value: Any, *, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def _check_number(name: str, value: Any, *, minimum: float, exclusive: bool) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if value < minimum or (exclusive and value == minimum) or value != value:
        bound = f"> {minimum:g}" if exclusive else f">= {minimum:g}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return float(value)
