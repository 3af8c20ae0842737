"""API v2 of the sandbox: ``GET /api/v2/...``, the same account as v1, every documented quirk.

Routes: ``/api/v2/worker-runs/{slug}`` (detail), ``/api/v2/worker-runs`` (Run History),
``/api/v2/worker-runs/{slug}/result`` (results), ``/api/v2/worker-runs/{slug}/result/export``
(a link to the results as a file, on the storage host; see `coreclaw_frames.sandbox._storage`)
and ``/api/v2/users/account``. The key is read
from ``Authorization: Bearer``, then the ``api-key`` header, then ``?token=``.

Success: ``{"code": 0, "data", "message": "success", "request_id"}``; errors:
``{"code", "details": null, "message", "request_id"}`` with no `data` and an HTTP status that
pairs with the code: 400/422 11000, 401 12001 (no key, disabled or unknown user) or 12002
(wrong or expired key), 404 11004 (unknown path, any method but GET, or a missing run), 429
13000 (rate limit, no Retry-After), 500 10000. Keys are in alphabetical order, as CoreClaw's
own examples have them.

Quirks a client must survive: `status` is a string and finished aborted runs are reported
``aborting`` or, for a deterministic ~20% of them, ``aborted``; `err_msg` is left out of about
half of the records that have none; `origin` is ``openapi`` or ``web``; one worker's
`scraper_slug` is an ``owner~name`` path; a missing run answers 404/11004 or 200/70001
(`missing_run` knob); `offset` is a 1-based page number; Run History only covers one calendar
month (UTC+8) at a time, the current one by default, and its `end_time` names a whole day.
"""

from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import partial
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from coreclaw_frames.sandbox._account import Account
from coreclaw_frames.sandbox._export import EXPORT_FORMATS, RENDERED_FORMATS
from coreclaw_frames.sandbox._protocol import (
    AUTH_API_KEY,
    AUTH_BEARER,
    AUTH_NONE,
    AUTH_TOKEN_QUERY,
    KEY_EXPIRED,
    KEY_INVALID,
    MAX_PAGE_SIZE,
    Answer,
    Api,
    Request,
    Route,
    bearer_key,
    json_answer,
)
from coreclaw_frames.sandbox._records import ALL_STATUSES
from coreclaw_frames.sandbox._workers import Row

__all__ = [
    "MISSING_RUN_MODES",
    "ROUTE_V2_ACCOUNT",
    "ROUTE_V2_NOT_FOUND",
    "ROUTE_V2_RUN_DETAIL",
    "ROUTE_V2_RUN_LIST",
    "ROUTE_V2_RUN_RESULT",
    "ROUTE_V2_RUN_RESULT_EXPORT",
    "V2Api",
    "v2_run_record",
]

PREFIX = "/api/v2"
PATH_RUNS = "/api/v2/worker-runs"
PATH_ACCOUNT = "/api/v2/users/account"
RESULT_SEGMENT = "result"
EXPORT_SEGMENT = "export"

ROUTE_V2_RUN_DETAIL = "v2 worker-runs detail"
ROUTE_V2_RUN_LIST = "v2 worker-runs list"
ROUTE_V2_RUN_RESULT = "v2 worker-runs result"
ROUTE_V2_RUN_RESULT_EXPORT = "v2 worker-runs result/export"
ROUTE_V2_ACCOUNT = "v2 users/account"
ROUTE_V2_NOT_FOUND = "v2 not-found"
"""The route name of a request v2 does not route (unknown path, or not a GET)."""

CODE_OK = 0
CODE_SYSTEM_ERROR = 10000
CODE_INVALID_ARGUMENT = 11000
CODE_NOT_FOUND = 11004
CODE_UNAUTHORIZED = 12001
CODE_INVALID_TOKEN = 12002
CODE_RATE_LIMITED = 13000
CODE_RUN_NOT_FOUND = 70001

MESSAGES: dict[int, str] = {
    CODE_OK: "success",
    CODE_SYSTEM_ERROR: "system error",
    CODE_INVALID_ARGUMENT: "invalid argument",
    CODE_NOT_FOUND: "not found",
    CODE_UNAUTHORIZED: "authentication required",
    CODE_INVALID_TOKEN: "invalid token",
    CODE_RATE_LIMITED: "too many requests",
    CODE_RUN_NOT_FOUND: "run not found",
}
"""The default message of each code."""

