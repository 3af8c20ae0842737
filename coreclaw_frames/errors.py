"""Every error coreclaw-frames raises, and the map from CoreClaw answers to them.

One root, so ``except ccf.CoreClawError`` catches everything we raise::

    CoreClawError                 .code and .message where the API gave them
    ├── TransportError            no usable answer: connection, timeout, non-JSON body   (retried)
    ├── APIError                  the server answered with an error (HTTP status or envelope code)
    │   ├── AuthenticationError   bad, expired or missing key, disabled user: stops the batch
    │   ├── RateLimitError        HTTP 429 / code 4290                                   (retried)
    │   ├── ServerError           HTTP 5xx / code 5000                                   (retried)
    │   ├── NotFoundError         4040, 50001, 60001, 70001
    │   └── InvalidRequestError   4000 and every other permanent code
    ├── RetriesExhaustedError     a retried error that never stopped failing
    ├── BatchFetchError           some slugs of a batch failed; carries the complete frame
    └── ParquetFormatError        a file read_parquet cannot take (also a ValueError)

Third-party exceptions (``requests``) are translated into these in one place, the client's
transport, with ``raise ... from exc``. No message ever contains the API key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AUTH_CODES",
    "APIError",
    "AuthenticationError",
    "BatchFetchError",
    "CoreClawError",
    "InvalidRequestError",
    "NotFoundError",
    "ParquetFormatError",
    "RateLimitError",
    "RetriesExhaustedError",
    "ServerError",
    "TransportError",
    "error_for_code",
    "error_for_http_status",
]

#: Envelope codes that mean the key (or its user) is unusable: the whole batch stops.
AUTH_CODES = frozenset({4010, 10001, 10002, 20001, 20002})
RATE_LIMIT_CODE = 4290
SERVER_ERROR_CODE = 5000
NOT_FOUND_CODES = frozenset({4040, 50001, 60001, 70001})
AUTH_HTTP_STATUSES = frozenset({401, 403})


class CoreClawError(Exception):
    """Root of every error raised by coreclaw-frames.

    ``code`` and ``message`` hold the API's error code and text when the API sent them,
    otherwise ``None`` and this error's own description.
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


class TransportError(CoreClawError):
    """No usable answer arrived: the connection failed, timed out, or the body was not JSON."""


class APIError(CoreClawError):
    """The server answered, and the answer was an error.

    ``http_status`` is the HTTP status of the answer (often 200: CoreClaw puts most errors in
    the envelope's ``code``).
    """

    def __init__(self, message: str, *, code: int | None = None, http_status: int = 200) -> None:
        super().__init__(message, code=code)
        self.http_status = http_status

    @property
    def reason(self) -> str:
        """Short text for a ``fetch_error`` cell, e.g. ``"70001 Run record does not exist"``."""
        if self.code is not None:
            return f"{self.code} {self.message}"
        return self.message


class AuthenticationError(APIError):
    """The API key is missing, invalid or expired, or its user is unknown or disabled."""


class RateLimitError(APIError):
    """The server asked us to slow down. ``retry_after`` is its ``Retry-After`` in seconds."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int = 200,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, http_status=http_status)
        self.retry_after = retry_after


class ServerError(APIError):
    """The server failed (HTTP 5xx or code 5000); usually worth retrying."""


class NotFoundError(APIError):
    """The run, task, worker or path does not exist."""


class InvalidRequestError(APIError):
    """The request was refused for good (bad parameters, insufficient balance, ...)."""


class RetriesExhaustedError(CoreClawError):
    """A transient failure persisted through every allowed attempt.

    ``last_error`` is the final failure; ``attempts`` how many requests were sent.
    """

    def __init__(self, last_error: CoreClawError, attempts: int) -> None:
        super().__init__(f"{describe(last_error)} after {attempts} attempts", code=last_error.code)
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
        quoted = "; ".join(
            f"{row_key}: {reason}"
            for row_key, reason in zip(
                errors[key].head(self.QUOTED_REASONS),
                errors["fetch_error"].head(self.QUOTED_REASONS),
                strict=True,
            )
        )
        more = len(errors) - self.QUOTED_REASONS
        suffix = f"; and {more} more" if more > 0 else ""
        super().__init__(
            f"{len(errors)} of {len(frame)} {what} failed ({quoted}{suffix}); "
            "the complete frame is in .frame, the failed rows in .errors"
        )
        self.frame = frame
        self.errors = errors


class ParquetFormatError(CoreClawError, ValueError):
    """A file or dataset that ``read_parquet`` cannot take: not one ``to_parquet`` wrote,
    written by a newer schema version, or not matching the frame to merge into it."""


def error_for_code(code: int, message: str, *, http_status: int = 200) -> APIError:
    """The error for an envelope ``code`` other than 0.

    >>> error_for_code(70001, "Run record does not exist").reason
    '70001 Run record does not exist'
    """
    cls: type[APIError]
    if code in AUTH_CODES:
        cls = AuthenticationError
    elif code == RATE_LIMIT_CODE:
        cls = RateLimitError
    elif code == SERVER_ERROR_CODE:
        cls = ServerError
    elif code in NOT_FOUND_CODES:
        cls = NotFoundError
    else:
        cls = InvalidRequestError
    return cls(message, code=code, http_status=http_status)


def error_for_http_status(status: int, *, retry_after: float | None = None) -> APIError:
    """The error for an HTTP status that is not 2xx (the body is not trusted: gateways send HTML).

    >>> type(error_for_http_status(503)).__name__
    'ServerError'
    """
    message = f"HTTP {status}"
    if status in AUTH_HTTP_STATUSES:
        return AuthenticationError(message, http_status=status)
    if status == 429:
        return RateLimitError(message, http_status=status, retry_after=retry_after)
    if status >= 500:
        return ServerError(message, http_status=status)
    if status == 404:
        return NotFoundError(message, http_status=status)
    return InvalidRequestError(message, http_status=status)


def describe(error: Any) -> str:
    """One line for a ``fetch_error`` cell."""
    if isinstance(error, APIError):
        return error.reason
    return str(error)
