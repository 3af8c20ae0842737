"""``coreclaw-frames sync-results PATH SOURCE [--fields a,b]``: the rows of many runs, on disk.

SOURCE is a run Parquet file or dataset directory (the one ``sync`` keeps, say) or run slugs (a
text file, a .csv file, or ``-``). A run file names which runs are final and whose they are;
slugs cost one more request per run, for its record.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import coreclaw_frames as ccf
from coreclaw_frames.cli._common import (
    EXIT_OK,
    KEY_HELP,
    PARQUET_SUFFIX,
    CommandError,
    UsageError,
    add_api_version,
    api_client,
    library_errors,
)
from coreclaw_frames.cli._slugs import DEFAULT_COLUMN, STDIN, read_slugs

__all__ = ["register"]

SYNC_RESULTS_EXIT_HELP = (
    "Exit status: 0 every final run stored; 1 some runs failed (every other run is stored; the "
    "next sync retries them), or the sync could not run (bad key, unreachable host); 2 bad usage "
    "or input (nothing sent or written); 130 interrupted (every run stored so far is whole; the "
    "next sync completes the rest)."
)
#: The run columns a run file is read with: which runs are final, whose, and how many rows.
RUN_FILE_COLUMNS = ["slug", "status", "scraper_slug", "finished_at", "duration", "results"]


def _cmd_sync_results(args: argparse.Namespace) -> int:
    """Store every scraped row of the final runs of SOURCE under the directory PATH."""
    fields = _fields(args.fields)
    runs: Any = _runs(args.source, args.column)
    with api_client(args) as client, library_errors():
        try:
            summary = ccf.sync_results(args.path, runs, client=client, fields=fields)
        except ccf.ResultsSyncError as exc:
            print(f"Synced {args.path}: {exc.summary}")
            raise CommandError(str(exc)) from None
    print(f"Synced {args.path}: {summary}")
    return EXIT_OK


def _fields(text: str | None) -> list[str] | None:
    if text is None:
        return None
    fields = [name.strip() for name in text.split(",")]
    if not all(fields):
        raise UsageError(f"--fields must be key names separated by commas, got {text!r}")
    return fields


def _runs(source: str, column: str | None) -> Any:
    """A run frame read from a Parquet file or dataset, or the slugs of a text or CSV file."""
    path = Path(source).expanduser()
    if source != STDIN and (path.is_dir() or source.lower().endswith(PARQUET_SUFFIX)):
        if column is not None:
            raise UsageError("--column is for a text or CSV file of slugs, not a run Parquet")
        try:
            return ccf.read_parquet(path, columns=RUN_FILE_COLUMNS)
        except (OSError, ValueError, TypeError) as exc:
            raise UsageError(f"{source}: {exc}") from exc
    return read_slugs(source, column)


def register(commands: Any) -> None:
    """Add ``sync-results`` to the subparsers ``commands``."""
    parser = commands.add_parser(
        "sync-results",
        help="store every scraped row of many runs in a Parquet store, resumably",
        description="Store every scraped row of every final run of SOURCE under the directory "
        "PATH, one file per run, each row with run_slug. Runs stored already are skipped (a "
        "rerun sends no request when all are stored); runs not final are counted and skipped.",
        epilog=f"{KEY_HELP} {SYNC_RESULTS_EXIT_HELP}",
    )
    parser.add_argument("path", metavar="PATH", help="the store: a directory")
    parser.add_argument(
        "source",
        metavar="SOURCE",
        help="the runs: a run .parquet file or dataset directory (e.g. the one `sync` keeps), "
        f"or run slugs (a text file, a .csv file, or {STDIN} for stdin)",
    )
    parser.add_argument(
        "--fields",
        metavar="A,B",
        help="keep only these top-level keys of each row (plus run_slug)",
    )
    parser.add_argument(
        "--column",
        default=None,
        help=f"CSV column holding the slugs (default: {DEFAULT_COLUMN})",
    )
    add_api_version(parser)
    parser.set_defaults(handler=_cmd_sync_results)
