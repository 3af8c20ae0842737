"""The subcommands that talk to the API: ``fetch``, ``list``, ``results`` and ``sync``.

Each checks its input and its ``-o`` target, then the key, and only then sends a request, so
bad usage costs nothing and writes nothing. Rows whose fetch failed are written with
``fetch_error`` set and make the exit status 1; so does a batch that cannot run at all (a bad
key, a host that cannot be reached), which writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

import coreclaw_frames as ccf
from coreclaw_frames._sync import previous_sync
from coreclaw_frames.api import STATUS_LABELS
from coreclaw_frames.cli._common import (
    EXIT_OK,
    KEY_HELP,
    CommandError,
    UsageError,
    add_api_version,
    api_client,
    library_errors,
)
from coreclaw_frames.cli._output import Output, check_output, check_parent, write_frame
from coreclaw_frames.cli._slugs import DEFAULT_COLUMN, STDIN, read_slugs

__all__ = ["register"]

FETCH_ERROR = "fetch_error"
RUN_KEY = "slug"
RESULTS_KEY = "run_slug"
#: How many failed runs the exit message quotes with their reasons.
QUOTED_FAILURES = 3
DATE_EXAMPLE = "2026-03-01"

EXIT_HELP = (
    "Exit status: 0 all fetched; 1 written, but some rows have fetch_error, or the batch could "
    "not run (bad key, unreachable host; nothing written); 2 bad usage or input (nothing "
    "written); 130 interrupted."
)
SYNC_EXIT_HELP = (
    "Exit status: 0 synced; 1 synced, but some runs refreshed by slug failed (their stored rows "
    "are kept), or the sync could not run (bad key, unreachable host; nothing changed); 2 bad "
    "usage or input (nothing sent or changed); 130 interrupted (the data as they were or fully "
    "updated; the next sync completes them)."
)
SLUGS_HELP = (
    f"run slugs: a text file (one a line; blank and # lines skipped), a .csv file, or {STDIN} "
    "for stdin"
)
LIST_V2_NOTE = (
    "On API v2 without --since only the current month (UTC+8) is listed; on v1 every run."
)


def _cmd_fetch(args: argparse.Namespace) -> int:
    """Fetch the runs named in SLUGS: one row per unique slug, in input order."""
    slugs = read_slugs(args.slugs, args.column)
    output = check_output(args.output, merge=args.merge, kind="runs")
    with api_client(args) as client, library_errors():
        runs = ccf.fetch_runs(slugs, client=client, errors="coerce")
    return _written(runs, output, key=RUN_KEY, total=len(slugs))


def _cmd_list(args: argparse.Namespace) -> int:
    """List Run History (newest first), filtered by the options."""
    output = check_output(args.output, merge=args.merge, kind="runs")
    with api_client(args) as client, library_errors():
        runs = ccf.list_runs(
            since=args.since,
            until=args.until,
            scraper_slug=args.worker,
            status=args.status,
            client=client,
            max_runs=args.max_runs,
        )
    return _written(runs, output, key=RUN_KEY, total=len(runs))


def _cmd_sync(args: argparse.Namespace) -> int:
    """Bring the Parquet file or dataset PATH up to date with Run History."""
    check_parent(args.path)
    try:
        state = previous_sync(Path(args.path).expanduser())
    except ValueError as exc:  # a damaged state file, named
        raise UsageError(str(exc)) from exc
    if args.since is None and state is None:
        raise UsageError(
            f"{args.path} has not been synced yet: its first sync needs --since DATE, the date "
            f"to list Run History from, e.g. --since {DATE_EXAMPLE}"
        )
    with api_client(args) as client, library_errors():
        done = ccf.sync_runs(
            args.path,
            since=args.since,
            client=client,
            partition_cols=args.partition_by,
            new_key=args.new_key,
            return_frame=False,
        )
    print(
        f"Synced {args.path}: {done['added']} added, {done['updated']} updated, "
        f"{done['unchanged']} unchanged ({done['runs']} runs); {done['requests']} requests"
    )
    if done["failed"]:
        raise CommandError(
            f"{done['failed']} of the {done['refetched']} runs refreshed by slug failed; their "
            "stored rows are kept and the next sync tries again"
        )
    return EXIT_OK


def _cmd_results(args: argparse.Namespace) -> int:
    """Fetch every scraped row of the runs named in SLUGS."""
    slugs = read_slugs(args.slugs, args.column)
    output = check_output(args.output, merge=args.merge, kind="results")
    with api_client(args) as client, library_errors():
        rows = ccf.fetch_results(slugs, client=client, errors="coerce", data_id=args.data_id)
    return _written(rows, output, key=RESULTS_KEY, total=len(slugs))


def _written(frame: pd.DataFrame, output: Output, *, key: str, total: int) -> int:
    """Write ``frame``; then fail (status 1) naming the first runs whose fetch failed."""
    path = write_frame(frame, output)
    rows = f"{len(frame)} row{'' if len(frame) == 1 else 's'}"
    print(f"{'Merged' if output.merge else 'Wrote'} {rows} into {path}")
    failed = frame.loc[frame[FETCH_ERROR].notna(), [key, FETCH_ERROR]].drop_duplicates(key)
    if failed.empty:
        return EXIT_OK
    reasons = "; ".join(
        f"{slug}: {reason}" for slug, reason in failed.head(QUOTED_FAILURES).itertuples(False)
    )
    more = len(failed) - QUOTED_FAILURES
    raise CommandError(
        f"{len(failed)} of {total} runs failed, written with fetch_error set: {reasons}"
        + (f"; and {more} more" if more > 0 else "")
    )


def _date(text: str) -> pd.Timestamp:
    """A ``--since``/``--until`` value: anything ``pd.Timestamp`` reads; naive means UTC."""
    try:
        stamp: Any = pd.Timestamp(text)
    except (TypeError, ValueError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (expected e.g. {DATE_EXAMPLE})")
    return stamp


def _count(text: str) -> int:
    """A ``--max-runs`` value: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _api_command(
    commands: Any, name: str, *, help: str, description: str
) -> argparse.ArgumentParser:
    """A subcommand with ``-o``, ``--merge`` and ``--api-version``; the key help as epilog."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=help, description=description, epilog=f"{KEY_HELP} {EXIT_HELP}"
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="PATH",
        help="output: a .parquet or .csv file (by extension)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="fold into an existing Parquet file or dataset directory instead of replacing it",
    )
    add_api_version(parser)
    return parser


def _add_slugs(parser: argparse.ArgumentParser) -> None:
    """Add the SLUGS argument and ``--column``."""
    parser.add_argument("slugs", metavar="SLUGS", help=SLUGS_HELP)
    parser.add_argument(
        "--column",
        default=None,
        help=f"CSV column holding the slugs (default: {DEFAULT_COLUMN}); with {STDIN}, reads CSV",
    )


def register(commands: Any) -> None:
    """Add ``fetch``, ``list``, ``results`` and ``sync`` to the subparsers ``commands``."""
    fetch = _api_command(
        commands,
        "fetch",
        help="fetch runs by slug into Parquet or CSV",
        description="Fetch the details of the runs in SLUGS: one row per unique slug, in "
        "input order.",
    )
    _add_slugs(fetch)
    fetch.set_defaults(handler=_cmd_fetch)

    listing = _api_command(
        commands,
        "list",
        help="list Run History into Parquet or CSV",
        description="List every run of Run History in [--since, --until), newest first. "
        f"{LIST_V2_NOTE}",
    )
    listing.add_argument(
        "--since",
        type=_date,
        metavar="DATE",
        help=f"first date, e.g. {DATE_EXAMPLE} (v2 without it: this month)",
    )
    listing.add_argument("--until", type=_date, metavar="DATE", help="end date (excluded)")
    listing.add_argument("--status", choices=STATUS_LABELS, help="only runs in this status")
    listing.add_argument(
        "--worker", metavar="W", help="only this worker's runs: its slug (v2: or owner~name)"
    )
    listing.add_argument(
        "--max-runs", type=_count, metavar="N", help="stop after this many runs (the newest)"
    )
    listing.set_defaults(handler=_cmd_list)

    results = _api_command(
        commands,
        "results",
        help="fetch the scraped rows of runs into Parquet or CSV",
        description="Fetch every scraped row of the runs in SLUGS: run_slug first, then the "
        "worker's columns.",
    )
    _add_slugs(results)
    results.add_argument(
        "--data-id",
        action="store_true",
        help="keep CoreClaw's internal row id, __coreclaw_data_id__ (left out by default)",
    )
    results.set_defaults(handler=_cmd_results)

    sync = commands.add_parser(
        "sync",
        help="keep a Parquet file or dataset of Run History up to date",
        description="Bring PATH up to date with Run History: the first sync lists from "
        "--since; later ones list only what is new since shortly before the previous sync, and "
        "refresh the runs that were not final. Nothing stored is ever deleted.",
        epilog=f"{KEY_HELP} {SYNC_EXIT_HELP}",
    )
    sync.add_argument("path", metavar="PATH", help="a .parquet file or a dataset directory")
    sync.add_argument(
        "--since",
        type=_date,
        metavar="DATE",
        help=f"list Run History from this date, e.g. {DATE_EXAMPLE}: required on the first sync; "
        "earlier than the first sync's, it extends the history back",
    )
    sync.add_argument(
        "--partition-by",
        nargs="+",
        metavar="COL",
        help="write a dataset directory partitioned by these columns, e.g. scraper_slug",
    )
    sync.add_argument(
        "--new-key",
        action="store_true",
        help="this account's API key changed: check that the new key reads the stored runs "
        "(a few requests), then sync with it",
    )
    add_api_version(sync)
    sync.set_defaults(handler=_cmd_sync)
