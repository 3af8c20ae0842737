"""The :class:`Client`: configuration, and the four operations the toolkit asks the API for.

``run_detail``, ``run_history``, ``run_results`` and ``account`` return canonical records
(see :mod:`coreclaw_frames.api._dialect`), whatever API version the client speaks; the fetch
functions above this layer never see a path, a method, a code or a wire field name.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO

from coreclaw_frames._errors import (
    AnswerTooLargeError,
    ExportUnavailableError,
    TransportError,
    quoted,
)
from coreclaw_frames.api._caller import Caller
from coreclaw_frames.api._dialect import Page, Request, RunFilter
from coreclaw_frames.api._download import DEFAULT_MAX_DOWNLOAD_BYTES, check_download_url
from coreclaw_frames.api._paging import FetchMany, fetch_in_turn, read_all
from coreclaw_frames.api._policy import RetryPolicy
from coreclaw_frames.api._sender import HTTPTransport
from coreclaw_frames.api._settings import (
    API_KEY_ENV,
    API_VERSION_ENV,
    API_VERSIONS,
    BASE_URL_ENV,
    DEFAULT_API_VERSION,
    DEFAULT_BASE_URL,
    DIALECTS,
    check_api_key,
    check_api_version,
    check_base_url,
    check_int,
    check_number,
    check_retry,
)
from coreclaw_frames.api._transport import BaseTransport
from coreclaw_frames.api._v1 import STATUS_BY_CODE
from coreclaw_frames.api._values import STATUS_LABELS

__all__ = [
    "API_KEY_ENV",
    "API_VERSIONS",
    "API_VERSION_ENV",
    "BASE_URL_ENV",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "Client",
    "status_label",
]

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_WORKERS = 8

Record = dict[str, Any]


class Client:
    """Connection to the CoreClaw API, shared by every call of a batch.

    Thread-safe; a context manager; ``close()`` releases its connection pool.

    Parameters
    ----------
    api_key : str, optional
        Your CoreClaw API key; default ``$CORECLAW_API_KEY``. Surrounding whitespace (a key
        read from a file keeps its newline) is stripped; a key with other control or non-ASCII
        characters is refused. Never shown in ``repr``, errors, logs or frames, and never sent
        anywhere but ``base_url``, always in a header.
    base_url : str, optional
        Default ``$CORECLAW_BASE_URL``, then ``https://openapi.coreclaw.com``:
        ``https://host[:port]``, plain ``http://`` only for loopback hosts (such as the
        sandbox), no user name or password.
    api_version : {"v2", "v1"}, optional
        ``"v2"`` (CoreClaw's current API) or ``"v1"`` (the older one); default
        ``$CORECLAW_API_VERSION``, then ``"v2"``. Frames are the same either way.
    timeout : float, default 30.0
        Seconds each request may take, from connecting to the last byte of the answer.
    max_workers : int, default 8
        Requests in flight at once during a batch.
    max_retries : int, optional
        Retries of a request after a transient failure (connection, timeout, HTTP 5xx, the
        API's internal-error codes, unreadable body); default 5. Rate-limit answers have a
        larger allowance of their own. The same as ``retry=RetryPolicy(max_retries=...)``.
    rate_limit : float, optional
        Client-side cap in requests/second (default: none; the client still slows down
        whenever the server says so).
    cache_dir : str or os.PathLike, optional
        Directory where finished runs are kept between sessions (default: no cache).
    retry : RetryPolicy, optional
        A :class:`~coreclaw_frames.RetryPolicy`: how to retry, wait and pace (default: its
        defaults, with ``max_retries``).
    transport : BaseTransport, optional
        What sends each request (a :class:`~coreclaw_frames.api.BaseTransport`): default an
        :class:`~coreclaw_frames.api.HTTPTransport` with ``max_workers`` connections; a
        :class:`~coreclaw_frames.api.MockTransport` answers in memory, for tests. The client
        closes it when it is closed.

    Examples
    --------
    >>> with Client(api_key="my-key", base_url="http://127.0.0.1:8765") as client:
    ...     client
    Client(base_url='http://127.0.0.1:8765', api_version='v2', api_key='***', max_workers=8, \
timeout=30.0, rate_limit=None, cache_dir=None, retry=RetryPolicy(max_retries=5), \
transport=HTTPTransport(pool_size=8))
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        api_version: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_workers: int = DEFAULT_MAX_WORKERS,
        max_retries: int | None = None,
        rate_limit: float | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        retry: RetryPolicy | None = None,
        transport: BaseTransport | None = None,
    ) -> None:
        api_key = check_api_key(api_key)
        self.base_url = check_base_url(base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL)
        self.api_version = check_api_version(api_version)
        self.timeout = check_number("timeout", timeout)
        self.max_workers = check_int("max_workers", max_workers, minimum=1)
        self.retry = check_retry(retry, max_retries)
        self.rate_limit = None if rate_limit is None else check_number("rate_limit", rate_limit)
        if cache_dir is not None and not isinstance(cache_dir, str | os.PathLike):
            raise TypeError(f"cache_dir must be a path or None, got {cache_dir!r}")
        if transport is not None and not isinstance(transport, BaseTransport):
            raise TypeError(
                "transport must be a coreclaw_frames.api.BaseTransport (such as "
                f"MockTransport(handler)), got {type(transport).__name__}"
            )
        self.cache_dir = cache_dir
        self._dialect = DIALECTS[self.api_version]
        self._api_key = api_key
        self._caller = Caller(
            transport or HTTPTransport(pool_size=self.max_workers),
            base_url=self.base_url,
            auth_headers=self._dialect.auth_headers(api_key),
            secret=api_key,
            timeout=self.timeout,
            policy=self.retry,
            rate_limit=self.rate_limit,
        )

    def __repr__(self) -> str:
        return (
            f"Client(base_url={self.base_url!r}, api_version={self.api_version!r}, "
            f"api_key='***', max_workers={self.max_workers}, timeout={self.timeout}, "
            f"rate_limit={self.rate_limit}, cache_dir={self.cache_dir!r}, "
            f"retry={self.retry!r}, transport={self._caller.transport!r})"
        )

    @property
    def max_retries(self) -> int:
        """Retries of a request after a transient failure (the retry policy's)."""
        return self.retry.max_retries

    @property
    def transport(self) -> BaseTransport:
        """What sends each request."""
        return self._caller.transport

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool (close the transport). Safe to call twice."""
        self._caller.close()

    def cancel(self) -> None:
        """Cut every request of this client in flight, and every wait, now (as on Ctrl-C).

        The batch functions call it when interrupted; the client stays usable.
        """
        self._caller.cancel()

    @property
    def max_page_size(self) -> int:
        """The largest page the API's list endpoints serve."""
        return self._dialect.max_page_size

    @property
    def requests_sent(self) -> int:
        """HTTP requests this client has sent, retries included.

        Examples
        --------
        >>> client.requests_sent  # doctest: +SKIP
        0
        """
        return self._caller.requests_sent

    @property
    def clock_offset(self) -> float | None:
        """The server's clock minus this machine's, in seconds, from the ``Date`` of the
        latest answer; ``None`` before any answer that had one.

        Examples
        --------
        >>> client.clock_offset  # doctest: +SKIP
        -0.4
        """
        return self._caller.clock_offset

    def server_time(self) -> int:
        """The server's time now (unix seconds) as far as this client knows: this machine's
        clock corrected by :attr:`clock_offset` (uncorrected before the first answer).

        Examples
        --------
        >>> client.server_time()  # doctest: +SKIP
        1773619200
        """
        return int(time.time() + (self._caller.clock_offset or 0.0))

    def key_digest(self, salt: bytes) -> str:
        """A keyed hash (HMAC-SHA256, hex) of this client's API key: tells two keys apart
        without storing either. Equal for one key and one salt, unrelated otherwise.

        Examples
        --------
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

        Examples
        --------
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

    def run_headers(self, slug: str) -> list[str]:
        """The header keys run ``slug``'s worker declares, in order, from a page of one row.

        Examples
        --------
        >>> client.run_headers("01KSFDS8XWTJME33C08XMCR6B9")  # doctest: +SKIP
        ['title', 'url', 'published_at', 'author']
        """
        request = self._dialect.result_page(slug, 1, 1)
        data = self._call(request)
        if not _is_page(data):
            raise _malformed(request, "expected {'count': n, 'list': [rows]}")
        return _header_keys(data)

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
                headers.extend(_header_keys(data))
            return Page(count=data["count"], items=data["list"])

        rows = read_all(
            fetch,
            page_size=dialect.max_page_size,
            grows_at="bottom",
            what=f"results of run {slug}",
            fetch_many=fetch_many,
        )
        return headers, rows

    @property
    def can_export(self) -> bool:
        """Whether this client's API version exports a run's rows as one file (v2 does).

        Examples
        --------
        >>> Client(api_key="k", api_version="v1").can_export
        False
        """
        return self._dialect.result_export("", None) is not None

    def export_url(self, slug: str, *, fields: Sequence[str] | None = None) -> str:
        """The ``download_url`` of run ``slug``'s rows exported as JSON lines (only the
        top-level keys ``fields`` when given); checked to carry no credential.

        Raises :class:`~coreclaw_frames.ExportUnavailableError` on an API without export
        (v1) or for a link not to follow.

        Examples
        --------
        >>> client.export_url("01KSFDS8XWTJME33C08XMCR6B9")  # doctest: +SKIP
        'https://storage.coreclaw.com/runs/01KSFDS8XWTJME33C08XMCR6B9/results.jsonl?...'
        """
        request = self._dialect.result_export(slug, fields)
        if request is None:
            raise ExportUnavailableError(f"API {self.api_version} has no results export")
        data = self._call(request)
        url = data.get("download_url") if isinstance(data, dict) else None
        return check_download_url(url, self._api_key)

    def download(
        self, url: str, sink: BinaryIO, *, max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES
    ) -> int:
        """Stream the file at ``url`` (an :meth:`export_url`) into the binary file ``sink``
        and return its size in bytes.

        Sent with no credential and no redirect followed, retried like any transient failure
        (``sink`` starts over); over ``max_bytes``, or answered with a link that expired,
        it raises :class:`~coreclaw_frames.ExportUnavailableError` (see
        :mod:`coreclaw_frames.api._download`).

        Examples
        --------
        >>> with open("rows.jsonl", "wb") as sink:  # doctest: +SKIP
        ...     client.download(client.export_url("01KSFDS8XWTJME33C08XMCR6B9"), sink)
        48213
        """
        check_download_url(url, self._api_key)
        try:
            return self._caller.download(url, sink, max_bytes=max_bytes)
        except AnswerTooLargeError as exc:
            raise ExportUnavailableError(str(exc)) from None

    @property
    def downloads_sent(self) -> int:
        """Download attempts this client has sent to a storage host, apart from
        :attr:`requests_sent`.

        Examples
        --------
        >>> client.downloads_sent  # doctest: +SKIP
        0
        """
        return self._caller.downloads_sent

    def account(self) -> Record:
        """The account's ``balance`` (an exact ``Decimal``), ``balance_expiration_at``,
        ``traffic`` and ``traffic_expiration_at`` (unix seconds), and ``fetch_error`` naming a
        time out of range; what this API version lacks is ``None``.

        Examples
        --------
        >>> client.account()  # doctest: +SKIP
        {'balance': Decimal('125.40'), 'balance_expiration_at': 1782091200, 'traffic': None, ...}
        """
        return self._dialect.account_record(self._call(self._dialect.account()))

    def check_worker(self, value: Any, *, name: str = "worker") -> str | None:
        """``value`` if this API version's Run History filter takes it as a worker (``None``
        stays ``None``); else a ``TypeError``/``ValueError`` that names ``name``.

        Examples
        --------
        >>> with Client(api_key="k", api_version="v1") as v1:
        ...     v1.check_worker("acme~price-monitor")
        Traceback (most recent call last):
        ...
        ValueError: worker must be a 26-character ULID on API v1, got 'acme~price-monitor'
        """
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(
                f"{name} must be a worker slug string, got {value!r} ({type(value).__name__})"
            )
        if not self._dialect.is_worker(value):
            raise ValueError(
                f"{name} must be {self._dialect.worker_forms} on API {self.api_version}, "
                f"got {value!r}"
            )
        return value

    def _call(self, request: Request) -> Any:
        return self._caller.call(request, self._dialect)


def _is_page(data: Any) -> bool:
    count = data.get("count") if isinstance(data, dict) else None
    return (
        isinstance(count, int)
        and not isinstance(count, bool)
        and isinstance(data.get("list"), list)
    )


def _header_keys(data: Mapping[str, Any]) -> list[str]:
    headers = data.get("headers")
    return [
        h["key"]
        for h in (headers if isinstance(headers, list) else [])
        if isinstance(h, dict) and isinstance(h.get("key"), str)
    ]


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

    Examples
    --------
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
        f"status must be one of {', '.join(STATUS_LABELS)} (or v1's integers "
        f"{min(STATUS_BY_CODE)}-{max(STATUS_BY_CODE)}), got {status!r}"
    )
