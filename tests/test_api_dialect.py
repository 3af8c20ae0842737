"""The wire versions: envelopes, error codes, canonical records, month windows (no network)."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coreclaw_frames._errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)
from coreclaw_frames.api._dialect import RunFilter, parse_retry_after
from coreclaw_frames.api._v1 import V1
from coreclaw_frames.api._v2 import MONTH_ZONE, V2, month_windows
from coreclaw_frames.api._values import is_final

CONTRACT = "tests/contract"


def envelope(code, message="m", **extra):
    return json.dumps({"code": code, "message": message, **extra}).encode()


def test_success_returns_data():
    assert V1.unwrap(200, {}, b'{"code": 0, "message": "success", "data": [1, 2]}', "x") == [1, 2]
    body = b'{"code": 0, "data": {"a": 1}, "message": "success", "request_id": "r"}'
    assert V2.unwrap(200, {}, body, "x") == {"a": 1}


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (4000, InvalidRequestError),
        (4010, AuthenticationError),
        (4040, NotFoundError),
        (4290, RateLimitError),
        (5000, ServerError),
        (10001, AuthenticationError),
        (10002, AuthenticationError),
        (20001, AuthenticationError),
        (20002, AuthenticationError),
        (30001, InvalidRequestError),
        (50001, NotFoundError),
        (60001, NotFoundError),
        (70001, NotFoundError),
        (70002, InvalidRequestError),
    ],
)
def test_v1_codes(code, error):
    with pytest.raises(error) as info:
        V1.unwrap(200, {}, envelope(code, data=None), "run detail")
    assert info.value.code == code and info.value.http_status == 200


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (500, 10000, ServerError),
        (400, 11000, InvalidRequestError),
        (422, 11000, InvalidRequestError),
        (404, 11004, NotFoundError),
        (401, 12001, AuthenticationError),
        (401, 12002, AuthenticationError),
        (429, 13000, RateLimitError),
        (500, 14000, ServerError),
        (501, 16000, InvalidRequestError),
        (200, 30001, InvalidRequestError),
        (429, 30003, RateLimitError),
        (200, 70001, NotFoundError),
        (200, 70002, InvalidRequestError),
    ],
)
def test_v2_codes_carry_the_request_id(status, code, error):
    with pytest.raises(error) as info:
        V2.unwrap(status, {}, envelope(code, "why", request_id="req-77", details=None), "x")
    exc = info.value
    assert (exc.code, exc.http_status, exc.request_id) == (code, status, "req-77")
    assert "req-77" in str(exc) and "req-77" in exc.reason and str(code) in str(exc)


@pytest.mark.parametrize("dialect", [V1, V2])
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (502, ServerError),
        (503, ServerError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (429, RateLimitError),
        (404, NotFoundError),
        (400, InvalidRequestError),
    ],
)
def test_http_errors_with_html_bodies(dialect, status, error):
    with pytest.raises(error) as info:
        dialect.unwrap(status, {}, b"<html><body>gateway</body></html>", "x")
    assert info.value.code is None and info.value.http_status == status


def test_a_401_with_an_unlisted_code_still_stops_the_batch():
    with pytest.raises(AuthenticationError):
        V2.unwrap(401, {}, envelope(11000, request_id="r"), "x")


@pytest.mark.parametrize("dialect", [V1, V2])
@pytest.mark.parametrize(
    "body",
    [
        b'{"code": 0, "message": "succ',
        b"<html>oops</html>",
        b"[1, 2]",
        b'{"message": "x"}',
        b'{"code": false, "data": 1}',
        b'{"code": "0", "data": 1}',
        b'{"code": 0.0, "data": 1}',
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_malformed_bodies_are_transport_errors(dialect, body):
    with pytest.raises(TransportError, match="malformed answer to run detail"):
        dialect.unwrap(200, {}, body, "run detail")


def test_redirects_are_refused_and_name_the_host_without_credentials():
    with pytest.raises(InvalidRequestError, match=r"redirect to evil\.example:80 not followed"):
        V2.unwrap(307, {"Location": "http://user:pw@evil.example:80/api"}, b"", "x")


def test_retry_after():
    assert parse_retry_after({"Retry-After": "0"}) == 0.0
    assert parse_retry_after({"Retry-After": " 12 "}) == 12.0
    assert parse_retry_after({}) is None
    for unreadable in ("soon", "²", "1e3", "-5", "3.5"):
        assert parse_retry_after({"Retry-After": unreadable}) is None
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    with pytest.raises(RateLimitError) as info:
        V1.unwrap(429, {"Retry-After": "4"}, b"", "x")
    assert info.value.retry_after == 4.0


def test_requests_put_the_key_in_a_header_never_in_the_url():
    assert V1.auth_headers("K3Y") == {"api-key": "K3Y"}
    assert V2.auth_headers("K3Y") == {"Authorization": "Bearer K3Y"}
    for dialect in (V1, V2):
        for request in (
            dialect.run_detail("01KSFDS8XWTJME33C08XMCR6B9"),
            dialect.run_page(2, 100, RunFilter(worker="a~b", status="failed", created=(1, 2))),
            dialect.result_page("01KSFDS8XWTJME33C08XMCR6B9", 3, 100),
            dialect.account(),
        ):
            assert "K3Y" not in request.path and "token" not in request.params


def test_v2_requests_follow_the_documented_paths():
    slug = "01KSFDS8XWTJME33C08XMCR6B9"
    assert V2.run_detail(slug).path == f"/api/v2/worker-runs/{slug}"
    page = V2.run_page(3, 100, RunFilter(worker="acme~prices", status="aborted", created=(5, 6)))
    assert (page.method, page.path) == ("GET", "/api/v2/worker-runs")
    assert page.params == {
        "offset": 3,
        "limit": 100,
        "worker_id": "acme~prices",
        "status": "aborting",
        "start_time": 5,
        "end_time": 6,
    }
    assert V2.result_page(slug, 1, 20).params == {"offset": 1, "limit": 20}
    assert V2.account().path == "/api/v2/users/account"


def test_contract_examples_become_canonical_records():
    with open(f"{CONTRACT}/run_detail_v1.json") as f:
        v1 = V1.canonical_run(V1.unwrap(200, {}, f.read().encode(), "x"))
    with open(f"{CONTRACT}/run_detail_v2_no_err_msg.json") as f:
        v2 = V2.canonical_run(V2.unwrap(200, {}, f.read().encode(), "x"))
    assert v1["status"] == "running" and v1["err_msg"] == ""
    assert v2["status"] == "running" and "err_msg" not in v2
    assert v2["scraper_slug"] == "demo-worker" and v2["version"] == "latest"


@pytest.mark.parametrize(
    ("wire", "canonical"),
    [(1, "ready"), (3, "succeeded"), (5, "aborted"), (9, "9"), (True, True), ([3], [3])],
)
def test_v1_status_codes(wire, canonical):
    assert V1.canonical_run({"status": wire, "finished_at": 5})["status"] == canonical


def test_v1_run_being_aborted_is_aborting_until_it_ends():
    assert V1.canonical_run({"status": 5, "finished_at": 0})["status"] == "aborting"
    assert not is_final(V1.canonical_run({"status": 5, "finished_at": 0}))


@pytest.mark.parametrize(
    ("record", "final"),
    [
        ({"status": "succeeded"}, True),
        ({"status": "failed"}, True),
        ({"status": "aborted", "finished_at": 0}, True),
        ({"status": "aborting", "finished_at": 1773383790}, True),
        ({"status": "aborting", "finished_at": 0}, False),
        ({"status": "aborting"}, False),
        ({"status": "running", "finished_at": 5}, False),
        ({"status": "paused", "finished_at": 5}, False),
        ({"status": 3}, False),
    ],
)
def test_final_runs(record, final):
    assert is_final(record) is final


def test_account_fields_per_version():
    assert V1.canonical_account({"balance": "1", "traffic": 2, "traffic_expiration_at": 3}) == {
        "balance": "1",
        "balance_expiration_at": None,
        "traffic": 2,
        "traffic_expiration_at": 3,
    }
    assert V2.canonical_account({"balance": "1", "balance_expiration_at": 3}) == {
        "balance": "1",
        "balance_expiration_at": 3,
        "traffic": None,
        "traffic_expiration_at": None,
    }


def test_the_dialect_checks_the_account_answer_by_the_rules_for_run_times():
    assert V2.account_record({"balance": "100.00", "balance_expiration_at": 1782091200123}) == {
        "balance": Decimal("100.00"),
        "balance_expiration_at": 1782091200,  # milliseconds read as such
        "traffic": None,
        "traffic_expiration_at": None,
        "fetch_error": None,
    }
    v1 = V1.account_record({"balance": "1", "traffic": 5, "traffic_expiration_at": 10**18})
    assert v1["traffic"] == 5 and v1["traffic_expiration_at"] is None
    assert v1["fetch_error"] == (
        f"malformed account info: traffic_expiration_at={10**18} out of range"
    )
    with pytest.raises(TransportError, match="malformed answer to account info"):
        V1.account_record({"balance": "1.5", "traffic": "1", "traffic_expiration_at": 2})


@pytest.mark.parametrize(
    ("dialect", "worker", "taken"),
    [
        (V1, "01KQ7ZJ0Z4Y4ZRKAV3GZ7M3V0X", True),
        (V2, "01KQ7ZJ0Z4Y4ZRKAV3GZ7M3V0X", True),
        (V1, "acme~price-monitor", False),
        (V2, "acme~price-monitor", True),
        (V2, "price-monitor", True),
        (V2, "news worker", False),
        (V2, "~x", False),
    ],
)
def test_each_version_says_which_workers_its_filter_takes(dialect, worker, taken):
    assert dialect.is_worker(worker) is taken
    assert ("owner~name" in dialect.worker_forms) is (dialect is V2)


def utc8(*args):
    return int(datetime(*args, tzinfo=MONTH_ZONE).timestamp())


def test_month_windows_cut_at_midnight_utc8_and_end_on_a_day():
    since = utc8(2025, 11, 20, 13, 0)
    until = utc8(2026, 2, 1)
    assert month_windows(since, until, now=until) == [
        (utc8(2026, 1, 1), utc8(2026, 1, 31)),
        (utc8(2025, 12, 1), utc8(2025, 12, 31)),
        (since, utc8(2025, 11, 30)),
    ]


def test_month_windows_without_until_reach_the_end_of_the_current_month():
    now = utc8(2026, 3, 16, 9, 30)
    assert month_windows(utc8(2026, 2, 10), None, now) == [
        (utc8(2026, 3, 1), utc8(2026, 3, 31)),
        (utc8(2026, 2, 10), utc8(2026, 2, 28)),
    ]


@given(
    since=st.datetimes(datetime(2024, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC)),
    length=st.timedeltas(timedelta(seconds=1), timedelta(days=400)),
)
def test_month_windows_cover_the_range_each_within_one_month(since, length):
    start, end = int(since.timestamp()), int((since + length).timestamp())
    windows = sorted(month_windows(start, end, now=end))
    assert windows and windows[0][0] == start
    for (a, b), following in zip(windows, [*windows[1:], None], strict=True):
        assert b >= a  # the server refuses an end_time before start_time
        first, last = datetime.fromtimestamp(a, MONTH_ZONE), datetime.fromtimestamp(b, MONTH_ZONE)
        assert (first.year, first.month) == (last.year, last.month)  # never crosses a month
        # end_time is a day, or the start itself when the window starts on its last day
        assert (last.hour, last.minute, last.second) == (0, 0, 0) or b == a
        covered_until = b + 86_400
        if following is not None:
            assert covered_until >= following[0]  # no gap between months
            assert covered_until == following[0] or b == a  # overlap only past a late start
        else:
            assert covered_until >= end  # the last day is included whole


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (utc8(2026, 1, 31, 8, 0), None),  # a plain date (UTC) on a month's last day (UTC+8)
        (utc8(2026, 3, 16, 10, 0), utc8(2026, 3, 16, 18, 0)),  # since and until on one day
        (utc8(2026, 2, 28, 23, 59), utc8(2026, 3, 2)),  # the last minute of a month
    ],
)
def test_a_window_starting_on_its_last_day_never_ends_before_it_starts(since, until):
    now = utc8(2026, 3, 16, 12, 0)
    windows = month_windows(since, until, now)
    assert all(end >= start for start, end in windows)
    assert min(start for start, _ in windows) == since
    last_covered = max(end for _, end in windows) + 86_400
    assert last_covered >= (until if until is not None else utc8(2026, 4, 1))


def test_v1_history_filters_started_at_and_stops_paging_at_older_runs():
    records = [
        {"slug": "a", "started_at": 0},  # not started: counts as now
        {"slug": "b", "started_at": 500},
        {"slug": "c", "started_at": 300},
        {"slug": "d", "started_at": 100},
    ]
    calls = []

    def read(filters, *, limit=None, older=None):
        calls.append(older)
        return records

    kept = V1.history(
        read, since=200, until=None, now=lambda: 1000, filters=RunFilter(), limit=None
    )
    assert [r["slug"] for r in kept] == ["a", "b", "c"]
    assert calls[0](records[3]) and not calls[0](records[0])
    kept = V1.history(read, since=200, until=400, now=lambda: 1000, filters=RunFilter(), limit=None)
    assert [r["slug"] for r in kept] == ["c"]


def test_v2_history_asks_once_per_month_newest_first():
    asked = []

    def read(filters, *, limit=None, older=None):
        asked.append(filters.created)
        return [{"slug": str(filters.created)}]

    since, until = utc8(2026, 1, 15), utc8(2026, 3, 1)
    V2.history(read, since=since, until=until, now=lambda: until, filters=RunFilter(), limit=None)
    assert asked == [(utc8(2026, 2, 1), utc8(2026, 2, 28)), (since, utc8(2026, 1, 31))]
    asked.clear()
    V2.history(read, since=None, until=None, now=lambda: until, filters=RunFilter(), limit=None)
    assert asked == [None]  # the server's own default: the current month


def test_v2_history_lists_a_run_once_when_a_late_start_reaches_into_the_next_month():
    since = utc8(2026, 1, 31, 20, 0)  # the last day of January: its window reaches into February
    early_february = {"slug": "F", "created": utc8(2026, 2, 1, 3, 0)}
    january = {"slug": "J", "created": utc8(2026, 1, 31, 21, 0)}

    def read(filters, *, limit=None, older=None):
        start, end_day = filters.created
        return [r for r in (early_february, january) if start <= r["created"] < end_day + 86_400]

    now = utc8(2026, 2, 10)
    listed = V2.history(
        read, since=since, until=None, now=lambda: now, filters=RunFilter(), limit=None
    )
    assert [r["slug"] for r in listed] == ["F", "J"]


def test_v2_history_follows_a_server_clock_in_a_later_month():
    # This machine still says January; the first answer shows the server is in February.
    asked = []

    def now():
        return utc8(2026, 2, 1, 1, 0) if asked else utc8(2026, 1, 31, 22, 0)

    def read(filters, *, limit=None, older=None):
        asked.append(filters.created)
        return [{"slug": str(filters.created)}]

    listed = V2.history(
        read,
        since=utc8(2026, 1, 20),
        until=None,
        now=now,
        filters=RunFilter(),
        limit=None,
    )
    assert asked == [(utc8(2026, 1, 20), utc8(2026, 1, 31)), (utc8(2026, 2, 1), utc8(2026, 2, 28))]
    assert [r["slug"] for r in listed] == [str(asked[1]), str(asked[0])]  # newest month first
