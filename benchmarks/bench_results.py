"""Bulk results: ``sync_results`` against CoreClaw's documented export recipe and ``fetch_results``.

2,000 runs holding 0 to 5,000 rows each (about a million rows in all) on a sandbox in its own
process, 50 ms a request (API and storage host alike), API v2. Measured in one run:

1. CoreClaw's recipe ("How to export data", bulk export of multiple runs) done by hand, as its
   docs describe it, sequentially: per final run, one export request, one download of the
   JSON-lines file to disk, progress saved after each; then the files merged locally into one
   Parquet file with the run id as a column.
2. ``fetch_results`` of the same runs (in its own process, for its peak memory), against the
   frame it returns.
3. ``sync_results`` of the same runs into an empty store (in its own process, for its peak
   memory), then a rerun with everything stored.
4. The API requests per run of the runs with more than one page of rows, from a sync of those
   runs alone.

Run: ``.venv/bin/python benchmarks/bench_results.py`` (or ``make bench``); ``--runs N`` for a
smaller account.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pandas as pd
import requests
from _common import report

import coreclaw_frames as ccf
from coreclaw_frames.analysis._frame import final_mask

LATENCY = 0.05
MAX_RESULTS = 5000
PAGE = 100

SANDBOX = """
import sys, coreclaw_frames.sandbox as sb
runs, most, latency = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
with sb.serve(runs=runs, max_results=most, latency=latency) as srv:
    print(srv.url, srv.api_key, flush=True)
    sys.stdin.read()
"""

#: Run in a fresh process: the named call, its time, peak RSS and what it returned (Linux).
MEASURED = """
import json, sys, time
import pandas as pd, coreclaw_frames as ccf

def peak_rss():  # the process's own high-water mark (ru_maxrss would count the parent's too)
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024

what, url, key, frame_file, store = sys.argv[1:6]
frame = pd.read_pickle(frame_file)
rss_before = peak_rss()
with ccf.Client(base_url=url, api_key=key) as client:
    started = time.perf_counter()
    if what == "fetch_results":
        rows = ccf.fetch_results(frame["slug"], client=client, progress=False)
        seconds = time.perf_counter() - started
        out = {"rows": len(rows), "frame_bytes": int(rows.memory_usage(deep=True).sum())}
    else:
        summary = ccf.sync_results(store, frame, client=client, progress=False)
        seconds = time.perf_counter() - started
        out = {"rows": summary.rows_added, "runs": summary.runs_added}
    out.update(seconds=seconds, requests=client.requests_sent, downloads=client.downloads_sent)
out["rss_before"] = rss_before
out["rss_peak"] = peak_rss()
print(json.dumps(out))
"""


def measured(what: str, url: str, key: str, frame_file: Path, store: Path) -> dict:
    command = [sys.executable, "-c", MEASURED, what, url, key, str(frame_file), str(store)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def recipe(frame: pd.DataFrame, url: str, key: str, work: Path) -> tuple[float, int]:
    """CoreClaw's documented bulk export, by hand: export, download, save progress; merge."""
    started = time.perf_counter()
    session = requests.Session()
    headers = {"Authorization": f"Bearer {key}"}
    files = work / "exports"
    files.mkdir()
    progress = work / "progress.txt"
    done = set()
    for slug in frame["slug"]:
        if slug in done:
            continue
        answer = session.get(
            f"{url}/api/v2/worker-runs/{slug}/result/export",
            params={"format": "jsonl"},
            headers=headers,
            timeout=60,
        )
        answer.raise_for_status()
        link = answer.json()["data"]["download_url"]
        with requests.get(link, stream=True, timeout=300) as download:
            download.raise_for_status()
            with open(files / f"{slug}.jsonl", "wb") as sink:
                for chunk in download.iter_content(1 << 20):
                    sink.write(chunk)
        with open(progress, "a") as saved:
            saved.write(slug + "\n")
        done.add(slug)
    parts = []
    for file in sorted(files.iterdir()):
        if file.stat().st_size:
            part = pd.read_json(file, lines=True)
            part.insert(0, "run_id", file.stem)
            parts.append(part)
    merged = pd.concat(parts, ignore_index=True)
    merged.astype({c: str for c in merged.columns if merged[c].dtype == object}).to_parquet(
        work / "merged.parquet"
    )
    return time.perf_counter() - started, len(merged)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SANDBOX, str(args.runs), str(MAX_RESULTS), str(LATENCY)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url, key = server.stdout.readline().split()
        run(args.runs, url, key)
    finally:
        server.terminate()
        server.wait(timeout=10)


