"""The rules of a download from CoreClaw's storage host (a run's exported results).

An export answers a ``download_url`` on another host. What is sent there, and what is
accepted back, is decided here:

- the URL must be ``http(s)``, name a host, and carry no user name, password or the key;
- the request carries no credential at all (no ``Authorization``, ``api-key`` or ``token``):
  the transport sends only what :class:`~coreclaw_frames.api.HTTPRequest` holds, and the
  download's request holds no header;
- no redirect is followed (a 3xx answer makes the export unusable, so the run is paged);
- the body is streamed to disk and capped (``max_bytes``), never held whole;
- HTTP 429 and 5xx, a lost connection and a body cut short are transient (retried); any other
  answer (an expired link answers 403) makes the export unusable.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from coreclaw_frames._errors import ExportUnavailableError, ServerError, brief, quoted
from coreclaw_frames.api._transport import HTTPAnswer

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DOWNLOAD_TIMEOUT",
    "check_download_answer",
    "check_download_url",
]

#: The largest exported file accepted (bytes); a bigger one is paged instead.
DEFAULT_MAX_DOWNLOAD_BYTES = 2 * 1024**3
#: The shortest whole-download deadline (seconds).
DOWNLOAD_TIMEOUT = 600.0
#: Query parameters that would carry a credential.
CREDENTIAL_PARAMETERS = frozenset({"token", "api_key", "api-key", "apikey", "access_token"})


def check_download_url(url: object, secret: str) -> str:
    """``url`` if it is a download link to follow; :class:`ExportUnavailableError` otherwise.

    Examples
    --------
    >>> check_download_url("https://storage.example.com/runs/r1/results.jsonl", "k3y")
    'https://storage.example.com/runs/r1/results.jsonl'
    >>> check_download_url("ftp://...", "k3y")
    Traceback (most recent call last):
    ...
    coreclaw_frames._errors.ExportUnavailableError: download_url is not http(s): 'ftp://...'
    """
    if not isinstance(url, str):
        raise ExportUnavailableError(f"export answered no download_url (got {quoted(url)})")
    if secret and secret in url:
        raise ExportUnavailableError("export answered a download_url that carries the API key")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ExportUnavailableError(f"download_url is not http(s): {quoted(url)}")
    if parts.username is not None or parts.password is not None:
        raise ExportUnavailableError("export answered a download_url with a user name or password")
    named = {name.lower() for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if named & CREDENTIAL_PARAMETERS:
        raise ExportUnavailableError(
            f"export answered a download_url with a credential parameter "
            f"({', '.join(sorted(named & CREDENTIAL_PARAMETERS))})"
        )
    return url


def check_download_answer(answer: HTTPAnswer, url: str) -> None:
    """Accept a 2xx answer; raise a transient error for 429 and 5xx, and
    :class:`ExportUnavailableError` for anything else."""
    status = answer.status
    if 200 <= status < 300:
        return
    host = urlsplit(url).netloc
    if status == 429 or status >= 500:
        raise ServerError(f"storage host {host} answered HTTP {status}", http_status=status)
    if 300 <= status < 400:
        target = urlsplit(answer.headers.get("Location", "")).netloc or "elsewhere"
        raise ExportUnavailableError(
            f"storage host {host} redirected to {brief(target)}; redirects are not followed"
        )
    expired = b"expired" in answer.body[:4096].lower()
    raise ExportUnavailableError(
        f"storage host {host} answered HTTP {status}" + (" (the link expired)" if expired else "")
    )
