"""The subcommands that need no account: ``sandbox``, ``demo`` and ``report``."""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path
from typing import Any

import pandas as pd

import coreclaw_frames as ccf
from coreclaw_frames.api._client import API_KEY_ENV, BASE_URL_ENV
from coreclaw_frames.cli._common import (
    EXIT_OK,
    CommandError,
    UsageError,
    add_api_version,
    make_client,
)
from coreclaw_frames.cli._outlook import add_money_options, add_now, balance_from_api, read_runs
from coreclaw_frames.display import usd, usd_exact
from coreclaw_frames.sandbox import DEFAULT_RUNS, SandboxServer, build_account, serve

__all__ = ["DEFAULT_SANDBOX_PORT", "register"]

DEFAULT_SANDBOX_PORT = 8765
_IDLE_SECONDS = 3600.0
DEMO_PARQUET = "demo_runs.parquet"
#: How many months of the sandbox account's Run History the demo lists.
DEMO_MONTHS = 7
#: Threads the demo's client fetches with.
DEMO_WORKERS = 16
#: Characters a line of the demo's cost table may take (wider than a default terminal's 80).
DEMO_WIDTH = 120
DEMO_TABLE_COLUMNS = [
    "runs",
    "succeeded",
    "failed",
    "success_rate",
    "total_cost",
    "cost_per_1k_results",
]
DEMO_MONTH_COLUMNS = ["runs", "total_cost", "failed_cost", "aborted_cost", "in_progress_cost"]


def _cmd_sandbox(args: argparse.Namespace) -> int:
    """Serve the sandbox until Ctrl-C; stdout starts with the ``export`` lines for a shell."""
    try:
        # The account's history ends now, as the demo's and the notebooks' do: a sync or a
        # listing --since a recent date finds runs.
        account = build_account(
            seed=args.seed,
            runs=args.runs,
            now=int(time.time()),
            max_results=args.max_results,
            drift_runs=args.drift_runs,
        )
        server = SandboxServer(
            port=args.port,
            seed=args.seed,
            account=account,
            latency=args.latency,
            fault_rate=args.fault_rate,
            rate_limit=args.rate_limit,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    try:
        with server:
            print(f"export {BASE_URL_ENV}={shlex.quote(server.url)}", flush=True)
            print(f"export {API_KEY_ENV}={shlex.quote(server.api_key)}", flush=True)
            print(
                f"# CoreClaw sandbox: {len(server.account)} runs, seed {args.seed}, API v1 and "
                "v2. Paste the lines above into a shell; Ctrl-C stops it.",
                flush=True,
            )
            while True:
                time.sleep(_IDLE_SECONDS)
    except OSError as exc:
        raise CommandError(f"cannot serve on port {args.port}: {exc}") from exc
    except KeyboardInterrupt:
        print("# Sandbox stopped.", flush=True)
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    """The main job on the embedded sandbox: list, fetch, Parquet, cost tables, report."""
    # The account's history ends now, so the current month in the report is really current.
    account = build_account(seed=args.seed, runs=args.runs, now=int(time.time()))
    with serve(account=account) as srv:
        print(f"Sandbox serving {args.runs} runs at {srv.url}", flush=True)
        # The synthetic account's history covers the half year before its clock.
        since = pd.Timestamp(srv.account.now, unit="s") - pd.DateOffset(months=DEMO_MONTHS)
        with make_client(
            api_key=srv.api_key,
            base_url=srv.url,
            api_version=args.api_version,
            max_workers=DEMO_WORKERS,
        ) as client:
            listed = ccf.list_runs(since=since.replace(day=1).normalize(), client=client)
            print(f"Run History lists {len(listed)} runs; fetching their details", flush=True)
            runs = ccf.fetch_runs(listed["slug"], client=client)
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    parquet = ccf.to_parquet(runs, data_dir / DEMO_PARQUET)
    costs = runs.coreclaw.summary()[DEMO_TABLE_COLUMNS]
    months = runs.coreclaw.period_totals()[DEMO_MONTH_COLUMNS]
    total = runs["usage"].sum()
    with pd.option_context("display.width", DEMO_WIDTH, "display.max_columns", None):
        print(
            f"\nCost per month (the last one is not over; {usd(total)} in all, exactly "
            f"{usd_exact(total)}):"
        )
        print(months)
        print(f"\nCost per worker ({len(runs):,} runs):")
        print(costs)
    report = ccf.cost_report(runs, args.report)
    print(f"\nRuns:   {parquet}\nReport: {report}")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML cost report of a run frame saved as Parquet (by ``fetch`` or ``list``)."""
    runs = read_runs(args.parquet)
    info = balance_from_api(args)
    try:
        print(ccf.cost_report(runs, args.output, now=args.now, balance=info, budget=args.budget))
    except OSError as exc:
        raise CommandError(f"cannot write {args.output}: {exc}") from exc
    return EXIT_OK


def register(commands: Any) -> None:
    """Add ``sandbox``, ``demo`` and ``report`` to the subparsers ``commands``."""
    sandbox = commands.add_parser(
        "sandbox",
        help="serve a local CoreClaw-compatible API with a synthetic account",
        description="Serve the CoreClaw-compatible sandbox (API v1 and v2) on loopback until "
        "Ctrl-C. The first lines are 'export ...' lines to paste into a shell.",
    )
    sandbox.add_argument(
        "--port", type=int, default=DEFAULT_SANDBOX_PORT, help="TCP port (0: any free port)"
    )
    sandbox.add_argument("--seed", type=int, default=0, help="seed of the synthetic account")
    sandbox.add_argument(
        "--runs", type=int, default=DEFAULT_RUNS, help="number of runs in the account"
    )
    sandbox.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    sandbox.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="share of requests, 0 to 1, that fail transiently",
    )
    sandbox.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        help="requests per second allowed (default: unlimited)",
    )
    sandbox.add_argument(
        "--max-results",
        type=int,
        default=None,
        metavar="N",
        help="succeeded runs hold 0 to N scraped rows (default: a few hundred at most); "
        "e.g. 5000 to try sync-results on big runs",
    )
    sandbox.add_argument(
        "--drift-runs",
        type=int,
        default=0,
        metavar="N",
        help="add a worker whose row keys change type between versions, with N runs",
    )
    sandbox.set_defaults(handler=_cmd_sandbox)

    demo = commands.add_parser(
        "demo",
        help="run the main job on the embedded sandbox",
        description="List and fetch the sandbox's runs, write them to Parquet, print the "
        "per-worker cost table and write the HTML cost report.",
    )
    demo.add_argument("--data-dir", default="data", help="where demo_runs.parquet goes")
    demo.add_argument("--report", default="reports/cost_report.html", help="the report's path")
    demo.add_argument("--seed", type=int, default=0, help="seed of the synthetic account")
    demo.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="runs in the account")
    add_api_version(demo)
    demo.set_defaults(handler=_cmd_demo)

    report = commands.add_parser(
        "report",
        help="write the HTML cost report of a Parquet file of runs",
        description="Write a self-contained HTML cost report from runs saved by fetch, list "
        "or to_parquet. Its outlook shows the runway with --balance and the budget's status "
        "with --budget.",
    )
    report.add_argument("parquet", help="a Parquet file or dataset of runs")
    report.add_argument("-o", "--output", default="cost_report.html", help="the report's path")
    add_money_options(report)
    add_now(report)
    report.set_defaults(handler=_cmd_report)
