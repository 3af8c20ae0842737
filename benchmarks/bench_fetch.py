"""fetch_runs against the sandbox: concurrency speed-up, rate-limit pacing, frame building.

Run: ``.venv/bin/python benchmarks/bench_fetch.py`` (or ``make bench``). Every figure is a ratio
against a baseline measured in the same run, so a busy machine moves both sides. The fetch
figures are measured for both API versions; v1's baseline is the official SDK, v2's the same
loop written with httpx (the SDK's HTTP library), since the SDK speaks only v1.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import httpx
import pandas as pd
from coreclaw import CoreClawClient

sys.path.insert(0, str(Path(__file__).parent))

from _common import report, sandbox_process, timed

import coreclaw_frames as ccf
from coreclaw_frames._records import records_to_frame
from coreclaw_frames.api._v2 import V2
from coreclaw_frames.sandbox import build_account, serve, v2_run_record

LATENCY = 0.050
SPEEDUP_RUNS = 240
RATE = 50.0
RATE_RUNS = 400
FRAME_RECORDS = 1_000_000
SCATTERED_RUNS = 600
SCATTERED_SHARE = 0.05


def sequential_loop(url: str, key: str, slugs: list[str], api_version: str) -> pd.DataFrame:
    """What users do today: one call after another, dicts pasted into a DataFrame."""
    if api_version == "v1":
        with CoreClawClient(api_key=key, base_url=url) as sdk:
            return pd.DataFrame([sdk.post("run/detail", {"run_slug": s}) for s in slugs])
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"{url}/api/v2", headers=headers) as http:
        return pd.DataFrame([http.get(f"/worker-runs/{s}").json()["data"] for s in slugs])


def slugs_served(url: str, key: str) -> list[str]:
    """Every run slug a sandbox process serves (its account's history ends when it starts)."""
    with ccf.Client(api_key=key, base_url=url, api_version="v1", max_workers=16) as client:
        return list(ccf.list_runs(client=client, progress=False)["slug"])


def bench_speedup(api_version: str) -> None:
    with sandbox_process("--runs", str(SPEEDUP_RUNS), "--latency", str(LATENCY)) as (url, key):
        slugs = slugs_served(url, key)
        assert len(slugs) == SPEEDUP_RUNS
        loop_time, _ = timed(lambda: sequential_loop(url, key, slugs, api_version))
        with ccf.Client(
            api_key=key, base_url=url, api_version=api_version, max_workers=16
        ) as client:
            ours, df = timed(lambda: ccf.fetch_runs(slugs, client=client, progress=False), repeat=3)
    assert df["fetch_error"].isna().all()
    print(
        f"# API {api_version}, {SPEEDUP_RUNS} runs at {LATENCY * 1000:.0f} ms latency: "
        f"sequential loop {loop_time:.2f}s, fetch_runs(max_workers=16) {ours:.2f}s"
    )
    report(
        f"{api_version}: speed-up over a sequential loop (x)",
        loop_time / ours,
        ">= 14",
        loop_time / ours >= 14,
    )


def bench_rate_limit(api_version: str) -> None:
    with serve(runs=RATE_RUNS, rate_limit=RATE) as srv:
        slugs = [r["slug"] for r in srv.account.runs]
        with ccf.Client(
            api_key=srv.api_key, base_url=srv.url, api_version=api_version, max_workers=16
        ) as client:
            elapsed, df = timed(lambda: ccf.fetch_runs(slugs, client=client, progress=False))
        rejected = srv.counters.rejected
    floor = RATE_RUNS / RATE
    lost = int(df["fetch_error"].notna().sum()) + RATE_RUNS - len(df)
    print(
        f"# API {api_version}, {RATE_RUNS} runs, server limit {RATE:.0f} req/s: "
        f"{elapsed:.2f}s, floor N/R {floor:.2f}s, {rejected} requests rejected by the server, "
        f"{lost} runs lost"
    )
    report(
        f"{api_version}: time / (N/R) under a server rate limit",
        elapsed / floor,
        "<= 1.2",
        elapsed / floor <= 1.2 and lost == 0,
    )


def bench_scattered_rate_limits() -> None:
    """Single rate-limit answers scattered over a batch must slow only their own requests."""

    def batch(fault_rate: float) -> tuple[float, int]:
        with serve(
            runs=SCATTERED_RUNS,
            latency=0.02,
            fault_rate=fault_rate,
            faults=("code_4290",),
            max_consecutive_faults=1,
        ) as srv:
            slugs = [r["slug"] for r in srv.account.runs]
            with ccf.Client(api_key=srv.api_key, base_url=srv.url, max_workers=16) as client:
                elapsed, df = timed(lambda: ccf.fetch_runs(slugs, client=client, progress=False))
            assert df["fetch_error"].isna().all()
            return elapsed, srv.counters.faults["code_4290"]

    clean, _ = batch(0.0)
    scattered, faults = batch(SCATTERED_SHARE)
    print(
        f"# {SCATTERED_RUNS} runs at 20 ms, {faults} scattered single rate-limit answers "
        f"({SCATTERED_SHARE:.0%}): {scattered:.2f}s against {clean:.2f}s without them"
    )
    report(
        "scattered rate-limit answers: time / time without them",
        scattered / clean,
        "<= 1.3",
        scattered / clean <= 1.3,
    )


def bench_frame_build() -> None:
    account = build_account(seed=1, runs=20_000)
    rng = random.Random(0)
    wire = [v2_run_record(account, r) for r in account.runs]
    records = [V2.canonical_run(rng.choice(wire)) for _ in range(FRAME_RECORDS)]
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
    for version in ("v1", "v2"):
        bench_speedup(version)
        bench_rate_limit(version)
    bench_scattered_rate_limits()
    bench_frame_build()
