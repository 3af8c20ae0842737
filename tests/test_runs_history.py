"""list_runs and account_info for both API versions: over real HTTP against the sandbox, and
against answers shaped by a test, served from memory (MockTransport)."""

import json
import math
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import coreclaw_frames as ccf
from coreclaw_frames.sandbox import build_account, serve, v2_run_record
from coreclaw_frames.sandbox._v2 import month_bounds
from coreclaw_frames.schema import RUN_DTYPES

UTC8 = timezone(timedelta(hours=8))
V1_STATUSES = {1: "ready", 2: "running", 3: "succeeded", 4: "failed", 5: "aborted"}
LIST_ROUTE = {"v1": "v1 run/list", "v2": "v2 worker-runs list"}
CONTRACT = Path(__file__).parent / "contract"


def slugs_of(records):
    return [r["slug"] for r in records]


def this_month(account):
    """The runs v2 lists by default: created in the account clock's month (UTC+8)."""
    low, high = month_bounds(account.now)
    return [r for r in account.runs if low <= account.created_at(r["slug"]) < high]


def client_of(srv, api_version, **kwargs):
    return ccf.Client(api_key=srv.api_key, base_url=srv.url, api_version=api_version, **kwargs)


@pytest.fixture
def client(sandbox, api_version):
    with client_of(sandbox, api_version) as c:
        yield c


def test_v1_lists_every_run_and_v2_the_current_month(sandbox, client, api_version):
    df = ccf.list_runs(client=client, progress=False)
    account = sandbox.account
    expected = account.runs if api_version == "v1" else this_month(account)
    assert list(df["slug"]) == slugs_of(expected)  # all of them, newest first
    assert len(df) > 300  # more than any silent first-page cut
    assert dict(df.dtypes) == {k: pd.api.types.pandas_dtype(v) for k, v in RUN_DTYPES.items()}
    assert df["usage"].sum() == sum(Decimal(r["usage"]) for r in expected)


def test_since_walks_every_month_on_v2_and_every_page_on_v1(sandbox, client, api_version):
    account = sandbox.account
    oldest = min(account.created_at(s) for s in slugs_of(account.runs))
    since = pd.Timestamp(oldest, unit="s")  # naive: UTC
    df = ccf.list_runs(since=since, client=client, progress=False)
    if api_version == "v2":
        assert list(df["slug"]) == slugs_of(account.runs)  # six months, nothing lost
    else:
        started = [r for r in account.runs if r["started_at"] == 0 or r["started_at"] >= oldest]
        assert list(df["slug"]) == slugs_of(started)


def month_edges(start_year, start_month, months):
    """Unix seconds of each month start, UTC+8 and UTC, over ``months`` months."""
    edges = []
    for i in range(months + 1):
        year, month = divmod(start_month - 1 + i, 12)
        for zone in (UTC8, UTC):
            edges.append(int(datetime(start_year + year, month + 1, 1, tzinfo=zone).timestamp()))
    return edges


def test_history_across_four_months_keeps_every_run_at_every_month_edge():
    account = build_account(runs=0, now=int(datetime(2026, 3, 20, tzinfo=UTC).timestamp()))
    edges = month_edges(2025, 11, 4)  # Nov 2025 .. Mar 2026, both time zones
    created = sorted({edge + d for edge in edges for d in (-1, 0, 1)})
    runs = {account.add_run(created_at=t)["slug"]: t for t in created}
    since = datetime(2025, 11, 1, tzinfo=UTC8)
    until = datetime(2026, 3, 1, tzinfo=UTC8)
    inside = {s for s, t in runs.items() if since.timestamp() <= t < until.timestamp()}
    with serve(account=account) as srv, client_of(srv, "v2") as client:
        df = ccf.list_runs(since=since, until=until, client=client, progress=False)
        listings = srv.counters.requests_by_route[LIST_ROUTE["v2"]]
    assert set(df["slug"]) == inside and df["slug"].is_unique  # none lost, none refused
    assert listings == 4  # one listing per month, each one page
    order = [runs[s] for s in df["slug"]]
    assert order == sorted(order, reverse=True)  # newest first across months


