"""Finished runs on disk, so re-running a notebook does not fetch them again.

Finished runs (see :func:`coreclaw_frames.api.is_final`) never change, so their records can
be kept. The cache is one SQLite database (``runs.sqlite3`` in ``cache_dir``), holding each
run's canonical record as JSON beside the time it was fetched, keyed by the API's base URL, the
API version and the slug: two accounts or two versions never mix. SQLite gives us atomic
commits (an interrupted batch keeps every committed row) and safe sharing between processes.
Records are typed by the same parser as fresh ones, so a cached row equals a fetched one.

What is never stored: the API key, any run that can still change, or a record the schema
flags as malformed (it is asked for again next time).

Each problem gives a :class:`CacheWarning`. Only a damaged file (not a database, malformed, or
of a newer format) is set aside, its runs fetched again. A cache another process keeps locked
beyond ``BUSY_TIMEOUT`` is skipped for that call; one that cannot be written is read but not
written. Neither is ever moved.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from coreclaw_frames._records import clean_record
from coreclaw_frames._warnings import warn
from coreclaw_frames.api import is_final

__all__ = ["CACHE_FILE", "CacheWarning", "RunCache", "open_cache"]

CACHE_FILE = "runs.sqlite3"
#: Bumped when the table layout changes; a newer file is set aside, not misread, and an older
#: one's entries are dropped (format 1 held v1 records without their base URL).
CACHE_FORMAT = 2
#: Seconds a process waits for another one's write to finish.
BUSY_TIMEOUT = 30.0
#: Rows buffered before a commit, and the longest a fetched row waits to be committed.
FLUSH_ROWS = 200
FLUSH_SECONDS = 1.0
#: SQLite's limit on parameters per statement is 999 on old builds.
QUERY_CHUNK = 900
#: Primary SQLite result codes (the low byte of an extended code) by what they say.
PRIMARY_CODE_MASK = 0xFF
DAMAGED_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
#: Ways to open the file without writing it, tried in turn. A WAL database whose directory
#: cannot be written opens only as immutable (its -shm file cannot be created); no other
#: process has it open then, or that -shm file would exist.
READ_ONLY_QUERIES = ("mode=ro", "immutable=1")


class CacheWarning(UserWarning):
    """The run cache could not be used as it was: damaged, busy or read-only."""


class _NewerFormat(sqlite3.DatabaseError):
    """The file was written by a newer version of this package."""


class RunCache:
    """Finished run records in one SQLite file. Use :func:`open_cache`, not this directly.

    Examples
    --------
    >>> with open_cache(DIRECTORY, base_url=URL, api_version="v2") as cache:  # doctest: +SKIP
    ...     cache.load(["01KSFDS8XWTJME33C08XMCR6B9"])
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, base_url: str, api_version: str
    ) -> None:
        self.path = Path(directory).expanduser() / CACHE_FILE
        self._namespace = (base_url, api_version)
        self._pending: list[tuple[str, str, str, int, str]] = []
        self._last_flush = time.monotonic()
        self._db: sqlite3.Connection | None = None
        self._writable = True
        self._connect()

    def _connect(self, damaged: Exception | None = None) -> None:
        """Open the database read-write, setting a ``damaged`` one aside first; read it only
        if it cannot be written; without it (``_db`` None) if it cannot be read either."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if damaged is not None:
                self._set_aside(damaged)
            self._db = self._open()
        except (sqlite3.Error, OSError) as exc:
            if damaged is None and _is_damaged(exc):
                self._connect(damaged=exc)
            elif _is_busy(exc) or not self.path.is_file():
                self._give_up(exc)
            else:
                self._open_read_only(exc)

    def _open(self, read_only_query: str | None = None) -> sqlite3.Connection:
        """The database, read-write (created or upgraded as needed) or, given one of
        ``READ_ONLY_QUERIES``, read-only as it is."""
        if read_only_query is None:
            target, uri = str(self.path), False
        else:
            target, uri = f"{self.path.absolute().as_uri()}?{read_only_query}", True
        db = sqlite3.connect(target, timeout=BUSY_TIMEOUT, isolation_level=None, uri=uri)
        try:
            if read_only_query is None:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version > CACHE_FORMAT:
                raise _NewerFormat(f"cache format {version}, expected {CACHE_FORMAT}")
            if version < CACHE_FORMAT:
                if read_only_query is not None:
                    raise sqlite3.DatabaseError(f"cache format {version}, expected {CACHE_FORMAT}")
                db.execute("BEGIN IMMEDIATE")
                db.execute("DROP TABLE IF EXISTS runs")
                db.execute(
                    "CREATE TABLE runs (base_url TEXT NOT NULL, api_version TEXT NOT NULL,"
                    " slug TEXT NOT NULL, fetched_at_us INTEGER NOT NULL, record TEXT NOT NULL,"
                    " PRIMARY KEY (base_url, api_version, slug))"
                )
                db.execute(f"PRAGMA user_version={CACHE_FORMAT}")
                db.execute("COMMIT")
            db.execute("SELECT count(*) FROM runs").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def _open_read_only(self, reason: Exception) -> None:
        """Read the database without writing it, since ``reason`` stopped opening it to write."""
        failure = reason
        for query in READ_ONLY_QUERIES:
            try:
                self._db = self._open(query)
            except sqlite3.Error as exc:
                failure = exc
            else:
                self._stop_writing(reason)
                return
        self._give_up(failure)

    def _stop_writing(self, reason: Exception) -> None:
        """Keep reading the database but never write it again (it is read-only)."""
        self._writable = False
        warn(
            f"run cache {self.path} is read-only ({reason}); its runs are used, new ones are "
            "not saved",
            CacheWarning,
        )

    def _give_up(self, error: Exception) -> None:
        """Go on without the cache for the rest of this call."""
        self._disconnect()
        if _is_busy(error):
            message = (
                f"run cache {self.path} is busy: another process has kept it locked for more "
                f"than {BUSY_TIMEOUT:g} s ({error}); continuing without it for this call"
            )
        else:
            message = f"run cache {self.path} unusable ({error}); continuing without it"
        warn(message, CacheWarning)

    def _set_aside(self, error: Exception) -> None:
        aside = self.path.with_name(f"{self.path.name}.unreadable-{time.time_ns()}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                source.replace(f"{aside}{suffix}")
        warn(
            f"run cache {self.path} could not be read ({error}); moved to {aside.name}, "
            "its runs will be fetched again",
            CacheWarning,
        )

    def load(self, slugs: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The cached records of ``slugs`` (only those present), with ``fetched_at`` set."""
        if self._db is None:
            return {}
        found: dict[str, dict[str, Any]] = {}
        wanted = list(slugs)
        try:
            for start in range(0, len(wanted), QUERY_CHUNK):
                chunk = wanted[start : start + QUERY_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    "SELECT slug, fetched_at_us, record FROM runs"
                    f" WHERE base_url = ? AND api_version = ? AND slug IN ({marks})",
                    (*self._namespace, *chunk),
                ).fetchall()
                for (slug, fetched_at_us, _), record in zip(rows, _decode(rows), strict=True):
                    if record is not None:
                        record["fetched_at"] = fetched_at_us
                        found[slug] = record
        except sqlite3.DatabaseError as exc:
            self._disconnect()
            if _is_damaged(exc) and self._writable:
                self._connect(damaged=exc)
            else:
                self._give_up(exc)
            return {}
        return found

    def offer(self, record: Mapping[str, Any]) -> None:
        """Keep ``record`` (canonical) if its run is finished and the record clean; commits in
        batches (see ``FLUSH_ROWS``)."""
        if (
            self._db is None
            or not self._writable
            or not is_final(record)
            or clean_record(record)[1]
        ):
            return
        stored = {k: v for k, v in record.items() if k != "fetched_at"}
        text = json.dumps(stored, separators=(",", ":"))
        self._pending.append((*self._namespace, record["slug"], int(record["fetched_at"]), text))
        if len(self._pending) >= FLUSH_ROWS or time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Commit every offered record now."""
        self._last_flush = time.monotonic()
        if self._db is None or not self._pending:
            return
        rows, self._pending = self._pending, []
        try:
            with self._transaction():
                self._db.executemany(
                    "INSERT OR REPLACE INTO runs (base_url, api_version, slug, fetched_at_us,"
                    " record) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
        except sqlite3.DatabaseError as exc:
            if _is_busy(exc):
                self._give_up(exc)
            elif _code(exc) == sqlite3.SQLITE_READONLY:
                self._stop_writing(exc)
            else:
                warn(
                    f"run cache {self.path}: could not save {len(rows)} runs ({exc})", CacheWarning
                )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        assert self._db is not None
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        """Commit what is pending and close the database."""
        try:
            self.flush()
        finally:
            self._disconnect()

    def _disconnect(self) -> None:
        """Close the database, dropping what is pending."""
        self._pending.clear()
        if self._db is not None:
            self._db.close()
            self._db = None


def _code(error: BaseException) -> int | None:
    """The primary SQLite result code of ``error``; None if it is not from SQLite."""
    code: int | None = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & PRIMARY_CODE_MASK


def _is_damaged(error: BaseException) -> bool:
    return isinstance(error, _NewerFormat) or _code(error) in DAMAGED_CODES


def _is_busy(error: BaseException) -> bool:
    return _code(error) in BUSY_CODES


def _decode(rows: list[tuple[str, int, str]]) -> list[dict[str, Any] | None]:
    """The records of ``(slug, fetched_at_us, json)`` rows; ``None`` for a damaged one."""
    try:
        # One parse for all rows is several times faster than one per row. Each record is
        # still checked against its slug below, so a damaged row cannot pass as another.
        records: list[Any] = json.loads("[" + ",".join(text for _, _, text in rows) + "]")
    except ValueError:
        records = []
    if len(records) != len(rows):
        records = [_loads_or_none(text) for _, _, text in rows]
    checked: list[dict[str, Any] | None] = []
    for (slug, _, _), record in zip(rows, records, strict=True):
        if not isinstance(record, dict) or record.get("slug") != slug:
            warn(f"run cache: the entry for {slug} is damaged; fetching it again", CacheWarning)
            record = None
        checked.append(record)
    return checked


def _loads_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


class _NoCache:
    """Stands in for :class:`RunCache` when the client has no ``cache_dir``."""

    def load(self, slugs: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {}

    def offer(self, record: Mapping[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


@contextlib.contextmanager
def open_cache(
    directory: str | os.PathLike[str] | None, *, base_url: str, api_version: str
) -> Iterator[RunCache | _NoCache]:
    """The run cache in ``directory`` for one API (``None``: a cache that keeps nothing);
    closed on exit, committing what it was offered even if the batch was interrupted."""
    cache: RunCache | _NoCache = (
        _NoCache()
        if directory is None
        else RunCache(directory, base_url=base_url, api_version=api_version)
    )
    try:
        yield cache
    finally:
        cache.close()
