"""The batch machinery every fetcher shares: input checks, a thread pool, a progress bar.

A batch validates its input before any request, runs one task per key on a pool sized to the
client, shows a progress bar, and ends with every key either as a value or as an error text:
nothing is dropped. A bad key (``AuthenticationError``) or a host that cannot be reached
(``ConnectionFailedError``) stops the whole batch at once.
"""

from __future__ import annotations

import itertools
import logging
import math
import sys
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Literal, TypeVar

import pandas as pd

from coreclaw_frames._errors import (
    AuthenticationError,
    BatchFetchError,
    ConnectionFailedError,
    CoreClawError,
    describe,
    quoted,
)
from coreclaw_frames._progress import progress_bar
from coreclaw_frames.api._client import Client
from coreclaw_frames.api._values import SLUG_PATTERN

__all__ = [
    "SLUG_PATTERN",
    "check_errors_mode",
    "check_progress",
    "check_time",
    "client_or_default",
    "finish",
    "run_batch",
    "validate_slugs",
]

logger = logging.getLogger("coreclaw_frames")

#: Errors after which nothing more of a batch is sent: a bad key, a host that is down.
BATCH_STOPPERS = (AuthenticationError, ConnectionFailedError)
#: Tasks queued per worker thread at a time (a few, so no thread waits for work).
WINDOW_PER_WORKER = 4

ErrorsMode = Literal["raise", "coerce"]
ERRORS_MODES = ("raise", "coerce")
SLUG_EXAMPLE = "01KSFDS8XWTJME33C08XMCR6B9"
#: How many offending values a validation error quotes.
QUOTED_OFFENDERS = 5

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def validate_slugs(slugs: Any, *, name: str = "slugs") -> list[str]:
    """The unique run slugs of ``slugs`` in first-seen order; refuses bad input before any request.

    Slugs as people have them are taken: surrounding whitespace and newlines (a file's
    ``readlines()``) are stripped, and lower case is read as upper case (Crockford base32 is
    case-insensitive). Offenders are named with their 1-based positions.

    Examples
    --------
    >>> validate_slugs(["  01ksfds8xwtjme33c08xmcr6b9 ", "01KSFDS8XWTJME33C08XMCR6B9"])
    ['01KSFDS8XWTJME33C08XMCR6B9']
    >>> validate_slugs(["01KSFDS8XWTJME33C08XMCR6B9", "run-1"])
    Traceback (most recent call last):
    ...
    ValueError: 1 of 2 slugs is not a run slug (expected a 26-character Crockford base32 ULID \
such as '01KSFDS8XWTJME33C08XMCR6B9'): 'run-1' at position 2
    """
    if slugs is None:
        raise TypeError(f"{name} must be a list of run slugs, got None")
    if isinstance(slugs, str | bytes):
        raise TypeError(
            f"{name} must be a list of run slugs, not a single string: wrap it as [slug]"
        )
    if isinstance(slugs, dict) or not isinstance(slugs, Iterable):
        raise TypeError(f"{name} must be a list of run slugs, got {type(slugs).__name__}")
    values = list(slugs)
    not_strings = [(i, v) for i, v in enumerate(values, 1) if not isinstance(v, str)]
    if not_strings:
        raise TypeError(
            f"{name} must all be strings; {_count(not_strings, 'is', 'are')} not: "
            + _quote(f"{quoted(v)} ({type(v).__name__}) at position {i}" for i, v in not_strings)
        )
    normalized = [v.strip().upper() for v in values]
    invalid = [
        (i, raw)
        for i, (raw, v) in enumerate(zip(values, normalized, strict=True), 1)
        if not SLUG_PATTERN.fullmatch(v)
    ]
    if invalid:
        verb = "is not a run slug" if len(invalid) == 1 else "are not run slugs"
        raise ValueError(
            f"{len(invalid)} of {len(values)} {name} {verb}"
            f" (expected a 26-character Crockford base32 ULID such as {SLUG_EXAMPLE!r}): "
            + _quote(
                f"{quoted(v)} at position {i}{' (empty)' if not v.strip() else ''}"
                for i, v in invalid
            )
        )
    return list(dict.fromkeys(normalized))


def _count(items: list[Any], singular: str, plural: str) -> str:
    """``"1 is"`` or ``"3 are"``."""
    return f"{len(items)} {singular if len(items) == 1 else plural}"


def check_time(name: str, value: Any) -> int | None:
    """``value`` (anything ``pd.Timestamp`` takes; naive = UTC) as whole unix seconds, rounded
    up; ``None`` stays ``None``. Numbers are refused: is 1773300000 seconds or nanoseconds?

    Examples
    --------
    >>> check_time("since", "2026-03-01")
    1772323200
    """
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise TypeError(
            f"{name} must be a date or time such as '2026-03-01' or a datetime, got the number "
            f"{value!r}; for unix seconds pass pd.Timestamp({value!r}, unit='s')"
        )
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be a date or time such as '2026-03-01' or a datetime, got {value!r}"
        ) from exc
    if stamp is pd.NaT:
        raise ValueError(f"{name} must be a date or time, got {value!r} (NaT)")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return math.ceil(stamp.value / 1e9)


