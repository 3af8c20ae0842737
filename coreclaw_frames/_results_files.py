"""The files of a results store: where each run's rows live, and how they are read back.

A store is a directory::

    rows/
      _results_store.json                 what the store keeps ({"format": 1, "fields": ...})
      worker=<scraper_slug>/
        <run_slug>.parquet                one finished run's rows, whole, each with run_slug

One file per run, written whole (to a hidden temporary, then renamed): a run is stored exactly
when its file exists and is whole (a file a power cut left short is fetched again). So an
interrupted sync leaves no part of a run and the next one knows what is left; two syncs of one
store that fetch the same run write the same file twice, never two copies. A run's file keeps
its columns in the types its own values need (see :mod:`coreclaw_frames._row_columns`):
storing one run never touches another, and the types are reconciled when the store is read
(:func:`read_tables`, then ``tables_frame``). The directory names follow the hive convention,
so DuckDB, Dask and Spark read the store as it is.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.parquet as pq

from coreclaw_frames._atomic import TEMPORARY_SUFFIX, atomic_write
from coreclaw_frames._errors import quoted
from coreclaw_frames.parquet._arguments import as_path

__all__ = [
    "RUN_FILE_SUFFIX",
    "SETTINGS_FILE",
    "WORKER_PREFIX",
    "check_store",
    "open_store",
    "read_tables",
    "run_file",
    "store_workers",
    "stored_runs",
    "write_run",
]

SETTINGS_FILE = "_results_store.json"
STORE_FORMAT = 1
WORKER_PREFIX = "worker="
RUN_FILE_SUFFIX = ".parquet"
#: Temporaries older than this (seconds) are left over from a killed sync, and removed.
STALE_TEMPORARY_SECONDS = 24 * 3600
#: The first and last bytes of every Parquet file.
PARQUET_MAGIC = b"PAR1"
#: The id of the process that writes a temporary, in its name.
_TEMPORARY_WRITER = re.compile(r"\.(\d+)-[0-9a-f]{32}" + re.escape(TEMPORARY_SUFFIX) + "$")
#: Run files read at once by :func:`read_tables`.
READ_THREADS = 8
#: Characters a worker's directory name keeps as they are; any other is %-escaped.
_SAFE_WORKER_CHARACTERS = "~-_.@+"


def check_store(path: Any, fields: Sequence[str] | None) -> Path:
    """The directory at ``path``, if a sync keeping ``fields`` may use it: a store keeping the
    same fields, or an empty or new directory. Writes nothing.

    A store keeps one choice of fields for all its runs: a sync that asks for others is
    refused, so a run is never stored with fewer keys than another without saying so.
    """
    root = as_path(path)
    wanted = None if fields is None else list(fields)
    settings_file = root / SETTINGS_FILE
    if root.exists() and not root.is_dir():
        raise ValueError(f"{str(root)!r} is a file; a results store is a directory")
    if settings_file.exists():
        kept = _read_settings(settings_file).get("fields")
        if kept != wanted:
            raise ValueError(
                f"the results store {str(root)!r} keeps "
                f"{'every field' if kept is None else 'the fields ' + quoted(kept)}; this sync "
                f"asks for {'every field' if wanted is None else quoted(wanted)}. Pass the "
                "same fields, or sync into another directory"
            )
    elif root.exists() and any(root.iterdir()):
        raise ValueError(
            f"{str(root)!r} is a directory with other files in it; choose an empty or new "
            "directory for a results store"
        )
    return root


def open_store(path: Any, fields: Sequence[str] | None, *, create: bool) -> Path:
    """The store directory at ``path``: checked (:func:`check_store`) and created when
    ``create``, for a sync keeping ``fields``; otherwise an existing store, to read."""
    if create:
        root = check_store(path, fields)
        if not (root / SETTINGS_FILE).exists():
            root.mkdir(parents=True, exist_ok=True)
            text = json.dumps({"format": STORE_FORMAT, "fields": fields}, indent=1) + "\n"
            atomic_write(root / SETTINGS_FILE, text.encode())
        return root
    root = as_path(path)
    if root.exists() and not root.is_dir():
        raise ValueError(f"{str(root)!r} is a file; a results store is a directory")
    if not (root / SETTINGS_FILE).exists():
        raise FileNotFoundError(
            f"no results store at {str(root)!r} (it has no {SETTINGS_FILE}); "
            "sync_results writes one"
        )
    _read_settings(root / SETTINGS_FILE)
    return root


def _read_settings(file: Path) -> dict[str, Any]:
    """What a store keeps, from its settings file: ``{"format": 1, "fields": [...] or None}``."""
    try:
        settings = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{str(file)!r} is damaged ({exc}); delete it to start over") from None
    fields = settings.get("fields") if isinstance(settings, dict) else None
    fields_ok = fields is None or (
        isinstance(fields, list) and all(isinstance(f, str) for f in fields)
    )
    if not isinstance(settings, dict) or settings.get("format") != STORE_FORMAT or not fields_ok:
        raise ValueError(
            f"{str(file)!r} is not a results store's settings (format {STORE_FORMAT}); "
            "delete it to start over"
        )
    return settings


def worker_directory(worker: str) -> str:
    """The directory name of ``worker``'s runs: ``worker=<slug>``, unusual characters escaped.

    Examples
    --------
    >>> worker_directory("acme~jobs"), worker_directory("a/b")
    ('worker=acme~jobs', 'worker=a%2Fb')
    """
    return WORKER_PREFIX + quote(worker, safe=_SAFE_WORKER_CHARACTERS)


def run_file(root: Path, worker: str, slug: str) -> Path:
    """Where run ``slug`` of ``worker`` is stored."""
    return root / worker_directory(worker) / f"{slug}{RUN_FILE_SUFFIX}"


def stored_runs(root: Path, *, tidy: bool = True) -> dict[str, Path]:
    """Run slug → file, for every run stored whole under ``root``; with ``tidy``, removes the
    files a killed sync or a power cut left behind."""
    stored: dict[str, Path] = {}
    now = time.time()
    for directory in _worker_directories(root):
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if name.endswith(RUN_FILE_SUFFIX) and not name.startswith("."):
                    if _whole(entry.path):
                        stored[name[: -len(RUN_FILE_SUFFIX)]] = Path(entry.path)
                    elif tidy:  # cut short by a power cut: fetched again
                        Path(entry.path).unlink(missing_ok=True)
                elif tidy and name.startswith(".") and name.endswith(TEMPORARY_SUFFIX):
                    _remove_if_stale(Path(entry.path), now)
    return stored


def _whole(path: str) -> bool:
    """Whether a run file is whole: Parquet's magic bytes at both ends."""
    try:
        with open(path, "rb") as file:
            head = file.read(len(PARQUET_MAGIC))
            file.seek(-len(PARQUET_MAGIC), os.SEEK_END)
            return head == PARQUET_MAGIC and file.read() == PARQUET_MAGIC
    except OSError:
        return False


