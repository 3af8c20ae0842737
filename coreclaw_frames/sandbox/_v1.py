"""API v1 of the sandbox: ``POST /api/v1/...`` with JSON bodies and JSON envelopes.

Every answer is HTTP 200 with ``{"code", "message", "data"}``; errors carry `data` null:
4040 for an unknown path or any method but POST on a known one (v1 routes POST only), 4010 /
20001 / 20002 / 10001 / 10002 for keys, 4290 when rate-limited, 4000 for a bad body or
parameter, 70001 for an unknown run, 5000 when the sandbox fails. The key is read from the
``api-key`` header, then from ``Authorization: Bearer``. Records are served exactly as the
account stores them.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any, TypeGuard

from coreclaw_frames.sandbox._account import ALL_STATUSES, STATUS_ABORTED, Account
from coreclaw_frames.sandbox._protocol import (
    AUTH_API_KEY,
    AUTH_BEARER,
    AUTH_NONE,
    KEY_EXPIRED,
    KEY_INVALID,
    KEY_MISSING,
    MAX_PAGE_SIZE,
    USER_DISABLED,
    USER_MISSING,
    Answer,
    Api,
    Request,
    Route,
    bearer_key,
    json_answer,
)

__all__ = [
    "ROUTE_V1_ACCOUNT_INFO",
    "ROUTE_V1_NOT_FOUND",
    "ROUTE_V1_RUN_DETAIL",
    "ROUTE_V1_RUN_LIST",
    "ROUTE_V1_RUN_RESULTS",
    "V1Api",
]

PATH_RUN_DETAIL = "/api/v1/run/detail"
PATH_RUN_LIST = "/api/v1/run/list"
PATH_RUN_RESULTS = "/api/v1/run/result/list"
PATH_ACCOUNT_INFO = "/api/v1/account/info"

ROUTE_V1_RUN_DETAIL = "v1 run/detail"
ROUTE_V1_RUN_LIST = "v1 run/list"
ROUTE_V1_RUN_RESULTS = "v1 run/result/list"
ROUTE_V1_ACCOUNT_INFO = "v1 account/info"
ROUTE_V1_NOT_FOUND = "v1 not-found"
"""The route name of a request v1 does not route (unknown path, or not a POST)."""

MAX_PAGE_INDEX = 2**31 - 1
"""Largest `page_index` accepted (a 32-bit int, as a typical backend stores it)."""

CODE_OK = 0
CODE_INVALID_PARAMETERS = 4000
CODE_UNAUTHORIZED = 4010
CODE_NOT_FOUND = 4040
CODE_RATE_LIMITED = 4290
CODE_INTERNAL_ERROR = 5000
CODE_USER_MISSING = 10001
CODE_USER_DISABLED = 10002
CODE_KEY_INVALID = 20001
CODE_KEY_EXPIRED = 20002
CODE_RUN_MISSING = 70001

MESSAGES: dict[int, str] = {
    CODE_OK: "success",
    CODE_INVALID_PARAMETERS: "Invalid request parameters",
    CODE_UNAUTHORIZED: "Unauthorized",
    CODE_NOT_FOUND: "Resource not found",
    CODE_RATE_LIMITED: "Rate limit exceeded",
    CODE_INTERNAL_ERROR: "Internal server error",
    CODE_USER_MISSING: "User does not exist",
    CODE_USER_DISABLED: "User disabled",
    CODE_KEY_INVALID: "API key invalid",
    CODE_KEY_EXPIRED: "API key expired",
    CODE_RUN_MISSING: "Run record does not exist",
}
"""The message sent with each API code."""

_AUTH_CODES: dict[str, int] = {
    KEY_MISSING: CODE_UNAUTHORIZED,
    KEY_INVALID: CODE_KEY_INVALID,
    KEY_EXPIRED: CODE_KEY_EXPIRED,
    USER_DISABLED: CODE_USER_DISABLED,
    USER_MISSING: CODE_USER_MISSING,
}
_FAULT_CODES: dict[str, int] = {"code_5000": CODE_INTERNAL_ERROR, "code_4290": CODE_RATE_LIMITED}

Payload = dict[str, Any]


def envelope(code: int, data: Any = None) -> Answer:
    """A v1 envelope, always with HTTP 200.

    Examples
    --------
    >>> answer = envelope(CODE_INVALID_PARAMETERS)
    >>> answer.status, answer.body
    (200, b'{"code":4000,"message":"Invalid request parameters","data":null}')
    """
    return json_answer({"code": code, "message": MESSAGES[code], "data": data})


class _ApiError(Exception):
    """Raised inside an endpoint to answer with an error envelope."""

    def __init__(self, code: int) -> None:
        super().__init__(MESSAGES[code])
        self.code = code


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _required_int(payload: Payload, name: str, low: int, high: int) -> int:
    value = payload.get(name)
    if _is_int(value) and low <= value <= high:
        return value
    raise _ApiError(CODE_INVALID_PARAMETERS)


def _required_slug(payload: Payload) -> str:
    value = payload.get("run_slug")
    if not isinstance(value, str) or not value:
        raise _ApiError(CODE_INVALID_PARAMETERS)
    return value


def _page(payload: Payload) -> tuple[int, int]:
    return (
        _required_int(payload, "page_index", 1, MAX_PAGE_INDEX),
        _required_int(payload, "page_size", 1, MAX_PAGE_SIZE),
    )


def _parse_object(body: bytes | None) -> Payload | None:
    """The request body as a JSON object, or None when it is anything else."""
    if body is None:
        return None
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    return document if isinstance(document, dict) else None


class V1Api(Api):
    """The v1 routes and wire format."""

    prefix = ""

    def route(self, request: Request) -> Route:
        endpoints = {
            PATH_RUN_DETAIL: (ROUTE_V1_RUN_DETAIL, self._run_detail),
            PATH_RUN_LIST: (ROUTE_V1_RUN_LIST, self._run_list),
            PATH_RUN_RESULTS: (ROUTE_V1_RUN_RESULTS, self._run_results),
            PATH_ACCOUNT_INFO: (ROUTE_V1_ACCOUNT_INFO, self._account_info),
        }
        payload = _parse_object(request.body)
        slug = None
        if request.path in (PATH_RUN_DETAIL, PATH_RUN_RESULTS) and payload is not None:
            candidate = payload.get("run_slug")
            slug = candidate if isinstance(candidate, str) else None
        found = endpoints.get(request.path)
        if found is None or request.method != "POST":
            return Route(ROUTE_V1_NOT_FOUND, slug, None)
        name, endpoint = found
        return Route(name, slug, partial(self._call, endpoint, payload))

    def credentials(self, request: Request) -> tuple[str, str]:
        key = (request.headers.get("api-key") or "").strip()
        if key:
            return AUTH_API_KEY, key
        key = bearer_key(request.headers)
        return (AUTH_BEARER, key) if key else (AUTH_NONE, "")

    def not_found(self) -> Answer:
        return envelope(CODE_NOT_FOUND)

    def auth_error(self, reason: str) -> Answer:
        return envelope(_AUTH_CODES[reason])

    def rate_limited(self) -> Answer:
        return envelope(CODE_RATE_LIMITED)

    def envelope_fault(self, kind: str) -> Answer:
        return envelope(_FAULT_CODES[kind])

    def internal_error(self) -> Answer:
        return envelope(CODE_INTERNAL_ERROR)

    # ------------------------------------------------------------------ endpoints

    @staticmethod
    def _call(endpoint: Any, payload: Payload | None, account: Account) -> Answer:
        try:
            if payload is None:
                raise _ApiError(CODE_INVALID_PARAMETERS)
            return envelope(CODE_OK, endpoint(payload, account))
        except _ApiError as error:
            return envelope(error.code)

    def _run_detail(self, payload: Payload, account: Account) -> Any:
        record = account.run(_required_slug(payload))
        if record is None:
            raise _ApiError(CODE_RUN_MISSING)
        return record

    def _run_list(self, payload: Payload, account: Account) -> Any:
        page_index, page_size = _page(payload)
        status = payload.get("status")
        if status is None:
            status = ALL_STATUSES
        elif not _is_int(status) or not ALL_STATUSES <= status <= STATUS_ABORTED:
            raise _ApiError(CODE_INVALID_PARAMETERS)
        scraper_slug = payload.get("scraper_slug")
        if scraper_slug is not None and not isinstance(scraper_slug, str):
            raise _ApiError(CODE_INVALID_PARAMETERS)
        if self.settings.grow_on_list:
            account.add_runs(self.settings.grow_on_list)
        count, records = account.list_runs(page_index, page_size, status, scraper_slug or None)
        return {"count": count, "list": records}

    def _run_results(self, payload: Payload, account: Account) -> Any:
        slug = _required_slug(payload)
        page_index, page_size = _page(payload)
        if account.run(slug) is None:
            raise _ApiError(CODE_RUN_MISSING)
        count, headers, rows = account.results(slug, page_index, page_size)
        return {
            "count": count,
            "headers": headers,
            "list": rows,
            "page_index": page_index,
            "page_size": page_size,
        }

    def _account_info(self, payload: Payload, account: Account) -> Any:
        return {
            "balance": account.balance,
            "traffic": account.traffic,
            "traffic_expiration_at": account.traffic_expiration_at,
        }
