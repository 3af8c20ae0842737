"""sync_results and read_results against the sandbox over loopback, v1 and v2."""

import _thread
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import coreclaw_frames as ccf
from coreclaw_frames import _results_store as results_store
from coreclaw_frames._results_files import write_run
from coreclaw_frames.sandbox import serve
from coreclaw_frames.sandbox._drift import DRIFT_WORKER_PATH

#: A small account with big runs: a few hundred to a few thousand rows each, some over a page.
BIG = {"runs": 40, "max_results": 800, "seed": 3}


def client_for(srv, api_version="v2", **settings):
    return ccf.Client(base_url=srv.url, api_key=srv.api_key, api_version=api_version, **settings)


def run_frame(srv):
    with client_for(srv, "v1") as client:
        return ccf.fetch_runs([r["slug"] for r in srv.account.runs], client=client, progress=False)


def final_slugs(frame):
    from coreclaw_frames.analysis._frame import final_mask

    return frame.loc[final_mask(frame), "slug"].tolist()


EXPECTED = {}


def expected_rows(srv, slugs):
    """What fetch_results gives for these runs (over v1: paged), in store order."""
    key = (srv.url, tuple(slugs))
    if key not in EXPECTED:
        with client_for(srv, "v1") as client:
            rows = ccf.fetch_results(slugs, client=client, progress=False)
        EXPECTED[key] = ordered(rows.drop(columns="fetch_error"))
    return EXPECTED[key]


def ordered(rows):
    rows = rows.assign(_row=range(len(rows)))
    rows = rows.sort_values(["run_slug", "_row"], kind="stable").drop(columns="_row")
    return rows.reset_index(drop=True)


def same_rows(actual, expected):
    actual = ordered(actual)
    assert sorted(actual.columns) == sorted(expected.columns)
    pd.testing.assert_frame_equal(actual[list(expected.columns)], expected)


@pytest.fixture(scope="module")
def big():
    """A sandbox with big runs and the drifting worker, and its run frame."""
    with serve(**BIG, drift_runs=8) as srv:
        yield srv, run_frame(srv)


def test_every_row_of_every_final_run_is_stored_once(big, tmp_path, api_version):
    srv, frame = big
    final = final_slugs(frame)
    with client_for(srv, api_version) as client:
        summary = ccf.sync_results(tmp_path / "rows", frame, client=client, progress=False)
    stored = ccf.read_results(tmp_path / "rows")
    same_rows(stored, expected_rows(srv, final))
    assert summary.runs_added == len(final)
    assert summary.rows_added == len(stored)
    assert summary.runs_pending == len(frame) - len(final) > 0
    assert summary.runs_stored == summary.runs_failed == 0
    runs = frame.set_index("slug").loc[final]
    if api_version == "v2":
        # One request a run with rows (a page, or an export), none for a run of no rows, and a
        # page of one row for the headers of each worker and version exported.
        exported = runs[runs["results"] > 100]
        headers = len(exported.groupby(["scraper_slug", "version"], observed=True))
        assert summary.requests == int((runs["results"] > 0).sum()) + headers
        assert summary.downloads == len(exported) > 0


def test_a_rerun_sends_no_request(big, tmp_path, api_version):
    srv, frame = big
    with client_for(srv, api_version) as client:
        first = ccf.sync_results(tmp_path, frame, client=client, progress=False)
        before = srv.counters.total
        again = ccf.sync_results(tmp_path, frame, client=client, progress=False)
    assert srv.counters.total == before
    assert (again.requests, again.downloads, again.runs_added) == (0, 0, 0)
    assert again.runs_stored == first.runs_added
    assert again.runs_pending == first.runs_pending


def test_slugs_are_looked_up_then_stored_and_a_rerun_sends_nothing(big, tmp_path):
    srv, frame = big
    slugs = frame["slug"].tolist()
    with client_for(srv) as client:
        first = ccf.sync_results(tmp_path, slugs, client=client, progress=False)
        again = ccf.sync_results(tmp_path, slugs, client=client, progress=False)
    assert first.runs_added == len(final_slugs(frame))
    assert again.runs_stored == first.runs_added
    # Only the runs not final are looked up again (they may have finished since).
    assert again.runs_pending == first.runs_pending > 0
    assert again.requests == again.runs_pending
    final = final_slugs(frame)
    with client_for(srv) as client:
        assert ccf.sync_results(tmp_path, final, client=client, progress=False).requests == 0