def test_v2_until_includes_the_rest_of_its_day():
    account = build_account(runs=0, now=int(datetime(2026, 3, 20, tzinfo=UTC).timestamp()))
    day = int(datetime(2026, 3, 10, tzinfo=UTC8).timestamp())
    early, late, next_day = (
        account.add_run(created_at=t)["slug"] for t in (day, day + 7200, day + 86400)
    )
    with serve(account=account) as srv, client_of(srv, "v2") as client:
        df = ccf.list_runs(
            since=pd.Timestamp(day - 3600, unit="s", tz="UTC"),
            until=pd.Timestamp(day + 3600, unit="s", tz="UTC"),
            client=client,
            progress=False,
        )
    assert set(df["slug"]) == {early, late} and next_day not in set(df["slug"])


@pytest.mark.parametrize("status", ["failed", 4, "running", 1, "aborted", "aborting"])
def test_status_filter(sandbox, api_version, status):
    label = V1_STATUSES.get(status, status)
    with client_of(sandbox, api_version) as client:
        df = ccf.list_runs(status=status, client=client, progress=False)
    listed = sandbox.account.runs if api_version == "v1" else this_month(sandbox.account)
    wanted = {"aborted": 5, "aborting": 5}.get(label) or {v: k for k, v in V1_STATUSES.items()}[
        label
    ]
    expected = [r for r in listed if r["status"] == wanted]
    assert expected and list(df["slug"]) == slugs_of(expected)


def test_status_zero_means_all(sandbox, client, api_version):
    df = ccf.list_runs(status=0, client=client, progress=False)
    expected = sandbox.account.runs if api_version == "v1" else this_month(sandbox.account)
    assert len(df) == len(expected)


def test_worker_and_status_filters_combine(sandbox, client, api_version):
    worker = sandbox.account.workers[1].slug
    df = ccf.list_runs(scraper_slug=worker, status="succeeded", client=client, progress=False)
    listed = sandbox.account.runs if api_version == "v1" else this_month(sandbox.account)
    expected = [r for r in listed if r["scraper_slug"] == worker and r["status"] == 3]
    assert expected and list(df["slug"]) == slugs_of(expected)


def test_v2_takes_owner_tilde_name_workers(sandbox):
    worker = next(w for w in sandbox.account.workers if w.path)
    with client_of(sandbox, "v2") as client:
        by_path = ccf.list_runs(scraper_slug=worker.path, client=client, progress=False)
        by_ulid = ccf.list_runs(scraper_slug=worker.slug, client=client, progress=False)
    expected = [r for r in this_month(sandbox.account) if r["scraper_slug"] == worker.slug]
    assert expected and list(by_path["slug"]) == list(by_ulid["slug"]) == slugs_of(expected)
    assert set(by_path["scraper_slug"]) == {worker.path}


def test_unknown_worker_gives_empty_frame(client):
    df = ccf.list_runs(scraper_slug="01KZZZZZZZZZZZZZZZZZZZZZZZ", client=client, progress=False)
    assert len(df) == 0 and list(df.columns) == list(RUN_DTYPES)


@pytest.mark.parametrize(("runs", "requests"), [(200, 2), (201, 3), (100, 1), (0, 1)])
def test_paging_stops_at_count(runs, requests, api_version):
    with serve(runs=runs) as srv, client_of(srv, api_version) as client:
        since = pd.Timestamp("2025-01-01") if api_version == "v2" else None
        df = ccf.list_runs(since=since, client=client, progress=False)
        assert list(df["slug"]) == slugs_of(srv.account.runs)
        sent = srv.counters.requests_by_route[LIST_ROUTE[api_version]]
        created = [srv.account.created_at(s) for s in slugs_of(srv.account.runs)]
    if api_version == "v2":  # one listing per month up to this one, a page per 100 runs in it
        requests, month = 0, int(since.tz_localize("UTC").timestamp())
        while month <= time.time():
            low, high = month_bounds(month)
            requests += max(1, math.ceil(sum(low <= t < high for t in created) / 100))
            month = high
    assert sent == requests


def test_max_runs_takes_the_newest(sandbox, client, api_version):
    df = ccf.list_runs(client=client, progress=False, max_runs=150)
    listed = sandbox.account.runs if api_version == "v1" else this_month(sandbox.account)
    assert list(df["slug"]) == slugs_of(listed[:150])


