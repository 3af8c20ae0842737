"""The run cache: warm batches send no detail requests for finished runs, and survive damage."""

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

import coreclaw_frames as ccf
from coreclaw_frames import _cache as cache_module
from coreclaw_frames._cache import CACHE_FILE
from coreclaw_frames.sandbox import serve

DETAIL = "v2 worker-runs detail"


def finished(records):
    """Slugs of the final runs: succeeded, failed, or aborted and ended."""
    return [
        r["slug"]
        for r in records
        if r["status"] in (3, 4) or (r["status"] == 5 and r["finished_at"] > 0)
    ]


def cached_slugs(cache_dir):
    with sqlite3.connect(cache_dir / CACHE_FILE) as db:
        return {slug for (slug,) in db.execute("SELECT slug FROM runs")}


def set_aside(cache_dir):
    """The files a damaged cache was moved to."""
    return [p.name for p in cache_dir.iterdir() if ".unreadable-" in p.name]


def test_warm_cache_sends_no_detail_request_for_finished_runs(tmp_path):
    with serve(runs=600) as srv:
        slugs = [r["slug"] for r in srv.account.runs]
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, cache_dir=tmp_path) as client:
            cold = ccf.fetch_runs(slugs, client=client, progress=False)
            srv.reset_counters()
            warm = ccf.fetch_runs(slugs, client=client, progress=False)
        asked = srv.counters.requests_by_slug
        assert not set(asked) & set(finished(srv.account.runs))  # zero for finished runs
        unfinished = set(slugs) - set(finished(srv.account.runs))
        assert unfinished and set(asked) == unfinished  # ready/running always fetched again
    pd.testing.assert_frame_equal(cold.drop(columns="fetched_at"), warm.drop(columns="fetched_at"))
    is_final = warm["slug"].isin(finished(srv.account.runs))
    assert (warm.loc[is_final, "fetched_at"] == cold.loc[is_final, "fetched_at"]).all()
    assert (warm.loc[~is_final, "fetched_at"] > cold.loc[~is_final, "fetched_at"]).all()


def test_list_runs_fills_the_cache(tmp_path):
    with serve(runs=300) as srv:
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, cache_dir=tmp_path) as client:
            ccf.list_runs(since="2025-01-01", client=client, progress=False)
            srv.reset_counters()
            ccf.fetch_runs([r["slug"] for r in srv.account.runs], client=client, progress=False)
        assert not set(srv.counters.requests_by_slug) & set(finished(srv.account.runs))


def test_failed_fetches_are_not_cached(tmp_path):
    unknown = "01KZZZZZZZZZZZZZZZZZZZZZZZ"
    with serve(runs=20) as srv:
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, cache_dir=tmp_path) as client:
            ccf.fetch_runs([unknown], client=client, errors="coerce", progress=False)
            ccf.fetch_runs([unknown], client=client, errors="coerce", progress=False)
        assert srv.counters.requests_by_slug[unknown] == 2
    assert cached_slugs(tmp_path) == set()


def test_the_api_key_is_never_stored(tmp_path):
    secret = "cache-secret-key-abc123"
    with serve(runs=50, api_key=secret) as srv:
        with ccf.Client(api_key=secret, base_url=srv.url, cache_dir=tmp_path) as client:
            ccf.fetch_runs([r["slug"] for r in srv.account.runs], client=client, progress=False)
    assert cached_slugs(tmp_path)
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes()


def test_corrupt_cache_file_gives_warning_and_refetch(tmp_path):
    (tmp_path / CACHE_FILE).write_bytes(b"this is not a database" * 100)
    with serve(runs=40) as srv:
        slugs = [r["slug"] for r in srv.account.runs]
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, cache_dir=tmp_path) as client:
            with pytest.warns(ccf.CacheWarning, match="could not be read") as caught:
                df = ccf.fetch_runs(slugs, client=client, progress=False)
            assert [w.filename for w in caught] == [__file__]  # the caller, not contextlib
            assert list(df["slug"]) == slugs and df["fetch_error"].isna().all()
            assert srv.counters.requests_by_route[DETAIL] == len(slugs)
            srv.reset_counters()
            ccf.fetch_runs(slugs, client=client, progress=False)  # the new cache works
            assert not set(srv.counters.requests_by_slug) & set(finished(srv.account.runs))
    assert any(p.name.startswith(f"{CACHE_FILE}.unreadable-") for p in tmp_path.iterdir())