def _remove_if_stale(file: Path, now: float) -> None:
    """Remove a temporary left by a killed sync: its process is gone, or it is a day old."""
    writer = _TEMPORARY_WRITER.search(file.name)
    try:
        if (writer is not None and not _alive(int(writer.group(1)))) or (
            now - file.stat().st_mtime > STALE_TEMPORARY_SECONDS
        ):
            file.unlink()
    except OSError:
        pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # another user's process, or no way to ask
        return True
    return True


def _worker_directories(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(
        Path(entry.path)
        for entry in os.scandir(root)
        if entry.is_dir() and entry.name.startswith(WORKER_PREFIX)
    )


def store_workers(root: Path) -> dict[str, Path]:
    """Worker (``scraper_slug``) → its directory, for every worker with a stored run."""
    return {unquote(d.name[len(WORKER_PREFIX) :]): d for d in _worker_directories(root)}


def write_run(root: Path, worker: str, slug: str, table: pa.Table) -> Path:
    """Store one run's rows whole: written to a hidden temporary, flushed, then renamed.

    The temporary's name holds this process's id, so that a later sync can tell the leftovers
    of a killed sync (their process is gone) from the files of one still running.
    """
    target = run_file(root, worker, slug)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(
        f".{target.name}.{os.getpid()}-{uuid.uuid4().hex}{TEMPORARY_SUFFIX}"
    )
    try:
        # Not forced to disk file by file (that would cost more than the fetch): a file that a
        # power cut leaves cut short is found by stored_runs and fetched again.
        pq.write_table(table, temporary, compression="zstd")
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def read_tables(files: Sequence[Path], columns: Sequence[str] | None = None) -> list[pa.Table]:
    """Each run file as a table with its metadata; only ``columns`` (those it has) if given.

    Files are read on a few threads at once (Parquet decoding releases the GIL)."""

    def read(file: Path) -> pa.Table:
        with pq.ParquetFile(file) as parquet:  # the footer is read once, for both
            names = parquet.schema_arrow.names
            chosen = None if columns is None else [c for c in columns if c in names]
            return parquet.read(columns=chosen, use_threads=False)

    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        return list(pool.map(read, files))
