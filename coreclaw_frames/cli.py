"""The `coreclaw-frames` command.

One subcommand per task, each a small `_cmd_<name>(args) -> int` function registered in
`build_parser`, so new subcommands (demo, report, ...) slot in without touching the others.

    coreclaw-frames sandbox --port 8765 [--seed N] [--runs N] [--latency S]
                            [--fault-rate F] [--rate-limit R]
    coreclaw-frames demo [--data-dir data] [--report reports/cost_report.html] [--api-version V]
    coreclaw-frames report runs.parquet -o report.html
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from coreclaw_frames.api.client import API_VERSION_ENV, API_VERSIONS, DEFAULT_API_VERSION
from coreclaw_frames.sandbox import DEFAULT_RUNS, SandboxServer

__all__ = ["build_parser", "main"]

DEFAULT_SANDBOX_PORT = 8765
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
_IDLE_SECONDS = 3600.0
DEMO_PARQUET = "demo_runs.parquet"
#: How many months of the sandbox account's Run History the demo lists.
DEMO_MONTHS = 7
DEMO_TABLE_COLUMNS = [
    "runs",
    "succeeded",
    "failed",
    "success_rate",
    "total_cost",
    "cost_per_1k_results",
]


def _cmd_sandbox(args: argparse.Namespace) -> int:
    """Serve the sandbox until Ctrl-C."""
    try:
        server = SandboxServer(
            port=args.port,
            seed=args.seed,
            runs=args.runs,
            latency=args.latency,
            fault_rate=args.fault_rate,
            rate_limit=args.rate_limit,
        )
    except ValueError as exc:
        print(f"coreclaw-frames sandbox: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with server:
            print(f"CoreClaw sandbox serving at {server.url}", flush=True)
            print(f"API key: {server.api_key}", flush=True)
            print(
                f"{len(server.account)} runs, seed {args.seed}. Press Ctrl-C to stop.", flush=True
            )
            while True:
                time.sleep(_IDLE_SECONDS)
    except OSError as exc:
        print(f"coreclaw-frames sandbox: cannot serve on port {args.port}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("Sandbox stopped.", flush=True)
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    """The main job on the embedded sandbox: list, fetch, Parquet, cost table, report."""
    import coreclaw_frames as ccf
    from coreclaw_frames.sandbox import serve

    with serve(seed=args.seed, runs=args.runs) as srv:
        print(f"Sandbox serving {args.runs} runs at {srv.url}", flush=True)
        # The synthetic account's history covers the half year before its clock.
        since = pd.Timestamp(srv.account.now, unit="s") - pd.DateOffset(months=DEMO_MONTHS)
        with ccf.Client(
            api_key=srv.api_key,
            base_url=srv.url,
            api_version=args.api_version,
            max_workers=16,
        ) as client:
            listed = ccf.list_runs(since=since.replace(day=1).normalize(), client=client)
            print(f"Run History lists {len(listed)} runs; fetching their details", flush=True)
            runs = ccf.fetch_runs(listed["slug"], client=client)
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    parquet = ccf.to_parquet(runs, data_dir / DEMO_PARQUET)
    costs = runs.coreclaw.summary()[DEMO_TABLE_COLUMNS]
    total = runs["usage"].sum()
    print(f"\nCost per worker (USD, exact; total {total:.2f} over {len(runs)} runs):")
    formatters = {"total_cost": _usd, "cost_per_1k_results": _usd, "success_rate": _percent}
    print(costs.to_string(formatters=formatters))
    report = ccf.cost_report(runs, args.report)
    print(f"\nRuns:   {parquet}\nReport: {report}")
    return EXIT_OK


def _usd(value: object) -> str:
    return "-" if pd.isna(value) else f"{value:,.4f}"


def _percent(value: object) -> str:
    return "-" if pd.isna(value) else f"{value:.1%}"


def _cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML cost report of a run frame saved as Parquet."""
    import coreclaw_frames as ccf

    try:
        runs = ccf.read_parquet(args.parquet)
    except (OSError, ValueError, TypeError, ccf.CoreClawError) as exc:
        print(f"coreclaw-frames report: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(ccf.cost_report(runs, args.output))
    return EXIT_OK


def _add_api_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-version",
        choices=API_VERSIONS,
        default=None,
        help=f"CoreClaw API version (default: ${API_VERSION_ENV}, then {DEFAULT_API_VERSION})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand.

    Example:
        >>> build_parser().parse_args(["sandbox", "--port", "0"]).port
        0
    """
    parser = argparse.ArgumentParser(
        prog="coreclaw-frames",
        description="CoreClaw run data as typed pandas DataFrames.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    sandbox = commands.add_parser(
        "sandbox",
        help="serve a local CoreClaw-compatible API with a synthetic account",
        description="Serve the CoreClaw-compatible sandbox (API v1 and v2) on loopback until "
        "Ctrl-C.",
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
    _add_api_version(demo)
    demo.set_defaults(handler=_cmd_demo)

    report = commands.add_parser(
        "report",
        help="write the HTML cost report of a Parquet file of runs",
        description="Write a self-contained HTML cost report from runs saved with to_parquet.",
    )
    report.add_argument("parquet", help="a Parquet file or dataset written by to_parquet")
    report.add_argument("-o", "--output", default="cost_report.html", help="the report's path")
    report.set_defaults(handler=_cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Example:
        >>> main(["sandbox", "--fault-rate", "2"])
        2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    status: int = args.handler(args)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