def test_export_and_paging_store_the_same_rows_on_every_worker(big, tmp_path):
    srv, frame = big
    by_worker = {}
    for version in ("v1", "v2"):
        with client_for(srv, version) as client:
            ccf.sync_results(tmp_path / version, frame, client=client, progress=False)
        by_worker[version] = {
            worker: ccf.read_results(tmp_path / version, worker=worker)
            for worker in frame["scraper_slug"].unique()
            if (tmp_path / version / f"worker={worker}").exists()
        }
    assert by_worker["v1"].keys() == by_worker["v2"].keys()
    assert len(by_worker["v1"]) >= 5
    for worker, rows in by_worker["v1"].items():
        pd.testing.assert_frame_equal(by_worker["v2"][worker], rows, obj=worker)
    # the whole store too, columns in the same order
    v1, v2 = (ccf.read_results(tmp_path / version) for version in ("v1", "v2"))
    pd.testing.assert_frame_equal(v2, v1)


def test_big_runs_cost_one_export_request_and_one_download_each(tmp_path):
    with serve(**BIG) as srv:
        frame = run_frame(srv)
        frame = frame[frame["results"] > 100].head(6)
        srv.reset_counters()
        with client_for(srv) as client:
            summary = ccf.sync_results(tmp_path, frame, client=client, progress=False)
        assert summary.runs_added == len(frame) == 6
        headers = len(frame.groupby(["scraper_slug", "version"], observed=True))
        assert summary.requests == 6 + headers  # + a page of one row per worker and version
        assert summary.downloads == 6
        assert srv.counters.storage_requests == 6


def test_the_storage_host_never_sees_the_key(big, tmp_path):
    srv, frame = big
    refused = srv.counters.storage_key_refused
    served = srv.counters.storage_requests
    with client_for(srv) as client:
        summary = ccf.sync_results(tmp_path, frame, client=client, progress=False)
    assert summary.downloads > 0
    assert srv.counters.storage_requests - served == summary.downloads
    assert srv.counters.storage_key_refused == refused


class ThirdHost(http.server.ThreadingHTTPServer):
    """A server that only counts what reaches it."""

    def __init__(self):
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append((self.path, dict(self.headers)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_a_redirect_to_a_third_host_is_not_followed_and_the_run_is_paged(tmp_path):
    third = ThirdHost()
    threading.Thread(target=third.serve_forever, daemon=True).start()
    try:
        target = f"http://127.0.0.1:{third.server_address[1]}/elsewhere"
        with serve(**BIG, storage_redirect=target) as srv:
            frame = run_frame(srv)
            with client_for(srv) as client:
                summary = ccf.sync_results(tmp_path, frame, client=client, progress=False)
            same_rows(ccf.read_results(tmp_path), expected_rows(srv, final_slugs(frame)))
    finally:
        third.shutdown()
        third.server_close()
    assert summary.downloads > 0
    assert third.hits == []


def test_expired_links_fall_back_to_paging(tmp_path):
    with serve(**BIG, link_ttl=0) as srv:
        frame = run_frame(srv)
        with client_for(srv) as client:
            summary = ccf.sync_results(tmp_path, frame, client=client, progress=False)
        same_rows(ccf.read_results(tmp_path), expected_rows(srv, final_slugs(frame)))
    assert summary.downloads > 0
    assert summary.runs_failed == 0


def test_transient_storage_faults_are_retried(tmp_path):
    with serve(**BIG, storage_fault_rate=0.5) as srv:
        frame = run_frame(srv)
        big_runs = int((frame["results"] > 100).sum())
        policy = ccf.RetryPolicy(backoff_base=0.001, backoff_max=0.01)
        with client_for(srv, retry=policy) as client:
            summary = ccf.sync_results(tmp_path, frame, client=client, progress=False)
        same_rows(ccf.read_results(tmp_path), expected_rows(srv, final_slugs(frame)))
    assert summary.downloads > big_runs  # some were sent again


def test_a_download_over_the_cap_is_refused(big, tmp_path):
    srv, frame = big
    slug = frame.loc[frame["results"] > 100, "slug"].iloc[0]
    with client_for(srv) as client, open(tmp_path / "f", "wb") as sink:
        url = client.export_url(slug)
        assert srv.api_key not in url
        with pytest.raises(ccf.ExportUnavailableError, match="larger than 1,000 bytes"):
            client.download(url, sink, max_bytes=1000)


def test_v1_has_no_export(big):
    srv, frame = big
    with client_for(srv, "v1") as client:
        assert not client.can_export
        with pytest.raises(ccf.ExportUnavailableError, match="no results export"):
            client.export_url(frame["slug"].iloc[0])


def test_keys_whose_types_drift_between_runs_read_back_as_fetch_results_types_them(big, tmp_path):
    srv, frame = big
    drift = frame[frame["scraper_slug"] == srv.account.worker(DRIFT_WORKER_PATH).slug]
    final = final_slugs(drift)
    assert len(final) >= 4
    with client_for(srv) as client:
        ccf.sync_results(tmp_path, drift, client=client, progress=False)
    stored = ccf.read_results(tmp_path)
    expected = expected_rows(srv, final)
    same_rows(stored, expected)
    # ints in some runs and strings in others: values untouched, in an object column
    assert stored["id"].dtype == object
    assert {type(v) for v in stored["id"].dropna()} == {int, str}
    # a key that appears in later runs only: missing before
    assert stored["discount"].isna().any() and stored["discount"].notna().any()


def test_a_run_file_cut_short_is_fetched_again(big, tmp_path):
    srv, frame = big
    with client_for(srv) as client:
        first = ccf.sync_results(tmp_path, frame, client=client, progress=False)
        victim = max(files_in(tmp_path), key=lambda p: p.stat().st_size)
        victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])  # a power cut
        assert victim.stem not in set(ccf.read_results(tmp_path)["run_slug"])
        again = ccf.sync_results(tmp_path, frame, client=client, progress=False)
    assert (again.runs_added, again.runs_stored) == (1, first.runs_added - 1)
    same_rows(ccf.read_results(tmp_path), expected_rows(srv, final_slugs(frame)))