@pytest.mark.parametrize(
    "damage",
    [
        # not JSON; a record of another run
        lambda account, slugs: {
            0: "{broken",
            2: json.dumps({**account.run(slugs[2]), "slug": slugs[3]}),
        },
        # valid JSON once joined with its neighbours, so it must not shift onto other slugs
        lambda account, slugs: {1: "[1", 2: "2]"},
    ],
    ids=["broken-or-foreign", "shifting"],
)
def test_damaged_entry_is_refetched_not_trusted(tmp_path, damage):
    with serve(runs=30) as srv:
        slugs = finished(srv.account.runs)[:5]
        damaged = damage(srv.account, slugs)
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, cache_dir=tmp_path) as client:
            first = ccf.fetch_runs(slugs, client=client, progress=False)
            with sqlite3.connect(tmp_path / CACHE_FILE) as db:
                for i, text in damaged.items():
                    db.execute("UPDATE runs SET record = ? WHERE slug = ?", (text, slugs[i]))
            srv.reset_counters()
            with pytest.warns(ccf.CacheWarning, match="damaged") as caught:
                again = ccf.fetch_runs(slugs, client=client, progress=False)
            assert {w.filename for w in caught} == {__file__}
        assert set(srv.counters.requests_by_slug) == {slugs[i] for i in damaged}
    pd.testing.assert_frame_equal(
        first.drop(columns="fetched_at"), again.drop(columns="fetched_at")
    )


def test_cache_of_another_format_is_set_aside(tmp_path):
    with sqlite3.connect(tmp_path / CACHE_FILE) as db:
        db.execute("PRAGMA user_version=99")
    with serve(runs=10) as srv:
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, cache_dir=tmp_path) as client:
            with pytest.warns(ccf.CacheWarning, match="cache format 99") as caught:
                ccf.fetch_runs([r["slug"] for r in srv.account.runs], client=client, progress=False)
            assert [w.filename for w in caught] == [__file__]
    assert cached_slugs(tmp_path) == set(finished(srv.account.runs))


FETCH_SCRIPT = textwrap.dedent(
    """
    import sys
    import coreclaw_frames as ccf
    url, key, cache_dir, first, last = sys.argv[1:6]
    from coreclaw_frames.sandbox import build_account
    slugs = [r["slug"] for r in build_account(seed=0, runs=int(sys.argv[6])).runs]
    with ccf.Client(api_key=key, base_url=url, cache_dir=cache_dir, max_workers=2) as client:
        ccf.fetch_runs(slugs[int(first):int(last)], client=client, progress=False)
    """
)


def start_fetch(srv, cache_dir, first, last, runs):
    args = [srv.url, srv.api_key, str(cache_dir), str(first), str(last), str(runs)]
    return subprocess.Popen([sys.executable, "-c", FETCH_SCRIPT, *args], stderr=subprocess.PIPE)


def wait_for_requests(srv, at_least, timeout=60.0):
    deadline = time.monotonic() + timeout
    while srv.counters.requests_by_route[DETAIL] < at_least:
        assert time.monotonic() < deadline, "the batch did not get going"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_batch_resumes_with_only_the_rest(tmp_path, how):
    runs = 800
    with serve(runs=runs, latency=0.01) as srv:
        process = start_fetch(srv, tmp_path, 0, runs, runs)
        wait_for_requests(srv, 450)  # past the first commit of FLUSH_ROWS rows
        process.send_signal(how)
        process.wait(timeout=30)
        process.stderr.close()
        assert process.returncode != 0  # it really was interrupted
        kept = cached_slugs(tmp_path)
        assert len(kept) >= 150
        assert len(kept) < len(finished(srv.account.runs))
        srv.reset_counters()
        slugs = [r["slug"] for r in srv.account.runs]
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, cache_dir=tmp_path) as client:
            df = ccf.fetch_runs(slugs, client=client, progress=False)
        assert df["fetch_error"].isna().all() and list(df["slug"]) == slugs
        assert set(srv.counters.requests_by_slug) == set(slugs) - kept  # only the rest


