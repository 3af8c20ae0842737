"""Run frames from the API: ``fetch_runs`` (by slug), ``list_runs`` (Run History), and
``account_info``.

Every function here returns the run frame of :mod:`coreclaw_frames.schema`, so frames from
different calls, and from either API version, concatenate and compare. Finished runs go
through the client's cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from coreclaw_frames._batch import (
    ErrorsMode,
    check_errors_mode,
    check_progress,
    check_time,
    client_or_default,
    finish,
    run_batch,
    validate_slugs,
)
from coreclaw_frames._cache import open_cache
from coreclaw_frames._errors import CoreClawError
from coreclaw_frames._records import records_to_frame
from coreclaw_frames.api import Client, status_label
from coreclaw_frames.api._dialect import Page
from coreclaw_frames.api._paging import FetchMany

__all__ = ["AccountInfo", "account_info", "fetch_runs", "list_runs"]


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
    slugs : iterable of str
        Run slugs (a list, tuple, Series, ...; not a bare string). Duplicates are fetched
        once; rows keep the order of first occurrence.
    client : Client, optional
        A :class:`Client`; default: one built from ``$CORECLAW_API_KEY``,
        ``$CORECLAW_BASE_URL`` and ``$CORECLAW_API_VERSION``. With ``Client(cache_dir=...)``,
        finished runs already in the cache are not requested again.
    errors : {"raise", "coerce"}, default "raise"
        ``"raise"`` (default): if any slug failed, raise :class:`BatchFetchError` after the
        whole batch, carrying the complete frame in ``.frame``. ``"coerce"``: return the
        complete frame; failed rows have NA data and ``fetch_error`` set.
    progress : bool, optional
        Show a progress bar: ``None`` (default) when interactive, ``True`` always, ``False``
        never.

    Examples
    --------
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
    since, until : time, optional
        The time window ``[since, until)``: anything ``pd.Timestamp`` takes (a date string,
        ``datetime``, ``Timestamp``); naive times are UTC. On API v2 (the default) they select
        runs by **creation** time and the API is asked one calendar month at a time (it
        refuses longer windows). **Without** ``since``, v2 returns the current month only
        (months in UTC+8, as CoreClaw counts them), and on v2 a ``until`` that is not
        midnight UTC+8 also includes the rest of its day (the API filters whole days). On
        API v1, which has no time filter, they select runs by ``started_at`` (a run not yet
        started counts as starting now) and without ``since`` every run is listed.
    scraper_slug : str, optional
        Only this worker's runs: its ULID, or on v2 also an ``owner~name`` path.
    status : str or int, optional
        Only runs in this status, a label of ``ready``, ``running``, ``succeeded``,
        ``failed``, ``aborting``/``aborted`` (the two select the same runs: the API files a
        run being aborted and an aborted run under one filter); v1's integers 1-5 (0 = all)
        are accepted too.
    max_runs : int, optional
        Stop after this many runs (the newest).

    Examples
    --------
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
        worker = active.check_worker(scraper_slug, name="scraper_slug")
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

    Examples
    --------
    >>> info = ccf.account_info()  # doctest: +SKIP
    >>> info.balance, info.balance_expiration_at  # doctest: +SKIP
    (Decimal('125.40'), Timestamp('2026-06-22 01:20:00+0000', tz='UTC'))
    """
    with client_or_default(client) as active:
        record = active.account()
    return AccountInfo(
        balance=record["balance"],
        balance_expiration_at=_timestamp(record["balance_expiration_at"]),
        traffic=record["traffic"],
        traffic_expiration_at=_timestamp(record["traffic_expiration_at"]),
        fetch_error=record["fetch_error"],
    )


def _timestamp(seconds: int | None) -> pd.Timestamp:
    return pd.NaT if not seconds else pd.Timestamp(seconds, unit="s", tz="UTC")


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
