"""What every subcommand shares: exit statuses, one-line errors, the API options and client."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from coreclaw_frames._errors import AuthenticationError, CoreClawError, ParquetFormatError
from coreclaw_frames.api._client import (
    API_KEY_ENV,
    API_VERSION_ENV,
    API_VERSIONS,
    BASE_URL_ENV,
    DEFAULT_API_VERSION,
    Client,
)

__all__ = [
    "CSV_SUFFIX",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OVER_BUDGET",
    "EXIT_USAGE",
    "KEY_HELP",
    "PARQUET_SUFFIX",
    "PROG",
    "CommandError",
    "OverBudgetError",
    "Parser",
    "UsageError",
    "add_api_version",
    "api_client",
    "library_errors",
    "make_client",
    "one_line",
]

PROG = "coreclaw-frames"
#: The output formats, told apart by the file name's extension (case-insensitive).
PARQUET_SUFFIX = ".parquet"
CSV_SUFFIX = ".csv"
EXIT_OK = 0
#: Something failed: some rows have ``fetch_error``, or the batch could not run at all.
EXIT_FAILURE = 1
#: Bad usage or input; nothing was written.
EXIT_USAGE = 2
#: The month's spend is projected above the budget (``outlook``): for cron and CI to alert on.
EXIT_OVER_BUDGET = 3
#: The shell's status for a process stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130

KEY_HELP = (
    f"The API key is read from ${API_KEY_ENV} only, never from an option (an option would show "
    f"in ps and in the shell history); ${BASE_URL_ENV} sets the server."
)
MISSING_KEY = (
    f"no API key: set ${API_KEY_ENV} (it is never taken as an option: it would show in ps and "
    "in the shell history)"
)

_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")
#: An unknown option that looks like an attempt to pass the API key.
KEY_OPTION = re.compile(r"unrecognized arguments: .*--(api[-_])?(key|token)\b")


class CommandError(Exception):
    """A subcommand failed: ``main`` prints the message as one line and exits with ``status``."""

    status = EXIT_FAILURE


class UsageError(CommandError):
    """Bad usage or input, refused before anything was written."""

    status = EXIT_USAGE


class OverBudgetError(CommandError):
    """The projection (or the spend so far) exceeds the budget: exit status 3."""

    status = EXIT_OVER_BUDGET


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``coreclaw-frames <command>: <message>``."""

    def error(self, message: str) -> NoReturn:
        if KEY_OPTION.search(message):  # someone tried to pass the key as an option
            message = f"{message}: {MISSING_KEY.partition(': ')[2]}"
        self.exit(EXIT_USAGE, f"{self.prog}: {one_line(message)} (see --help)\n")


def one_line(text: object) -> str:
    """``text`` with its line breaks folded into spaces.

    Examples
    --------
    >>> one_line("first\\n  second\\r\\nthird")
    'first second third'
    """
    return _LINE_BREAKS.sub(" ", str(text).strip())


def add_api_version(parser: argparse.ArgumentParser) -> None:
    """Add ``--api-version`` (default ``$CORECLAW_API_VERSION``, then v2)."""
    parser.add_argument(
        "--api-version",
        choices=API_VERSIONS,
        default=None,
        help=f"CoreClaw API version (default: ${API_VERSION_ENV}, then {DEFAULT_API_VERSION})",
    )


def make_client(**options: Any) -> Client:
    """A :class:`Client`; a setting it refuses (a bad URL or API version) is a usage error."""
    try:
        return Client(**options)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from exc


def api_client(args: argparse.Namespace) -> Client:
    """The client of an API subcommand: the key and URL from the environment only."""
    if not os.environ.get(API_KEY_ENV, "").strip():
        raise UsageError(MISSING_KEY)
    return make_client(api_version=args.api_version)


@contextmanager
def library_errors() -> Iterator[None]:
    """The library's refusals as usage errors; a batch that could not run as a failure."""
    try:
        yield
    except ParquetFormatError as exc:  # the target holds something else: bad input
        raise UsageError(f"{exc}; nothing sent or written") from exc
    except CoreClawError as exc:
        hint = f"; check ${API_KEY_ENV}" if isinstance(exc, AuthenticationError) else ""
        raise CommandError(f"{exc}{hint}; nothing written") from exc
    except (TypeError, ValueError) as exc:  # refused before any request: dates, status, worker
        raise UsageError(str(exc)) from exc