def test_one_run_stored_never_changes_another(big, tmp_path):
    srv, frame = big
    drift = frame[frame["scraper_slug"] == srv.account.worker(DRIFT_WORKER_PATH).slug]
    final = final_slugs(drift)
    with client_for(srv) as client:
        ccf.sync_results(
            tmp_path, drift[drift["slug"].isin(final[:1])], client=client, progress=False
        )
        first_alone = ccf.read_results(tmp_path)
        ccf.sync_results(tmp_path, drift, client=client, progress=False)
    again = ccf.read_results(tmp_path)
    first_now = again[again["run_slug"] == final[0]].dropna(axis=1, how="all")
    assert first_now.to_dict("records") == first_alone.dropna(axis=1, how="all").to_dict("records")


def test_fields_keep_only_those_keys(big, tmp_path, api_version):
    srv, frame = big
    worker = frame.loc[frame["results"] > 100, "scraper_slug"].iloc[0]
    runs = frame[frame["scraper_slug"] == worker]
    keys = list(pd.Series(expected_rows(srv, final_slugs(runs)[:1]).columns[1:3]))
    keys = [key.split(".")[0] for key in keys]
    # A key no row has: v2's export refuses it, so those runs are paged, with the same rows.
    fields = [*keys, "no_such_key"]
    with client_for(srv, api_version) as client:
        summary = ccf.sync_results(tmp_path, runs, client=client, fields=fields, progress=False)
        with pytest.raises(ValueError, match="keeps the fields"):
            ccf.sync_results(tmp_path, runs, client=client, progress=False)
    assert summary.runs_failed == 0 and summary.downloads == 0
    stored = ccf.read_results(tmp_path)
    assert {c.split(".")[0] for c in stored.columns} == {"run_slug", *keys}
    full = expected_rows(srv, final_slugs(runs))
    same_rows(stored, full[list(stored.columns)])


def test_worker_and_columns_select_what_is_read(big, tmp_path):
    srv, frame = big
    with client_for(srv) as client:
        ccf.sync_results(tmp_path, frame, client=client, progress=False)
    everything = ccf.read_results(tmp_path)
    worker = srv.account.worker(DRIFT_WORKER_PATH).slug
    mine = ccf.read_results(tmp_path, worker=worker)
    slugs = set(frame.loc[frame["scraper_slug"] == worker, "slug"])
    assert set(mine["run_slug"]) <= slugs and len(mine) > 0
    assert set(mine.columns) < set(everything.columns)
    assert mine.notna().any().all()  # only the worker's own columns
    two = ccf.read_results(tmp_path, columns=["id", "price"])
    assert list(two.columns) == ["run_slug", "id", "price"]
    assert len(two) == len(everything)
    with pytest.raises(ValueError, match="no run of worker 'nobody~here'"):
        ccf.read_results(tmp_path, worker="nobody~here")
    with pytest.raises(ValueError, match="'no_such_column'"):
        ccf.read_results(tmp_path, columns=["no_such_column"])


