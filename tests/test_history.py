"""list_runs and account_info over real HTTP against the sandbox."""

from decimal import Decimal

import pandas as pd
import pytest

import coreclaw_frames as ccf
from coreclaw_frames.sandbox import serve
from coreclaw_frames.schema import RUN_DTYPES, STATUS_LABELS


def slugs_of(records):
    return [r["slug"] for r in records]


@pytest.fixture
def client(sandbox):
    with ccf.Client(api_key=sandbox.api_key, base_url=sandbox.url) as c:
        yield c


def test_list_runs_returns_exactly_the_sandbox_runs(sandbox, client):
    df = ccf.list_runs(client=client, progress=False)
    assert list(df["slug"]) == slugs_of(sandbox.account.runs)  # all of them, newest first
    assert len(df) > 1000  # more than any silent first-page or first-1000 cut
    assert dict(df.dtypes) == {k: pd.api.types.pandas_dtype(v) for k, v in RUN_DTYPES.items()}
    assert df["usage"].sum() == sum(Decimal(r["usage"]) for r in sandbox.account.runs)


def test_list_runs_frame_equals_fetch_runs_frame(sandbox, client):
    listed = ccf.list_runs(client=client, progress=False, max_runs=120)
    fetched = ccf.fetch_runs(listed["slug"], client=client, progress=False)
    pd.testing.assert_frame_equal(
        listed.drop(columns="fetched_at"), fetched.drop(columns="fetched_at")
    )


@pytest.mark.parametrize("status", ["failed", 4, "running", 1, "aborted"])
def test_status_filter_by_label_or_code(sandbox, client, status):
    code = status if isinstance(status, int) else STATUS_LABELS.index(status) + 1
    df = ccf.list_runs(status=status, client=client, progress=False)
    expected = [r for r in sandbox.account.runs if r["status"] == code]
    assert expected and list(df["slug"]) == slugs_of(expected)


def test_status_zero_means_all(sandbox, client):
    assert len(ccf.list_runs(status=0, client=client, progress=False)) == len(sandbox.account.runs)


def test_worker_and_status_filters_combine(sandbox, client):
    worker = sandbox.account.workers[1].slug
    df = ccf.list_runs(scraper_slug=worker, status="succeeded", client=client, progress=False)
    expected = [r for r in sandbox.account.runs if r["scraper_slug"] == worker and r["status"] == 3]
    assert expected and list(df["slug"]) == slugs_of(expected)


def test_unknown_worker_gives_empty_frame(client):
    df = ccf.list_runs(scraper_slug="01KZZZZZZZZZZZZZZZZZZZZZZZ", client=client, progress=False)
    assert len(df) == 0 and list(df.columns) == list(RUN_DTYPES)


@pytest.mark.parametrize(("runs", "requests"), [(200, 2), (201, 3), (100, 1), (0, 1)])
def test_paging_stops_at_count(runs, requests):
    with serve(runs=runs) as srv, ccf.Client(api_key=srv.api_key, base_url=srv.url) as client:
        df = ccf.list_runs(client=client, progress=False)
        assert list(df["slug"]) == slugs_of(srv.account.runs)
        assert srv.counters.requests_by_path["/api/v1/run/list"] == requests


def test_max_runs_takes_the_newest(sandbox, client):
    df = ccf.list_runs(client=client, progress=False, max_runs=150)
    assert list(df["slug"]) == slugs_of(sandbox.account.runs[:150])


def test_runs_shifting_between_pages_appear_once():
    # 480 runs + 7 new per request: the last old runs are pushed onto a sixth page while
    # the first five are fetched, so only the catch-up round finds them.
    with serve(runs=480, grow_on_list=7) as srv:
        before = slugs_of(srv.account.runs)
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, max_workers=1) as client:
            df = ccf.list_runs(client=client, progress=False)
        assert df["slug"].is_unique
        assert set(before) <= set(df["slug"])  # every run that existed is there, once
        assert srv.counters.requests_by_path["/api/v1/run/list"] == 6


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"status": "done"}, ValueError, "status must be one of"),
        ({"status": 9}, ValueError, "got 9"),
        ({"scraper_slug": "news"}, ValueError, "scraper_slug must be a 26-character"),
        ({"scraper_slug": 5}, TypeError, "scraper_slug must be a slug string"),
        ({"max_runs": -1}, ValueError, "max_runs"),
        ({"max_runs": 2.5}, ValueError, "max_runs"),
        ({"progress": 1}, TypeError, "progress"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(sandbox, client, kwargs, error, match):
    before = sandbox.counters.total
    with pytest.raises(error, match=match):
        ccf.list_runs(client=client, **kwargs)
    assert sandbox.counters.total == before


def test_a_page_that_never_arrives_is_an_error_not_a_gap():
    with serve(runs=300, fault_rate=1.0, faults=("http_503",), max_consecutive_faults=50) as srv:
        with (
            ccf.Client(api_key=srv.api_key, base_url=srv.url, max_retries=1) as client,
            pytest.raises(ccf.CoreClawError, match="HTTP 503 after 2 attempts"),
        ):
            ccf.list_runs(client=client, progress=False)


def test_account_info_is_exact(sandbox, client):
    info = ccf.account_info(client=client)
    assert info.balance == Decimal(sandbox.account.balance)
    assert isinstance(info.balance, Decimal)
    assert info.traffic == sandbox.account.traffic
    assert info.traffic_expiration_at == pd.Timestamp(
        sandbox.account.traffic_expiration_at, unit="s", tz="UTC"
    )
    assert str(info.traffic_expiration_at.tz) == "UTC"


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"balance": 12.5, "traffic": 1, "traffic_expiration_at": 2},  # a float, not a string
        {"balance": "abc", "traffic": 1, "traffic_expiration_at": 2},
        {"balance": "NaN", "traffic": 1, "traffic_expiration_at": 2},
        {"balance": "1.5", "traffic": "1", "traffic_expiration_at": 2},
        {"balance": "1.5", "traffic": 1},
    ],
)
def test_malformed_account_info_is_an_error(canned, data):
    with pytest.raises(ccf.TransportError, match="malformed answer: account/info"):
        ccf.account_info(client=canned(data))


@pytest.mark.parametrize(
    "data",
    [None, {"count": 1}, {"count": "1", "list": []}, {"count": 1, "list": [{"no": "slug"}]}],
)
def test_malformed_run_list_is_an_error(canned, data):
    with pytest.raises(ccf.TransportError, match="malformed answer: run/list page 1"):
        ccf.list_runs(client=canned(data), progress=False)


@pytest.mark.parametrize("data", [None, ["x"], {"slug": "01KSFDS8XWTJME33C08XMCR6B8"}])
def test_malformed_run_detail_becomes_fetch_error(canned, data):
    slug = "01KSFDS8XWTJME33C08XMCR6B9"
    df = ccf.fetch_runs([slug], client=canned(data), errors="coerce", progress=False)
    assert df.loc[0, "fetch_error"].startswith("malformed answer")
