"""Incremental sync: a daily ``sync_runs`` against the first, and against a full refresh.

A 10,000-run history over six months at 20 ms a request, synced once in full. Then a day
passes (the state file says the first sync began a day ago): 50 new runs arrive and every run
that was open finishes, among them two old ones still running when the first sync read them.
The second sync is measured against the first, and against the plain way to bring a file up to
date, ``list_runs(since=...)`` + ``to_parquet``; a sync right after, with nothing new, is
measured too, and the second sync's time is broken down by step.

The sandbox's accounts hold their ready and running runs (about 5% of all) in the last hour,
which no real account of 10,000 runs over six months does: all but ten are left out here, so
that the day before the second sync holds what an average day does.

The sandbox runs in this process (its account has to change between the syncs); at 20 ms a
request the wait, not the GIL, dominates.

Run: ``.venv/bin/python benchmarks/bench_sync.py`` (or ``make bench``).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import pandas as pd
from _common import report, timed

import coreclaw_frames as ccf
from coreclaw_frames import _sync as sync_module
from coreclaw_frames._sync import state_path
from coreclaw_frames.sandbox import build_account, serve
from coreclaw_frames.sandbox._records import STATUS_RUNNING

RUNS = 10_000
LATENCY = 0.02
DAY = 86_400
#: Runs open (ready, running, being aborted) when the first sync reads the account.
OPEN_NOW = 10
NEW_RUNS = 50
#: The steps of a sync, by the name ``coreclaw_frames._sync`` calls them under.
STEPS = ("read_parquet", "list_runs", "fetch_runs", "merge_runs_into")


@contextmanager
def steps_timed() -> Iterator[dict[str, float]]:
    """Seconds spent in each of STEPS while the block runs."""
    spent: dict[str, float] = defaultdict(float)
    originals = {name: getattr(sync_module, name) for name in STEPS}

    def timing(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed_step(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return timed_step

    for name, function in originals.items():
        setattr(sync_module, name, timing(name, function))
    try:
        yield spent
    finally:
        for name, function in originals.items():
            setattr(sync_module, name, function)


def requests_and_time(client: ccf.Client, step: Callable[[], Any]) -> tuple[int, float, Any]:
    sent = client.requests_sent
    seconds, result = timed(step)
    return client.requests_sent - sent, seconds, result


def account_of_six_months(now: int) -> Any:
    """RUNS runs over the six months before ``now``: ten open in the last hour, two older
    ones still running."""
    old_running = (40, 75)  # days ago
    account = build_account(seed=0, runs=int(RUNS * 1.1), now=now)
    open_runs = [r["slug"] for r in account.runs if not r["finished_at"]]
    account.remove_runs(open_runs[OPEN_NOW:])
    oldest = [r["slug"] for r in account.runs[RUNS - len(old_running) :]]
    account.remove_runs(oldest)
    for days in old_running:
        account.add_run(created_at=now - days * DAY, status=STATUS_RUNNING)
    assert len(account) == RUNS
    return account


def backdate(path: Path, seconds: int) -> None:
    """Make the previous sync of ``path`` look ``seconds`` older."""
    state_file = state_path(path)
    state = json.loads(state_file.read_text())
    state["listed_at"] -= seconds
    state_file.write_text(json.dumps(state))


def bench_sync() -> None:
    now = int(time.time())
    account = account_of_six_months(now)
    since = pd.Timestamp(now - 190 * DAY, unit="s", tz="UTC").floor("D")  # the whole history
    with tempfile.TemporaryDirectory() as directory, serve(account=account, latency=LATENCY) as srv:
        path = Path(directory) / "runs.parquet"
        with ccf.Client(api_key=srv.api_key, base_url=srv.url) as client:

            def sync() -> Any:
                return ccf.sync_runs(path, since=since, client=client, progress=False)

            first_requests, first_time, first = requests_and_time(client, sync)
            open_runs = first[first["finished_at"].isna()]["slug"].tolist()
            backdate(path, DAY)
            account.add_runs(NEW_RUNS)
            account.finish_runs(open_runs)
            with steps_timed() as spent:
                second_requests, second_time, second = requests_and_time(client, sync)
            idle_requests, idle_time, _ = requests_and_time(client, sync)

            plain = Path(directory) / "plain.parquet"

            def refresh() -> Any:
                return ccf.to_parquet(
                    ccf.list_runs(since=since, client=client, progress=False), plain
                )

            refresh_requests, refresh_time, _ = requests_and_time(client, refresh)
    done = second.attrs["sync"]
    print(
        f"# {len(first):,} runs since {since:%Y-%m-%d} at {LATENCY * 1000:.0f} ms a request; a "
        f"day later {NEW_RUNS} new runs, and {len(open_runs)} open ones finished"
    )
    print(f"# first sync:   {first_requests:>4} requests  {first_time:6.2f} s")
    print(
        f"# second sync:  {second_requests:>4} requests  {second_time:6.2f} s  ({done['added']} "
        f"added, {done['updated']} updated, {done['unchanged']:,} unchanged, "
        f"{done['refetched']} by slug)"
    )
    print(f"# nothing new:  {idle_requests:>4} requests  {idle_time:6.2f} s")
    print(f"# full refresh: {refresh_requests:>4} requests  {refresh_time:6.2f} s")
    accounted = sum(spent.values())
    parts = ", ".join(f"{name.strip('_')} {seconds:.2f} s" for name, seconds in spent.items())
    print(f"# second sync's time: {parts}, other {second_time - accounted:.2f} s")
    print(
        f"# second sync against the first: {first_time / second_time:.2f}x faster; against a "
        f"full refresh: {refresh_requests / second_requests:.2f}x fewer requests, "
        f"{refresh_time / second_time:.2f}x faster"
    )
    fewer = first_requests / second_requests
    report("second sync: fewer requests than the first (x)", fewer, ">= 20", fewer >= 20)


if __name__ == "__main__":
    bench_sync()