@pytest.mark.slow
def test_two_processes_share_one_cache(tmp_path):
    runs = 600
    with serve(runs=runs) as srv:
        one = start_fetch(srv, tmp_path, 0, 400, runs)
        two = start_fetch(srv, tmp_path, 200, 600, runs)
        for process in (one, two):
            _, err = process.communicate(timeout=120)
            assert process.returncode == 0, err.decode()
        with sqlite3.connect(tmp_path / CACHE_FILE) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert cached_slugs(tmp_path) == set(finished(srv.account.runs))


def test_cache_dir_that_is_a_file_warns_and_fetches(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with serve(runs=10) as srv:
        slugs = [r["slug"] for r in srv.account.runs]
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, cache_dir=not_a_dir) as client:
            with pytest.warns(ccf.CacheWarning, match="continuing without it"):
                df = ccf.fetch_runs(slugs, client=client, progress=False)
        assert list(df["slug"]) == slugs and df["fetch_error"].isna().all()


def test_cache_dir_must_be_a_path():
    with pytest.raises(TypeError, match="cache_dir must be a path"):
        ccf.Client(api_key="k", base_url="http://127.0.0.1:1", cache_dir=42)


def test_two_api_versions_or_two_servers_never_share_entries(tmp_path):
    with serve(runs=40) as one, serve(runs=40, seed=1) as two:
        slugs = finished(one.account.runs)
        for version in ("v1", "v2"):
            with ccf.Client(
                api_key=one.api_key, base_url=one.url, api_version=version, cache_dir=tmp_path
            ) as client:
                one.reset_counters()
                ccf.fetch_runs(slugs, client=client, progress=False)
                assert set(one.counters.requests_by_slug) == set(slugs)  # v1's entries unused
        # Another base URL with the same slugs: nothing comes from the first server's entries.
        with ccf.Client(api_key=two.api_key, base_url=two.url, cache_dir=tmp_path) as client:
            df = ccf.fetch_runs(slugs, client=client, errors="coerce", progress=False)
        assert df["fetch_error"].notna().all()  # those runs do not exist there
    with sqlite3.connect(tmp_path / CACHE_FILE) as db:
        keys = set(db.execute("SELECT base_url, api_version FROM runs"))
    assert keys == {(one.url, "v1"), (one.url, "v2")}


def test_a_cache_of_the_previous_format_is_emptied_quietly(tmp_path):
    with sqlite3.connect(tmp_path / CACHE_FILE) as db:
        db.execute("CREATE TABLE runs (slug TEXT PRIMARY KEY, fetched_at_us INT, record TEXT)")
        db.execute("INSERT INTO runs VALUES ('01KZZZZZZZZZZZZZZZZZZZZZZZ', 1, '{}')")
        db.execute("PRAGMA user_version=1")
    with serve(runs=10) as srv:
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, cache_dir=tmp_path) as client:
            ccf.fetch_runs([r["slug"] for r in srv.account.runs], client=client, progress=False)
    assert cached_slugs(tmp_path) == set(finished(srv.account.runs))


@pytest.mark.parametrize(
    "broken",
    [
        {"status": None},  # a required field missing
        {"started_at": 10**16},  # a time out of any range
        {"results": "12"},  # a value of the wrong type
    ],
)
def test_a_malformed_finished_run_is_not_cached(tmp_path, canned, broken):
    slug = "01KSFDS8XWTJME33C08XMCR6B9"
    record = {
        "slug": slug,
        "status": "succeeded",
        "scraper_slug": "01KPD6M5YVHWCNQCRK32BD02TP",
        "results": 4,
        "usage": "0.5",
        "traffic": 10,
        "started_at": 1773305309,
        "finished_at": 1773305316,
        "duration": 7,
    }
    client = canned({**record, **broken})
    client.cache_dir = tmp_path
    df = ccf.fetch_runs([slug], client=client, errors="coerce", progress=False)
    assert df.loc[0, "fetch_error"].startswith("malformed record")
    assert cached_slugs(tmp_path) == set()