def test_duckdb_reads_the_store_as_it_is(big, tmp_path):
    srv, frame = big
    with client_for(srv) as client:
        summary = ccf.sync_results(tmp_path, frame, client=client, progress=False)
    pattern = str(tmp_path / "*" / "*.parquet")
    read = duckdb.sql(
        f"SELECT run_slug, worker FROM "
        f"read_parquet('{pattern}', union_by_name = true, hive_partitioning = true)"
    ).df()
    assert len(read) == summary.rows_added
    stored = ccf.read_results(tmp_path)
    assert read["run_slug"].value_counts().to_dict() == stored["run_slug"].value_counts().to_dict()
    workers = frame.set_index("slug")["scraper_slug"]
    assert (read["worker"] == workers.loc[read["run_slug"]].to_numpy()).all()


@pytest.mark.slow
def test_dask_reads_a_worker_with_the_merged_schema_as_the_docs_say(big, tmp_path):
    import dask.dataframe as dd
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    srv, frame = big
    with client_for(srv) as client:
        ccf.sync_results(tmp_path, frame, client=client, progress=False)
    read = 0
    for directory in sorted(tmp_path.glob("worker=*")):
        worker = directory.name.removeprefix("worker=")
        if worker == srv.account.worker(DRIFT_WORKER_PATH).slug:
            continue  # keys that clash in type: read_results only, as the docs say
        files = sorted(str(f) for f in directory.glob("*.parquet"))
        schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
        rows = dd.from_map(
            lambda f, s=schema: ds.dataset(f, schema=s).to_table().to_pandas(), files
        )
        got = rows.compute().sort_values("run_slug", kind="stable").reset_index(drop=True)
        mine = ccf.read_results(tmp_path, worker=worker)
        assert sorted(got.columns) == sorted(mine.columns)
        assert len(got) == len(mine)
        assert got["run_slug"].tolist() == mine["run_slug"].tolist()
        read += len(got)
    assert read > 1000


def test_a_run_that_fails_is_reported_never_stored_and_the_call_raises(big, tmp_path):
    srv, frame = big
    final = frame[frame["slug"].isin(final_slugs(frame)) & (frame["results"] > 0)].head(5)
    ghost = final.iloc[[0]].assign(slug="01KZZZZZZZZZZZZZZZZZZZZZZZ")
    runs = pd.concat([final, ghost], ignore_index=True)
    with client_for(srv, max_retries=0) as client:
        with pytest.raises(ccf.ResultsSyncError, match="1 runs' results failed") as caught:
            ccf.sync_results(tmp_path, runs, client=client, progress=False)
    summary = caught.value.summary
    assert summary.runs_failed == 1 and summary.runs_added == 5
    assert list(summary.failures) == ["01KZZZZZZZZZZZZZZZZZZZZZZZ"]
    assert not list(tmp_path.glob("*/01KZZZZZZZZZZZZZZZZZZZZZZZ*"))
    assert set(ccf.read_results(tmp_path)["run_slug"]) == set(final["slug"])


def test_a_bad_key_stops_at_once(big, tmp_path):
    srv, frame = big
    with ccf.Client(base_url=srv.url, api_key="wrong-key") as client:
        with pytest.raises(ccf.AuthenticationError):
            ccf.sync_results(tmp_path, frame, client=client, progress=False)


def test_an_unreachable_host_stops_the_sync_at_once(big, tmp_path):
    _, frame = big
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with ccf.Client(base_url=f"http://127.0.0.1:{port}", api_key="k") as client:
        with pytest.raises(ccf.ConnectionFailedError, match=f"127.0.0.1:{port}"):
            ccf.sync_results(tmp_path, frame, client=client, progress=False)
    # Only runs whose records count no rows may be stored: they need no request.
    assert len(ccf.read_results(tmp_path)) == 0


@pytest.mark.slow
def test_ctrl_c_stops_the_sync_and_every_stored_run_is_whole(tmp_path, monkeypatch):
    written = []

    def write_then_interrupt(*args):
        path = write_run(*args)
        written.append(path)
        if len(written) == 3:  # Ctrl-C while the sync is surely running
            _thread.interrupt_main()
        return path

    monkeypatch.setattr(results_store, "_write_run", write_then_interrupt)
    with serve(**BIG, latency=0.05) as srv:
        frame = run_frame(srv)
        started = time.monotonic()
        with client_for(srv) as client, pytest.raises(KeyboardInterrupt):
            ccf.sync_results(tmp_path, frame, client=client, progress=False)
        assert time.monotonic() - started < 5
        monkeypatch.undo()
        complete = expected_rows(srv, final_slugs(frame))
        stored = ccf.read_results(tmp_path)
        assert 3 <= len(files_in(tmp_path)) < len(final_slugs(frame))
        for slug, rows in stored.groupby("run_slug"):
            assert len(rows) == (complete["run_slug"] == slug).sum()
        with client_for(srv) as client:
            ccf.sync_results(tmp_path, frame, client=client, progress=False)
        same_rows(ccf.read_results(tmp_path), complete)