CROSS_MONTH_MESSAGE = "run list time range cannot cross months"

MISSING_RUN_MODES: tuple[str, ...] = ("404", "70001", "mixed")
"""Values of the `missing_run` knob: HTTP 404 + 11004, HTTP 200 + 70001, or either per slug."""

DEFAULT_LIMIT = 20
MAX_OFFSET = 2**31 - 1
"""Largest `offset` (page number) accepted."""

MAX_TIME = 2**32 - 1
"""Largest `start_time`/`end_time` accepted (unix seconds)."""

MONTH_ZONE = timezone(timedelta(hours=8), "UTC+8")
"""Run History months start at midnight in this zone."""

DAY_SECONDS = 86400

STATUS_NAMES: dict[int, str] = {
    1: "ready",
    2: "running",
    3: "succeeded",
    4: "failed",
    5: "aborting",
}
"""v2's name of each v1 status."""

STATUS_FILTERS: dict[str, int] = {name: status for status, name in STATUS_NAMES.items()}
"""The `status` values Run History accepts, and the v1 status each selects."""

ORIGINS: dict[str, str] = {"api": "openapi", "web": "web"}
"""v2's name of each v1 origin."""

REPORTED_ABORTED_SHARE = 0.2
"""Share of finished aborted runs that v2 reports as ``aborted`` instead of ``aborting``."""

OMITTED_ERR_MSG_SHARE = 0.5
"""Share of runs without an error message whose v2 record has no `err_msg` at all."""

_INTEGER = re.compile(r"-?[0-9]{1,19}")


def _share(slug: str, salt: str) -> float:
    """A stable pseudo-random number in [0, 1) for a slug, the same in every process."""
    return zlib.crc32(f"{salt}:{slug}".encode()) / 2**32


def v2_run_record(account: Account, record: Row) -> Row:
    """A run record as v2 serialises it (keys in alphabetical order).

    Examples
    --------
    >>> from coreclaw_frames.sandbox._account import build_account
    >>> account = build_account(runs=20)
    >>> v2 = v2_run_record(account, account.runs[0])
    >>> v2["status"] in STATUS_NAMES.values(), list(v2) == sorted(v2)
    (True, True)
    """
    slug = record["slug"]
    status = STATUS_NAMES[record["status"]]
    if (
        status == "aborting"
        and record["finished_at"]
        and _share(slug, "aborted") < REPORTED_ABORTED_SHARE
    ):
        status = "aborted"
    worker = account.worker(record["scraper_slug"])
    document: Row = {
        "duration": record["duration"],
        "err_msg": record["err_msg"],
        "finished_at": record["finished_at"],
        "origin": ORIGINS.get(record["origin"], record["origin"]),
        "results": record["results"],
        "scraper_slug": worker.v2_id if worker is not None else record["scraper_slug"],
        "scraper_title": record["scraper_title"],
        "slug": slug,
        "started_at": record["started_at"],
        "status": status,
        "traffic": record["traffic"],
        "usage": record["usage"],
        "version": record["version"],
    }
    if not record["err_msg"] and _share(slug, "err_msg") < OMITTED_ERR_MSG_SHARE:
        del document["err_msg"]
    return document


def missing_run_code(mode: str, slug: str) -> int:
    """The code a missing run answers with under `missing_run` mode `mode`: 11004 or 70001."""
    if mode == "mixed":
        mode = "70001" if _share(slug, "missing") < 0.5 else "404"
    return CODE_RUN_NOT_FOUND if mode == "70001" else CODE_NOT_FOUND


def month_bounds(timestamp: int) -> tuple[int, int]:
    """[start, end) of the UTC+8 calendar month holding `timestamp`, in unix seconds.

    Examples
    --------
    >>> month_bounds(1773619200)  # 2026-03-16T08:00+08:00
    (1772294400, 1774972800)
    """
    first = datetime.fromtimestamp(timestamp, MONTH_ZONE).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    following = (first + timedelta(days=32)).replace(day=1)
    return int(first.timestamp()), int(following.timestamp())


def _request_id() -> str:
    return f"req-{uuid.uuid4().hex}"


