"""A transport that answers in memory: test code that uses a :class:`~coreclaw_frames.Client`
without a server (httpx's ``MockTransport``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from coreclaw_frames.api._transport import BaseTransport, HTTPAnswer, HTTPRequest

__all__ = ["Handler", "MockTransport"]

#: ``handler(request)`` returns an :class:`HTTPAnswer` or ``(status, headers, body)``.
Handler = Callable[[HTTPRequest], HTTPAnswer | tuple[int, Mapping[str, str], Any]]


class MockTransport(BaseTransport):
    """Answers every request with ``handler(request)``, in memory.

    ``handler`` gets the :class:`~coreclaw_frames.api.HTTPRequest` (``method``, ``url``,
    ``path``, ``params``, ``json``, ``headers``, ``timeout``) and returns an
    :class:`~coreclaw_frames.api.HTTPAnswer` or a tuple ``(status, headers, body)``, where
    ``body`` is bytes, text (sent as UTF-8) or a ``dict``/``list`` (sent as JSON). It may also
    raise one of our errors: a :class:`~coreclaw_frames.TransportError` stands for a lost
    connection (and is retried), a :class:`~coreclaw_frames.ConnectionFailedError` for a host
    that cannot be reached. Everything the client does with an answer (retries, rate control,
    errors, the key kept out of results) happens as it would over HTTP. ``handler`` runs on
    the client's worker threads, several at once: keep it thread-safe.

    Examples
    --------
    >>> import coreclaw_frames as ccf
    >>> from coreclaw_frames.api import MockTransport
    >>> run = {"slug": "01KSFDS8XWTJME33C08XMCR6B9", "status": "succeeded",
    ...        "scraper_slug": "01KQ7ZJ0Z4Y4ZRKAV3GZ7M3V0X", "usage": "0.0217",
    ...        "started_at": 1773305309, "finished_at": 1773305330, "duration": 21}
    >>> def handler(request):
    ...     if request.path == f"/api/v2/worker-runs/{run['slug']}":
    ...         return 200, {}, {"code": 0, "message": "success", "data": run}
    ...     return 404, {}, {"code": 11004, "message": "not found"}
    >>> client = ccf.Client(api_key="test-key", transport=MockTransport(handler))
    >>> df = ccf.fetch_runs([run["slug"], "01KSFDS8XWTJME33C08XMCR6B8"], client=client,
    ...                     errors="coerce", progress=False)
    >>> df[["status", "usage", "fetch_error"]]
          status         usage      fetch_error
    0  succeeded  0.0217000000             <NA>
    1        NaN          <NA>  11004 not found
    """

    def __init__(self, handler: Handler) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be a function of a request, got {handler!r}")
        self.handler = handler

    def send(self, request: HTTPRequest) -> HTTPAnswer:
        answer = self.handler(request)
        if isinstance(answer, HTTPAnswer):
            return answer
        if not isinstance(answer, tuple) or len(answer) != 3:
            raise TypeError(
                "handler must return an HTTPAnswer or (status, headers, body), got "
                f"{type(answer).__name__}"
            )
        status, headers, body = answer
        return HTTPAnswer(status, headers, _encoded(body))

    def __repr__(self) -> str:
        name = getattr(self.handler, "__qualname__", None) or repr(self.handler)
        return f"MockTransport({name})"


def _encoded(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, dict | list):
        return json.dumps(body).encode()
    raise TypeError(f"a handler's body must be bytes, str, dict or list, got {type(body).__name__}")
