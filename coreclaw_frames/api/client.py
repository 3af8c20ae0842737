"""The :class:`Client`: configuration, and the four operations the toolkit asks the API for.

``run_detail``, ``run_history``, ``run_results`` and ``account`` return canonical records
(see :mod:`coreclaw_frames.api.dialect`), whatever API version the client speaks; the fetch
functions above this layer never see a path, a method, a code or a wire field name.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from coreclaw_frames.api.dialect import STATUS_LABELS, Dialect, Page, Request, RunFilter
from coreclaw_frames.api.paging import FetchMany, fetch_in_turn, read_all
from coreclaw_frames.api.transport import Transport
from coreclaw_frames.api.v1 import STATUS_BY_CODE, V1
from coreclaw_frames.api.v2 import V2
from coreclaw_frames.errors import TransportError, quoted

__all__ = [
    "API_VERSIONS",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "Client",
    "status_label",
]

DEFAULT_BASE_URL = "https://openapi.coreclaw.com"
API_KEY_ENV = "CORECLAW_API_KEY"
BASE_URL_ENV = "CORECLAW_BASE_URL"
API_VERSION_ENV = "CORECLAW_API_VERSION"
ApiVersion = Literal["v1", "v2"]
DIALECTS: dict[str, Dialect] = {"v1": V1, "v2": V2}
API_VERSIONS: tuple[str, ...] = tuple(DIALECTS)
#: The documented, current API.
DEFAULT_API_VERSION: ApiVersion = "v2"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_WORKERS = 8
DEFAULT_MAX_RETRIES = 5

Record = dict[str, Any]


class Client:
    """Connection to the CoreClaw API, shared by every call of a batch.

    Thread-safe; a context manager; ``close()`` releases its connection pool.

    Parameters
    ----------
    api_key:
        Your CoreClaw API key; default ``$CORECLAW_API_KEY``. Surrounding whitespace (a key
        read from a file keeps its newline) is stripped; a key with other control or non-ASCII
        characters is refused. Never shown in ``repr``, errors, logs or frames, and never sent
        anywhere but ``base_url``, always in a header.
    base_url:
        Default ``$CORECLAW_BASE_URL``, then ``https://openapi.coreclaw.com``:
        ``https://host[:port]``, plain ``http://`` only for loopback hosts (such as the
        sandbox), no user name or password.
    api_version:
        ``"v2"`` (CoreClaw's current API) or ``"v1"`` (the older one); default
        ``$CORECLAW_API_VERSION``, then ``"v2"``. Frames are the same either way.
    timeout:
        Seconds each request may take, from connecting to the last byte of the answer.
    max_workers:
        Requests in flight at once during a batch.
    max_retries:
        Retries of a request after a transient failure (connection, timeout, HTTP 5xx, the
        API's internal-error codes, unreadable body). Rate-limit answers have a larger
        allowance of their own.
    rate_limit:
        Client-side cap in requests/second (default: none; the client still slows down
        whenever the server says so).
    cache_dir:
        Directory where finished runs are kept between sessions (default: no cache).

    Example
    -------
    >>> with Client(api_key="my-key", base_url="http://127.0.0.1:8765") as client:
    ...     client
    Client(base_url='http://127.0.0.1:8765', api_version='v2', api_key='***', max_workers=8, ...)
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        api_version: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_workers: int = DEFAULT_MAX_WORKERS,
        max_retries: int = DEFAULT_MAX_RETRIES,
        rate_limit: float | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        api_key = _check_api_key(api_key)
        self.base_url = _check_base_url(
            base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        )
        self.api_version = _check_api_version(api_version)
        self.timeout = _check_number("timeout", timeout)
        self.max_workers = _check_int("max_workers", max_workers, minimum=1)
        self.max_retries = _check_int("max_retries", max_retries, minimum=0)
        self.rate_limit = None if rate_limit is None else _check_number("rate_limit", rate_limit)
        if cache_dir is not None and not isinstance(cache_dir, str | os.PathLike):
            raise TypeError(f"cache_dir must be a path or None, got {cache_dir!r}")
        self.cache_dir = cache_dir
        self._dialect = DIALECTS[self.api_version]
        self._api_key = api_key
        self._transport = Transport(
            self.base_url,
            self._dialect.auth_headers(api_key),
            timeout=self.timeout,
            max_retries=self.max_retries,
            rate_limit=self.rate_limit,
            pool_size=self.max_workers,
            secret=api_key,
        )

    def __repr__(self) -> str:
        return (
            f"Client(base_url={self.base_url!r}, api_version={self.api_version!r}, "
            f"api_key='***', max_workers={self.max_workers}, max_retries={self.max_retries}, "
            f"timeout={self.timeout}, rate_limit={self.rate_limit}, "
            f"cache_dir={self.cache_dir!r})"
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool. Safe to call twice."""
        self._transport.close()

    def cancel(self) -> None:
        """Cut every request of this client in flight, and every wait, now (as on Ctrl-C).

        The batch functions call it when interrupted; the client stays usable.
        """
        self._transport.cancel()

    @property
    def max_page_size(self) -> int:
        """The largest page the API's list endpoints serve."""
        return self._dialect.max_page_size

    @property
    def requests_sent(self) -> int:
        """HTTP requests this client has sent, retries included.

        >>> client.requests_sent  # doctest: +SKIP
        0
        """
        return self._transport.requests_sent

    @property
    def clock_offset(self) -> float | None:
        """The server's clock minus this machine's, in seconds, from the ``Date`` of the
        latest answer; ``None`` before any answer that had one.

        >>> client.clock_offset  # doctest: +SKIP
        -0.4
        """
        return self._transport.clock_offset

    def server_time(self) -> int:
        """The server's time now (unix seconds) as far as this client knows: this machine's
        clock corrected by :attr:`clock_offset` (uncorrected before the first answer).

        >>> client.server_time()  # doctest: +SKIP
        1773619200
        """
        return int(time.time() + (self._transport.clock_offset or 0.0))

    def key_digest(self, salt: bytes) -> str:
        """A keyed hash (HMAC-SHA256, hex) of this client's API key: tells two keys apart
        without storing either. Equal for one key and one salt, unrelated otherwise.

        >>> a, b = Client(api_key="one"), Client(api_key="two")
        >>> a.key_digest(b"s") == Client(api_key="one").key_digest(b"s") != b.key_digest(b"s")
        True
        """
        return hmac.new(salt, self._api_key.encode(), hashlib.sha256).hexdigest()

    def history_windows(self, since: int, until: int) -> list[tuple[int, int]] | None:
        """The ``[start, end)`` windows (unix seconds) in which Run History of ``[since, until)``
        is listed, one listing each; ``None`` when the API cannot list a time window (v1)."""
        return self._dialect.history_windows(since, until)

    # --- the operations -----------------------------------------------------------------------

    def run_detail(self, slug: str) -> Record:
        """The canonical record of run ``slug``, with ``fetched_at`` (µs since the epoch).

        >>> client.run_detail("01KSFDS8XWTJME33C08XMCR6B9")  # doctest: +SKIP
        {'slug': '01KSFDS8XWTJME33C08XMCR6B9', 'status': 'succeeded', 'usage': '0.0217', ...}
        """
        request = self._dialect.run_detail(slug)
        data = self._call(request)
        if not isinstance(data, dict):
            raise _malformed(request, f"data is {type(data).__name__}")
        if data.get("slug") != slug:
            raise _malformed(request, f"asked for run {slug}, got {quoted(data.get('slug'))}")
        return _stamped(self._dialect.canonical_run(data))

    def run_history(
        self,
        *,
        since: int | None = None,
        until: int | None = None,
        worker: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        fetch_many: FetchMany = fetch_in_turn,
    ) -> list[Record]:
        """Canonical records of Run History, newest first, each run once.

        ``since``/``until`` are unix seconds (``[since, until)``); what they filter on, and
        the default window, depend on the API version (see ``list_runs``). ``status`` is a
        label; ``limit`` keeps the newest runs only.
        """
        dialect = self._dialect

        def read(
            filters: RunFilter,
            *,
            limit: int | None = None,
            older: Callable[[Record], bool] | None = None,
        ) -> list[Record]:
            def fetch(page: int, size: int) -> Page:
                request = dialect.run_page(page, size, filters)
                data = self._call(request)
                if not _is_page(data) or not all(
                    isinstance(r, dict) and isinstance(r.get("slug"), str) for r in data["list"]
                ):
                    raise _malformed(request, "expected {'count': n, 'list': [runs]}")
                fetched_at = _now_us()
                items = [dialect.canonical_run(r) for r in data["list"]]
                for item in items:
                    item["fetched_at"] = fetched_at
                return Page(count=data["count"], items=items)

            return read_all(
                fetch,
                page_size=dialect.max_page_size,
                grows_at="top",
                what="Run History",
                key=_slug_of,
                limit=limit,
                older=older,
                fetch_many=fetch_many,
            )

        return dialect.history(
            read,
            since=since,
            until=until,
            now=self.server_time,
            filters=RunFilter(worker=worker, status=status),
            limit=limit,
        )

    def run_results(
        self, slug: str, *, fetch_many: FetchMany = fetch_in_turn
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """The declared header keys and every scraped row of run ``slug``."""
        dialect = self._dialect
        headers: list[str] = []

        def fetch(page: int, size: int) -> Page:
            request = dialect.result_page(slug, page, size)
            data = self._call(request)
            if not _is_page(data) or not all(isinstance(row, dict) for row in data["list"]):
                raise _malformed(request, "expected {'count': n, 'list': [rows]}")
            if not headers:
                headers.extend(
                    h["key"]
                    for h in data.get("headers") or []
                    if isinstance(h, dict) and isinstance(h.get("key"), str)
                )
            return Page(count=data["count"], items=data["list"])

        rows = read_all(
            fetch,
            page_size=dialect.max_page_size,
            grows_at="bottom",
            what=f"results of run {slug}",
            fetch_many=fetch_many,
        )
        return headers, rows

    def account(self) -> Record:
        """``balance``, ``balance_expiration_at``, ``traffic`` and ``traffic_expiration_at`` as
        the API sent them; what this API version lacks is ``None``."""
        return self._dialect.canonical_account(self._call(self._dialect.account()))

    def _call(self, request: Request) -> Any:
        return self._transport.call(request, self._dialect)


def _is_page(data: Any) -> bool:
    count = data.get("count") if isinstance(data, dict) else None
    return (
        isinstance(count, int)
        and not isinstance(count, bool)
        and isinstance(data.get("list"), list)
    )


def _slug_of(record: Mapping[str, Any]) -> Any:
    return record["slug"]


def _now_us() -> int:
    return time.time_ns() // 1000


def _stamped(record: Record) -> Record:
    record["fetched_at"] = _now_us()
    return record


def _malformed(request: Request, detail: str) -> TransportError:
    return TransportError(f"malformed answer to {request.what}: {detail}")


def status_label(status: Any) -> str | None:
    """The status label a Run History filter asks for: a label, or v1's integer code (0: all).

    >>> status_label("failed"), status_label(4), status_label(0)
    ('failed', 'failed', None)
    """
    if status is None:
        return None
    if isinstance(status, int) and not isinstance(status, bool):
        if status == 0:
            return None
        if status in STATUS_BY_CODE:
            return STATUS_BY_CODE[status]
    elif isinstance(status, str) and status in STATUS_LABELS:
        return status
    raise ValueError(
        f"status must be one of {', '.join(STATUS_LABELS)} (or v1's integers 1-5), got {status!r}"
    )


# --- configuration checks ---------------------------------------------------------------------


def _check_api_version(value: Any) -> ApiVersion:
    source = "api_version"
    if value is None:
        value = os.environ.get(API_VERSION_ENV) or DEFAULT_API_VERSION
        source = f"${API_VERSION_ENV}"
    if value not in DIALECTS:
        raise ValueError(f"{source} must be 'v2' or 'v1', got {value!r}")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_api_key(api_key: Any) -> str:
    source = "api_key"
    if api_key is None:
        api_key, source = os.environ.get(API_KEY_ENV), f"${API_KEY_ENV}"
    if api_key is None:
        raise ValueError(f"no API key: pass api_key=... or set ${API_KEY_ENV}")
    if not isinstance(api_key, str):
        raise TypeError(f"api_key must be a string, got {type(api_key).__name__}")
    key = api_key.strip()
    if not key:
        raise ValueError(f"{source} is empty: pass api_key=... or set ${API_KEY_ENV}")
    # The message never quotes the key: it would end up in tracebacks and logs.
    bad = [i for i, char in enumerate(key) if not (char.isascii() and char.isprintable())]
    if bad:
        raise ValueError(
            f"{source} holds {len(bad)} control or non-ASCII character(s) (at position "
            f"{', '.join(str(i + 1) for i in bad[:3])}): API keys are printable ASCII"
        )
    return key


def _check_base_url(url: str) -> str:
    if not isinstance(url, str):
        raise TypeError(f"base_url must be a string, got {type(url).__name__}")
    parts = urlsplit(url.strip())
    if parts.username is not None or parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        raise ValueError(
            f"base_url must not hold a user name or password (got {parts.scheme}://***@{host}); "
            "the API key is the only credential"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must look like https://host[:port], got {url!r}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"base_url has a bad port (1-65535 expected): {url!r}")
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


def _check_number(name: str, value: Any) -> float:
    """``value`` if it is a finite number > 0."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)
