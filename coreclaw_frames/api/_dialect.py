"""The small interface a wire version of the CoreClaw API implements.

A :class:`Dialect` knows one version's paths, HTTP method, auth header, error codes and record
shapes; nothing above ``coreclaw_frames.api`` does. It turns the four operations the toolkit
needs ("run detail", "run page", "result page", "account") into :class:`Request` objects, and
turns answers back into data or errors. Records leave the layer *canonical*: the run record's
field names (``slug``, ``status``, ``usage``, ...), with ``status`` as a label string
(:data:`~coreclaw_frames.api._values.STATUS_LABELS`, or any other string the server sent) and
``err_msg`` ``None`` when the run has no error text; the account answer comes out checked
(:func:`account_record`). A dialect also says which worker ids its Run History filter takes.

A new wire version is one module with a :class:`Dialect` subclass, and one entry in the
client's table of dialects (``coreclaw_frames.api._settings.DIALECTS``).

Unwrapping an answer is the same for every version (:meth:`Dialect.unwrap`): refuse redirects,
read the JSON envelope if there is one, map a non-zero ``code`` through the version's table,
else map a non-2xx HTTP status, else return ``data``.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from coreclaw_frames._errors import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
    quoted,
)
from coreclaw_frames.api._values import SLUG_PATTERN, time_seconds

__all__ = [
    "ACCOUNT_FIELDS",
    "CANONICAL_RUN_FIELDS",
    "Clock",
    "CodeTable",
    "Dialect",
    "Page",
    "Request",
    "RunFilter",
    "account_record",
    "parse_retry_after",
    "server_date",
]

#: The fields of a canonical run record, in the run frame's order.
CANONICAL_RUN_FIELDS = (
    "slug",
    "status",
    "scraper_title",
    "scraper_slug",
    "version",
    "origin",
    "results",
    "usage",
    "traffic",
    "started_at",
    "finished_at",
    "duration",
    "err_msg",
)
#: The fields of a checked account record (see :func:`account_record`).
ACCOUNT_FIELDS = ("balance", "balance_expiration_at", "traffic", "traffic_expiration_at")
#: Its times: unix seconds read by the rules for run times.
ACCOUNT_TIMES = ("balance_expiration_at", "traffic_expiration_at")
#: How much of an unreadable body an error message quotes.
BODY_EXCERPT = 80
_DELAY_SECONDS = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True)
class Request:
    """One API call as the wire sees it. ``what`` names the operation in error messages."""

    method: str
    path: str
    what: str
    params: Mapping[str, str | int] = field(default_factory=dict)
    json: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Page:
    """One page of a paged list: the server's total ``count`` and the page's ``items``."""

    count: int
    items: list[Any]
    headers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunFilter:
    """Run History filters: worker id, status label, and (v2) a creation-time window.

    ``created`` is ``(start_time, end_day)`` in unix seconds as v2 takes them: runs created
    from ``start_time`` to the end of the day that starts at ``end_day``.
    """

    worker: str | None = None
    status: str | None = None
    created: tuple[int, int] | None = None


@dataclass(frozen=True)
class CodeTable:
    """Which envelope codes mean which error, for one API version."""

    auth: frozenset[int]
    rate_limit: frozenset[int]
    server: frozenset[int]
    not_found: frozenset[int]

    def error(
        self,
        code: int,
        message: str,
        *,
        http_status: int,
        request_id: str | None,
        retry_after: float | None,
    ) -> APIError:
        """The error for envelope ``code`` (anything not listed is a permanent refusal)."""
        if code in self.rate_limit:
            return RateLimitError(
                message,
                code=code,
                http_status=http_status,
                request_id=request_id,
                retry_after=retry_after,
            )
        cls: type[APIError] = InvalidRequestError
        if code in self.auth:
            cls = AuthenticationError
        elif code in self.server:
            cls = ServerError
        elif code in self.not_found:
            cls = NotFoundError
        return cls(message, code=code, http_status=http_status, request_id=request_id)


#: A function that reads every page of one Run History listing (see ``api.paging``):
#: ``read(filters, limit=..., older=...)`` returns canonical records, newest first.
ListingReader = Callable[..., list[dict[str, Any]]]
#: The server's time as far as the client knows it (unix seconds), asked when needed.
Clock = Callable[[], int]


class Dialect(ABC):
    """One wire version of the CoreClaw API. Subclasses are stateless singletons."""

    #: The version's name, as ``Client(api_version=...)`` takes it.
    version: ClassVar[str]
    #: The largest page the list endpoints serve.
    max_page_size: ClassVar[int] = 100
    codes: ClassVar[CodeTable]
    #: What the Run History filter takes as a worker, for error messages.
    worker_forms: ClassVar[str] = "a 26-character ULID"

    def is_worker(self, value: str) -> bool:
        """Whether the Run History filter takes ``value`` as a worker: a worker's ULID."""
        return SLUG_PATTERN.fullmatch(value) is not None

    @abstractmethod
    def auth_headers(self, api_key: str) -> dict[str, str]:
        """The headers carrying the key (never a URL parameter: URLs end up in logs)."""

    @abstractmethod
    def run_detail(self, slug: str) -> Request:
        """The request for one run's record."""

    @abstractmethod
    def run_page(self, page: int, size: int, filters: RunFilter) -> Request:
        """The request for page ``page`` (1-based) of Run History."""

    @abstractmethod
    def result_page(self, slug: str, page: int, size: int) -> Request:
        """The request for page ``page`` (1-based) of a run's scraped rows."""

    def result_export(self, slug: str, fields: Sequence[str] | None) -> Request | None:
        """The request exporting a run's rows as JSON lines (only ``fields`` when given);
        ``None`` where the API has no export (v1)."""
        return None

    @abstractmethod
    def account(self) -> Request:
        """The request for the account's balance."""

    @abstractmethod
    def canonical_run(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The canonical record of one wire run record (values are not checked here)."""

    @abstractmethod
    def canonical_account(self, data: Any) -> dict[str, Any]:
        """``balance``, ``balance_expiration_at``, ``traffic``, ``traffic_expiration_at``
        from the account answer as sent; fields this version lacks are ``None``."""

    def account_record(self, data: Any) -> dict[str, Any]:
        """The checked account record of the account answer ``data`` (see
        :func:`account_record`)."""
        return account_record(self.canonical_account(data))

    @abstractmethod
    def status_filter(self, status: str) -> str | int:
        """The wire value of a Run History status filter, for a label of STATUS_LABELS."""

    def history_windows(self, since: int, until: int) -> list[tuple[int, int]] | None:
        """The ``[start, end)`` windows one listing each covers for ``[since, until)``; None
        when this version lists no time window (it pages through all of Run History)."""
        return None

    @abstractmethod
    def history(
        self,
        read: ListingReader,
        *,
        since: int | None,
        until: int | None,
        now: Clock,
        filters: RunFilter,
        limit: int | None,
    ) -> list[dict[str, Any]]:
        """Every run of Run History in ``[since, until)`` (unix seconds), newest first.

        ``read`` reads one listing completely; a dialect calls it once or more (v2 once per
        calendar month) and applies what its version filters on.
        """

    # --- answers ------------------------------------------------------------------------------

    def unwrap(self, status: int, headers: Mapping[str, str], body: bytes, what: str) -> Any:
        """The ``data`` of an answer, or the error it stands for.

        Examples
        --------
        >>> from coreclaw_frames.api._v2 import V2
        >>> V2.unwrap(200, {}, b'{"code": 0, "message": "success", "data": {"x": 1}}', "run")
        {'x': 1}
        >>> V2.unwrap(404, {}, b'{"code": 11004, "message": "not found", "request_id": "r1"}',
        ...           "run detail")
        Traceback (most recent call last):
        ...
        coreclaw_frames._errors.NotFoundError: 11004 not found (request_id r1)
        """
        if 300 <= status < 400:
            target = _netloc(headers.get("Location", "")) or "an unknown host"
            raise InvalidRequestError(
                f"HTTP {status} redirect to {target} not followed (the API key is only sent "
                "to the configured base_url)",
                http_status=status,
            )
        envelope = _envelope(body)
        retry_after = parse_retry_after(headers)
        if envelope is not None and envelope["code"] != 0:
            request_id = envelope.get("request_id")
            error = self.codes.error(
                envelope["code"],
                str(envelope.get("message", "")),
                http_status=status,
                request_id=request_id if isinstance(request_id, str) else None,
                retry_after=retry_after,
            )
            if status in (401, 403) and not isinstance(error, AuthenticationError):
                error = AuthenticationError(
                    error.message, code=error.code, http_status=status, request_id=error.request_id
                )
            raise error
        if not 200 <= status < 300:
            raise _error_for_http_status(status, retry_after)
        if envelope is None:
            raise TransportError(
                f"malformed answer to {what} (HTTP {status}): expected a JSON envelope with an "
                f"integer code, got {_excerpt(body)}"
            )
        return envelope.get("data")


def account_record(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The account record of a dialect's canonical account fields, checked.

    ``balance`` becomes an exact ``Decimal``; the times become unix seconds by the rules for
    run times (:func:`~coreclaw_frames.api._values.time_seconds`), ``None`` for none (absent or
    0). A time out of range is ``None`` too, and named in ``fetch_error`` (``None`` when all is
    well). An answer that is not an account (no finite decimal balance, a value of the wrong
    type, no time at all) raises :class:`~coreclaw_frames.TransportError`.

    Examples
    --------
    >>> account_record({"balance": "125.40", "balance_expiration_at": 1782091200000,
    ...                 "traffic": None, "traffic_expiration_at": None})
    {'balance': Decimal('125.40'), 'balance_expiration_at': 1782091200, 'traffic': None, \
'traffic_expiration_at': None, 'fetch_error': None}
    """
    balance = fields.get("balance")
    try:
        amount = Decimal(balance) if isinstance(balance, str) else None
    except InvalidOperation:
        amount = None
    times = {name: fields.get(name) for name in ACCOUNT_TIMES}
    if (
        amount is None
        or not amount.is_finite()
        or not all(_is_int(v) for v in (*times.values(), fields.get("traffic")) if v is not None)
        or all(value is None for value in times.values())
    ):
        raise TransportError(f"malformed answer to account info: {quoted(dict(fields))}")
    seconds = {name: None if v is None else time_seconds(v) for name, v in times.items()}
    problems = [
        f"{name}={quoted(times[name])} out of range"
        for name, value in seconds.items()
        if value is None and times[name] is not None
    ]
    return {
        "balance": amount,
        "balance_expiration_at": seconds["balance_expiration_at"] or None,
        "traffic": fields.get("traffic"),
        "traffic_expiration_at": seconds["traffic_expiration_at"] or None,
        "fetch_error": "malformed account info: " + "; ".join(problems) if problems else None,
    }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _envelope(body: bytes) -> dict[str, Any] | None:
    """The JSON envelope of ``body``, or None when it is not one (HTML, truncated, ...)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(document, dict) or type(document.get("code")) is not int:
        return None
    return document


def _error_for_http_status(status: int, retry_after: float | None) -> APIError:
    """The error for a non-2xx answer without an envelope (gateways answer with HTML)."""
    message = f"HTTP {status}"
    if status in (401, 403):
        return AuthenticationError(message, http_status=status)
    if status == 429:
        return RateLimitError(message, http_status=status, retry_after=retry_after)
    if status >= 500:
        return ServerError(message, http_status=status)
    if status == 404:
        return NotFoundError(message, http_status=status)
    return InvalidRequestError(message, http_status=status)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header (delay-seconds or HTTP-date); ``None`` if absent
    or unreadable.

    Examples
    --------
    >>> parse_retry_after({"Retry-After": "3"}), parse_retry_after({"Retry-After": "²"})
    (3.0, None)
    """
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def server_date(headers: Mapping[str, str]) -> float | None:
    """The answer's ``Date`` header as unix seconds; ``None`` if absent or unreadable.

    Examples
    --------
    >>> server_date({"Date": "Wed, 04 Mar 2026 10:00:00 GMT"})
    1772618400.0
    >>> server_date({"Date": "yesterday"}) is None
    True
    """
    value = headers.get("Date")
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an obsolete form without a zone: HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _netloc(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).netloc.rpartition("@")[2]
    except ValueError:
        return ""


def _excerpt(body: bytes) -> str:
    text = body[:BODY_EXCERPT].decode("utf-8", errors="replace")
    if len(body) <= BODY_EXCERPT:
        return quoted(text, BODY_EXCERPT)
    return f"{text!r}… ({len(body):,} bytes)"
