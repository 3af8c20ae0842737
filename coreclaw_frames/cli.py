"""The `coreclaw-frames` command.

One subcommand per task, each a small `_cmd_<name>(args) -> int` function registered in
`build_parser`, so new subcommands (demo, report, ...) slot in without touching the others.

    coreclaw-frames sandbox --port 8765 [--seed N] [--runs N] [--latency S]
                            [--fault-rate F] [--rate-limit R]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from coreclaw_frames.sandbox import DEFAULT_RUNS, SandboxServer

__all__ = ["build_parser", "main"]

DEFAULT_SANDBOX_PORT = 8765
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
_IDLE_SECONDS = 3600.0


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
        description="Serve the CoreClaw-v1-compatible sandbox on loopback until Ctrl-C.",
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
