"""Run frames from the API: ``fetch_runs`` (by slug), ``list_runs`` (Run History), and
``account_info``.

Every function here returns the run frame of :mod:`coreclaw_frames.schema`, so frames from
different calls, and from either API version, concatenate and compare. Finished runs go
through the client's cache.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard

import pandas as pd

from coreclaw_frames.api import Client, status_label
from coreclaw_frames.api.dialect import Page
from coreclaw_frames.api.paging import FetchMany
from coreclaw_frames.batch import (
    SLUG_PATTERN,
    ErrorsMode,
    check_errors_mode,
    check_progress,
    check_time,
    client_or_default,
    finish,
    run_batch,
    validate_slugs,
)
from coreclaw_frames.cache import open_cache
from coreclaw_frames.errors import CoreClawError, TransportError, quoted
from coreclaw_frames.records import records_to_frame, time_seconds

__all__ = ["AccountInfo", "account_info", "fetch_runs", "list_runs"]

#: A worker path as v2 names some workers: ``owner~name`` (or a bare name).
WORKER_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(~[A-Za-z0-9][A-Za-z0-9._-]*)?")


def fetch_runs(
    slugs: Iterable[str],
    *,
    client: Client | None = None,
    errors: ErrorsMode = "raise",
    progress: bool | None = None,
) -> pd.DataFrame:
    """Fetch the details of many runs as one typed DataFrame (one row per unique slug).

    Parameters
    ----------
    slugs:
        Run slugs (a list, tuple, Series, ...; not a bare string). Duplicates are fetched
        once; rows keep the order of first occurrence.
    client:
        A :class:`Client`; default: one built from ``$CORECLAW_API_KEY``,
        ``$CORECLAW_BASE_URL`` and ``$CORECLAW_API_VERSION``. With ``Client(cache_dir=...)``,
        finished runs already in the cache are not requested again.
    errors:
        ``"raise"`` (default): if any slug failed, raise :class:`BatchFetchError` after the
        whole batch, carrying the complete frame in ``.frame``. ``"coerce"``: return the
        complete frame; failed rows have NA data and ``fetch_error`` set.
    progress:
        Show a progress bar: ``None`` (default) when interactive, ``True`` always, ``False``
        never.

    Example
    -------
    >>> import coreclaw_frames as ccf
    >>> df = ccf.fetch_runs(["01KSFDS8XWTJME33C08XMCR6B9"], errors="coerce")  # doctest: +SKIP
    >>> df[["slug", "status", "usage", "fetch_error"]]  # doctest: +SKIP
    """
    unique = validate_slugs(slugs)
    check_errors_mode(errors)
    show = check_progress(progress)
    with client_or_default(client) as active, _cache_of(active) as cache:
        rows: dict[str, dict[str, Any]] = cache.load(unique)
        missing = [slug for slug in unique if slug not in rows]

        def keep(slug: str, outcome: dict[str, Any] | str) -> None:
            if isinstance(outcome, dict):
                cache.offer(outcome)

        outcomes = run_batch(
            active, missing, _fetch_detail, progress=show, desc="runs", on_result=keep
        )
    for slug, outcome in outcomes.items():
        rows[slug] = outcome if isinstance(outcome, dict) else _failed_row(slug, outcome)
    frame = records_to_frame([rows[slug] for slug in unique])
    return finish(frame, errors)


def list_runs(
    *,
    since: Any = None,
    until: Any = None,
    scraper_slug: str | None = None,
    status: str | int | None = None,
    client: Client | None = None,
    progress: bool | None = None,
    max_runs: int | None = None,
) -> pd.DataFrame:
    """Run History (newest first) as a run frame: every run, never just the first pages.

    Pages until the server's ``count`` and checks it; runs that shift between pages while new
    ones arrive appear once.

    Parameters
    ----------
    since, until:
        The time window ``[since, until)``: anything ``pd.Timestamp`` takes (a date string,
        ``datetime``, ``Timestamp``); naive times are UTC. On API v2 (the default) they select
        runs by **creation** time and the API is asked one calendar month at a time (it
        refuses longer windows). **Without** ``since``, v2 returns the current month only
        (months in UTC+8, as CoreClaw counts them), and on v2 a ``until`` that is not
        midnight UTC+8 also includes the rest of its day (the API filters whole days). On
        API v1, which has no time filter, they select runs by ``started_at`` (a run not yet
        started counts as starting now) and without ``since`` every run is listed.
    scraper_slug:
        Only this worker's runs: its ULID, or on v2 also an ``owner~name`` path.
    status:
        Only runs in this status, a label of ``ready``, ``running``, ``succeeded``,
        ``failed``, ``aborting``/``aborted`` (the two select the same runs: the API files a
        run being aborted and an aborted run under one filter); v1's integers 1-5 (0 = all)
        are accepted too.
    max_runs:
        Stop after this many runs (the newest).

    Example
    -------
    >>> q1 = ccf.list_runs(since="2026-01-01", until="2026-04-01")  # doctest: +SKIP
    >>> q1.groupby("scraper_title")["usage"].sum()  # doctest: +SKIP
    """
    start = check_time("since", since)
    end = check_time("until", until)
    if start is not None and end is not None and end <= start:
        raise ValueError(f"until must be after since, got since={since!r}, until={until!r}")
    label = status_label(status)
    if max_runs is not None and (
        not isinstance(max_runs, int) or isinstance(max_runs, bool) or max_runs < 0
    ):
        raise ValueError(f"max_runs must be None or an integer >= 0, got {max_runs!r}")
    show = check_progress(progress)
    if max_runs == 0:
        return records_to_frame([])
    with client_or_default(client) as active, _cache_of(active) as cache:
        worker = _check_worker(scraper_slug, active.api_version)
        records = active.run_history(
            since=start,
            until=end,
            worker=worker,
            status=label,
            limit=max_runs,
            fetch_many=_page_fetcher(active, show),
        )
        for record in records:
            cache.offer(record)
    return records_to_frame(records)


@dataclass(frozen=True)
class AccountInfo:
    """The account's balance (USD, exact) and what the API version tells about it.

    ``balance_expiration_at`` comes from API v2, ``traffic`` (bytes used) and
    ``traffic_expiration_at`` from v1; a field the version lacks is ``None``/``NaT``. Times
    follow the rules for run times (unix seconds from 2000 to 2200, the same range in
    milliseconds read as such, 0 for none): one that breaks them is ``NaT`` and
    ``fetch_error`` names it, as in a run frame's row; ``None`` when all is well.
    """

    balance: Decimal
    balance_expiration_at: pd.Timestamp
    traffic: int | None
    traffic_expiration_at: pd.Timestamp
    fetch_error: str | None = None


def account_info(*, client: Client | None = None) -> AccountInfo:
    """The balance (and what else the API version tells) of the account behind the API key.

    >>> info = ccf.account_info()  # doctest: +SKIP
    >>> info.balance, info.balance_expiration_at  # doctest: +SKIP
    (Decimal('125.40'), Timestamp('2026-06-22 01:20:00+0000', tz='UTC'))
    """
    with client_or_default(client) as active:
        fields = active.account()
    balance = fields["balance"]
    try:
        amount = Decimal(balance) if isinstance(balance, str) else None
    except InvalidOperation:
        amount = None
    times = {name: fields[name] for name in ("balance_expiration_at", "traffic_expiration_at")}
    if (
        amount is None
        or not amount.is_finite()
        or not all(
            value is None or _is_int(value) for value in (*times.values(), fields["traffic"])
        )
        or all(value is None for value in times.values())
    ):
        raise TransportError(f"malformed answer to account info: {quoted(fields)}")
    seconds = {
        name: None if value is None else time_seconds(value) for name, value in times.items()
    }
    problems = [
        f"{name}={quoted(times[name])} out of range"
        for name, value in seconds.items()
        if value is None and times[name] is not None
    ]
    return AccountInfo(
        balance=amount,
        balance_expiration_at=_timestamp(seconds["balance_expiration_at"]),
        traffic=fields["traffic"],
        traffic_expiration_at=_timestamp(seconds["traffic_expiration_at"]),
        fetch_error="malformed account info: " + "; ".join(problems) if problems else None,
    )


def _timestamp(seconds: int | None) -> pd.Timestamp:
    return pd.NaT if not seconds else pd.Timestamp(seconds, unit="s", tz="UTC")


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _cache_of(client: Client) -> Any:
    return open_cache(client.cache_dir, base_url=client.base_url, api_version=client.api_version)


def _fetch_detail(client: Client, slug: str) -> dict[str, Any]:
    return client.run_detail(slug)


def _failed_row(slug: str, reason: str) -> dict[str, Any]:
    return {"slug": slug, "fetched_at": time.time_ns() // 1000, "fetch_error": reason}


def _page_fetcher(client: Client, progress: bool) -> FetchMany:
    """``fetch_many`` for the paginator: pages on the client's threads, any failure raised."""

    def fetch_many(fetch_one: Callable[[int], Page], pages: list[int]) -> dict[int, Page]:
        outcomes = run_batch(
            client, pages, lambda _client, page: fetch_one(page), progress=progress, desc="pages"
        )
        failed = {page: o for page, o in outcomes.items() if isinstance(o, str)}
        if failed:
            listed = "; ".join(f"page {p}: {reason}" for p, reason in sorted(failed.items()))
            raise CoreClawError(f"Run History incomplete: {len(failed)} pages failed ({listed})")
        return {page: o for page, o in outcomes.items() if not isinstance(o, str)}

    return fetch_many


# --- argument checks --------------------------------------------------------------------------


def _check_worker(value: Any, api_version: str) -> str | None:
    """A worker id for the Run History filter: a ULID, or (v2) an ``owner~name`` path."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(
            f"scraper_slug must be a worker slug string, got {value!r} ({type(value).__name__})"
        )
    if SLUG_PATTERN.fullmatch(value):
        return value
    if api_version == "v2" and WORKER_PATH.fullmatch(value):
        return value
    accepted = "a 26-character ULID" + (" or an owner~name path" if api_version == "v2" else "")
    raise ValueError(f"scraper_slug must be {accepted} on API {api_version}, got {value!r}")