@pytest.mark.parametrize(
    ("runs", "fields", "error", "match"),
    [
        ("01KSFDS8XWTJME33C08XMCR6B9", None, TypeError, "not a single string"),
        (["run-1"], None, ValueError, "'run-1' at position 1"),
        (pd.DataFrame({"slug": []}), None, ValueError, "without the column"),
        (["01KSFDS8XWTJME33C08XMCR6B9"], "title", TypeError, r"wrap it as \['title'\]"),
        (["01KSFDS8XWTJME33C08XMCR6B9"], ["a,b"], ValueError, "without commas"),
        (["01KSFDS8XWTJME33C08XMCR6B9"], ["a", "a"], ValueError, "more than once"),
        (["01KSFDS8XWTJME33C08XMCR6B9"], [], ValueError, "is empty"),
    ],
)
def test_bad_input_is_refused_before_any_request(sandbox, tmp_path, runs, fields, error, match):
    before = sandbox.counters.total
    with client_for(sandbox) as client:
        with pytest.raises(error, match=match):
            ccf.sync_results(tmp_path / "rows", runs, client=client, fields=fields)
    assert sandbox.counters.total == before
    assert not (tmp_path / "rows").exists()


def test_without_a_key_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv("CORECLAW_API_KEY", raising=False)
    with pytest.raises(ValueError, match="no API key"):
        ccf.sync_results(tmp_path / "rows", ["01KSFDS8XWTJME33C08XMCR6B9"], progress=False)
    assert not (tmp_path / "rows").exists()


def test_a_store_with_no_run_reads_as_an_empty_frame(sandbox, tmp_path):
    with client_for(sandbox) as client:
        summary = ccf.sync_results(tmp_path, [], client=client, progress=False)
    assert (summary.runs_added, summary.requests) == (0, 0)
    rows = ccf.read_results(tmp_path)
    assert list(rows.columns) == ["run_slug"] and len(rows) == 0


def test_a_path_that_is_not_a_store_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="other files in it"):
        ccf.sync_results(tmp_path, [], progress=False)
    with pytest.raises(ValueError, match="is a file"):
        ccf.sync_results(tmp_path / "notes.txt", [], progress=False)
    with pytest.raises(FileNotFoundError, match="no results store"):
        ccf.read_results(tmp_path)


@pytest.mark.parametrize("text", ["null", "{not json", '{"format": 9, "fields": null}'])
def test_a_damaged_settings_file_is_named_before_any_request(sandbox, tmp_path, text):
    (tmp_path / "_results_store.json").write_text(text)
    before = sandbox.counters.total
    with client_for(sandbox) as client, pytest.raises(ValueError, match=r"_results_store\.json"):
        ccf.sync_results(tmp_path, ["01KSFDS8XWTJME33C08XMCR6B9"], client=client)
    with pytest.raises(ValueError, match="delete it to start over"):
        ccf.read_results(tmp_path)
    assert sandbox.counters.total == before


def test_the_progress_bar_shows_the_counts(big, tmp_path, capsys):
    srv, frame = big
    with client_for(srv) as client:
        ccf.sync_results(tmp_path, frame.head(6), client=client, progress=True)
    err = capsys.readouterr().err
    assert "added" in err and "pending" in err and "requests" in err


SYNC_SCRIPT = """
import sys, coreclaw_frames as ccf, pandas as pd
frame = pd.read_pickle(sys.argv[2])
with ccf.Client(base_url=sys.argv[3], api_key=sys.argv[4], api_version="v2") as client:
    print(ccf.sync_results(sys.argv[1], frame, client=client, progress=False), flush=True)
"""


def start_sync(store, frame_file, srv):
    return subprocess.Popen(
        [sys.executable, "-c", SYNC_SCRIPT, str(store), str(frame_file), srv.url, srv.api_key],
        stdout=subprocess.DEVNULL,
    )


