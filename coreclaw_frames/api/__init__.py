"""Everything that knows the wire: nothing above this package sees a path, a method, an error
code or a wire field name.

* :mod:`~coreclaw_frames.api._client`: the :class:`Client` and its four operations;
  :mod:`~coreclaw_frames.api._settings` checks its settings and holds the table of dialects.
* :mod:`~coreclaw_frames.api._caller`: one call with retries, rate control, the key scrubbed
  out of answers (:mod:`~coreclaw_frames.api._scrub`), the server's clock, and the answer
  unwrapped by the dialect.
* :mod:`~coreclaw_frames.api._transport`: what a transport is (:class:`BaseTransport`: send one
  request, get status, headers and a bounded body); :mod:`~coreclaw_frames.api._sender` holds
  the HTTP one (:class:`HTTPTransport`, the only code that imports ``requests``), and
  :mod:`~coreclaw_frames.api._mock` one that answers in memory (:class:`MockTransport`).
* :mod:`~coreclaw_frames.api._dialect`: the interface a wire version implements, the canonical
  records, and envelope unwrapping; :mod:`~coreclaw_frames.api._v1` and
  :mod:`~coreclaw_frames.api._v2` implement it.
* :mod:`~coreclaw_frames.api._paging`: one paginator for Run History and result pages.
* :mod:`~coreclaw_frames.api._policy`: the :class:`RetryPolicy`;
  :mod:`~coreclaw_frames.api._retry`: when to retry, how long to wait, how fast to send.
* :mod:`~coreclaw_frames.api._values`: what statuses, slugs and times mean (no pandas, no HTTP).

The client and the HTTP transport are imported on first use (PEP 562): importing this package,
or a module of it that needs neither, imports no HTTP library.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from coreclaw_frames._lazy import lazy_names as _lazy_names
from coreclaw_frames.api._mock import MockTransport
from coreclaw_frames.api._policy import RetryPolicy
from coreclaw_frames.api._transport import BaseTransport, HTTPAnswer, HTTPRequest
from coreclaw_frames.api._values import STATUS_LABELS, is_final

if _TYPE_CHECKING:
    from coreclaw_frames.api._client import (
        API_VERSIONS,
        DEFAULT_API_VERSION,
        DEFAULT_BASE_URL,
        Client,
        status_label,
    )
    from coreclaw_frames.api._sender import HTTPTransport

#: Public names imported on first use: the module each comes from.
_LAZY = {
    "API_VERSIONS": "coreclaw_frames.api._client",
    "DEFAULT_API_VERSION": "coreclaw_frames.api._client",
    "DEFAULT_BASE_URL": "coreclaw_frames.api._client",
    "Client": "coreclaw_frames.api._client",
    "HTTPTransport": "coreclaw_frames.api._sender",
    "status_label": "coreclaw_frames.api._client",
}


__getattr__, __dir__ = _lazy_names(__name__, _LAZY)


__all__ = [
    "API_VERSIONS",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "STATUS_LABELS",
    "BaseTransport",
    "Client",
    "HTTPAnswer",
    "HTTPRequest",
    "HTTPTransport",
    "MockTransport",
    "RetryPolicy",
    "is_final",
    "status_label",
]
