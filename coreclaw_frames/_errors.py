"""Every error coreclaw-frames raises.

One root, so ``except ccf.CoreClawError`` catches everything we raise::

    CoreClawError                 .code and .message where the API gave them
    ├── TransportError            no usable answer: connection, timeout, non-JSON body   (retried)
    │   ├── ConnectionFailedError the host refuses connections, does not resolve, fails TLS:
    │   │                         stops the batch
    │   └── AnswerTooLargeError   an answer over the size cap (not retried)
    ├── APIError                  the server answered with an error; .http_status, .request_id
    │   ├── AuthenticationError   bad, expired or missing key, disabled user: stops the batch
    │   ├── RateLimitError        "too many requests" (HTTP 429 and its codes)            (retried)
    │   ├── ServerError           HTTP 5xx and the API's internal-error codes             (retried)
    │   ├── NotFoundError         the run (worker, task, path) does not exist
    │   └── InvalidRequestError   bad parameters and every other permanent code
    ├── RetriesExhaustedError     a retried error that never stopped failing
    ├── ExportUnavailableError    a run's export refused, expired, redirected or too large:
    │                             its rows are paged instead
    ├── BatchFetchError           some slugs of a batch failed; carries the complete frame
    ├── ResultsSyncError          some runs of a results sync failed; carries the summary
    ├── ParquetFormatError        a file read_parquet cannot take (also a ValueError)
    └── CancelledError            a request cut short by Ctrl-C (seen by worker threads only)

Which API code becomes which error is decided by each wire version (``coreclaw_frames.api._v1``
and ``.v2``); third-party exceptions (``requests``, ``urllib3``) are translated in one place,
the HTTP transport (``coreclaw_frames.api._sender``), with ``raise ... from exc``; any other
transport raises these errors itself. No message ever contains the API key (the caller takes
it out of every answer before anything reads it), and text from outside (a server's
message or request id, a value read from a file) is quoted at most :data:`MAX_QUOTED_CHARS`
characters long (:func:`brief`, :func:`quoted`). Every error pickles with its data (for Dask
or joblib workers). ``transient`` says whether a request that failed so is worth sending again.
"""

from __future__ import annotations

import itertools
import reprlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "APIError",
    "AnswerTooLargeError",
    "AuthenticationError",
    "BatchFetchError",
    "CancelledError",
    "ConnectionFailedError",
    "CoreClawError",
    "ExportUnavailableError",
    "InvalidRequestError",
    "NotFoundError",
    "ParquetFormatError",
    "RateLimitError",
    "ResultsSyncError",
    "RetriesExhaustedError",
    "ServerError",
    "TransportError",
    "brief",
    "describe",
    "quoted",
]

#: The most characters of a text from outside (a server's message or request id, a value read
#: from a file) that an error message or a ``fetch_error`` cell quotes: a hostile or broken
#: server cannot make every failed row megabytes long.
MAX_QUOTED_CHARS = 200


def brief(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was.

    Examples
    --------
    >>> brief("req-1"), brief("x" * 5000, 8)
    ('req-1', 'xxxxxxxx… (5,000 characters)')
    """
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def quoted(value: object, limit: int = MAX_QUOTED_CHARS) -> str:
    """``repr(value)`` at most about ``limit`` characters long; a long string is cut before
    its repr is built.

    Examples
    --------
    >>> quoted("run-1"), quoted("y" * 10**6, 4), quoted(["a" * 300], 30)
    ("'run-1'", "'yyyy'… (1,000,000 characters)", "['aaaaa...aaaaa']")
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}… ({len(value):,} characters)"
    shorter = reprlib.Repr()
    shorter.maxlevel, shorter.maxlist, shorter.maxdict = 2, 4, 4
    shorter.maxstring = shorter.maxother = limit // 2
    return brief(shorter.repr(value), limit)


class CoreClawError(Exception):
    """Root of every error raised by coreclaw-frames.

    ``code`` and ``message`` hold the API's error code and text when the API sent them,
    otherwise ``None`` and this error's own description.
    """

    #: Whether sending the same request again may succeed.
    transient = False

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle their positional args by default, which loses our keyword-only
        # data and breaks subclasses whose __init__ takes other arguments.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[CoreClawError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class TransportError(CoreClawError):
    """No usable answer arrived: the connection failed, timed out, or the body was not JSON."""

    transient = True


class ConnectionFailedError(TransportError):
    """The host cannot be reached: it refuses connections, does not resolve, or fails TLS.

    It stops the whole batch (a host that is down would fail every slug alike), and its
    message names the host.
    """

    transient = False


class AnswerTooLargeError(TransportError):
    """An answer larger than the size cap, after decompression; refused, not retried."""

    transient = False


class CancelledError(CoreClawError):
    """The batch was interrupted (Ctrl-C) while this request was in flight."""


