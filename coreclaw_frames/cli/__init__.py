"""The `coreclaw-frames` command.

One subcommand per task, each a small `_cmd_<name>(args) -> int` function; `_fetching` holds
those that talk to the API, `_local` those that need no account, `_outlook` the month's outlook
(and the budget and balance options `report` shares), `_results_store` the bulk results
store, `_slugs` and `_output` read
SLUGS and write `-o`, `_common` what they share (exit statuses, one-line errors, the client).

    coreclaw-frames fetch SLUGS -o runs.parquet [--column C] [--merge] [--api-version V]
    coreclaw-frames list [--since D] [--until D] [--status S] [--worker W] [--max-runs N]
                         -o runs.parquet [--merge] [--api-version V]
    coreclaw-frames results SLUGS -o rows.parquet [--column C] [--data-id] [--merge]
                            [--api-version V]
    coreclaw-frames sync PATH [--since D] [--partition-by COL ...] [--new-key] [--api-version V]
    coreclaw-frames sync-results PATH SOURCE [--fields A,B] [--column C] [--api-version V]
    coreclaw-frames sandbox --port 8765 [--seed N] [--runs N] [--latency S]
                            [--fault-rate F] [--rate-limit R] [--max-results N]
                            [--drift-runs N]
    coreclaw-frames demo [--data-dir data] [--report reports/cost_report.html] [--api-version V]
    coreclaw-frames report runs.parquet -o report.html [--budget USD] [--balance] [--now TIME]
    coreclaw-frames outlook runs.parquet [--budget USD] [--balance] [--now TIME]

Every error is one line on stderr, ``coreclaw-frames <command>: <message>``, never a
traceback; the exit status is 0 (done), 1 (failed rows, or the batch could not run), 2 (bad
usage or input, nothing written), 3 (``outlook``: over the budget) or 130 (Ctrl-C).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from coreclaw_frames import __version__
from coreclaw_frames.cli import _fetching, _local, _outlook, _results_store
from coreclaw_frames.cli._common import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OVER_BUDGET,
    EXIT_USAGE,
    KEY_HELP,
    PROG,
    CommandError,
    Parser,
    one_line,
)

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OVER_BUDGET",
    "EXIT_USAGE",
    "build_parser",
    "main",
]


def build_parser() -> Parser:
    """The argument parser with every subcommand.

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> build_parser().parse_args(["sandbox", "--port", "0"]).port
    0
    """
    parser = Parser(
        prog=PROG,
        description="CoreClaw run data as typed pandas DataFrames.",
        epilog=KEY_HELP,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _fetching.register(commands)
    _local.register(commands)
    _outlook.register(commands)
    _results_store.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line: what ``coreclaw-frames`` and ``python -m coreclaw_frames.cli`` do.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program's name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 everything done, 1 done but some rows failed (or nothing could be
        fetched), 2 bad usage or input (nothing sent, nothing written), 3 the month's spend is
        projected over ``--budget`` (``outlook``), 130 interrupted.

    Examples
    --------
    >>> main(["sandbox", "--fault-rate", "2"])
    2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    prog = f"{PROG} {args.command}"
    try:
        status: int = args.handler(args)
    except CommandError as exc:
        print(f"{prog}: {one_line(exc)}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: still one line, never a traceback
        print(f"{prog}: unexpected error: {type(exc).__name__}: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    return status
