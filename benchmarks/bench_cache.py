"""The run cache: a warm batch of 10,000 finished runs against a cold one.

The cold batch fetches from a sandbox in its own process; the warm batch runs after that
server has stopped, so it proves it sends no request for finished runs (it would fail if it
did). Ready and running runs are always fetched again by design, so they are left out.

Run: ``.venv/bin/python benchmarks/bench_cache.py`` (or ``make bench``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import report, sandbox_process, timed

import coreclaw_frames as ccf
from coreclaw_frames.sandbox import build_account

RUNS = 10_000
ACCOUNT_RUNS = 11_500  # enough for 10,000 finished ones


def bench_warm_cache() -> None:
    records = build_account(seed=0, runs=ACCOUNT_RUNS).runs
    final = [r for r in records if r["status"] in (3, 4) or (r["status"] == 5 and r["finished_at"])]
    slugs = [r["slug"] for r in final][:RUNS]
    assert len(slugs) == RUNS
    with tempfile.TemporaryDirectory() as cache_dir:
        with sandbox_process("--runs", str(ACCOUNT_RUNS)) as (url, key):
            with ccf.Client(api_key=key, base_url=url, cache_dir=cache_dir) as client:
                cold, _ = timed(lambda: ccf.fetch_runs(slugs, client=client, progress=False))
        # The server is gone: any request now would fail the batch.
        with ccf.Client(api_key=key, base_url=url, cache_dir=cache_dir, max_retries=0) as client:
            warm, df = timed(lambda: ccf.fetch_runs(slugs, client=client, progress=False), repeat=3)
    assert df["fetch_error"].isna().all() and len(df) == RUNS
    print(
        f"# {RUNS:,} finished runs: cold {cold:.2f}s (sandbox in its own process), warm "
        f"{warm:.3f}s with the server stopped (0 requests)"
    )
    report("warm-cache speed-up over cold (x)", cold / warm, ">= 50", cold / warm >= 50)


if __name__ == "__main__":
    bench_warm_cache()