def success(data: Any) -> Answer:
    """A v2 success envelope (HTTP 200)."""
    return json_answer(
        {"code": CODE_OK, "data": data, "message": MESSAGES[CODE_OK], "request_id": _request_id()}
    )


def error(status: int, code: int, message: str | None = None) -> Answer:
    """A v2 error envelope: no `data`, `details` null."""
    document = {
        "code": code,
        "details": None,
        "message": message or MESSAGES[code],
        "request_id": _request_id(),
    }
    return json_answer(document, status)


class _ApiError(Exception):
    """Raised inside an endpoint to answer with a v2 error."""

    def __init__(self, status: int, code: int, message: str | None = None) -> None:
        super().__init__(message or MESSAGES[code])
        self.status = status
        self.code = code
        self.message = message


def _invalid(message: str, status: int = HTTPStatus.UNPROCESSABLE_ENTITY) -> _ApiError:
    return _ApiError(status, CODE_INVALID_ARGUMENT, message)


def _int_param(request: Request, name: str, low: int, high: int) -> int | None:
    """An integer query parameter in [low, high], None when absent; 422 otherwise."""
    raw = request.param(name)
    if raw is None:
        return None
    if not _INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
        raise _invalid(f"{name} must be an integer in [{low}, {high}]")
    return int(raw)


def _paging(request: Request) -> tuple[int, int]:
    """(page number, page size) from `offset` (a 1-based page, 0 read as 1) and `limit`."""
    limit = _int_param(request, "limit", 1, MAX_PAGE_SIZE)
    offset = _int_param(request, "offset", 0, MAX_OFFSET)
    return max(1, offset or 1), DEFAULT_LIMIT if limit is None else limit


Endpoint = Callable[[Request, str, Account], Any]