def check_errors_mode(errors: Any) -> None:
    """Refuse an ``errors=`` value other than ``"raise"`` or ``"coerce"``."""
    if errors not in ERRORS_MODES:
        raise ValueError(f"errors must be 'raise' or 'coerce', got {errors!r}")


def check_progress(progress: Any) -> bool:
    """Whether to show a progress bar for ``progress=`` (``None``: when interactive)."""
    if progress is None:
        return _interactive()
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    return progress


def finish(
    frame: pd.DataFrame, errors: ErrorsMode, *, key: str = "slug", what: str = "runs"
) -> pd.DataFrame:
    """Return ``frame``, or raise :class:`BatchFetchError` with it if a row failed and asked to."""
    if errors == "raise" and frame["fetch_error"].notna().any():
        raise BatchFetchError(frame, key=key, what=what)
    return frame


def run_batch(
    client: Client,
    keys: Sequence[K],
    task: Callable[[Client, K], V],
    *,
    progress: bool,
    desc: str,
    on_result: Callable[[K, V | str], None] | None = None,
    threads: int | None = None,
    status: Callable[[], str] | None = None,
    keep: bool = True,
) -> dict[K, V | str]:
    """Run ``task(client, key)`` for every key on ``threads`` threads (``client.max_workers``
    by default); ``status()``, if given, is shown beside the progress bar after each key.

    Returns ``{key: value or error text}`` for every key: any error inside one key's task,
    expected or not, becomes that key's text. Only a bad key (``AuthenticationError``) or an
    unreachable host (``ConnectionFailedError``) stops the batch: nothing more is sent and
    the error is raised. At most :data:`WINDOW_PER_WORKER` tasks per worker exist at a time,
    so a million keys cost no more bookkeeping than a hundred. ``on_result`` is called in the
    calling thread as each key completes (the cache saves rows with it), so an interrupted
    batch keeps what it got. With ``keep=False`` the outcomes go to ``on_result`` only and the
    dict returned is empty, so none outlives its handling. On Ctrl-C the client's requests in
    flight are cut at once.
    """
    outcomes: dict[K, V | str] = {}
    if not keys:
        return outcomes
    fatal: list[CoreClawError] = []

    def guarded(key: K) -> V:
        if fatal:  # the key is bad or the host down: send nothing more
            raise fatal[0]
        try:
            return task(client, key)
        except BATCH_STOPPERS as exc:
            fatal.append(exc)
            raise

    threads = threads or client.max_workers
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="coreclaw")
    bar = progress_bar(total=len(keys), desc=desc, unit=desc.rstrip("s"), disable=not progress)
    pending: dict[Future[V], K] = {}
    upcoming = iter(keys)
    window = threads * WINDOW_PER_WORKER
    try:
        while True:
            for key in itertools.islice(upcoming, window - len(pending)):
                pending[pool.submit(guarded, key)] = key
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                key = pending.pop(future)
                outcome = _outcome(future)
                if keep:
                    outcomes[key] = outcome
                if on_result is not None:
                    on_result(key, outcome)
                if status is not None:
                    bar.set_postfix_str(status(), refresh=False)
                bar.update(1)
    except BaseException:
        # Ctrl-C, a bad key or a host that is down: stop now, cutting requests in flight.
        pool.shutdown(wait=False, cancel_futures=True)
        client.cancel()
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        bar.close()
    return outcomes


def _outcome(future: Future[V]) -> V | str:
    try:
        return future.result()
    except BATCH_STOPPERS:
        raise
    except CoreClawError as exc:
        return describe(exc)
    except Exception as exc:  # a bug or a value nothing foresaw: this key fails, not the batch
        logger.debug("unexpected error in a batch task", exc_info=True)
        return f"internal error: {type(exc).__name__}: {exc}"


class client_or_default:
    """``with`` the given client (left open), or a client from the environment (closed)."""

    def __init__(self, client: Client | None) -> None:
        if client is not None and not isinstance(client, Client):
            raise TypeError(f"client must be a coreclaw_frames.Client, got {type(client).__name__}")
        self._given = client
        self._client = client

    def __enter__(self) -> Client:
        if self._client is None:
            self._client = Client()
        return self._client

    def __exit__(self, *exc_info: object) -> None:
        if self._given is None and self._client is not None:
            self._client.close()


def _interactive() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        get_ipython = None
    shell = get_ipython() if get_ipython is not None else None
    if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
        return True
    return bool(sys.stderr is not None and sys.stderr.isatty())


def _quote(items: Iterable[str]) -> str:
    items = list(items)
    shown = ", ".join(items[:QUOTED_OFFENDERS])
    more = len(items) - QUOTED_OFFENDERS
    return shown + (f", and {more} more" if more > 0 else "")
