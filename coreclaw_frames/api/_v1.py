"""CoreClaw API v1: ``POST /api/v1/...`` with JSON bodies, the key in an ``api-key`` header.

Statuses are integers 1-5 (ready, running, succeeded, failed, aborted); 5 also covers a run
still being aborted, which has no ``finished_at`` yet and is reported as ``aborting``, as v2
does. Errors are envelope codes, usually with HTTP 200. Run History has no time filter:
:meth:`V1Dialect.history` pages newest first and keeps runs by ``started_at``.
"""

from __future__ import annotations

from collections.abc import Mapping
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

__all__ = ["STATUS_BY_CODE", "V1", "V1Dialect"]

PREFIX = "/api/v1"
#: v1's status codes and the labels they stand for.
STATUS_BY_CODE = {1: "ready", 2: "running", 3: "succeeded", 4: "failed", 5: "aborted"}
_CODE_BY_STATUS = {label: code for code, label in STATUS_BY_CODE.items()}
# v1 reports a run being aborted and an aborted run alike.
_CODE_BY_STATUS["aborting"] = 5


class V1Dialect(Dialect):
    """The v1 wire format."""

    version = "v1"
    codes = CodeTable(
        auth=frozenset({4010, 10001, 10002, 20001, 20002}),
        rate_limit=frozenset({4290}),
        server=frozenset({5000}),
        not_found=frozenset({4040, 50001, 60001, 70001}),
    )

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"api-key": api_key}

    def run_detail(self, slug: str) -> Request:
        return Request("POST", f"{PREFIX}/run/detail", "run detail", json={"run_slug": slug})

    def run_page(self, page: int, size: int, filters: RunFilter) -> Request:
        body: dict[str, Any] = {"page_index": page, "page_size": size}
        if filters.worker is not None:
            body["scraper_slug"] = filters.worker
        if filters.status is not None:
            body["status"] = self.status_filter(filters.status)
        return Request("POST", f"{PREFIX}/run/list", f"Run History page {page}", json=body)

    def result_page(self, slug: str, page: int, size: int) -> Request:
        body = {"run_slug": slug, "page_index": page, "page_size": size}
        return Request("POST", f"{PREFIX}/run/result/list", f"results page {page}", json=body)

    def account(self) -> Request:
        return Request("POST", f"{PREFIX}/account/info", "account info", json={})

    def status_filter(self, status: str) -> int:
        return _CODE_BY_STATUS[status]

    def canonical_run(self, record: Mapping[str, Any]) -> dict[str, Any]:
        canonical = {name: record[name] for name in CANONICAL_RUN_FIELDS if name in record}
        status = record.get("status")
        if isinstance(status, int) and not isinstance(status, bool):
            # A code no version documents is kept as data, as its number.
            label = STATUS_BY_CODE.get(status, str(status))
            if label == "aborted" and record.get("finished_at") == 0:
                label = "aborting"
            canonical["status"] = label
        return canonical

    def canonical_account(self, data: Any) -> dict[str, Any]:
        fields = data if isinstance(data, dict) else {}
        return {
            "balance": fields.get("balance"),
            "balance_expiration_at": None,
            "traffic": fields.get("traffic"),
            "traffic_expiration_at": fields.get("traffic_expiration_at"),
        }

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
        """v1 lists every run, newest first; a time window is applied to ``started_at``.

        A run that has not started yet counts as starting now. With ``since``, paging stops at
        the first page whose runs all started before it.
        """
        if since is None and until is None:
            return read(filters, limit=limit)
        current = now()

        def started(record: Mapping[str, Any]) -> int | None:
            value = record.get("started_at")
            if not isinstance(value, int) or isinstance(value, bool):
                return None  # malformed: kept, and flagged by the schema
            return value or current

        def older(record: Mapping[str, Any]) -> bool:
            at = started(record)
            return since is not None and at is not None and at < since

        def inside(record: Mapping[str, Any]) -> bool:
            at = started(record)
            return at is None or ((since is None or at >= since) and (until is None or at < until))

        kept = [r for r in read(filters, limit=None, older=older) if inside(r)]
        return kept if limit is None else kept[:limit]


V1 = V1Dialect()
