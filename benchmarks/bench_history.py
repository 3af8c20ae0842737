"""A history that scales: the same daily sync against histories of 40,000 and 400,000 runs.

Each history is a dataset partitioned by worker (eight workers, about six months: one file per
worker and month), stored as a previous sync left it, with its state file. Then the same day
passes for every size: 50 new runs arrive and the 10 runs that were open finish. The daily
sync runs in a child process of its own (``sync_runs(path, return_frame=False)``, as the
command line's ``sync`` does), against the sandbox serving the account from this process; the
child reports its sync's wall time, requests and peak RSS, and this process counts the data
files the sync wrote (by inode and modification time). Each size is synced ``REPEAT`` times,
each time from the same stored history (hard-linked back in place: a sync never changes a
file, it replaces it), and the median is shown.

The stored histories are written straight from the sandbox account's run frame
(``coreclaw_frames.sandbox.run_frame``) and a state file, rather than synced over HTTP. The
sandbox puts about 5% of an account's runs in its last hour, still open; all but ten are
left out, as a real account's day holds far fewer.

Run: ``.venv/bin/python benchmarks/bench_history.py`` (``--huge`` adds 2,000,000 runs: a few
minutes more, and about 6 GB of memory for the sandbox's account). To time a sync from
outside with ``farm-bench``, serve one history with ``--serve RUNS DIR`` and sync it with
``--sync-once DIR`` (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import report

import coreclaw_frames as ccf
from coreclaw_frames._sync_state import SyncState, new_key_fields, state_path
from coreclaw_frames.sandbox import Account, SandboxServer, build_account, run_frame, serve

SIZES = (40_000, 400_000)
HUGE = 2_000_000
NEW_RUNS = 50
OPEN_RUNS = 10
REPEAT = 3
HOUR, DAY = 3_600, 86_400
#: The targets: time at the largest size against the smallest, and peak memory.
TIME_RATIO_TARGET = 2.5
PEAK_RSS_TARGET_MB = 400
PARTITIONS = ["scraper_slug"]
#: The sandbox's share of open runs, to build an account that keeps the size asked for.
OPEN_SHARE = 0.06


def history(runs: int, now: int) -> Account:
    """An account of ``runs`` runs over the six months before ``now``, ten of them open."""
    account = build_account(seed=0, runs=int(runs / (1 - OPEN_SHARE)), now=now)
    open_runs = [r["slug"] for r in account.runs if not r["finished_at"]]
    account.remove_runs(open_runs[OPEN_RUNS:])
    extra = len(account) - runs
    if extra > 0:  # the oldest
        account.remove_runs([r["slug"] for r in account.runs[-extra:]])
    return account


def store(account: Account, path: Path, client: ccf.Client) -> None:
    """The dataset and state file a sync at the account's clock would leave."""
    frame = run_frame(account, api_version=client.api_version)
    ccf.to_parquet(frame, path, partition_cols=PARTITIONS)
    SyncState(
        base_url=client.base_url,
        api_version=client.api_version,
        since=account.now - 200 * DAY,
        listed_at=account.now,
        synced_at=account.now,
        **new_key_fields(client.key_digest),
    ).save(path)


def a_day_passes(account: Account) -> None:
    """The same day for every size: new runs arrive, the open ones finish."""
    account.add_runs(NEW_RUNS)
    account.finish_runs([r["slug"] for r in account.runs if not r["finished_at"]][NEW_RUNS:])
    account.list_runs(1, 1)  # the server's index of the changed account, built before timing


def copy_history(source: Path, target: Path) -> None:
    """``source`` (a dataset and its state file) at ``target``: hard links, no data copied."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, copy_function=os.link)
    shutil.copy2(state_path(source), state_path(target))


def file_states(path: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(path)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in path.rglob("*.parquet")
    }


def sync_once(path: Path) -> dict[str, Any]:
    """One daily sync in this process (a child of the benchmark): what it did and cost."""
    started = time.perf_counter()
    done = ccf.sync_runs(path, return_frame=False, progress=False)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "requests": done["requests"],
        "peak_mb": peak_rss_mb(),
        "added": done["added"],
        "updated": done["updated"],
        "files_written": done["files_written"],
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory (MiB): the kernel's high-water mark of its own
    memory. ``getrusage`` would report the parent's when this process was started by
    ``vfork`` (as ``subprocess`` does): Linux keeps the larger of the two across ``exec``."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:  # no /proc: getrusage, in KiB on Linux and bytes on macOS
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def child_sync(srv: SandboxServer, path: Path) -> dict[str, Any]:
    """Run :func:`sync_once` in a child process; its figures, with the process's own."""
    env = {**os.environ, "CORECLAW_BASE_URL": srv.url, "CORECLAW_API_KEY": srv.api_key}
    command = [sys.executable, __file__, "--sync-once", str(path)]
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    output = child.stdout.read()
    assert child.wait() == 0, f"the sync failed ({child.returncode})"
    figures = json.loads(output)
    figures["process_seconds"] = time.perf_counter() - started
    return figures


