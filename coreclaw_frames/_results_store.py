"""``sync_results`` and ``read_results``: every scraped row of many runs, kept on disk.

A sync stores each finished run's rows in a file of its own (:mod:`coreclaw_frames._results_files`
says where and how), so memory holds only the runs in flight, an interrupted sync loses nothing
it finished, and the next sync fetches only what is missing: with every run stored it sends no
request at all.

Each run is fetched the cheaper way. A run with more rows than one page, on an API that exports
(v2), costs one export request and one download from the storage host, instead of one request
per 100 rows (and, once per worker and version, a page of one row for the declared headers,
which the file lacks); a final run whose record counts no rows costs nothing; every other run
is paged. The export is used only when it can be trusted: a link
that is refused, expired, redirected, too large or that names the key, a download that does not
hold the run's row count, or a storage host that cannot be reached makes the run paged instead.
API requests never exceed the client's ``max_workers`` at once; downloads, which go to another
host, run beside them as many again.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from coreclaw_frames._batch import check_progress, client_or_default, run_batch, validate_slugs
from coreclaw_frames._errors import (
    ConnectionFailedError,
    ExportUnavailableError,
    InvalidRequestError,
    ResultsSyncError,
    quoted,
)
from coreclaw_frames._results_files import (
    check_store,
    open_store,
    read_tables,
    store_workers,
    stored_runs,
)
from coreclaw_frames._results_files import write_run as _write_run
from coreclaw_frames._row_columns import jsonl_table, rows_table, tables_frame
from coreclaw_frames.api import Client

__all__ = ["ResultsSyncSummary", "read_results", "sync_results"]

#: Columns a run frame needs to say which runs are final and whose they are.
NEEDED_COLUMNS = ("slug", "status", "scraper_slug")


@dataclass(frozen=True)
class ResultsSyncSummary:
    """What one :func:`sync_results` did.

    ``runs_added`` runs were stored now, with ``rows_added`` rows; ``runs_stored`` were stored
    already; ``runs_pending`` are not final (skipped: their rows may still grow);
    ``runs_failed`` could not be fetched (``failures``: run slug → reason). ``requests`` API
    requests and ``downloads`` storage-host downloads were sent, retries included.

    Examples
    --------
    >>> print(ResultsSyncSummary("rows", runs_added=2, rows_added=340, runs_stored=5))
    2 runs added (340 rows), 5 stored already, 0 not final, 0 failed; 0 requests, 0 downloads
    """

    path: str
    runs_added: int = 0
    rows_added: int = 0
    runs_stored: int = 0
    runs_pending: int = 0
    runs_failed: int = 0
    requests: int = 0
    downloads: int = 0
    failures: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return (
            f"{self.runs_added:,} runs added ({self.rows_added:,} rows), {self.runs_stored:,} "
            f"stored already, {self.runs_pending:,} not final, {self.runs_failed:,} failed; "
            f"{self.requests:,} requests, {self.downloads:,} downloads"
        )

    def __repr__(self) -> str:
        return f"ResultsSyncSummary({self.path!r}: {self})"


@dataclass(frozen=True)
class _Job:
    """One run to fetch: whose it is (worker and version) and how many rows it says it has
    (None: unknown)."""

    slug: str
    worker: str
    results: int | None
    version: str | None = None


def sync_results(
    path: Any,
    runs: Any,
    *,
    client: Client | None = None,
    fields: Sequence[str] | None = None,
    progress: bool | None = None,
) -> ResultsSyncSummary:
    """Store every scraped row of every final run of ``runs`` under the directory ``path``.

    ``runs`` is a run frame (from ``list_runs``, ``sync_runs`` or ``read_parquet``) or run
    slugs (their records are fetched first: a frame saves that request per run). Each final run
    (succeeded, failed, aborted, or aborting with an end time) not stored yet gets all its rows
    stored, each row with ``run_slug``; runs not final are skipped and counted. A rerun fetches
    only what is missing. ``fields`` keeps only those top-level keys (the store keeps that
    choice). Runs that fail are reported and the call raises :class:`ResultsSyncError` at the
    end, carrying the summary; no run is ever stored in part. Read the store with
    :func:`read_results`, DuckDB, Dask or Spark.

    Examples
    --------
    >>> runs = ccf.list_runs(since="2026-03-01")  # doctest: +SKIP
    >>> print(ccf.sync_results("rows", runs))  # doctest: +SKIP
    1,204 runs added (612,330 rows), 0 stored already, 3 not final, 0 failed; 1,210 requests, ...
    >>> ccf.sync_results("rows", runs).requests  # doctest: +SKIP
    0
    """
    kept = check_fields(fields)
    show = check_progress(progress)
    frame, slugs = _split_runs(runs)
    check_store(path, kept)
    counts = _Counts()
    with client_or_default(client) as active:
        root = open_store(path, kept, create=True)
        stored = stored_runs(root)
        requests_before, downloads_before = active.requests_sent, active.downloads_sent
        jobs = _plan(active, frame, slugs, stored, counts, show)
        sync = _RunSync(active, root, kept)

        def status() -> str:
            return (
                f"added {counts.added:,} ({counts.rows:,} rows), stored {counts.stored:,}, "
                f"pending {counts.pending:,}, failed {len(counts.failures):,}, "
                f"requests {active.requests_sent - requests_before:,}"
            )

        def note(job: _Job, outcome: int | str) -> None:
            if isinstance(outcome, str):
                counts.failures[job.slug] = outcome
            else:
                counts.added += 1
                counts.rows += outcome

        with system_allocator():
            run_batch(
                active,
                jobs,
                sync.store,
                progress=show,
                desc="runs",
                on_result=note,
                threads=2 * active.max_workers,
                status=status,
                keep=False,
            )
        summary = ResultsSyncSummary(
            str(root),
            runs_added=counts.added,
            rows_added=counts.rows,
            runs_stored=counts.stored,
            runs_pending=counts.pending,
            runs_failed=len(counts.failures),
            requests=active.requests_sent - requests_before,
            downloads=active.downloads_sent - downloads_before,
            failures=dict(counts.failures),
        )
    if summary.failures:
        raise ResultsSyncError(summary)
    return summary


def read_results(
    path: Any, *, worker: str | None = None, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Every row stored under ``path`` by :func:`sync_results`, as one frame.

    Columns are the union of the runs' columns, typed as ``fetch_results`` types them (a key
    whose values share no type across runs is an ``object`` column, values untouched).
    ``worker`` (a ``scraper_slug``) gives only that worker's rows, with its columns only;
    ``columns`` reads only those columns (``run_slug`` always comes first). Runs are in slug
    order (the order they were created in), each run's rows in the order scraped.

    Examples
    --------
    >>> rows = ccf.read_results("rows", worker="acme~jobs", columns=["title"])  # doctest: +SKIP
    >>> rows.groupby("run_slug").size()  # doctest: +SKIP
    """
    root = open_store(path, None, create=False)
    wanted = check_fields(columns, name="columns")
    workers = store_workers(root)
    if worker is not None:
        if not isinstance(worker, str):
            raise TypeError(f"worker must be a scraper_slug string, got {quoted(worker)}")
        if worker not in workers:
            known = ", ".join(quoted(w) for w in sorted(workers)[:10]) or "none"
            raise ValueError(
                f"the store {str(root)!r} holds no run of worker {quoted(worker)}; "
                f"its workers: {known}"
            )
        workers = {worker: workers[worker]}
    chosen = set(workers.values())
    files = sorted(
        (file for file in stored_runs(root, tidy=False).values() if file.parent in chosen),
        key=lambda file: file.name,
    )
    tables = read_tables(files, None if wanted is None else ["run_slug", *wanted])
    if wanted is not None:
        present = {name for table in tables for name in table.column_names}
        missing = [name for name in wanted if name not in present]
        if missing:
            raise ValueError(
                f"no stored run has the column(s) {', '.join(quoted(m) for m in missing)}; "
                f"read_results({str(root)!r}).columns lists the columns"
            )
    frame = tables_frame(tables, error_column=False)
    if wanted is not None:
        frame = frame[["run_slug", *[c for c in wanted if c != "run_slug"]]]
    return frame