def run(runs: int, url: str, key: str) -> None:
    with ccf.Client(base_url=url, api_key=key, api_version="v1") as lister:
        frame = ccf.list_runs(client=lister, progress=False)
    frame = frame[final_mask(frame)].reset_index(drop=True)
    rows = int(frame["results"].sum())
    big = frame[frame["results"] > PAGE]
    print(
        f"{runs:,} runs, {len(frame):,} final, {rows:,} rows ({len(big):,} runs over {PAGE} rows); "
        f"{LATENCY * 1000:.0f} ms a request; API v2"
    )
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        frame_file = work / "frame.pkl"
        frame.to_pickle(frame_file)
        big.to_pickle(work / "big.pkl")

        recipe_seconds, recipe_rows = recipe(frame, url, key, work)
        print(f"  recipe by hand: {recipe_seconds:.1f} s, {recipe_rows:,} rows")

        fetched = measured("fetch_results", url, key, frame_file, work / "unused")
        print(
            f"  fetch_results: {fetched['seconds']:.1f} s, {fetched['requests']:,} requests, "
            f"frame {fetched['frame_bytes'] / 2**20:.0f} MB, peak RSS "
            f"{fetched['rss_peak'] / 2**20:.0f} MB (from {fetched['rss_before'] / 2**20:.0f} MB)"
        )

        synced = measured("sync_results", url, key, frame_file, work / "store")
        print(
            f"  sync_results: {synced['seconds']:.1f} s, {synced['requests']:,} requests, "
            f"{synced['downloads']:,} downloads, {synced['rows']:,} rows, peak RSS "
            f"{synced['rss_peak'] / 2**20:.0f} MB"
        )
        again = measured("sync_results", url, key, frame_file, work / "store")
        print(f"  rerun: {again['seconds']:.2f} s, {again['requests']} requests")

        only_big = measured("sync_results", url, key, work / "big.pkl", work / "big-store")
        per_run = only_big["requests"] / max(1, only_big["runs"])

    assert synced["rows"] == recipe_rows == rows == fetched["rows"], "row counts differ"
    speedup = recipe_seconds / synced["seconds"]
    report("sync_results vs the export recipe by hand (x faster)", speedup, ">= 12x", speedup >= 12)
    versus_fetch = fetched["seconds"] / synced["seconds"]
    report("sync_results vs fetch_results (x faster)", versus_fetch, "reported", True)
    fewer = fetched["requests"] / max(1, synced["requests"])
    report("fetch_results requests / sync_results requests", fewer, "reported", True)
    report(f"API requests per run over {PAGE} rows (+1 download)", per_run, "<= 2", per_run <= 2)
    report("rerun: requests", again["requests"], "0", again["requests"] == 0)
    report("rerun: seconds", again["seconds"], "reported", True)
    peak = synced["rss_peak"] / 2**20
    report("sync_results peak RSS (MB)", peak, "<= 400", peak <= 400)
    growth = (fetched["rss_peak"] - fetched["rss_before"]) / fetched["frame_bytes"]
    report("fetch_results peak RSS growth / frame size", growth, "<= 2x", growth <= 2)
    whole = fetched["rss_peak"] / fetched["frame_bytes"]
    report("fetch_results whole peak RSS / frame size", whole, "reported", True)


if __name__ == "__main__":
    main()
