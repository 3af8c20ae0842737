"""Shared helpers for the benchmark scripts: timing and a uniform report line."""

from __future__ import annotations

import contextlib
import gc
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any


def timed(fn: Callable[[], Any], *, repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls of ``fn`` (seconds), and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def report(name: str, value: float, target: str, ok: bool) -> None:
    """Print one result line: name, measured value, target, and whether it was met."""
    print(f"{name:<58} {value:>9.2f}   target {target:<10} {'met' if ok else 'MISSED'}")


@contextlib.contextmanager
def sandbox_process(*args: str) -> Iterator[tuple[str, str]]:
    """Run ``coreclaw-frames sandbox --port 0 ARGS`` in its own process; yield (url, api_key).

    A server in its own process does not compete with the client for the GIL, as a real
    server would not.
    """
    command = [sys.executable, "-m", "coreclaw_frames.cli", "sandbox", "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        # The sandbox prints "export CORECLAW_BASE_URL=..." and "export CORECLAW_API_KEY=...".
        url = process.stdout.readline().strip().partition("=")[2]
        key = process.stdout.readline().strip().partition("=")[2]
        yield url, key
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