class V2Api(Api):
    """The v2 routes and wire format."""

    prefix = PREFIX

    def route(self, request: Request) -> Route:
        path = request.path
        name, slug, endpoint = ROUTE_V2_NOT_FOUND, None, None
        endpoints: dict[str, tuple[str, Endpoint]] = {
            PATH_RUNS: (ROUTE_V2_RUN_LIST, self._run_list),
            PATH_ACCOUNT: (ROUTE_V2_ACCOUNT, self._account),
        }
        if path in endpoints:
            name, endpoint = endpoints[path]
        elif path.startswith(PATH_RUNS + "/"):
            parts = path[len(PATH_RUNS) + 1 :].split("/")
            if parts[0] and len(parts) == 1:
                name, slug, endpoint = ROUTE_V2_RUN_DETAIL, unquote(parts[0]), self._run_detail
            elif parts[0] and parts[1:] == [RESULT_SEGMENT]:
                name, slug, endpoint = ROUTE_V2_RUN_RESULT, unquote(parts[0]), self._run_result
            elif parts[0] and parts[1:] == [RESULT_SEGMENT, EXPORT_SEGMENT]:
                name, slug = ROUTE_V2_RUN_RESULT_EXPORT, unquote(parts[0])
                endpoint = self._run_result_export
        if endpoint is None or request.method != "GET":
            return Route(ROUTE_V2_NOT_FOUND, slug, None)
        return Route(name, slug, partial(self._call, endpoint, request, slug or ""))

    def credentials(self, request: Request) -> tuple[str, str]:
        key = bearer_key(request.headers)
        if key:
            return AUTH_BEARER, key
        key = (request.headers.get("api-key") or "").strip()
        if key:
            return AUTH_API_KEY, key
        key = (request.param("token") or "").strip()
        return (AUTH_TOKEN_QUERY, key) if key else (AUTH_NONE, "")

    def not_found(self) -> Answer:
        return error(HTTPStatus.NOT_FOUND, CODE_NOT_FOUND)

    def auth_error(self, reason: str) -> Answer:
        code = CODE_INVALID_TOKEN if reason in (KEY_INVALID, KEY_EXPIRED) else CODE_UNAUTHORIZED
        return error(HTTPStatus.UNAUTHORIZED, code)

    def rate_limited(self) -> Answer:
        return error(HTTPStatus.TOO_MANY_REQUESTS, CODE_RATE_LIMITED)

    def envelope_fault(self, kind: str) -> Answer:
        if kind == "code_4290":
            return self.rate_limited()
        return self.internal_error()

    def internal_error(self) -> Answer:
        return error(HTTPStatus.INTERNAL_SERVER_ERROR, CODE_SYSTEM_ERROR)

    # ------------------------------------------------------------------ endpoints

    @staticmethod
    def _call(endpoint: Endpoint, request: Request, slug: str, account: Account) -> Answer:
        try:
            return success(endpoint(request, slug, account))
        except _ApiError as failure:
            return error(failure.status, failure.code, failure.message)

    def _missing(self, slug: str) -> _ApiError:
        code = missing_run_code(self.settings.missing_run, slug)
        status = HTTPStatus.OK if code == CODE_RUN_NOT_FOUND else HTTPStatus.NOT_FOUND
        return _ApiError(status, code)

    def _run_detail(self, request: Request, slug: str, account: Account) -> Any:
        record = account.run(slug)
        if record is None:
            raise self._missing(slug)
        return v2_run_record(account, record)

    def _run_list(self, request: Request, slug: str, account: Account) -> Any:
        page, limit = _paging(request)
        raw_status = request.param("status")
        status = ALL_STATUSES
        if raw_status is not None:
            if raw_status not in STATUS_FILTERS:
                raise _invalid(f"status must be one of {', '.join(STATUS_FILTERS)}")
            status = STATUS_FILTERS[raw_status]
        start = _int_param(request, "start_time", 0, MAX_TIME)
        end = _int_param(request, "end_time", 0, MAX_TIME)
        if start is None and end is None:
            low, high = month_bounds(account.now)
        elif start is None or end is None:
            raise _invalid("start_time and end_time go together", HTTPStatus.BAD_REQUEST)
        elif end < start:
            raise _invalid("end_time must not be before start_time", HTTPStatus.BAD_REQUEST)
        elif month_bounds(start) != month_bounds(end):
            raise _invalid(CROSS_MONTH_MESSAGE, self.settings.cross_month_status)
        else:
            low, high = start, end + DAY_SECONDS
        if self.settings.grow_on_list:
            account.add_runs(self.settings.grow_on_list)
        worker_id = request.param("worker_id")
        worker = account.worker(worker_id) if worker_id is not None else None
        if worker_id is not None and worker is None:
            return {"count": 0, "list": []}
        count, records = account.list_runs(
            page,
            limit,
            status,
            worker.slug if worker is not None else None,
            created_from=low,
            created_before=high,
        )
        return {"count": count, "list": [v2_run_record(account, record) for record in records]}

    def _run_result(self, request: Request, slug: str, account: Account) -> Any:
        page, limit = _paging(request)
        if account.run(slug) is None:
            raise self._missing(slug)
        count, headers, rows = account.results(slug, page, limit)
        return {
            "count": count,
            "headers": [{"key": header["key"], "label": header["label"]} for header in headers],
            "list": rows,
            "page_index": page,
            "page_size": limit,
        }

    def _run_result_export(self, request: Request, slug: str, account: Account) -> Any:
        fmt = (request.param("format") or EXPORT_FORMATS[0]).strip().lower()
        if fmt not in EXPORT_FORMATS:
            raise _invalid(f"format must be one of {', '.join(EXPORT_FORMATS)}")
        if fmt not in RENDERED_FORMATS:
            raise _invalid(
                f"the sandbox does not render format {fmt}; it renders "
                f"{', '.join(RENDERED_FORMATS)}"
            )
        if account.run(slug) is None:
            raise self._missing(slug)
        raw_keys = (key.strip() for key in (request.param("filter_keys") or "").split(","))
        keys = tuple(key for key in dict.fromkeys(raw_keys) if key)
        declared = [header["key"] for header in account.headers(slug)]
        for key in keys:
            if key not in declared:
                raise _invalid(
                    f"filter_keys: {key!r} is not a key of this run's results "
                    f"(its keys: {', '.join(declared)})"
                )
        return {"download_url": self.settings.export_link(account, slug, fmt, keys)}

    def _account(self, request: Request, slug: str, account: Account) -> Any:
        return {
            "balance": account.balance,
            "balance_expiration_at": account.balance_expiration_at,
        }
