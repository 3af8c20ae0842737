"""Run frames from the API: ``fetch_runs`` (by slug), ``list_runs`` (Run History), and
``account_info``.

Every function here returns the run frame of :mod:`coreclaw_frames.schema`, so frames from
different calls concatenate and compare. Finished runs go through the client's cache.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard

import pandas as pd

from coreclaw_frames.batch import (
    ErrorsMode,
    check_errors_mode,
    check_progress,
    check_slug,
    client_or_default,
    finish,
    run_batch,
    validate_slugs,
)
from coreclaw_frames.cache import open_cache
from coreclaw_frames.client import MAX_PAGE_SIZE, Client
from coreclaw_frames.errors import CoreClawError, TransportError
from coreclaw_frames.schema import records_to_frame, status_code

__all__ = ["AccountInfo", "account_info", "fetch_runs", "list_runs"]

#: While new runs keep arriving, ``list_runs`` fetches the pages they push down this many times
#: at most.
MAX_CATCH_UP_ROUNDS = 5


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
        A :class:`Client`; default: one built from ``$CORECLAW_API_KEY`` and
        ``$CORECLAW_BASE_URL``. With ``Client(cache_dir=...)``, finished runs already in the
        cache are not requested again.
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
    with client_or_default(client) as active, open_cache(active.cache_dir) as cache:
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
    scraper_slug: str | None = None,
    status: int | str | None = None,
    client: Client | None = None,
    progress: bool | None = None,
    max_runs: int | None = None,
) -> pd.DataFrame:
    """Every run of Run History (newest first) as a run frame, optionally filtered.

    Pages through ``run/list`` until the server's ``count``: never silently just the first
    page. Runs that shift between pages while new runs arrive appear once.

    Parameters
    ----------
    scraper_slug:
        Only this worker's runs.
    status:
        Only runs in this status: a label (``"succeeded"``) or the API's integer (1-5; 0 = all).
    max_runs:
        Stop after this many runs (the newest).

    Example
    -------
    >>> failed = ccf.list_runs(status="failed")  # doctest: +SKIP
    >>> failed.groupby("scraper_title").size()  # doctest: +SKIP
    """
    filters: dict[str, Any] = {}
    if scraper_slug is not None:
        filters["scraper_slug"] = check_slug(scraper_slug, name="scraper_slug")
    if status is not None and status != 0:
        filters["status"] = status_code(status)
    if max_runs is not None and (
        not isinstance(max_runs, int) or isinstance(max_runs, bool) or max_runs < 0
    ):
        raise ValueError(f"max_runs must be None or an integer >= 0, got {max_runs!r}")
    show = check_progress(progress)
    if max_runs == 0:
        return records_to_frame([])
    with client_or_default(client) as active, open_cache(active.cache_dir) as cache:
        records = _list_pages(active, filters, max_runs, show)
        for record in records:
            cache.offer(record)
    return records_to_frame(records)


@dataclass(frozen=True)
class AccountInfo:
    """The account's balance (USD, exact), traffic used (bytes) and traffic expiry (UTC)."""

    balance: Decimal
    traffic: int
    traffic_expiration_at: pd.Timestamp


def account_info(*, client: Client | None = None) -> AccountInfo:
    """Balance, traffic used and traffic expiry of the account behind the API key.

    >>> info = ccf.account_info()  # doctest: +SKIP
    >>> info.balance  # doctest: +SKIP
    Decimal('125.40')
    """
    with client_or_default(client) as active:
        data = active.request("account/info", {})
    fields = data if isinstance(data, dict) else {}
    balance, traffic, expires = (fields.get(k) for k in _ACCOUNT_FIELDS)
    try:
        amount = Decimal(balance) if isinstance(balance, str) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or not _is_int(traffic) or not _is_int(expires):
        raise TransportError(f"malformed answer: account/info data is {data!r}")
    when = pd.NaT if expires == 0 else pd.Timestamp(expires, unit="s", tz="UTC")
    return AccountInfo(balance=amount, traffic=traffic, traffic_expiration_at=when)


_ACCOUNT_FIELDS = ("balance", "traffic", "traffic_expiration_at")


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _fetch_detail(client: Client, slug: str) -> dict[str, Any]:
    data = client.request("run/detail", {"run_slug": slug})
    if not isinstance(data, dict):
        raise TransportError(f"malformed answer: run/detail data is {type(data).__name__}")
    if data.get("slug") != slug:
        raise TransportError(f"malformed answer: asked for run {slug}, got {data.get('slug')!r}")
    data["fetched_at"] = time.time_ns() // 1000
    return data


def _failed_row(slug: str, reason: str) -> dict[str, Any]:
    return {"slug": slug, "fetched_at": time.time_ns() // 1000, "fetch_error": reason}


def _list_pages(
    client: Client, filters: dict[str, Any], max_runs: int | None, progress: bool
) -> list[dict[str, Any]]:
    page_size = MAX_PAGE_SIZE if max_runs is None else min(MAX_PAGE_SIZE, max_runs)

    def fetch_page(c: Client, page_index: int) -> tuple[int, list[dict[str, Any]]]:
        data = c.request("run/list", {**filters, "page_index": page_index, "page_size": page_size})
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("count"), int)
            or not isinstance(data.get("list"), list)
            or not all(isinstance(r, dict) and isinstance(r.get("slug"), str) for r in data["list"])
        ):
            raise TransportError(f"malformed answer: run/list page {page_index}")
        fetched_at = time.time_ns() // 1000
        for record in data["list"]:
            record["fetched_at"] = fetched_at
        return data["count"], data["list"]

    pages: dict[int, tuple[int, list[dict[str, Any]]]] = {1: fetch_page(client, 1)}
    for _ in range(MAX_CATCH_UP_ROUNDS + 1):
        # New runs arriving meanwhile push older ones down: the pages needed follow the
        # largest count seen so far.
        count = max(c for c, _ in pages.values())
        wanted = count if max_runs is None else min(count, max_runs)
        todo = [p for p in range(1, math.ceil(wanted / page_size) + 1) if p not in pages]
        if not todo:
            break
        outcomes = run_batch(client, todo, fetch_page, progress=progress, desc="pages")
        failed = {p: o for p, o in outcomes.items() if isinstance(o, str)}
        if failed:
            listed = "; ".join(f"page {p}: {reason}" for p, reason in sorted(failed.items()))
            raise CoreClawError(f"Run History incomplete: {len(failed)} pages failed ({listed})")
        pages.update({p: o for p, o in outcomes.items() if not isinstance(o, str)})
    unique: dict[str, dict[str, Any]] = {}
    for page_index in sorted(pages):
        for record in pages[page_index][1]:
            unique.setdefault(record["slug"], record)
    records = list(unique.values())
    return records if max_runs is None else records[:max_runs]
