"""What a transport is: the seam between the client and the network.

A transport sends ONE request and returns its answer (:class:`HTTPAnswer`: status, headers,
a body of at most :data:`MAX_ANSWER_BYTES`), or raises one of our errors
(:class:`~coreclaw_frames.TransportError` and its subclasses). Everything else (retries, rate
control, the key scrubbed out of answers, the server's clock, unwrapping the envelope) is the
caller's (:mod:`~coreclaw_frames.api._caller`), the same whatever the transport.

The client's own is :class:`~coreclaw_frames.api._sender.HTTPTransport` (``requests`` under a
whole-request deadline); :class:`~coreclaw_frames.api._mock.MockTransport` answers in memory,
for tests. Any other is a :class:`BaseTransport` subclass given as ``Client(transport=...)``,
as in httpx.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from coreclaw_frames._errors import AnswerTooLargeError

__all__ = [
    "MAX_ANSWER_BYTES",
    "BaseTransport",
    "HTTPAnswer",
    "HTTPRequest",
    "Headers",
    "answer_too_large",
    "download_too_large",
]

#: The largest answer accepted, after decompression (bytes). A page of 100 runs is ~40 KB.
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class Headers(Mapping[str, str]):
    """HTTP headers: a read-only mapping whose keys ignore case.

    Examples
    --------
    >>> headers = Headers({"Retry-After": "3"})
    >>> headers["retry-after"], headers.get("RETRY-AFTER"), "Date" in headers
    ('3', '3', False)
    """

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self._items = {key.lower(): (key, value) for key, value in (headers or {}).items()}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass(frozen=True)
class HTTPRequest:
    """One request as a transport sends it.

    ``url`` is the whole URL without its query, ``params`` the query, ``json`` the body (sent
    as JSON; ``None``: no body), ``headers`` carry the key, and ``timeout`` is the deadline in
    seconds for the whole exchange, from connecting to the last byte of the answer.
    """

    method: str
    url: str
    params: Mapping[str, str | int] = field(default_factory=dict)
    json: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 30.0

    @property
    def path(self) -> str:
        """The URL's path.

        Examples
        --------
        >>> HTTPRequest("GET", "https://openapi.coreclaw.com/api/v2/users/account").path
        '/api/v2/users/account'
        """
        return urlsplit(self.url).path

    def __repr__(self) -> str:
        # Never the headers: they hold the key.
        return f"HTTPRequest({self.method!r}, {self.url!r}, params={dict(self.params)!r})"


@dataclass(frozen=True)
class HTTPAnswer:
    """What a transport got back: the HTTP ``status``, the ``headers`` (any mapping; read
    without regard to case) and the whole ``body``."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.status, int) or isinstance(self.status, bool):
            raise TypeError(f"an answer's status must be an integer, got {self.status!r}")
        if not isinstance(self.body, bytes):
            raise TypeError(f"an answer's body must be bytes, got {type(self.body).__name__}")
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))


class BaseTransport(ABC):
    """Sends one request at a time; the :class:`~coreclaw_frames.Client` does the rest.

    Subclasses implement :meth:`send`; :meth:`cancel` and :meth:`close` do nothing unless
    overridden. ``send`` is called from the client's worker threads at once: it must be
    thread-safe. The client owns the transport it is given: ``client.close()`` closes it.
    """

    @abstractmethod
    def send(self, request: HTTPRequest) -> HTTPAnswer:
        """Send ``request`` once and return its answer, whatever its status.

        Raise :class:`~coreclaw_frames.TransportError` when no answer came (it is retried),
        :class:`~coreclaw_frames.ConnectionFailedError` when the host cannot be reached (it
        stops a batch), :class:`~coreclaw_frames.AnswerTooLargeError` for a body over
        :data:`MAX_ANSWER_BYTES`.
        """

    def download(self, request: HTTPRequest, sink: BinaryIO, *, max_bytes: int) -> HTTPAnswer:
        """Send ``request`` once; write a 2xx answer's body to ``sink`` and return the answer
        with an empty body (any other answer comes back whole, body included).

        Raise :class:`~coreclaw_frames.AnswerTooLargeError` once the body passes ``max_bytes``,
        and :class:`~coreclaw_frames.TransportError` when it ends before its
        ``Content-Length``. This default sends through :meth:`send`, so the body is held in
        memory once; a transport that streams overrides it.
        """
        answer = self.send(request)
        if not 200 <= answer.status < 300:
            return answer
        if len(answer.body) > max_bytes:
            raise download_too_large(max_bytes)
        sink.write(answer.body)
        return HTTPAnswer(answer.status, answer.headers, b"")

    # Optional hooks: a transport that holds no connections has nothing to cut or release.
    def cancel(self) -> None:  # noqa: B027
        """Cut every request in flight now (Ctrl-C); later requests go ahead."""

    def close(self) -> None:  # noqa: B027
        """Release what the transport holds (connections, threads). Safe to call twice."""

    def __enter__(self) -> BaseTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def download_too_large(max_bytes: int) -> AnswerTooLargeError:
    """The error for a download over ``max_bytes``."""
    return AnswerTooLargeError(f"download larger than {max_bytes:,} bytes refused")


def answer_too_large() -> AnswerTooLargeError:
    """The error for an answer over :data:`MAX_ANSWER_BYTES`."""
    return AnswerTooLargeError(f"answer larger than {MAX_ANSWER_BYTES // 2**20} MiB refused")