@contextmanager
def system_allocator() -> Iterator[None]:
    """Arrow allocates from the system's allocator while the block runs.

    Arrow's own allocators (mimalloc, jemalloc) keep freed memory for reuse; over a sync of
    thousands of runs on many threads that is memory held for nothing (measured on a million
    rows: a peak of 338 MB instead of 408-429 MB). Buffers are freed to the allocator that made
    them, so switching back afterwards is safe.
    """
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def check_fields(fields: Any, *, name: str = "fields") -> list[str] | None:
    """``fields`` as a list of distinct key names, or None; refused with the reason otherwise.

    Examples
    --------
    >>> check_fields(["title", "price"])
    ['title', 'price']
    >>> check_fields("title")
    Traceback (most recent call last):
    ...
    TypeError: fields must be a list of key names, not a single string: wrap it as ['title']
    """
    if fields is None:
        return None
    if isinstance(fields, str):
        raise TypeError(
            f"{name} must be a list of key names, not a single string: wrap it as [{fields!r}]"
        )
    if isinstance(fields, Mapping) or not isinstance(fields, Iterable):
        raise TypeError(f"{name} must be a list of key names, got {quoted(fields)}")
    values = list(fields)
    bad = [v for v in values if not isinstance(v, str) or not v.strip() or "," in v]
    if bad:
        raise ValueError(f"{name} must be non-empty key names without commas; got {quoted(bad[0])}")
    if not values:
        raise ValueError(f"{name} is empty; pass None for every key")
    if len(set(values)) != len(values):
        twice = sorted({v for v in values if values.count(v) > 1})
        raise ValueError(f"{name} names {quoted(twice[0])} more than once")
    return values


