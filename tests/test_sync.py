"""sync_runs against a live sandbox account, for both API versions: incremental, exact, and
whole after a kill at any point."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

import coreclaw_frames as ccf
from coreclaw_frames._sync import SYNC_MARGIN, state_path
from coreclaw_frames.cli import main
from coreclaw_frames.parquet._codec import frame_to_table
from coreclaw_frames.parquet._files import write_dataset
from coreclaw_frames.parquet._months import MONTH_FILE
from coreclaw_frames.sandbox import (
    MAX_PAGE_SIZE,
    STATUS_RUNNING,
    SandboxServer,
    build_account,
    serve,
)
from coreclaw_frames.sandbox._v2 import month_bounds

DAY = 86_400
#: The account's clock is the machine's: sync measures "since the previous sync" by it.
NOW = int(time.time())
SINCE = pd.Timestamp(NOW - 150 * DAY, unit="s", tz="UTC")
#: Old runs still running: a month with more of them than its pages (listed again), and a
#: month with one (fetched by slug).
CROWDED_MONTH_AGO, LONE_RUN_AGO = 70 * DAY, 110 * DAY
CROWDED_RUNNING = 5
#: The lone old running run's creation time: fetched by slug.
LONE = NOW - LONE_RUN_AGO


def without_fetched_at(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns="fetched_at").sort_values("slug", ignore_index=True)


@contextmanager
def live(runs: int = 1500, latency: float = 0.0) -> Iterator[SandboxServer]:
    """A sandbox whose account is anchored at the machine's clock, with old running runs.

    The sandbox spreads its open runs over the hour before its clock; those older than half
    an hour are left out, so that every recent open run stays inside the margin a later sync
    lists again, however late in the test run this one comes.
    """
    account = build_account(runs=runs, now=NOW)
    account.remove_runs(
        [
            r["slug"]
            for r in account.runs
            if not r["finished_at"] and account.created_at(r["slug"]) < NOW - SYNC_MARGIN // 2
        ]
    )
    for i in range(CROWDED_RUNNING):
        account.add_run(created_at=NOW - CROWDED_MONTH_AGO + i * 60, status=STATUS_RUNNING)
    account.add_run(created_at=LONE, status=STATUS_RUNNING)
    with serve(account=account, latency=latency) as srv:
        yield srv


def client_of(srv: SandboxServer, api_version: str) -> ccf.Client:
    return ccf.Client(api_key=srv.api_key, base_url=srv.url, api_version=api_version)


def sync(path: Path, client: ccf.Client, **kwargs) -> pd.DataFrame:
    return ccf.sync_runs(path, client=client, progress=False, **kwargs)


def pending(frame: pd.DataFrame) -> pd.DataFrame:
    """Runs not final: ready, running, or being aborted (an ``aborting`` run that has
    finished, as v2 reports some, is final)."""
    aborting = (frame["status"] == "aborting") & frame["finished_at"].isna()
    return frame[frame["status"].isin(["ready", "running"]) | aborting]


def pages_listed(srv: SandboxServer, api_version: str, since: int) -> int:
    """Listing requests that Run History from ``since`` to now takes, at most."""
    account = srv.account
    if api_version == "v1":  # newest first, until a page holds only older runs
        newer = [r for r in account.runs if r["started_at"] == 0 or r["started_at"] >= since]
        return math.ceil(len(newer) / MAX_PAGE_SIZE) + 1
    months: dict[tuple[int, int], int] = {}
    for record in account.runs:
        created = account.created_at(record["slug"])
        if created >= since:
            bounds = month_bounds(created)
            months[bounds] = months.get(bounds, 0) + 1
    for bounds in {month_bounds(since), month_bounds(NOW)}:
        months.setdefault(bounds, 0)  # listed even when empty
    return sum(max(1, math.ceil(n / MAX_PAGE_SIZE)) for n in months.values())


# --- the first sync ---------------------------------------------------------------------------


def test_the_first_sync_equals_list_runs(api_version, tmp_path: Path):
    path = tmp_path / "runs.parquet"
    with live() as srv, client_of(srv, api_version) as client:
        synced = sync(path, client, since=SINCE)
        listed = ccf.list_runs(since=SINCE, client=client, progress=False)
    pd.testing.assert_frame_equal(
        synced.drop(columns="fetched_at"), listed.drop(columns="fetched_at")
    )
    pd.testing.assert_frame_equal(ccf.read_parquet(path), synced)
    report = synced.attrs["sync"]
    assert (report["added"], report["updated"], report["unchanged"]) == (len(listed), 0, 0)
    assert report["listed_since"] == SINCE
    state = json.loads(state_path(path).read_text())
    assert state["since"] == SINCE.timestamp() and state["api_version"] == api_version


def test_the_first_sync_needs_since_and_sends_nothing(tmp_path: Path):
    with live(runs=10) as srv, client_of(srv, "v2") as client:
        with pytest.raises(ValueError, match=r"first sync of .*runs\.parquet.* needs since="):
            sync(tmp_path / "runs.parquet", client)
        assert srv.counters.total == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"since": 1773000000}, TypeError, "since must be a date"),
        ({"since": "yesterday-ish"}, ValueError, "since must be a date"),
        ({"partition_cols": "scraper_slug"}, TypeError, r"wrap it as \['scraper_slug'\]"),
        ({"partition_cols": ["usage"]}, ValueError, "cannot partition by 'usage'"),
        ({"partition_cols": ["month"]}, ValueError, r"by \['month'\]: not a run column"),
        ({"progress": "yes"}, TypeError, "progress must be True, False or None"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(tmp_path: Path, kwargs, error, message):
    with live(runs=10) as srv, client_of(srv, "v2") as client:
        with pytest.raises(error, match=message):
            ccf.sync_runs(tmp_path / "runs", **{"since": SINCE, "client": client, **kwargs})
        assert srv.counters.total == 0


def test_a_path_synced_from_another_api_is_refused(tmp_path: Path):
    path = tmp_path / "runs.parquet"
    with live(runs=50) as srv:
        with client_of(srv, "v1") as client:
            sync(path, client, since=SINCE)
        before = srv.counters.total
        with client_of(srv, "v2") as client, pytest.raises(ValueError, match=r"API v1\), not"):
            sync(path, client)
        assert srv.counters.total == before


def test_a_partitioning_other_than_the_datasets_is_refused_before_any_request(tmp_path: Path):
    path = tmp_path / "runs"
    with live(runs=50) as srv, client_of(srv, "v2") as client:
        sync(path, client, since=SINCE, partition_cols=["scraper_slug"])
        before = srv.counters.total
        with pytest.raises(ccf.ParquetFormatError, match=r"partitioned by \['scraper_slug'\]"):
            sync(path, client, partition_cols=["status"])
        assert srv.counters.total == before


# --- later syncs ------------------------------------------------------------------------------


def test_a_second_sync_with_nothing_new_lists_only_the_margin(api_version, tmp_path: Path):
    path = tmp_path / "runs.parquet"
    with live() as srv, client_of(srv, api_version) as client:
        first = sync(path, client, since=SINCE)
        before = srv.counters
        second = sync(path, client)
        after = srv.counters
    sent = after.total - before.total
    report = second.attrs["sync"]
    assert report["requests"] == sent
    listed_since = int(report["listed_since"].timestamp())
    assert NOW - SYNC_MARGIN - 5 <= listed_since <= int(time.time()) - SYNC_MARGIN
    open_runs = pending(first)
    assert len(open_runs) > CROWDED_RUNNING  # the old running runs and the account's newest
    assert sent <= pages_listed(srv, api_version, listed_since) + len(open_runs)
    assert sent < len(first) / 20
    # Nothing final is asked for again: detail requests name only runs that were not final.
    asked = after.requests_by_slug - before.requests_by_slug
    assert set(asked) <= set(open_runs["slug"])
    assert (report["added"], report["updated"], report["unchanged"]) == (0, 0, len(first))
    pd.testing.assert_frame_equal(without_fetched_at(second), without_fetched_at(first))


def test_old_open_runs_are_refreshed_by_listing_their_month_or_by_slug(api_version, tmp_path: Path):
    path = tmp_path / "runs.parquet"
    with live() as srv, client_of(srv, api_version) as client:
        sync(path, client, since=SINCE)
        before = srv.counters
        report = sync(path, client).attrs["sync"]
        asked = srv.counters.requests_by_slug - before.requests_by_slug
    old_open = [
        r["slug"]
        for r in srv.account.runs
        if r["status"] == STATUS_RUNNING and srv.account.created_at(r["slug"]) < NOW - 60 * DAY
    ]
    assert len(old_open) == CROWDED_RUNNING + 1
    if api_version == "v2":  # the crowded month costs fewer pages than its runs; the lone run
        assert set(asked) == {old_open[-1]}  # (oldest) is cheaper by slug
    else:  # v1 cannot list a window: by slug
        assert set(asked) == set(old_open)
    assert report["refetched"] == len(asked) and report["failed"] == 0


def test_a_sync_adds_new_runs_and_updates_finished_ones_exactly(api_version, tmp_path: Path):
    path = tmp_path / "runs.parquet"
    with live() as srv, client_of(srv, api_version) as client:
        first = sync(path, client, since=SINCE)
        account = srv.account
        added = [r["slug"] for r in account.add_runs(30)]
        finished = account.finish_runs(list(pending(first)["slug"]) + added[:5])
        second = sync(path, client)
        everything = ccf.list_runs(since=SINCE, client=client, progress=False)
    report = second.attrs["sync"]
    updated = set(finished) - set(added)
    assert len(updated) == len(pending(first)) > CROWDED_RUNNING
    assert (report["added"], report["updated"]) == (30, len(updated))
    assert report["unchanged"] == len(first) - len(updated)
    pd.testing.assert_frame_equal(without_fetched_at(second), without_fetched_at(everything))
    assert second["slug"].is_unique
    # Only the runs that changed have a new fetched_at... or were listed again: none older.
    old = first.set_index("slug")["fetched_at"]
    new = second.set_index("slug")["fetched_at"].reindex(old.index)
    assert (new >= old).all()


def test_a_sync_never_deletes_runs_the_api_no_longer_lists(api_version, tmp_path: Path):
    path = tmp_path / "runs"
    with live(runs=300) as srv, client_of(srv, api_version) as client:
        first = sync(path, client, since=SINCE, partition_cols=["scraper_slug"])
        open_runs = set(pending(first)["slug"])
        newest = first.sort_values("started_at", ascending=False)["slug"]
        recent = [slug for slug in newest if slug not in open_runs][:3]  # final: not listed now
        account = srv.account
        old_open = [r["slug"] for r in account.runs if account.created_at(r["slug"]) == LONE]
        assert old_open[0] in open_runs
        account.remove_runs(recent + old_open)
        second = sync(path, client)
    assert set(second["slug"]) == set(first["slug"])
    kept = second.set_index("slug").loc[recent + old_open]
    assert kept["fetch_error"].isna().all()  # the stored rows, not the failures
    assert second.attrs["sync"]["failed"] == len(old_open)


def test_an_earlier_since_extends_the_history_back(api_version, tmp_path: Path):
    path = tmp_path / "runs.parquet"
    earlier = SINCE - pd.Timedelta(days=20)
    with live() as srv, client_of(srv, api_version) as client:
        sync(path, client, since=SINCE)
        extended = sync(path, client, since=earlier)
        everything = ccf.list_runs(since=earlier, client=client, progress=False)
    pd.testing.assert_frame_equal(without_fetched_at(extended), without_fetched_at(everything))
    assert json.loads(state_path(path).read_text())["since"] == earlier.timestamp()


def test_a_state_without_its_data_starts_over(tmp_path: Path):
    path = tmp_path / "runs.parquet"
    with live(runs=200) as srv, client_of(srv, "v2") as client:
        first = sync(path, client, since=SINCE)
        path.unlink()
        with pytest.raises(ValueError, match="needs since="):
            sync(path, client)
        again = sync(path, client, since=SINCE)
    assert again.attrs["sync"]["added"] == len(again) == len(first) > 100


def test_a_damaged_state_file_is_named(tmp_path: Path):
    path = tmp_path / "runs.parquet"
    with live(runs=50) as srv, client_of(srv, "v2") as client:
        sync(path, client, since=SINCE)
        state_path(path).write_text("{not json")
        with pytest.raises(ValueError, match=r"sync state .*\.runs\.parquet\.sync\.json"):
            sync(path, client)


def test_a_bad_key_changes_nothing(tmp_path: Path):
    path = tmp_path / "runs.parquet"
    with live(runs=200) as srv:
        with client_of(srv, "v2") as client:
            first = sync(path, client, since=SINCE)
        state = state_path(path).read_bytes()
        srv.account.add_runs(3)
        before = srv.counters.total
        with ccf.Client(api_key="typo", base_url=srv.url) as client:
            with pytest.raises(ValueError, match="account of another API key"):
                sync(path, client)  # another key: refused before any request
        assert srv.counters.total == before
        own_key, srv.api_key = srv.api_key, "rotated-by-the-account-owner"  # this path's, revoked
        with ccf.Client(api_key=own_key, base_url=srv.url) as client:
            with pytest.raises(ccf.AuthenticationError):
                sync(path, client)
    pd.testing.assert_frame_equal(ccf.read_parquet(path), first)
    assert state_path(path).read_bytes() == state


# --- killed mid-way ---------------------------------------------------------------------------

#: Runs one sync, killing itself with SIGKILL at the chosen point (``listing`` is killed from
#: outside instead, while its requests are under way).
KILLED_SYNC = textwrap.dedent(
    """
    import os, signal, sys
    import coreclaw_frames as ccf
    from coreclaw_frames import _sync as sync
    from coreclaw_frames.parquet import _files as files, _versions as versions

    path, point, partition = sys.argv[1:4]

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "data-written":  # a file: the new one complete in a temporary, not renamed yet
        os.replace = die
    elif point == "some-files-written":  # a dataset: its next version half built
        real_write = versions.write_data_file

        def write(table, where):
            real_write(table, where)
            die()

        versions.write_data_file = write
    elif point == "linked-not-swapped":  # the next version complete, not swapped in yet
        versions.replace_directory = die
    elif point == "between-renames":  # a system without the exchange, killed between renames
        files.exchange = lambda first, second: False
        real_rename, renames = os.rename, []

        def rename(source, target):
            renames.append(source)
            if len(renames) == 2:
                die()
            real_rename(source, target)

        files.os.rename = rename
    elif point == "swapped-not-cleaned":  # the new version in place, the previous one not removed
        real_exchange = files.exchange
        files.exchange = lambda first, second: (real_exchange(first, second), die())
    elif point == "state-not-saved":  # the data replaced, the state still the previous sync's
        sync.SyncState.save = die
    ccf.sync_runs(path, partition_cols=[partition] if partition else None, progress=False)
    """
)
#: Where a sync killed at each point leaves the data: as they were, or fully updated.
KILLED_BEFORE_THE_DATA = ("listing", "data-written", "some-files-written", "linked-not-swapped")
KILLED_AFTER_THE_DATA = ("swapped-not-cleaned", "state-not-saved")


def rewrite_in_the_earlier_layout(path: Path, partitions: tuple[str, ...]) -> None:
    """Store the dataset at ``path`` as earlier versions wrote every dataset: one file per
    partition, ``part-0.parquet`` (the writer results datasets still use)."""
    _, table = frame_to_table(ccf.read_parquet(path), partitions)
    write_dataset(table, path, partitions)
    assert {p.name for p in path.rglob("*.parquet")} == {"part-0.parquet"}


def killed_sync(srv: SandboxServer, path: Path, point: str, partition: str) -> int:
    """Run KILLED_SYNC; returns the signal that ended it."""
    env = {**os.environ, "CORECLAW_API_KEY": srv.api_key, "CORECLAW_BASE_URL": srv.url}
    command = [sys.executable, "-c", KILLED_SYNC, str(path), point, partition]
    child = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    if point == "listing":
        start = srv.counters.total
        deadline = time.monotonic() + 60
        while srv.counters.total < start + 2 and time.monotonic() < deadline:
            assert child.poll() is None, child.communicate()[1]
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    _, errors = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, errors
    return -child.returncode


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "partition", "layout"),
    [
        ("listing", "", "file"),
        ("data-written", "", "file"),
        ("state-not-saved", "", "file"),
        ("listing", "scraper_slug", "months"),
        ("some-files-written", "scraper_slug", "months"),
        ("linked-not-swapped", "scraper_slug", "months"),
        ("between-renames", "scraper_slug", "months"),
        ("swapped-not-cleaned", "scraper_slug", "months"),
        ("state-not-saved", "scraper_slug", "months"),
        ("some-files-written", "scraper_slug", "earlier"),
        ("swapped-not-cleaned", "scraper_slug", "earlier"),
    ],
)
def test_a_sync_killed_mid_way_leaves_the_data_whole_and_the_next_completes_it(
    tmp_path: Path, point: str, partition: str, layout: str
):
    path = tmp_path / ("runs" if partition else "runs.parquet")
    with live(latency=0.05) as srv, client_of(srv, "v2") as client:
        srv.latency = 0.0
        first = sync(path, client, since=SINCE, partition_cols=[partition] if partition else None)
        if layout == "earlier":
            rewrite_in_the_earlier_layout(path, (partition,))
        # As if the first sync ran ten days ago: the runs of these days are found only by a
        # sync that lists from before them, so the state may never get ahead of the data.
        state = json.loads(state_path(path).read_text())
        state["listed_at"] -= 10 * DAY
        state_path(path).write_text(json.dumps(state))
        account = srv.account
        for i in range(20):
            account.add_run(created_at=NOW - 5 * DAY + i * 3600)
        account.add_runs(120)
        account.finish_runs(list(pending(first)["slug"]))
        srv.latency = 0.05
        killed_sync(srv, path, point, partition)
        srv.latency = 0.0
        after_kill = ccf.read_parquet(path)  # readable: as it was, or fully updated
        expected = ccf.list_runs(since=SINCE, client=client, progress=False)
        completed = sync(path, client)
    as_was = without_fetched_at(first)
    updated = without_fetched_at(expected)
    state = without_fetched_at(after_kill)
    if point in (*KILLED_BEFORE_THE_DATA, "between-renames"):
        pd.testing.assert_frame_equal(state, as_was)
    else:
        assert point in KILLED_AFTER_THE_DATA
        pd.testing.assert_frame_equal(state, updated)
    pd.testing.assert_frame_equal(without_fetched_at(completed), updated)
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    name = path.name
    assert leftovers == [f".{name}.lock", f".{name}.sync.json"]
    if partition:  # every run in exactly one file, the file of the month it started in
        assert all(MONTH_FILE.fullmatch(p.name) for p in path.rglob("*.parquet"))


# --- read past one machine ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")  # raised inside dask
def test_a_distributed_dask_read_gives_the_exact_totals_per_worker(tmp_path: Path):
    """A file and a dataset partitioned by worker, each read by one cluster of two processes."""
    import dask.dataframe as dd
    from dask.distributed import Client as DaskClient
    from dask.distributed import LocalCluster

    paths = {"": tmp_path / "runs.parquet", "scraper_slug": tmp_path / "runs"}
    expected = {}  # each layout's totals per worker, from the frame its own sync returned
    with live(runs=500) as srv, client_of(srv, "v2") as client:
        for partition, path in paths.items():
            partition_cols = [partition] if partition else None
            runs = sync(path, client, since=SINCE, partition_cols=partition_cols)
            expected[partition] = runs.groupby("scraper_slug")["usage"].sum().sort_index()
            assert expected[partition].sum() == runs["usage"].sum()
            assert len(expected[partition]) > 1
    with (
        # Its HTTP server on an ephemeral port: the default (8787) is one for every test process.
        LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0"
        ) as cluster,
        DaskClient(cluster) as dask_client,
    ):
        for partition, path in paths.items():
            ddf = dd.read_parquet(str(path))
            assert ddf.npartitions >= (2 if partition else 1), partition
            totals = ddf.groupby("scraper_slug")[["usage"]].sum().compute()["usage"]
            totals.index = totals.index.astype(str)
            assert totals.sort_index().to_dict() == expected[partition].to_dict(), partition
            assert str(totals.dtype).startswith("decimal128("), partition  # exact: never floats
        workers = dask_client.run(lambda: os.getpid())
    assert len(set(workers.values())) == 2  # two processes, each its own interpreter


def test_duckdb_reads_the_synced_dataset_with_exact_totals(tmp_path: Path):
    import duckdb

    path = tmp_path / "runs"
    with live(runs=500) as srv, client_of(srv, "v2") as client:
        runs = sync(path, client, since=SINCE, partition_cols=["scraper_slug"])
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    rows = con.execute(
        f"SELECT scraper_slug, SUM(usage) FROM read_parquet('{path}/**/*.parquet', "
        "hive_partitioning = true) GROUP BY scraper_slug"
    ).fetchall()
    assert dict(rows) == runs.groupby("scraper_slug")["usage"].sum().to_dict()


def spark_session(warehouse: Path):
    """A local Spark session on loopback; the test is skipped without pyspark or Java (``make
    test-spark`` installs pyspark)."""
    pyspark_sql = pytest.importorskip("pyspark.sql", reason="pyspark is not installed")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java, and none is installed")
    return (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("coreclaw-frames-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize("partition", ["scraper_slug", ""])
def test_spark_reads_the_synced_dataset_with_exact_totals(tmp_path: Path, partition):
    spark = spark_session(tmp_path / "warehouse")  # skipped first, without Spark
    path = tmp_path / "runs"
    try:
        from pyspark.sql import functions as F

        with live(runs=2000) as srv, client_of(srv, "v2") as client:
            partitions = [partition] if partition else []
            runs = sync(path, client, since=SINCE, partition_cols=partitions)
            srv.account.add_runs(20)
            runs = sync(path, client)  # a later sync: some files rewritten, the rest kept
        expected = runs.groupby("scraper_slug")["usage"].sum().to_dict()
        assert len(expected) > 1
        frame = spark.read.parquet(str(path))
        totals = frame.groupBy("scraper_slug").agg(F.sum("usage").alias("usd")).collect()
        schema = dict(frame.dtypes)
        count = frame.count()
    finally:
        spark.stop()
    assert schema["usage"] == "decimal(18,10)" and count == len(runs)
    assert {row["scraper_slug"]: row["usd"] for row in totals} == expected  # exact Decimals


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
def sync_env(monkeypatch):
    """A live sandbox, its URL and key in the environment as a user would set them."""
    with live(runs=400) as srv:
        monkeypatch.setenv("CORECLAW_BASE_URL", srv.url)
        monkeypatch.setenv("CORECLAW_API_KEY", srv.api_key)
        monkeypatch.delenv("CORECLAW_API_VERSION", raising=False)
        yield srv


def test_the_sync_command_first_and_later(sync_env, tmp_path: Path, capsys):
    path = tmp_path / "runs"
    since = str(SINCE.date())
    assert main(["sync", str(path), "--since", since, "--partition-by", "scraper_slug"]) == 0
    stored = ccf.read_parquet(path)
    out = capsys.readouterr().out
    assert out.startswith(f"Synced {path}: {len(stored)} added, 0 updated, 0 unchanged")
    assert {p.name.split("=")[0] for p in path.iterdir()} == {"scraper_slug"}
    sync_env.account.add_runs(7)
    assert main(["sync", str(path)]) == 0
    out = capsys.readouterr().out
    assert f": 7 added, 0 updated, {len(stored)} unchanged ({len(stored) + 7} runs)" in out


def test_the_sync_command_exits_1_when_refreshes_fail_and_keeps_the_rows(
    sync_env, tmp_path: Path, capsys
):
    path = tmp_path / "runs.parquet"
    assert main(["sync", str(path), "--since", str(SINCE.date())]) == 0
    sync_env.account.remove_runs(
        [r["slug"] for r in sync_env.account.runs if sync_env.account.created_at(r["slug"]) == LONE]
    )
    before = ccf.read_parquet(path)
    capsys.readouterr()
    assert main(["sync", str(path)]) == 1
    assert_one_line_error(capsys, "sync", "1 of the 1 runs refreshed by slug failed")
    assert set(ccf.read_parquet(path)["slug"]) == set(before["slug"])


SYNC_ERRORS = {
    "first without --since": ([], {}, "needs --since DATE"),
    "bad date": (["--since", "2026-13-45"], {}, "--since"),
    "missing key": (["--since", "2026-06-01"], {"CORECLAW_API_KEY": None}, "$CORECLAW_API_KEY"),
    "partition by money": (
        ["--since", "2026-06-01", "--partition-by", "usage"],
        {},
        "cannot partition by 'usage'",
    ),
    "partition by nothing": (["--since", "2026-06-01", "--partition-by"], {}, "--partition-by"),
}


@pytest.mark.parametrize("case", SYNC_ERRORS, ids=list(SYNC_ERRORS))
def test_sync_command_errors_are_one_line_and_send_nothing(
    case, sync_env, tmp_path: Path, monkeypatch, capsys
):
    options, environment, fragment = SYNC_ERRORS[case]
    for name, value in environment.items():
        assert value is None
        monkeypatch.delenv(name)
    assert main(["sync", str(tmp_path / "runs"), *options]) == 2
    assert_one_line_error(capsys, "sync", fragment)
    assert sync_env.counters.total == 0
    assert list(tmp_path.iterdir()) == []


def assert_one_line_error(capsys, command: str, fragment: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith(f"coreclaw-frames {command}: ") and err.count("\n") == 1, err
    assert fragment in err, err
