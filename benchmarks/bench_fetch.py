"""fetch_runs against the sandbox: concurrency speed-up, rate-limit pacing, frame building.

Run: ``.venv/bin/python benchmarks/bench_fetch.py`` (or ``make bench``). Every figure is a ratio
against a baseline measured in the same run, so a busy machine moves both sides.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pandas as pd
from coreclaw import CoreClawClient

sys.path.insert(0, str(Path(__file__).parent))

from _common import report, sandbox_process, timed

import coreclaw_frames as ccf
from coreclaw_frames.sandbox import build_account, serve
from coreclaw_frames.schema import records_to_frame

LATENCY = 0.050
SPEEDUP_RUNS = 240
RATE = 50.0
RATE_RUNS = 400
FRAME_RECORDS = 1_000_000


def sequential_loop(url: str, key: str, slugs: list[str]) -> pd.DataFrame:
    """What users do today: one SDK call after another, dicts pasted into a DataFrame."""
    with CoreClawClient(api_key=key, base_url=url) as sdk:
        return pd.DataFrame([sdk.post("run/detail", {"run_slug": s}) for s in slugs])


def bench_speedup() -> None:
    slugs = [r["slug"] for r in build_account(seed=0, runs=SPEEDUP_RUNS).runs]
    with sandbox_process("--runs", str(SPEEDUP_RUNS), "--latency", str(LATENCY)) as (url, key):
        loop_time, _ = timed(lambda: sequential_loop(url, key, slugs))
        with ccf.Client(api_key=key, base_url=url, max_workers=16) as client:
            ours, df = timed(lambda: ccf.fetch_runs(slugs, client=client, progress=False), repeat=3)
    assert df["fetch_error"].isna().all()
    print(
        f"# {SPEEDUP_RUNS} runs at {LATENCY * 1000:.0f} ms latency: sequential SDK loop "
        f"{loop_time:.2f}s, fetch_runs(max_workers=16) {ours:.2f}s"
    )
    report("speed-up over a sequential loop (x)", loop_time / ours, ">= 14", loop_time / ours >= 14)


def bench_rate_limit() -> None:
    with serve(runs=RATE_RUNS, rate_limit=RATE) as srv:
        slugs = [r["slug"] for r in srv.account.runs]
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, max_workers=16) as client:
            elapsed, df = timed(lambda: ccf.fetch_runs(slugs, client=client, progress=False))
        rejected = srv.counters.rejected
    floor = RATE_RUNS / RATE
    lost = int(df["fetch_error"].notna().sum()) + RATE_RUNS - len(df)
    print(
        f"# {RATE_RUNS} runs, server limit {RATE:.0f} req/s: {elapsed:.2f}s, floor N/R "
        f"{floor:.2f}s, {rejected} requests rejected by the server, {lost} runs lost"
    )
    report(
        "time / (N/R) under a server rate limit",
        elapsed / floor,
        "<= 1.2",
        elapsed / floor <= 1.2 and lost == 0,
    )


def bench_frame_build() -> None:
    account = build_account(seed=1, runs=20_000)
    rng = random.Random(0)
    records = [dict(rng.choice(account.runs)) for _ in range(FRAME_RECORDS)]
    bare, _ = timed(lambda: pd.DataFrame(records), repeat=2)
    typed, df = timed(lambda: records_to_frame(records), repeat=2)
    per_run = df.memory_usage(deep=True).sum() / len(df)
    print(
        f"# {FRAME_RECORDS:,} records: pd.DataFrame(records) {bare:.2f}s (untyped), "
        f"records_to_frame {typed:.2f}s (typed), {per_run:.0f} bytes per run"
    )
    report(
        "typed frame build time / bare pd.DataFrame(records)",
        typed / bare,
        "<= 1.0",
        typed / bare <= 1.0,
    )


if __name__ == "__main__":
    bench_speedup()
    bench_rate_limit()
    bench_frame_build()
