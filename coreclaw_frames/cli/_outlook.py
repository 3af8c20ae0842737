"""The ``outlook`` subcommand, and the ``--budget`` and ``--balance`` options ``report`` shares.

``outlook PATH`` prints where this month's spend is heading and exits 3 when the projection
(or the spend so far) exceeds ``--budget``, so that cron or CI can alert. ``--balance`` asks
the API for the account's balance and its expiry (the key from ``$CORECLAW_API_KEY``), after
everything local has been checked: a bad file or date costs no request.
"""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd

import coreclaw_frames as ccf
from coreclaw_frames.analysis._frame import check_now
from coreclaw_frames.cli._common import (
    EXIT_OK,
    KEY_HELP,
    OverBudgetError,
    UsageError,
    add_api_version,
    api_client,
    library_errors,
)
from coreclaw_frames.display import usd

__all__ = ["add_money_options", "add_now", "balance_from_api", "read_runs", "register"]

EXIT_HELP = (
    "Exit status: 0 within the budget (or none given); 3 the month's spend is projected above "
    "--budget, or is above it already; 1 the balance could not be fetched; 2 bad usage or "
    "input; 130 interrupted."
)
BUDGET_EXAMPLE = "2500"


def _budget(text: str) -> Decimal:
    """A ``--budget`` value: dollars, a number >= 0 (read exactly, never as a float)."""
    try:
        amount = Decimal(text.strip().removeprefix("$").replace(",", ""))
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        raise argparse.ArgumentTypeError(
            f"expected dollars, a number >= 0 (e.g. {BUDGET_EXAMPLE}), got {text!r}"
        )
    return amount


def _now(text: str) -> pd.Timestamp:
    """A ``--now`` value: a time (naive is UTC) or unix seconds."""
    try:
        return check_now(float(text) if text.strip().isdigit() else text, "--now")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (expected e.g. 2026-03-16T12:00)"
        ) from exc


def add_money_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--budget USD``, ``--balance`` and ``--api-version`` (for the balance)."""
    parser.add_argument(
        "--budget",
        type=_budget,
        metavar="USD",
        help=f"the month's budget in dollars, e.g. {BUDGET_EXAMPLE}",
    )
    parser.add_argument(
        "--balance",
        action="store_true",
        help="ask the API for the account's balance and its expiry, for the runway "
        "(needs $CORECLAW_API_KEY)",
    )
    add_api_version(parser)


def add_now(parser: argparse.ArgumentParser) -> None:
    """Add ``--now TIME``, the clock."""
    parser.add_argument(
        "--now",
        type=_now,
        metavar="TIME",
        help="the clock, a time (naive is UTC) or unix seconds: the month holding it is the "
        "one projected (default: the current time)",
    )


def read_runs(path: str) -> pd.DataFrame:
    """The run frame of a Parquet file or dataset; a usage error when it cannot be read."""
    try:
        return ccf.read_parquet(path)
    except (OSError, ValueError, TypeError, ccf.CoreClawError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc


def balance_from_api(args: argparse.Namespace) -> ccf.AccountInfo | None:
    """The account's balance and expiry when ``--balance`` was given, else None."""
    if not args.balance:
        return None
    with api_client(args) as client, library_errors():
        return ccf.account_info(client=client)


def _cmd_outlook(args: argparse.Namespace) -> int:
    """Print the month's outlook; exit 3 when it is over the budget."""
    runs = read_runs(args.path)
    info = balance_from_api(args)
    with library_errors():
        outlook = ccf.spend_outlook(runs, now=args.now, balance=info, budget=args.budget)
    print(outlook)
    if outlook.over_budget:
        spent = outlook.month_to_date
        if outlook.budget is not None and spent > outlook.budget:
            what = f"{usd(spent)} spent already"
        else:
            what = f"{usd(outlook.projected)} projected"
        raise OverBudgetError(
            f"over budget: {what} in {outlook.month}, budget {usd(outlook.budget)}"
        )
    return EXIT_OK


def register(commands: Any) -> None:
    """Add ``outlook`` to the subparsers ``commands``."""
    outlook = commands.add_parser(
        "outlook",
        help="project this month's spend; exit 3 over the budget",
        description="Print this month's spend so far (UTC), its projected total with an 80% "
        "interval, the daily burn, and with --balance the runway of the prepaid balance. "
        "Exits 3 when the projection exceeds --budget, for cron or CI to alert on.",
        epilog=f"{KEY_HELP} {EXIT_HELP}",
    )
    outlook.add_argument("path", metavar="PATH", help="a Parquet file or dataset of runs")
    add_money_options(outlook)
    add_now(outlook)
    outlook.set_defaults(handler=_cmd_outlook)