@dataclass
class _Counts:
    added: int = 0
    rows: int = 0
    stored: int = 0
    pending: int = 0
    failures: dict[str, str] = field(default_factory=dict)


def _split_runs(runs: Any) -> tuple[pd.DataFrame | None, list[str]]:
    """A run frame (checked), or slugs (checked); refused before any request."""
    if isinstance(runs, pd.DataFrame):
        missing = [c for c in NEEDED_COLUMNS if c not in runs.columns]
        if missing:
            raise ValueError(
                f"runs is a frame without the column(s) {', '.join(missing)}; pass a run frame "
                "(from list_runs, sync_runs or read_parquet) or a list of run slugs"
            )
        validate_slugs(runs["slug"], name="runs['slug']")
        return runs, []
    return None, validate_slugs(runs, name="runs")


def _plan(
    client: Client,
    frame: pd.DataFrame | None,
    slugs: list[str],
    stored: Mapping[str, Path],
    counts: _Counts,
    progress: bool,
) -> list[_Job]:
    """The runs to fetch; counts the stored, pending and failed ones on the way."""
    from coreclaw_frames._runs import fetch_runs
    from coreclaw_frames.analysis._frame import final_mask

    if frame is not None:
        frame = frame.assign(slug=frame["slug"].str.strip().str.upper())
        frame = frame.drop_duplicates("slug")
        unknown = frame["status"].isna()
        if "fetch_error" in frame.columns:
            unknown |= frame["fetch_error"].notna()
        slugs = frame.loc[unknown, "slug"].tolist()
        frame = frame[~unknown]
    counts.stored = sum(1 for slug in slugs if slug in stored)
    to_look_up = [slug for slug in slugs if slug not in stored]
    if to_look_up:
        looked_up = fetch_runs(to_look_up, client=client, errors="coerce", progress=progress)
        failed = looked_up["fetch_error"].notna()
        counts.failures.update(
            zip(looked_up.loc[failed, "slug"], looked_up.loc[failed, "fetch_error"], strict=True)
        )
        looked_up = looked_up[~failed]
        frame = looked_up if frame is None else pd.concat([frame, looked_up], ignore_index=True)
    if frame is None or frame.empty:
        return []
    is_stored = frame["slug"].isin(list(stored)).to_numpy()
    counts.stored += int(is_stored.sum())
    frame = frame[~is_stored]
    final = final_mask(frame)
    counts.pending += int((~final).sum())
    frame = frame[final]
    if "results" in frame.columns:
        results = frame["results"]
    else:
        results = pd.Series(pd.NA, index=frame.index)
    versions = frame["version"] if "version" in frame.columns else pd.Series(None, frame.index)
    jobs = []
    for slug, worker, count, version in zip(
        frame["slug"], frame["scraper_slug"], results, versions, strict=True
    ):
        if not isinstance(worker, str) or not worker:
            counts.failures[slug] = "the run's record names no worker (scraper_slug)"
            continue
        known = None if pd.isna(count) else int(count)
        jobs.append(_Job(slug, worker, known, version if isinstance(version, str) else None))
    return jobs