def test_runs_shifting_between_pages_appear_once(api_version):
    # 480 runs + 7 new per request, read with the default number of workers: the pages move
    # while they are read, in parallel.
    for _ in range(3):
        with serve(runs=0, grow_on_list=7) as srv:
            account = srv.account
            for i in range(480):
                account.add_run(created_at=account.now - 10_000 + i)
            before = set(slugs_of(account.runs))
            with client_of(srv, api_version) as client:
                df = ccf.list_runs(client=client, progress=False)
        assert df["slug"].is_unique
        assert before <= set(df["slug"])  # every run that existed is there, once


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"status": "done"}, ValueError, "status must be one of"),
        ({"status": 9}, ValueError, "got 9"),
        ({"scraper_slug": "news worker"}, ValueError, "scraper_slug must be a 26-character"),
        ({"scraper_slug": 5}, TypeError, "scraper_slug must be a worker slug string"),
        ({"max_runs": -1}, ValueError, "max_runs"),
        ({"max_runs": 2.5}, ValueError, "max_runs"),
        ({"progress": 1}, TypeError, "progress"),
        ({"since": 1773300000}, TypeError, r"pd.Timestamp\(1773300000, unit='s'\)"),
        ({"since": "last tuesday"}, ValueError, "since must be a date or time"),
        ({"until": float("nan")}, TypeError, "until must be a date"),
        ({"since": "2026-03-01", "until": "2026-02-01"}, ValueError, "until must be after since"),
        ({"since": pd.NaT}, ValueError, "NaT"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    mock_client, api_version, kwargs, error, match
):
    asked = []
    client = mock_client(asked.append, api_version=api_version)
    with pytest.raises(error, match=match):
        ccf.list_runs(client=client, **kwargs)
    assert asked == []


def test_v1_refuses_an_owner_tilde_name_worker_before_any_request(mock_client):
    asked = []
    client = mock_client(asked.append, api_version="v1")
    with pytest.raises(
        ValueError, match=r"^scraper_slug must be a 26-character ULID on API v1, got 'acme~"
    ):
        ccf.list_runs(scraper_slug="acme~price-monitor", client=client)
    assert asked == []


def test_a_page_that_never_arrives_is_an_error_not_a_gap(api_version):
    with serve(runs=300, fault_rate=1.0, faults=("http_503",), max_consecutive_faults=50) as srv:
        with (
            client_of(srv, api_version, max_retries=1) as client,
            pytest.raises(ccf.CoreClawError, match="HTTP 503 after 2 attempts"),
        ):
            ccf.list_runs(since="2025-06-01", client=client, progress=False)


def test_account_info_is_exact(sandbox, client, api_version):
    info = ccf.account_info(client=client)
    account = sandbox.account
    assert info.balance == Decimal(account.balance) and isinstance(info.balance, Decimal)
    if api_version == "v1":
        assert info.traffic == account.traffic
        assert info.traffic_expiration_at == pd.Timestamp(
            account.traffic_expiration_at, unit="s", tz="UTC"
        )
        assert info.balance_expiration_at is pd.NaT
    else:
        assert info.balance_expiration_at == pd.Timestamp(
            account.balance_expiration_at, unit="s", tz="UTC"
        )
        assert info.traffic is None and info.traffic_expiration_at is pd.NaT
    for stamp in (info.balance_expiration_at, info.traffic_expiration_at):
        assert stamp is pd.NaT or str(stamp.tz) == "UTC"


def expiry_field(api_version):
    return "balance_expiration_at" if api_version == "v2" else "traffic_expiration_at"


ACCOUNT_PATHS = {"v1": "/api/v1/account/info", "v2": "/api/v2/users/account"}


def account_client(mock_client, api_version, **changes):
    """A client whose account answer is the documented example with ``changes``."""
    answer = json.loads((CONTRACT / f"account_{api_version}.json").read_text())
    answer["data"].update(changes)

    def handler(request):
        assert request.path == ACCOUNT_PATHS[api_version]
        return 200, {}, answer

    return mock_client(handler, api_version=api_version), answer["data"]


def test_account_times_in_milliseconds_are_read_as_milliseconds(mock_client, api_version):
    name = expiry_field(api_version)
    seconds = 1782091200
    client, _ = account_client(mock_client, api_version, **{name: seconds * 1000 + 250})
    info = ccf.account_info(client=client)
    assert getattr(info, name) == pd.Timestamp(seconds, unit="s", tz="UTC")
    assert info.fetch_error is None
    assert repr(info).startswith("AccountInfo(balance=")