class APIError(CoreClawError):
    """The server answered, and the answer was an error.

    ``http_status`` is the HTTP status of the answer (often 200: CoreClaw puts many errors in
    the envelope's ``code``); ``request_id`` the server's id for the request, when it sent
    one (quote it to CoreClaw support).
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int = 200,
        request_id: str | None = None,
    ) -> None:
        # The server's own texts: quoted briefly, whatever their length.
        super().__init__(brief(message), code=code)
        self.http_status = http_status
        self.request_id = None if request_id is None else brief(request_id)

    def __str__(self) -> str:
        return self.reason

    @property
    def reason(self) -> str:
        """Short text for a ``fetch_error`` cell, e.g. ``"70001 Run record does not exist"``.

        Examples
        --------
        >>> APIError("not found", code=11004, http_status=404, request_id="req-9").reason
        '11004 not found (request_id req-9)'
        """
        text = self.message if self.code is None else f"{self.code} {self.message}"
        return text if self.request_id is None else f"{text} (request_id {self.request_id})"


class AuthenticationError(APIError):
    """The API key is missing, invalid or expired, or its user is unknown or disabled."""


class RateLimitError(APIError):
    """The server asked us to slow down. ``retry_after`` is its ``Retry-After`` in seconds."""

    transient = True

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int = 200,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, http_status=http_status, request_id=request_id)
        self.retry_after = retry_after


class ServerError(APIError):
    """The server failed (HTTP 5xx or an internal-error code); usually worth retrying."""

    transient = True


class NotFoundError(APIError):
    """The run, task, worker or path does not exist."""


class InvalidRequestError(APIError):
    """The request was refused for good (bad parameters, insufficient balance, ...)."""


class RetriesExhaustedError(CoreClawError):
    """A transient failure persisted through every allowed attempt.

    ``last_error`` is the final failure; ``attempts`` how many requests were sent.
    """

    def __init__(self, last_error: CoreClawError, attempts: int, *, why: str | None = None) -> None:
        message = why or f"{describe(last_error)} after {attempts} attempts"
        super().__init__(message, code=last_error.code)
        self.last_error = last_error
        self.attempts = attempts


class BatchFetchError(CoreClawError):
    """Some slugs of a batch could not be fetched.

    ``frame`` is the complete frame, one row per requested slug; ``errors`` its failed rows
    (``fetch_error`` set). Nothing is lost: catch it and keep ``frame``::

        try:
            df = ccf.fetch_runs(slugs)
        except ccf.BatchFetchError as exc:
            df = exc.frame
    """

    #: How many failure reasons the message quotes.
    QUOTED_REASONS = 3

    def __init__(self, frame: pd.DataFrame, *, key: str = "slug", what: str = "runs") -> None:
        errors = frame[frame["fetch_error"].notna()]
        reasons = zip(errors[key], errors["fetch_error"], strict=True)
        super().__init__(
            f"{len(errors)} of {len(frame)} {what} failed "
            f"({_some_reasons(reasons, len(errors), self.QUOTED_REASONS)}); "
            "the complete frame is in .frame, the failed rows in .errors"
        )
        self.frame = frame
        self.errors = errors


class ExportUnavailableError(CoreClawError):
    """A run's export cannot give its rows: the export was refused, its link expired, the
    storage host redirected elsewhere or sent more than the size cap. Not retried; the rows
    are paged instead."""


class ResultsSyncError(CoreClawError):
    """Some runs of :func:`~coreclaw_frames.sync_results` failed; every other run was stored.

    ``summary`` is the sync's :class:`~coreclaw_frames.ResultsSyncSummary`, ``failures``
    (run slug → reason) among it. Nothing half-stored: a rerun fetches the failed runs again.
    """

    #: How many failure reasons the message quotes.
    QUOTED_REASONS = 3

    def __init__(self, summary: Any) -> None:
        failures = summary.failures
        reasons = _some_reasons(failures.items(), len(failures), self.QUOTED_REASONS)
        super().__init__(
            f"{len(failures)} runs' results failed ({reasons}); the rest were stored "
            "(see .summary); run the sync again to retry them"
        )
        self.summary = summary
        self.failures = failures


class ParquetFormatError(CoreClawError, ValueError):
    """A file or dataset that ``read_parquet`` cannot take: not one ``to_parquet`` wrote,
    written by a newer schema version, or not matching the frame to merge into it."""


def _some_reasons(reasons: Iterable[tuple[Any, Any]], count: int, shown: int) -> str:
    """``key: reason`` of the first ``shown`` of ``count`` failures, and how many more."""
    text = "; ".join(f"{key}: {reason}" for key, reason in itertools.islice(reasons, shown))
    return f"{text}; and {count - shown} more" if count > shown else text


def describe(error: Any) -> str:
    """One line for a ``fetch_error`` cell."""
    if isinstance(error, APIError):
        return error.reason
    return str(error)
