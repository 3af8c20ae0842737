"""The storage host of the sandbox: where v2's results export links point, as S3 would serve them.

v2's export endpoint answers with a ``download_url`` on another host; a client downloads the
file from there without its API key, and must never send the key there. The sandbox serves
those links from a second loopback server (`SandboxServer.storage_url`), speaking the way an
object store does: a presigned URL (``/runs/<slug>/results.<format>?X-Amz-Expires=<seconds>&
X-Amz-Signature=<token>``, the token unguessable), S3-style XML errors, a Content-Length on every
file.

Each request, in this order:

1. counted (``storage_requests``), then delayed by `latency`;
2. refused with 403 and counted (``storage_key_refused``) when it carries a credential: an
   ``Authorization``, ``api-key``, ``x-api-key`` or ``token`` header (any value), a ``token``,
   ``api_key`` or ``api-key`` query parameter, or any of the sandbox's API keys anywhere in
   the request line or a header;
3. any method but GET or HEAD: 405; an unknown or mismatched link: 403; an expired one (older
   than the `link_ttl` it was issued with): 403 ``AccessDenied`` "Request has expired";
4. with `storage_redirect` set: 302 to that URL instead of the file;
5. with `storage_fault_rate`: a transient failure (HTTP 503, a dropped connection, or a body cut
   short of its Content-Length), never more than `max_consecutive_faults` in a row for one URL;
6. the file (see `coreclaw_frames.sandbox._export`), a run removed since: 404 ``NoSuchKey``.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import NamedTuple, Protocol
from urllib.parse import quote, unquote

from coreclaw_frames.sandbox._account import Account
from coreclaw_frames.sandbox._export import FileCache, chunks, content_type, render
from coreclaw_frames.sandbox._faults import Counters, FaultInjector
from coreclaw_frames.sandbox._protocol import Answer, Request

__all__ = ["STORAGE_FAULT_KINDS", "Storage"]

STORAGE_FAULT_KINDS: tuple[str, ...] = ("http_503", "drop", "truncated")
"""The transient failures the storage host draws from, uniformly."""

CREDENTIAL_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "token"})
"""Headers the storage host refuses whatever their value."""

CREDENTIAL_PARAMS = frozenset({"token", "api_key", "api-key"})
"""Query parameters the storage host refuses whatever their value."""

SIGNATURE_PARAM = "X-Amz-Signature"
EXPIRES_PARAM = "X-Amz-Expires"

MAX_LINKS = 100_000
"""Links remembered; the oldest are forgotten first (and then answer as expired)."""

XML_CONTENT_TYPE = "application/xml"


def s3_error(
    status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()
) -> Answer:
    """An S3-style XML error answer."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()
    return Answer(status=status, body=body, content_type=XML_CONTENT_TYPE, headers=headers)


class StorageSettings(Protocol):
    """The parts of the server the storage host reads on every request."""

    latency: float
    link_ttl: float
    storage_redirect: str | None

    def known_keys(self) -> Collection[str]:
        """Every API key the sandbox knows (accepted or special)."""
        ...

    def pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server stops."""
        ...


class Link(NamedTuple):
    """What an issued download URL stands for."""

    account: Account
    slug: str
    fmt: str
    keys: tuple[str, ...]
    path: str
    expires: float


class Storage:
    """The storage host's links, files and answers; `SandboxServer` serves `answer` on its own
    port and issues links through `issue`."""

    def __init__(
        self,
        settings: StorageSettings,
        counters: Counters,
        seed: int,
        fault_rate: float,
        max_consecutive_faults: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.base_url = ""
        self._counters = counters
        self._faults = (
            FaultInjector(
                f"{seed}/storage", fault_rate, STORAGE_FAULT_KINDS, max_consecutive_faults
            )
            if fault_rate > 0
            else None
        )
        self._clock = clock
        self._links: OrderedDict[str, Link] = OrderedDict()
        self._lock = threading.Lock()
        self._cache = FileCache()

    def issue(self, account: Account, slug: str, fmt: str, keys: tuple[str, ...]) -> str:
        """A new download URL of run `slug`'s results as `fmt`, valid for `link_ttl` seconds."""
        ttl = self.settings.link_ttl
        token = secrets.token_urlsafe(24)
        path = f"/runs/{quote(slug, safe='')}/results.{fmt}"
        link = Link(account, slug, fmt, keys, path, self._clock() + ttl)
        with self._lock:
            self._links[token] = link
            while len(self._links) > MAX_LINKS:
                self._links.popitem(last=False)
        return f"{self.base_url}{path}?{EXPIRES_PARAM}={math.ceil(ttl)}&{SIGNATURE_PARAM}={token}"

    # ------------------------------------------------------------------ answers

    def answer(self, request: Request) -> Answer:
        """One storage request in, one answer out."""
        self._counters.storage_request()
        self.settings.pause(self.settings.latency)
        if self._carries_credential(request):
            self._counters.storage_refused()
            return s3_error(403, "AccessDenied", "Credentials are not accepted on presigned URLs")
        if request.method not in ("GET", "HEAD"):
            return s3_error(405, "MethodNotAllowed", "The specified method is not allowed")
        with self._lock:
            link = self._links.get(request.param(SIGNATURE_PARAM) or "")
        if link is None or link.path != request.path:
            return s3_error(403, "SignatureDoesNotMatch", "The request signature is not valid")
        if self._clock() >= link.expires:
            return s3_error(403, "AccessDenied", "Request has expired")
        redirect = self.settings.storage_redirect
        if redirect:
            return Answer(status=302, content_type="text/plain", headers=(("Location", redirect),))
        fault = self._faults.draw("GET", request.target, b"") if self._faults else None
        if fault is not None:
            self._counters.storage_fault(fault)
        if fault == "http_503":
            return s3_error(
                503, "SlowDown", "Please reduce your request rate.", (("Retry-After", "1"),)
            )
        if fault == "drop":
            return Answer(drop=True)
        data = self._file(link)
        if data is None:
            return s3_error(404, "NoSuchKey", "The specified key does not exist.")
        stop = len(data) // 2 if fault == "truncated" else None
        name = link.path.rsplit("/", 1)[-1]
        return Answer(
            content_type=content_type(link.fmt),
            headers=(("Content-Disposition", f'attachment; filename="{name}"'),),
            chunks=chunks(data, stop, on_chunk=self._counters.storage_bytes),
            content_length=len(data),
        )

    def _carries_credential(self, request: Request) -> bool:
        headers = request.headers
        if any(name.lower() in CREDENTIAL_HEADERS for name in headers):
            return True
        if any(name.lower() in CREDENTIAL_PARAMS for name, _ in request.query):
            return True
        line = f"{request.target} {unquote(request.target)}"
        values = " ".join(str(value) for value in headers.values())
        return any(key in line or key in values for key in self.settings.known_keys() if key)

    def _file(self, link: Link) -> bytes | None:
        """The link's file, rendered from the run's current rows; None when the run is gone."""
        record = link.account.run(link.slug)
        if record is None:
            return None
        key = (link.account, link.slug, record["results"], link.fmt, link.keys)
        return self._cache.get(
            key, lambda: render(link.account.rows(link.slug), link.fmt, link.keys)
        )
