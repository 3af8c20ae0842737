"""Daily syncs over simulated days: across a month's last day and day edges in UTC+8 (where
CoreClaw cuts its months) and in UTC, with long runs started the day before, for both API
versions. The sandbox's clock (the ``Date`` of its answers) is the simulated one; this
machine's clock stays real, as a client's would be against a server in another time."""

from __future__ import annotations

import itertools
import random
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

import coreclaw_frames as ccf
from coreclaw_frames.cli import main
from coreclaw_frames.sandbox import (
    STATUS_RUNNING,
    STATUS_SUCCEEDED,
    SandboxServer,
    build_account,
    run_frame,
    serve,
)

UTC8 = timezone(timedelta(hours=8))
MINUTE, HOUR, DAY = 60, 3600, 86_400


def at(*args: int, tz: timezone = UTC8) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp())


#: When each daily sync runs, by the server's clock.
SCHEDULES = {
    # A month's last day in UTC+8: a first sync on it, one just before and just after midnight.
    "utc8-month-end": [
        at(2026, 1, 30, 22, 0),
        at(2026, 1, 31, 9, 0),
        at(2026, 1, 31, 23, 40),
        at(2026, 2, 1, 0, 10),
        at(2026, 2, 1, 12, 0),
        at(2026, 2, 2, 12, 0),
    ],
    # Day edges in UTC, and the UTC month's end (which is not CoreClaw's month edge).
    "utc-day-edges": [
        at(2026, 3, 30, 23, 30, tz=UTC),
        at(2026, 3, 31, 0, 5, tz=UTC),
        at(2026, 3, 31, 15, 50, tz=UTC),  # 23:50 UTC+8, March's last day there
        at(2026, 3, 31, 16, 20, tz=UTC),  # 00:20 UTC+8 on April 1st
        at(2026, 3, 31, 23, 59, tz=UTC),
        at(2026, 4, 1, 0, 30, tz=UTC),
    ],
}


def set_server_time(srv: SandboxServer, when: int) -> None:
    """Move the sandbox's clock (its account's, and the ``Date`` of its answers) to ``when``."""
    srv.account.advance(when)
    srv.clock_offset = when - time.time()