def bench_size(runs: int, directory: Path) -> dict[str, Any]:
    now = int(time.time()) - 2 * HOUR
    built = time.perf_counter()
    account = history(runs, now)
    pristine, work = directory / f"stored-{runs}", directory / f"runs-{runs}"
    with serve(account=account) as srv:
        with ccf.Client(api_key=srv.api_key, base_url=srv.url) as client:
            store(account, pristine, client)
        files = len(file_states(pristine))
        a_day_passes(account)
        setup = time.perf_counter() - built
        results = []
        for _ in range(REPEAT):
            copy_history(pristine, work)
            before = file_states(work)
            figures = child_sync(srv, work)
            after = file_states(work)
            figures["rewritten"] = sum(before.get(name) != state for name, state in after.items())
            assert figures["rewritten"] == figures["files_written"]
            results.append(figures)
    shutil.rmtree(pristine)
    shutil.rmtree(work)
    median = {key: statistics.median(r[key] for r in results) for key in results[0]}
    return {"runs": len(account) - NEW_RUNS, "files": files, "setup": setup, **median}


def bench_history(sizes: tuple[int, ...]) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for runs in sizes:
            rows.append(bench_size(runs, Path(directory)))
    print(
        f"# the same day for each history: {NEW_RUNS} new runs, {OPEN_RUNS} open ones finished; "
        f"a dataset partitioned by worker; median of {REPEAT} syncs, each in its own process"
    )
    print(
        "# history     files  sync s  process s  requests  peak RSS MB  files written  "
        "(added, updated)"
    )
    for row in rows:
        print(
            f"# {row['runs']:>9,}  {row['files']:>6}  {row['seconds']:6.2f}  "
            f"{row['process_seconds']:9.2f}  {row['requests']:>8.0f}  {row['peak_mb']:11.0f}  "
            f"{row['rewritten']:>13.0f}  ({row['added']:.0f}, {row['updated']:.0f});  "
            f"set up in {row['setup']:.0f} s"
        )
    small, large = rows[0], rows[1]
    ratio = large["seconds"] / small["seconds"]
    report(
        f"sync time at {large['runs']:,} against {small['runs']:,} runs (x)",
        ratio,
        f"<= {TIME_RATIO_TARGET}",
        ratio <= TIME_RATIO_TARGET,
    )
    peak = large["peak_mb"]
    report(
        f"peak RSS of the sync at {large['runs']:,} runs (MB)",
        peak,
        f"<= {PEAK_RSS_TARGET_MB}",
        peak <= PEAK_RSS_TARGET_MB,
    )
    for row in rows:
        # New runs go to the current month's file of each worker (or its file of runs not
        # started yet); the finished ones leave that one for it: two files per worker at most.
        bound = 2 * 8
        report(
            f"files written at {row['runs']:,} runs (of {row['files']})",
            row["rewritten"],
            f"<= {bound}",
            row["rewritten"] <= bound,
        )


def serve_history(runs: int, directory: Path) -> None:
    """Serve one history after its day passed, with its stored copy in ``directory``, until
    interrupted; print how to sync it once."""
    account = history(runs, int(time.time()) - 2 * HOUR)
    with serve(account=account) as srv:
        with ccf.Client(api_key=srv.api_key, base_url=srv.url) as client:
            store(account, directory / "stored", client)
        a_day_passes(account)
        print(f"export CORECLAW_BASE_URL={srv.url}", flush=True)
        print(f"export CORECLAW_API_KEY={srv.api_key}", flush=True)
        print(f"# then: {sys.executable} {__file__} --sync-once {directory}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--huge", action="store_true", help=f"add a history of {HUGE:,} runs")
    parser.add_argument("--serve", nargs=2, metavar=("RUNS", "DIR"), help="serve one history")
    parser.add_argument("--sync-once", metavar="PATH", help="sync PATH once, print figures")
    args = parser.parse_args()
    if args.sync_once:
        path = Path(args.sync_once)
        if (path / "stored").is_dir():  # a directory --serve prepared: sync a fresh copy
            copy_history(path / "stored", path / "runs")
            path = path / "runs"
        print(json.dumps(sync_once(path)))
    elif args.serve:
        serve_history(int(args.serve[0]), Path(args.serve[1]))
    else:
        bench_history((*SIZES, HUGE) if args.huge else SIZES)


if __name__ == "__main__":
    main()