def files_in(store):
    return [p for p in Path(store).glob("worker=*/*.parquet")]


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [1, 6, 14])
def test_killed_anywhere_then_rerun_stores_every_row_exactly_once(tmp_path, kill_after):
    with serve(**BIG, latency=0.02) as srv:
        frame = run_frame(srv)
        frame.to_pickle(tmp_path / "frame.pkl")
        store = tmp_path / "store"
        process = start_sync(store, tmp_path / "frame.pkl", srv)
        deadline = time.monotonic() + 60
        while len(files_in(store)) < kill_after and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait()
        stored = ccf.read_results(store)  # readable, whatever the moment
        complete = expected_rows(srv, final_slugs(frame))
        for slug, rows in stored.groupby("run_slug"):
            assert len(rows) == (complete["run_slug"] == slug).sum()  # no part of a run
        with client_for(srv) as client:
            ccf.sync_results(store, frame, client=client, progress=False)
        same_rows(ccf.read_results(store), complete)
    assert not [p for p in store.rglob("*") if p.name.startswith(".")]


@pytest.mark.slow
def test_two_processes_syncing_one_store_lose_and_duplicate_nothing(tmp_path):
    with serve(**BIG, latency=0.01) as srv:
        frame = run_frame(srv)
        frame.to_pickle(tmp_path / "frame.pkl")
        store = tmp_path / "store"
        ccf.sync_results(store, frame.head(0), client=client_for(srv), progress=False)
        processes = [start_sync(store, tmp_path / "frame.pkl", srv) for _ in range(2)]
        for process in processes:
            assert process.wait(timeout=120) == 0
        same_rows(ccf.read_results(store), expected_rows(srv, final_slugs(frame)))
    assert len(files_in(store)) == len(final_slugs(frame))


def test_cli_sync_results_from_a_run_file_and_from_slugs(big, tmp_path, monkeypatch, capsys):
    from coreclaw_frames.cli import main

    srv, frame = big
    monkeypatch.setenv("CORECLAW_BASE_URL", srv.url)
    monkeypatch.setenv("CORECLAW_API_KEY", srv.api_key)
    ccf.to_parquet(frame, tmp_path / "runs.parquet")
    assert main(["sync-results", str(tmp_path / "a"), str(tmp_path / "runs.parquet")]) == 0
    first = capsys.readouterr().out
    assert main(["sync-results", str(tmp_path / "a"), str(tmp_path / "runs.parquet")]) == 0
    second = capsys.readouterr().out
    assert "0 runs added" not in first and "; 0 requests, 0 downloads" in second
    (tmp_path / "slugs.txt").write_text("\n".join(frame["slug"].head(5)) + "\n")
    assert (
        main(
            ["sync-results", str(tmp_path / "b"), str(tmp_path / "slugs.txt"), "--fields", "title"]
        )
        == 0
    )
    assert "Synced" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--fields", "a,,b"], "--fields must be key names"),
        (["--column", "slug"], "--column is for a text or CSV file"),
    ],
)
def test_cli_sync_results_refuses_bad_usage(big, tmp_path, monkeypatch, capsys, arguments, message):
    from coreclaw_frames.cli import main

    srv, frame = big
    monkeypatch.setenv("CORECLAW_BASE_URL", srv.url)
    monkeypatch.setenv("CORECLAW_API_KEY", srv.api_key)
    ccf.to_parquet(frame, tmp_path / "runs.parquet")
    before = srv.counters.total
    status = main(["sync-results", str(tmp_path / "s"), str(tmp_path / "runs.parquet"), *arguments])
    assert status == 2
    assert message in capsys.readouterr().err
    assert srv.counters.total == before


def test_cli_sync_results_exits_1_naming_failed_runs(big, tmp_path, monkeypatch, capsys):
    from coreclaw_frames.cli import main

    srv, frame = big
    monkeypatch.setenv("CORECLAW_BASE_URL", srv.url)
    monkeypatch.setenv("CORECLAW_API_KEY", srv.api_key)
    (tmp_path / "slugs.txt").write_text(f"{frame['slug'].iloc[0]}\n01KZZZZZZZZZZZZZZZZZZZZZZZ\n")
    assert main(["sync-results", str(tmp_path / "s"), str(tmp_path / "slugs.txt")]) == 1
    captured = capsys.readouterr()
    assert "01KZZZZZZZZZZZZZZZZZZZZZZZ" in captured.err
    assert "Synced" in captured.out
    assert os.environ["CORECLAW_API_KEY"] not in captured.err + captured.out