class _RunSync:
    """Fetches one run's rows the cheaper way and stores them; shared by the batch's threads."""

    def __init__(self, client: Client, root: Path, fields: list[str] | None) -> None:
        self.client = client
        self.root = root
        self.fields = fields
        self.api_slots = threading.BoundedSemaphore(client.max_workers)
        self.download_slots = threading.BoundedSemaphore(client.max_workers)
        # Parsing is CPU work: more at once than cores only adds memory (each thread's
        # allocator keeps its own).
        self.parse_slots = threading.BoundedSemaphore(os.cpu_count() or 1)
        #: Set when the storage host cannot be reached: the remaining runs are paged.
        self.storage_down = threading.Event()
        #: The declared headers of each worker and version, read once from a page of one row:
        #: an exported file has none, and they order a run's columns as paging would.
        self.headers: dict[tuple[str, str | None], list[str]] = {}
        self._header_locks: dict[tuple[str, str | None], threading.Lock] = {}
        self._headers_lock = threading.Lock()

    def store(self, client: Client, job: _Job) -> int:
        table = self._fetch(job)
        _write_run(self.root, job.worker, job.slug, table)
        return table.num_rows

    def _fetch(self, job: _Job) -> pa.Table:
        if job.results == 0:
            # A final run whose record counts no rows has none: nothing to ask for.
            return rows_table(job.slug, [], [], keep=self.fields)
        if (
            self.client.can_export
            and not self.storage_down.is_set()
            and (job.results is None or job.results > self.client.max_page_size)
        ):
            try:
                table = self._exported(job)
            except (ExportUnavailableError, InvalidRequestError):
                # Refused (say, filter_keys naming a key this worker lacks): paged instead.
                pass
            else:
                if job.results is None or table.num_rows == job.results:
                    return table
        with self.api_slots:
            headers, rows = self.client.run_results(job.slug)
        return rows_table(job.slug, headers, rows, keep=self.fields)

    def _headers_of(self, job: _Job) -> list[str]:
        """The declared headers of the job's worker and version, asked for once per sync."""
        key = (job.worker, job.version)
        with self._headers_lock:
            lock = self._header_locks.setdefault(key, threading.Lock())
        with lock:  # one request per key, however many runs of it start at once
            if key not in self.headers:
                with self.api_slots:
                    self.headers[key] = self.client.run_headers(job.slug)
            return self.headers[key]

    def _exported(self, job: _Job) -> pa.Table:
        headers = self._headers_of(job)
        with self.api_slots:
            url = self.client.export_url(job.slug, fields=self.fields)
        # Unlinked at once where the system allows: a killed sync leaves nothing behind.
        with tempfile.TemporaryFile(dir=self.root) as sink:
            try:
                with self.download_slots:
                    self.client.download(url, sink)
            except ConnectionFailedError:
                self.storage_down.set()
                raise ExportUnavailableError("the storage host cannot be reached") from None
            sink.seek(0)
            with self.parse_slots:
                return jsonl_table(job.slug, sink, headers=headers, keep=self.fields)