HOLD_LOCK = textwrap.dedent(
    """
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    for statement in sys.argv[2:]:
        db.execute(statement)
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until the test closes stdin
    """
)


@contextlib.contextmanager
def locked_by_another_process(path, *statements):
    """Another process holds ``path`` with ``statements`` executed until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), *statements],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        yield
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()


@pytest.mark.parametrize(
    ("lock", "reads"),
    [
        # Nobody else may read or write: the cache cannot even be opened.
        (("PRAGMA locking_mode=EXCLUSIVE", "BEGIN EXCLUSIVE"), False),
        # A long write transaction: WAL readers go on, writers wait.
        (("BEGIN EXCLUSIVE",), True),
    ],
    ids=["read-and-write-lock", "write-lock"],
)
def test_a_cache_locked_by_another_process_is_skipped_not_set_aside(
    tmp_path, monkeypatch, lock, reads
):
    monkeypatch.setattr(cache_module, "BUSY_TIMEOUT", 0.1)
    with serve(runs=40) as srv:
        slugs = [r["slug"] for r in srv.account.runs]
        done = finished(srv.account.runs)
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, cache_dir=tmp_path) as client:
            ccf.fetch_runs(done[:10], client=client, progress=False)
            srv.reset_counters()
            with locked_by_another_process(tmp_path / CACHE_FILE, *lock):
                with pytest.warns(ccf.CacheWarning, match="busy") as caught:
                    df = ccf.fetch_runs(slugs, client=client, progress=False)
                assert not set_aside(tmp_path)
            assert list(df["slug"]) == slugs and df["fetch_error"].isna().all()
            hits = set(done[:10]) if reads else set()
            assert set(srv.counters.requests_by_slug) == set(slugs) - hits
            assert len(caught) == 1 and caught[0].filename == __file__
            assert cached_slugs(tmp_path) == set(done[:10])  # kept, and nothing half-written
            ccf.fetch_runs(slugs, client=client, progress=False)  # usable once released
    assert cached_slugs(tmp_path) == set(done)


@pytest.fixture
def take_write_permission():
    """``take_write_permission(path)``: make a file or directory unwritable until teardown.

    Root ignores permission bits, so when ``os.access`` says chmod did not take, the path is
    also marked immutable (``chattr +i``), which stops root too: the cache then meets the same
    EPERM/EACCES errors from the file system that a normal user meets, and no code path is
    faked. Skipped where neither works.
    """
    undo = []

    def take(path):
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        undo.append(lambda: path.chmod(mode))
        if os.access(path, os.W_OK):
            chattr = shutil.which("chattr")
            if chattr is None or subprocess.run([chattr, "+i", path]).returncode != 0:
                pytest.skip("cannot take write permission away here")
            undo.append(lambda: subprocess.run([chattr, "-i", path], check=True))
        assert not os.access(path, os.W_OK)

    yield take
    for step in reversed(undo):
        step()


@pytest.mark.parametrize("unwritable", ["file", "directory"])
def test_a_read_only_cache_is_read_but_never_written_or_set_aside(
    tmp_path, take_write_permission, unwritable
):
    with serve(runs=40) as srv:
        slugs = [r["slug"] for r in srv.account.runs]
        done = finished(srv.account.runs)
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, cache_dir=tmp_path) as client:
            ccf.fetch_runs(done[:10], client=client, progress=False)
            before = (tmp_path / CACHE_FILE).read_bytes()
            take_write_permission(tmp_path / CACHE_FILE if unwritable == "file" else tmp_path)
            srv.reset_counters()
            with pytest.warns(ccf.CacheWarning, match="read-only") as caught:
                df = ccf.fetch_runs(slugs, client=client, progress=False)
        assert list(df["slug"]) == slugs and df["fetch_error"].isna().all()
        assert set(srv.counters.requests_by_slug) == set(slugs) - set(done[:10])  # hits served
    assert len(caught) == 1 and caught[0].filename == __file__
    assert (tmp_path / CACHE_FILE).read_bytes() == before  # nothing written
    assert not set_aside(tmp_path)
