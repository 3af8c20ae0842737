"""CoreClaw API v2 (the current one): ``GET /api/v2/...``, the key as ``Authorization: Bearer``.

Statuses are strings; errors pair an HTTP status with an envelope code (and a ``request_id``);
``offset`` is a 1-based page number. Run History is month-bounded: without a time window the
server lists the current month only, and a window may not cross a calendar month, months cut at
midnight UTC+8. :meth:`V2Dialect.history` therefore walks one month at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from coreclaw_frames.api._dialect import (
    CANONICAL_RUN_FIELDS,
    Clock,
    CodeTable,
    Dialect,
    ListingReader,
    Request,
    RunFilter,
)

__all__ = ["MONTH_ZONE", "V2", "WORKER_PATH", "V2Dialect", "month_windows"]

PREFIX = "/api/v2"
#: The time zone whose calendar months bound a Run History query.
MONTH_ZONE = timezone(timedelta(hours=8), "UTC+8")
#: The server includes the whole day that ``end_time`` starts.
DAY_SECONDS = 86_400
#: A worker path as v2 names some workers: ``owner~name`` (or a bare name).
WORKER_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(~[A-Za-z0-9][A-Za-z0-9._-]*)?")


class V2Dialect(Dialect):
    """The v2 wire format."""

    version = "v2"
    codes = CodeTable(
        auth=frozenset({12001, 12002}),
        # 30003: the plan's concurrency limit, a request to back off like any rate limit.
        rate_limit=frozenset({13000, 30003}),
        server=frozenset({10000, 14000}),
        not_found=frozenset({11004, 50001, 60001, 70001}),
    )
    worker_forms = "a 26-character ULID or an owner~name path"

    def is_worker(self, value: str) -> bool:
        """A worker's ULID, or its ``owner~name`` path.

        Examples
        --------
        >>> V2.is_worker("acme~price-monitor"), V2.is_worker("news worker")
        (True, False)
        """
        return super().is_worker(value) or WORKER_PATH.fullmatch(value) is not None

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    def run_detail(self, slug: str) -> Request:
        return Request("GET", f"{PREFIX}/worker-runs/{slug}", "run detail")

    def run_page(self, page: int, size: int, filters: RunFilter) -> Request:
        params: dict[str, str | int] = {"offset": page, "limit": size}
        if filters.worker is not None:
            params["worker_id"] = filters.worker
        if filters.status is not None:
            params["status"] = self.status_filter(filters.status)
        if filters.created is not None:
            params["start_time"], params["end_time"] = filters.created
        return Request("GET", f"{PREFIX}/worker-runs", f"Run History page {page}", params)

    def result_page(self, slug: str, page: int, size: int) -> Request:
        params: dict[str, str | int] = {"offset": page, "limit": size}
        return Request("GET", f"{PREFIX}/worker-runs/{slug}/result", f"results page {page}", params)

    def result_export(self, slug: str, fields: Sequence[str] | None) -> Request:
        params: dict[str, str | int] = {"format": "jsonl"}
        if fields:
            params["filter_keys"] = ",".join(fields)
        return Request(
            "GET", f"{PREFIX}/worker-runs/{slug}/result/export", "results export", params
        )

    def account(self) -> Request:
        return Request("GET", f"{PREFIX}/users/account", "account info")

    def status_filter(self, status: str) -> str:
        # The filter knows "aborting" only; it selects aborted runs too.
        return "aborting" if status == "aborted" else status

    def canonical_run(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {name: record[name] for name in CANONICAL_RUN_FIELDS if name in record}

    def canonical_account(self, data: Any) -> dict[str, Any]:
        fields = data if isinstance(data, dict) else {}
        return {
            "balance": fields.get("balance"),
            "balance_expiration_at": fields.get("balance_expiration_at"),
            "traffic": None,
            "traffic_expiration_at": None,
        }

    def history_windows(self, since: int, until: int) -> list[tuple[int, int]]:
        """``[start, end)`` per calendar month (UTC+8) of ``[since, until)``, newest first.

        Examples
        --------
        >>> from datetime import datetime, timezone
        >>> t = lambda *a: int(datetime(*a, tzinfo=timezone.utc).timestamp())
        >>> len(V2.history_windows(t(2026, 1, 20), t(2026, 3, 5)))
        3
        """
        windows = []
        for start, end_day in month_windows(since, until, until):
            month_end = _next_month(_month_start(start))
            windows.append((start, min(until, month_end, end_day + DAY_SECONDS)))
        return windows

    def history(
        self,
        read: ListingReader,
        *,
        since: int | None,
        until: int | None,
        now: Clock,
        filters: RunFilter,
        limit: int | None,
    ) -> list[dict[str, Any]]:
        """One listing per calendar month (UTC+8) of ``[since, until)``, newest month first.

        Without either bound the server's own default applies: the current month. ``since``
        defaults to the start of the current month. The server filters on creation time and
        by whole days at the end: runs created later on ``until``'s day (UTC+8) are included,
        and when ``since`` falls on the last day listed, up to a day after ``since``.

        Without ``until`` the walk reaches the month that holds ``now()``, the server's time as
        far as the client knows it; ``now`` is asked again after the walk, so a server whose
        clock turned out to be in a later month has that month listed too.
        """
        if since is None and until is None:
            return read(filters, limit=limit)
        start = since if since is not None else _month_start(now())
        listed: dict[tuple[int, int], list[dict[str, Any]]] = {}
        seen: set[Any] = set()
        while windows := [w for w in month_windows(start, until, now()) if w not in listed]:
            for window in windows:
                remaining = None if limit is None else limit - len(seen)
                if remaining == 0:
                    break
                # A window that starts on its last day reaches into the next one: runs may
                # come twice, and count once.
                page = read(replace(filters, created=window), limit=remaining)
                listed[window] = page
                seen.update(record.get("slug") for record in page)
            if until is not None or (limit is not None and len(seen) >= limit):
                break
        records: dict[Any, dict[str, Any]] = {}
        for window in sorted(listed, reverse=True):
            for record in listed[window]:
                records.setdefault(record.get("slug"), record)
        return list(records.values())[:limit]


def month_windows(since: int, until: int | None, now: int) -> list[tuple[int, int]]:
    """``(start_time, end_time)`` per calendar month (UTC+8) covering ``[since, until)``,
    newest first; without ``until``, up to the end of the month of ``now`` (or of ``since``).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> jan_31 = int(datetime(2026, 1, 31, 20, 0, tzinfo=timezone.utc).timestamp())
    >>> mar_2 = int(datetime(2026, 3, 2, tzinfo=timezone.utc).timestamp())
    >>> [(_day(a), _day(b)) for a, b in month_windows(jan_31, mar_2, mar_2)]
    [('2026-03-01 00:00', '2026-03-02 00:00'), ('2026-02-01 04:00', '2026-02-28 00:00')]
    """
    if until is not None and until <= since:
        return []
    last = until - 1 if until is not None else _next_month(_month_start(max(now, since))) - 1
    windows = []
    for month_start, next_month in _months(since, last):
        start = max(since, month_start)
        end = min(last, next_month - 1)
        # end_time names a day, and the server refuses one before start_time: a window that
        # starts later on its last day names that day by its own start, and so reaches up to
        # a day further (into the next month, even) than asked.
        windows.append((start, max(start, _day_start(end))))
    return windows[::-1]


def _months(first: int, last: int) -> Iterator[tuple[int, int]]:
    """``(start, next start)`` of each UTC+8 month from the one holding ``first`` to ``last``."""
    start = _month_start(first)
    while start <= last:
        following = _next_month(start)
        yield start, following
        start = following


def _month_start(when: int) -> int:
    local = datetime.fromtimestamp(when, MONTH_ZONE)
    return int(local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp())


def _next_month(month_start: int) -> int:
    local = datetime.fromtimestamp(month_start, MONTH_ZONE)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return int(local.replace(year=year, month=month).timestamp())


def _day_start(when: int) -> int:
    local = datetime.fromtimestamp(when, MONTH_ZONE)
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


def _day(when: int) -> str:
    return datetime.fromtimestamp(when, MONTH_ZONE).strftime("%Y-%m-%d %H:%M")


V2 = V2Dialect()