def a_day_passes(srv: SandboxServer, start: int, end: int, rng: random.Random) -> None:
    """Runs created between two syncs (some still running at the next, as long scrapes are),
    and half of the open runs finishing."""
    account = srv.account
    set_server_time(srv, end)
    for _ in range(12):
        created = rng.randint(start - 5 * MINUTE, end - MINUTE)
        status = STATUS_RUNNING if rng.random() < 0.35 else STATUS_SUCCEEDED
        account.add_run(created_at=created, status=status)
    open_runs = [r["slug"] for r in account.runs if not r["finished_at"]]
    account.finish_runs(rng.sample(open_runs, len(open_runs) // 2))


def the_truth(srv: SandboxServer, api_version: str) -> pd.DataFrame:
    """Every run of the account as the API reports it now, without fetched_at."""
    frame = run_frame(srv.account, api_version=api_version)
    return frame.drop(columns="fetched_at").sort_values("slug", ignore_index=True)


def stored(path: Path) -> pd.DataFrame:
    return ccf.read_parquet(path).drop(columns="fetched_at").sort_values("slug", ignore_index=True)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_daily_syncs_across_day_and_month_edges_lose_nothing(
    schedule: str, api_version: str, tmp_path: Path
):
    times = SCHEDULES[schedule]
    rng = random.Random(schedule)
    account = build_account(runs=400, now=times[0])
    since = pd.Timestamp(times[0] - 400 * DAY, unit="s", tz="UTC")  # the whole history
    path = tmp_path / "runs"
    with serve(account=account) as srv:
        set_server_time(srv, times[0])
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, api_version=api_version) as client:
            ccf.sync_runs(path, since=since, client=client, partition_cols=["scraper_slug"])
            pd.testing.assert_frame_equal(stored(path), the_truth(srv, api_version))
            for previous, now in itertools.pairwise(times):
                a_day_passes(srv, previous, now, rng)
                synced = ccf.sync_runs(path, client=client, progress=False)
                assert synced["slug"].is_unique
                pd.testing.assert_frame_equal(stored(path), the_truth(srv, api_version))
                assert synced.attrs["sync"]["failed"] == 0


@pytest.mark.parametrize("clock", ["fixed", "now"])
def test_the_sandbox_then_sync_twice_on_the_command_line(clock, tmp_path, monkeypatch, capsys):
    # The default sandbox's account ends on a fixed date; the command's ends now. Both keep
    # runs still going from the hour before their clock, all created on one UTC+8 day.
    account = build_account() if clock == "fixed" else build_account(now=int(time.time()))
    with serve(account=account) as srv:
        monkeypatch.setenv("CORECLAW_BASE_URL", srv.url)
        monkeypatch.setenv("CORECLAW_API_KEY", srv.api_key)
        monkeypatch.delenv("CORECLAW_API_VERSION", raising=False)
        path = str(tmp_path / "runs")
        assert main(["sync", path, "--since", "2025-06-01"]) == 0
        assert main(["sync", path]) == 0
        srv.account.finish_runs(10)
        assert main(["sync", path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and all(line.startswith(f"Synced {path}: ") for line in out)
    assert len(ccf.read_parquet(path)) == len(account)


def test_a_sync_on_a_months_last_day_then_later_ones(api_version, tmp_path: Path):
    began = at(2026, 1, 31, 20, 0)  # UTC+8: the last day of January
    account = build_account(runs=300, now=began)
    path = tmp_path / "runs.parquet"
    with serve(account=account) as srv:
        set_server_time(srv, began)
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, api_version=api_version) as client:
            ccf.sync_runs(path, since="2026-01-31", client=client, progress=False)
            for later in (began + 5 * MINUTE, at(2026, 2, 1, 8, 0), at(2026, 2, 3, 8, 0)):
                account.add_run(created_at=later - MINUTE, status=STATUS_RUNNING)
                set_server_time(srv, later)
                ccf.sync_runs(path, client=client, progress=False)
    runs = ccf.read_parquet(path)
    assert set(runs["slug"]) == {
        r["slug"] for r in account.runs if account.created_at(r["slug"]) >= at(2026, 1, 31, 8, 0)
    } | (
        {r["slug"] for r in account.runs if r["started_at"] == 0} if api_version == "v1" else set()
    )


@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("2026-01-31", None),  # a plain date on a month's last day (UTC+8)
        ("2026-03-15 18:00", "2026-03-15 22:00"),  # since and until on one UTC+8 day
        ("2026-02-28 15:59:30", "2026-03-01"),  # the last seconds of February, UTC+8
    ],
)
def test_list_runs_takes_any_window(since, until, sandbox, monkeypatch, tmp_path: Path):
    with ccf.Client(api_key=sandbox.api_key, base_url=sandbox.url) as client:
        listed = ccf.list_runs(since=since, until=until, client=client, progress=False)
    account = sandbox.account
    low = pd.Timestamp(since, tz="UTC").timestamp()
    wanted = {
        r["slug"]
        for r in account.runs
        if account.created_at(r["slug"]) >= low
        and (
            until is None
            or account.created_at(r["slug"]) < pd.Timestamp(until, tz="UTC").timestamp()
        )
    }
    assert listed["slug"].is_unique and wanted <= set(listed["slug"])
    assert all(account.created_at(slug) >= low for slug in listed["slug"])
    monkeypatch.setenv("CORECLAW_BASE_URL", sandbox.url)
    monkeypatch.setenv("CORECLAW_API_KEY", sandbox.api_key)
    options = ["--since", since] + (["--until", until] if until else [])
    assert main(["list", *options, "-o", str(tmp_path / "r.parquet")]) == 0
    assert set(ccf.read_parquet(tmp_path / "r.parquet")["slug"]) == set(listed["slug"])