@pytest.mark.parametrize("value", [10**18, -5, 2**70, 100])
def test_account_times_out_of_range_are_nat_and_flagged_keeping_the_balance(
    mock_client, api_version, value
):
    name = expiry_field(api_version)
    client, served = account_client(mock_client, api_version, **{name: value})
    info = ccf.account_info(client=client)
    assert getattr(info, name) is pd.NaT
    assert info.balance == Decimal(served["balance"])
    assert info.fetch_error == f"malformed account info: {name}={value!r} out of range"
    assert "fetch_error='malformed account info" in repr(info)  # repr never raises


def test_an_account_time_of_zero_means_none(mock_client, api_version):
    client, _ = account_client(mock_client, api_version, **{expiry_field(api_version): 0})
    info = ccf.account_info(client=client)
    assert getattr(info, expiry_field(api_version)) is pd.NaT and info.fetch_error is None


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"balance": 12.5, "traffic": 1, "traffic_expiration_at": 2},  # a float, not a string
        {"balance": "abc", "balance_expiration_at": 2},
        {"balance": "NaN", "balance_expiration_at": 2},
        {"balance": "1.5", "traffic": "1", "traffic_expiration_at": 2},
        {"balance": "1.5", "balance_expiration_at": "2"},
        {"balance": "1.5"},
    ],
)
def test_malformed_account_info_is_an_error(canned, data, api_version):
    with pytest.raises(ccf.TransportError, match="malformed answer to account info"):
        ccf.account_info(client=canned(data, api_version=api_version))


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"count": 1},
        {"count": "1", "list": []},
        {"count": True, "list": []},
        {"count": 1, "list": [{"no": "slug"}]},
        {"count": 1, "list": ["x"]},
    ],
)
def test_malformed_run_list_is_an_error(canned, data, api_version):
    with pytest.raises(ccf.TransportError, match="malformed answer to Run History page 1"):
        ccf.list_runs(client=canned(data, api_version=api_version), progress=False)


@pytest.mark.parametrize("data", [None, ["x"], {"slug": "01KSFDS8XWTJME33C08XMCR6B8"}])
def test_malformed_run_detail_becomes_fetch_error(canned, data, api_version):
    slug = "01KSFDS8XWTJME33C08XMCR6B9"
    client = canned(data, api_version=api_version)
    df = ccf.fetch_runs([slug], client=client, errors="coerce", progress=False)
    assert df.loc[0, "fetch_error"].startswith("malformed answer to run detail")


class PagedList:
    """A v2 Run History of ``records`` that serves at most ``page_cap`` runs a page, whatever
    ``limit`` asks, and claims ``count`` (default: the truth); records the pages asked for."""

    def __init__(self, records, page_cap=100, count=None):
        self.records, self.page_cap, self.count = records, page_cap, count
        self.asked = []

    def __call__(self, request):
        limit, page = int(request.params["limit"]), int(request.params["offset"])
        self.asked.append(page)
        size = min(limit, self.page_cap)
        items = self.records[(page - 1) * size : page * size]
        count = len(self.records) if self.count is None else self.count
        return 200, {}, {"code": 0, "data": {"count": count, "list": items}}


@pytest.fixture
def paged_list(mock_client):
    """``paged_list(**settings)``: a client of a PagedList of 480 runs, and the list."""

    def start(**settings):
        account = build_account(seed=6, runs=480)
        handler = PagedList([v2_run_record(account, r) for r in account.runs], **settings)
        return mock_client(handler), handler

    return start


def test_a_server_serving_smaller_pages_than_asked_still_gives_every_run(paged_list):
    client, handler = paged_list(page_cap=50)
    df = ccf.list_runs(client=client, progress=False)
    assert list(df["slug"]) == [r["slug"] for r in handler.records]  # all 480, not 240
    assert sorted(handler.asked) == list(range(1, 11))


@pytest.mark.parametrize("count", [10**12, 5000])
def test_a_count_the_pages_never_reach_is_an_error_not_a_short_frame(paged_list, count):
    client, handler = paged_list(count=count)
    with pytest.raises(ccf.TransportError, match="Run History"):
        ccf.list_runs(client=client, progress=False)
    assert len(handler.asked) <= 1 + 64  # nothing scheduled for pages that cannot exist


def test_a_deeply_nested_answer_fails_its_row_only(canned):
    body = b'{"code": 0, "data": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    client = canned(body=body)
    df = ccf.fetch_runs(
        ["01KSFDS8XWTJME33C08XMCR6B9"], client=client, errors="coerce", progress=False
    )
    assert df.loc[0, "fetch_error"].startswith("malformed answer to run detail")
