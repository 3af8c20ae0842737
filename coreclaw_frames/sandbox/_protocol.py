"""What both API versions of the sandbox share: requests, answers, keys and the `Api` interface.

The server parses each HTTP request into a `Request`, picks the `Api` of its version (v1 or v2)
and runs it through one pipeline; each version decides its routes, how a key is read, and how
every kind of error looks on its wire. The API keys, and which of them stand for an expired
key or a disabled or unknown user, are the same for both versions.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from coreclaw_frames.sandbox._account import Account

__all__ = [
    "AUTH_API_KEY",
    "AUTH_BEARER",
    "AUTH_NONE",
    "AUTH_TOKEN_QUERY",
    "DEFAULT_API_KEY",
    "DISABLED_USER_API_KEY",
    "EXPIRED_API_KEY",
    "MAX_PAGE_SIZE",
    "UNKNOWN_USER_API_KEY",
    "Answer",
    "Api",
    "Request",
    "Route",
]

DEFAULT_API_KEY = "sandbox-key-0123456789abcdef"
"""The key the sandbox accepts unless `api_key` says otherwise."""

EXPIRED_API_KEY = "sandbox-key-expired"
"""Always refused as an expired key (v1 20002, v2 12002)."""

DISABLED_USER_API_KEY = "sandbox-key-user-disabled"
"""Always refused as the key of a disabled user (v1 10002, v2 12001)."""

UNKNOWN_USER_API_KEY = "sandbox-key-user-unknown"
"""Always refused as the key of a user that does not exist (v1 10001, v2 12001)."""

MAX_PAGE_SIZE = 100
"""Largest page size: v1's `page_size` and v2's `limit`."""

AUTH_BEARER = "bearer"
"""The request carried its key as ``Authorization: Bearer <key>``."""

AUTH_API_KEY = "api-key"
"""The request carried its key in the ``api-key`` header."""

AUTH_TOKEN_QUERY = "token-query"
"""The request carried its key in the URL, as ``?token=<key>`` (v2 only)."""

AUTH_NONE = "none"
"""The request carried no key that its API version reads."""

KEY_OK = "ok"
KEY_MISSING = "missing"
KEY_INVALID = "invalid"
KEY_EXPIRED = "expired"
USER_DISABLED = "user-disabled"
USER_MISSING = "user-missing"

SPECIAL_KEYS: dict[str, str] = {
    EXPIRED_API_KEY: KEY_EXPIRED,
    DISABLED_USER_API_KEY: USER_DISABLED,
    UNKNOWN_USER_API_KEY: USER_MISSING,
}
"""The keys that are always refused, and why."""

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"

_HTML_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request.

    `target` is the raw request target (path and query); `query` the decoded query parameters
    in order, blanks kept; `body` is None when it could not be read (bad framing, too large).
    """

    method: str
    target: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: Message
    body: bytes | None

    def param(self, name: str) -> str | None:
        """The last value of query parameter `name`; None when absent or empty."""
        value = None
        for key, item in self.query:
            if key == name:
                value = item
        return value or None


@dataclass(frozen=True)
class Answer:
    """What the handler writes back: an HTTP message, or nothing at all (`drop`).

    The body is `body` followed by every piece of `chunks` (written as they come, for large
    files); its Content-Length is `content_length`, or the body's actual length when None. A
    body shorter than its declared length is a truncated answer: the connection is closed after
    it.
    """

    status: int = 200
    body: bytes = b""
    content_type: str = JSON_CONTENT_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False
    chunks: Iterable[bytes] = ()
    content_length: int | None = None


def json_answer(document: Any, status: int = 200) -> Answer:
    """A compact UTF-8 JSON answer."""
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return Answer(status=int(status), body=body)


def gateway_page(status: int, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    """The HTML error page a reverse proxy sends, whatever the API version."""
    reason = HTTPStatus(status).phrase
    body = _HTML_PAGE.format(status=status, reason=reason).encode()
    return Answer(status=status, body=body, content_type=HTML_CONTENT_TYPE, headers=headers)


def bearer_key(headers: Message) -> str:
    """The key of an ``Authorization: Bearer <key>`` header, or ``""``."""
    scheme, _, credentials = (headers.get("Authorization") or "").strip().partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


def check_key(key: str, api_keys: Collection[str]) -> str:
    """`KEY_OK` when `key` is one of `api_keys`, else why not (`KEY_MISSING`, ...)."""
    if not key:
        return KEY_MISSING
    if key in api_keys:
        return KEY_OK
    return SPECIAL_KEYS.get(key, KEY_INVALID)


class Settings(Protocol):
    """The parts of the server an API version reads on every request."""

    grow_on_list: int
    missing_run: str
    cross_month_status: int

    def export_link(self, account: Account, slug: str, fmt: str, keys: tuple[str, ...]) -> str:
        """A download URL, on the storage host, of a run's results rendered as `fmt`, only
        the top-level `keys` of each row when not empty."""
        ...


class Route(NamedTuple):
    """Where a request goes: its route name for the counters, the run slug it names (if any),
    and the endpoint that answers it from an account (None when nothing is routed there)."""

    name: str
    slug: str | None
    endpoint: Callable[[Account], Answer] | None


class Api(ABC):
    """One API version: its routes, where it reads the key, and its errors on the wire."""

    prefix: str
    """Paths equal to this or below it belong to this version ("" for the fallback)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def route(self, request: Request) -> Route:
        """The route of a request; its endpoint is None for an unknown path or method."""

    @abstractmethod
    def credentials(self, request: Request) -> tuple[str, str]:
        """(auth scheme, key) of a request: one of the `AUTH_*` names and the key, or
        (`AUTH_NONE`, "")."""

    @abstractmethod
    def not_found(self) -> Answer:
        """The answer to an unknown path or method."""

    @abstractmethod
    def auth_error(self, reason: str) -> Answer:
        """The answer to a request whose key does not authenticate (`check_key`'s reason)."""

    @abstractmethod
    def rate_limited(self) -> Answer:
        """The answer to a request the token bucket rejects."""

    @abstractmethod
    def envelope_fault(self, kind: str) -> Answer:
        """The answer of an injected ``code_5000`` or ``code_4290`` fault."""

    @abstractmethod
    def internal_error(self) -> Answer:
        """The answer when the sandbox itself fails."""
