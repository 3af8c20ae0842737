"""The sandbox's API v2 over real loopback HTTP: routes, auth, envelopes, the v2 record and its
quirks, month-bounded Run History, faults and the rate limit, counters, contract shapes, and the
account features v2 needs (creation times, the clock, `add_run`, `finish_runs`)."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from coreclaw_frames.sandbox import (
    AUTH_API_KEY,
    AUTH_BEARER,
    AUTH_NONE,
    AUTH_TOKEN_QUERY,
    DEFAULT_API_KEY,
    DISABLED_USER_API_KEY,
    EXPIRED_API_KEY,
    FAULT_KINDS,
    MAX_PAGE_SIZE,
    MISSING_RUN_MODES,
    ROUTE_V1_ACCOUNT_INFO,
    ROUTE_V1_NOT_FOUND,
    ROUTE_V1_RUN_DETAIL,
    ROUTE_V2_ACCOUNT,
    ROUTE_V2_NOT_FOUND,
    ROUTE_V2_RUN_DETAIL,
    ROUTE_V2_RUN_LIST,
    ROUTE_V2_RUN_RESULT,
    UNKNOWN_USER_API_KEY,
    Account,
    build_account,
    serve,
    v2_run_record,
)
from coreclaw_frames.sandbox._account import ANCHOR_TIMESTAMP

RUNS = "/api/v2/worker-runs"
ACCOUNT = "/api/v2/users/account"
V1_DETAIL = "/api/v1/run/detail"
V1_LIST = "/api/v1/run/list"
V1_ACCOUNT = "/api/v1/account/info"
UNKNOWN_SLUG = "01KSFDS8XWTJME33C08XMCR6B9"
UTC8 = timezone(timedelta(hours=8))
DAY = 86400
SLOW_CLIENT_TIMEOUT = 0.3
SHORT_SLOW = 1.0
V2_STATUSES = ("ready", "running", "succeeded", "failed", "aborting")
SUCCESS_KEYS = ["code", "data", "message", "request_id"]
ERROR_KEYS = ["code", "details", "message", "request_id"]
RECORD_KEYS = [
    "duration",
    "err_msg",
    "finished_at",
    "origin",
    "results",
    "scraper_slug",
    "scraper_title",
    "slug",
    "started_at",
    "status",
    "traffic",
    "usage",
    "version",
]
SIX_TITLES = {
    "News Collection 20260305",
    "E-commerce Product Details",
    "Job Board Listings",
    "Maps Places Extractor",
    "Social Profile Scraper",
    "Real Estate Listings",
}
CONTRACT = {
    path.stem: json.loads(path.read_text())
    for path in (Path(__file__).parent / "contract").glob("*.json")
}


def utc8(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Unix seconds of a wall-clock time in UTC+8."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC8).timestamp())


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Unix seconds of a wall-clock time in UTC."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp())


def created(account: Account, slug: str) -> int:
    """The creation time of a run that exists."""
    value = account.created_at(slug)
    assert value is not None
    return value


MARCH = (utc8(2026, 3, 1), utc8(2026, 4, 1))
"""The UTC+8 month of the default account's clock (2026-03-16T08:00+08:00)."""


def get(
    url: str,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    key: str | None = DEFAULT_API_KEY,
    scheme: str = "bearer",
    method: str = "GET",
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> requests.Response:
    """A v2 request carrying `key` by `scheme` (``bearer``, ``api-key`` or ``token``)."""
    all_headers = dict(headers or {})
    all_params = dict(params or {})
    if key is not None:
        if scheme == "bearer":
            all_headers["Authorization"] = f"Bearer {key}"
        elif scheme == "api-key":
            all_headers["api-key"] = key
        else:
            all_params["token"] = key
    return requests.request(
        method, url + path, params=all_params, headers=all_headers, timeout=timeout
    )


def ok(response: requests.Response) -> Any:
    """The `data` of a v2 success answer, after checking the whole envelope."""
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert list(document) == SUCCESS_KEYS
    assert (document["code"], document["message"]) == (0, "success")
    assert isinstance(document["request_id"], str) and document["request_id"]
    return document["data"]


def err(response: requests.Response, status: int) -> tuple[int, str]:
    """(code, message) of a v2 error answer with HTTP `status`, after checking its envelope."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert list(document) == ERROR_KEYS
    assert document["details"] is None and "data" not in document
    assert isinstance(document["request_id"], str) and document["request_id"]
    return document["code"], document["message"]


def all_pages(url: str, params: dict[str, Any] | None = None, limit: int = 100) -> list[Any]:
    """Every record of a v2 Run History query, page by page (offset = page number)."""
    rows: list[Any] = []
    page = 1
    while True:
        data = ok(get(url, RUNS, {**(params or {}), "offset": page, "limit": limit}))
        rows.extend(data["list"])
        if len(data["list"]) < limit:
            assert len(rows) == data["count"]
            return rows
        page += 1


def created_in(account: Account, low: int, high: int) -> list[dict[str, Any]]:
    """The v2 records of the runs created in [low, high), in Run History order."""
    return [
        v2_run_record(account, r) for r in account.runs if low <= created(account, r["slug"]) < high
    ]


def shape(value: Any) -> Any:
    """Key lists (in order) and JSON types, recursively (a list by its first item)."""
    if isinstance(value, dict):
        return [(key, shape(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


@pytest.fixture(scope="module")
def account_v2():
    """A default-sized account, read only."""
    return build_account(runs=5000)


# =========================================================================== the account


def test_same_seed_and_now_give_identical_accounts_and_the_default_now_is_fixed():
    now = utc(2027, 1, 15, 12)
    first, again = (
        build_account(seed=4, runs=400, now=now),
        build_account(seed=4, runs=400, now=now),
    )
    assert first.runs == again.runs and first.workers == again.workers
    assert [created(first, r["slug"]) for r in first.runs] == [
        created(again, r["slug"]) for r in again.runs
    ]
    assert first.now == now and first.balance_expiration_at > now
    default = build_account(seed=4, runs=400)
    assert default.now == ANCHOR_TIMESTAMP
    assert default.runs == build_account(seed=4, runs=400, now=ANCHOR_TIMESTAMP).runs
    assert default.runs != first.runs
    for account in (first, default):
        times = [created(account, r["slug"]) for r in account.runs]
        assert max(times) < account.now
        assert min(times) > account.now - 183 * DAY
    assert fingerprint(build_account(seed=0, runs=200)) == SEED_0_FINGERPRINT, "seed 0 changed"


def fingerprint(account: Account) -> str:
    """A short digest of everything seeded: records, creation times, workers and balance."""
    document = [
        [[record, created(account, record["slug"])] for record in account.runs],
        account.workers,
        account.balance,
    ]
    return hashlib.sha256(json.dumps(document).encode()).hexdigest()[:16]


SEED_0_FINGERPRINT = "1a30a080702cd849"
"""The fingerprint of `build_account(seed=0, runs=200)`: seeded data must not drift."""


@pytest.mark.parametrize("now", [True, "1773619200", 1.5e9, 10, 2**40])
def test_build_account_refuses_a_bad_now(now):
    with pytest.raises(ValueError, match="now"):
        build_account(runs=1, now=now)


def test_creation_times_lie_before_starts_and_ready_runs_in_the_last_hour():
    account = build_account(seed=2, runs=2000, now=utc(2026, 11, 30, 20))
    for record in account.runs:
        when = created(account, record["slug"])
        if record["started_at"]:
            assert 3 <= record["started_at"] - when <= 60
        else:
            assert record["status"] == 1 and account.now - 3600 <= when < account.now
    assert account.created_at(UNKNOWN_SLUG) is None


def test_workers_keep_their_titles_and_add_a_path_worker_and_a_latest_version():
    account = build_account(runs=3000)
    titles = {w.title for w in account.workers}
    assert titles > SIX_TITLES and len(account.workers) == 8
    paths = [w for w in account.workers if w.path]
    assert [(w.path, w.v2_id) for w in paths] == [("acme~price-monitor", "acme~price-monitor")]
    assert re.fullmatch(r"[0-9A-Z]{26}", paths[0].slug)  # v1 still knows it by a ULID
    assert account.worker("acme~price-monitor") is paths[0]
    assert account.worker(paths[0].slug) is paths[0] and account.worker("nope") is None
    assert any("latest" in w.versions for w in account.workers)
    versions = {r["version"] for r in account.runs}
    assert {"latest", "v1.0.9", "v1.0.10"} <= versions
    assert {r["scraper_slug"] for r in account.runs} == {w.slug for w in account.workers}


def test_some_aborted_runs_are_still_being_aborted():
    runs = build_account(runs=5000).runs
    aborted = [r for r in runs if r["status"] == 5]
    being = [r for r in aborted if r["finished_at"] == 0]
    assert 0.1 < len(being) / len(aborted) < 0.5
    assert all(r["duration"] == 0 and r["started_at"] > 0 for r in being)


def test_add_run_places_a_run_at_an_exact_creation_time():
    account = build_account(runs=20)
    count_before = account.list_runs(1, 100)[0]  # fills the cached view
    now = account.now
    acme = account.worker("acme~price-monitor")
    assert acme is not None
    records = [
        account.add_run(created_at=utc8(2026, 3, 1), status=1, worker="acme~price-monitor"),
        account.add_run(created_at=utc8(2026, 3, 1) - 1, status=2, worker=acme.slug),
        account.add_run(created_at=utc8(2025, 12, 31, 23, 59, 59), status=3, worker=acme),
        account.add_run(created_at=utc8(2026, 2, 14), status=4),
        account.add_run(created_at=utc8(2026, 2, 15), status=5),
    ]
    assert account.now == now  # the clock does not move
    assert account.list_runs(1, 100)[0] == count_before + 5
    for record, status in zip(records, (1, 2, 3, 4, 5), strict=True):
        when = created(account, record["slug"])
        assert record["status"] == status and account.run(record["slug"]) is record
        if status == 1:
            assert record["started_at"] == record["finished_at"] == record["results"] == 0
        else:
            assert 3 <= record["started_at"] - when <= 60
        if status >= 3:
            assert record["finished_at"] == record["started_at"] + record["duration"] > 0
    assert {r["scraper_slug"] for r in records[:3]} == {acme.slug}
    assert created(account, records[0]["slug"]) == utc8(2026, 3, 1)
    history = account.list_runs(1, 100, created_from=utc8(2026, 3, 1) - 1)[1]
    assert records[0] in history and records[1] in history


@pytest.mark.parametrize(
    "kwargs",
    [
        {"created_at": -1},
        {"created_at": 1.5},
        {"created_at": "1772294400"},
        {"created_at": 1772294400, "status": 0},
        {"created_at": 1772294400, "status": 6},
        {"created_at": 1772294400, "worker": "nope~worker"},
        {"created_at": 1772294400, "worker": build_account(seed=1, runs=0).workers[0]},
    ],
)
def test_add_run_refuses_bad_arguments(kwargs):
    account = build_account(runs=5)
    with pytest.raises(ValueError):
        account.add_run(**kwargs)
    assert len(account) == 5


def test_finish_runs_by_count_and_by_slug():
    account = build_account(runs=2000)
    unfinished = [r for r in reversed(account.runs) if r["finished_at"] == 0]
    assert {r["status"] for r in unfinished} == {1, 2, 5}
    traffic, views = account.traffic, account.list_runs(1, 10, status=3)[0]
    slugs = account.finish_runs(4)
    assert slugs == [r["slug"] for r in unfinished[:4]]  # oldest created first
    rest = [r["slug"] for r in unfinished[4:]]
    finished = account.finish_runs([*rest, rest[0], account.runs[-1]["slug"]])
    assert sorted(finished) == sorted(rest)  # final runs are left alone
    assert account.finish_runs(10) == [] and account.finish_runs([]) == []
    for old in unfinished:
        new = account.run(old["slug"])
        assert new is not None and new is not old
        assert new["finished_at"] == max(account.now, new["started_at"] + 2)
        assert new["finished_at"] == new["started_at"] + new["duration"] > new["started_at"] > 0
        assert list(new) == list(old)
        if old["status"] == 5:
            assert (new["status"], new["usage"], new["results"]) == (
                5,
                old["usage"],
                old["results"],
            )
        else:
            assert new["status"] == 3 and new["usage"].strip("0.") and new["err_msg"] == ""
            assert new["results"] >= old["results"] and new["traffic"] >= old["traffic"]
        assert old["finished_at"] == 0  # the old dict is untouched
    assert account.traffic == sum(r["traffic"] for r in account.runs) >= traffic
    assert account.list_runs(1, 10, status=3)[0] > views  # the cached views were dropped
    assert [r["slug"] for r in account.runs] == [  # the order is unchanged
        r["slug"]
        for r in sorted(
            account.runs, key=lambda r: (created(account, r["slug"]), r["slug"]), reverse=True
        )
    ]


@pytest.mark.parametrize(
    ("runs", "error"),
    [(-1, ValueError), ("slug", ValueError), ([UNKNOWN_SLUG], KeyError), (True, ValueError)],
)
def test_finish_runs_refuses_bad_arguments_and_changes_nothing(runs, error):
    account = build_account(runs=300)
    before = account.runs
    unfinished = next(r["slug"] for r in before if r["finished_at"] == 0)
    with pytest.raises(error):
        account.finish_runs([unfinished, *runs] if isinstance(runs, list) else runs)
    assert account.runs == before


def test_add_run_and_finish_runs_are_thread_safe():
    account = build_account(runs=100)
    errors: list[Exception] = []

    def adder(offset: int) -> None:
        try:
            for index in range(50):
                account.add_run(created_at=MARCH[0] + offset * 1000 + index, status=2)
                account.finish_runs(1)
                account.list_runs(1, 20, created_from=MARCH[0])
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=adder, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(account) == 500 == len({r["slug"] for r in account.runs})
    in_march = [r for r in account.runs if created(account, r["slug"]) >= MARCH[0]]
    assert account.list_runs(1, 10, created_from=MARCH[0])[0] == len(in_march) >= 400


# =========================================================================== the v2 record


def test_v2_records_translate_status_origin_worker_and_sometimes_drop_err_msg(account_v2):
    account = account_v2
    records = [(r, v2_run_record(account, r)) for r in account.runs]
    for v1, v2 in records:
        expected_keys = [k for k in RECORD_KEYS if k != "err_msg" or "err_msg" in v2]
        assert list(v2) == expected_keys
        assert {k: v2[k] for k in v2 if k not in ("status", "origin", "scraper_slug")} == {
            k: v1[k] for k in v2 if k not in ("status", "origin", "scraper_slug")
        }
        assert v2["origin"] == {"api": "openapi", "web": "web"}[v1["origin"]]
        worker = account.worker(v1["scraper_slug"])
        assert worker is not None and v2["scraper_slug"] == worker.v2_id
        if v1["err_msg"]:
            assert v2["err_msg"] == v1["err_msg"]
        if v1["status"] == 5:
            assert v2["status"] in ("aborting", "aborted")
            if v1["finished_at"] == 0:
                assert v2["status"] == "aborting"  # still being aborted
        else:
            assert v2["status"] == V2_STATUSES[v1["status"] - 1]
    assert records == [(r, v2_run_record(account, r)) for r in account.runs]  # deterministic
    empty = [v2 for v1, v2 in records if not v1["err_msg"]]
    assert 0.4 < sum("err_msg" not in v2 for v2 in empty) / len(empty) < 0.6
    assert all(v2["err_msg"] == "" for v2 in empty if "err_msg" in v2)
    finished_aborted = [v2 for v1, v2 in records if v1["status"] == 5 and v1["finished_at"]]
    assert (
        0.1
        < sum(v2["status"] == "aborted" for v2 in finished_aborted) / len(finished_aborted)
        < 0.3
    )
    assert {v2["scraper_slug"] for _, v2 in records} >= {"acme~price-monitor"}
    assert "latest" in {v2["version"] for _, v2 in records}


def test_detail_serves_the_v2_record_of_every_kind_of_run(sandbox):
    account = sandbox.account
    kinds: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in account.runs:
        v2 = v2_run_record(account, record)
        kinds.setdefault((v2["status"], "err_msg" in v2, v2["scraper_slug"]), record)
    assert len(kinds) > 20
    for record in kinds.values():
        data = ok(get(sandbox.url, f"{RUNS}/{record['slug']}"))
        assert data == v2_run_record(account, record)
        assert list(data) == sorted(data)


def test_v1_serves_the_same_account_with_v1_values(sandbox):
    account = sandbox.account
    acme = account.worker("acme~price-monitor")
    assert acme is not None
    samples = [
        next(r for r in account.runs if r["scraper_slug"] == acme.slug),
        next(r for r in account.runs if r["status"] == 5 and r["finished_at"] == 0),
        next(r for r in account.runs if r["version"] == "latest"),
    ]
    for record in samples:
        answer = requests.post(
            sandbox.url + V1_DETAIL,
            json={"run_slug": record["slug"]},
            headers={"api-key": sandbox.api_key},
            timeout=10,
        ).json()
        assert answer == {"code": 0, "message": "success", "data": record}
        assert answer["data"]["scraper_slug"] == record["scraper_slug"] != "acme~price-monitor"
        assert answer["data"]["origin"] in ("api", "web") and "err_msg" in answer["data"]
    assert samples[0]["scraper_slug"] == acme.slug
    assert samples[1]["status"] == 5


# =========================================================================== routes and auth


@pytest.mark.parametrize("scheme", ["bearer", "api-key", "token"])
def test_each_auth_scheme_works_and_is_counted(scheme):
    with serve(runs=3) as srv:
        data = ok(get(srv.url, ACCOUNT, scheme=scheme))
        assert data["balance"] == srv.account.balance
        expected = {"bearer": AUTH_BEARER, "api-key": AUTH_API_KEY, "token": AUTH_TOKEN_QUERY}
        assert srv.counters.auth_schemes == {expected[scheme]: 1}
        assert ("token" in srv.counters.query_keys) is (scheme == "token")


def test_bearer_wins_over_the_api_key_header_and_the_token():
    with serve(runs=3) as srv:
        headers = {"api-key": "wrong"}
        ok(get(srv.url, ACCOUNT, {"token": "wrong"}, headers=headers))
        assert srv.counters.auth_schemes == {AUTH_BEARER: 1}
        err(get(srv.url, ACCOUNT, {"token": srv.api_key}, key="wrong"), 401)


@pytest.mark.parametrize(
    ("key", "scheme", "headers", "code"),
    [
        (None, "bearer", {}, 12001),
        ("", "api-key", {}, 12001),
        ("", "token", {}, 12001),
        (None, "bearer", {"Authorization": "Basic dXNlcjpwYXNz"}, 12001),
        (None, "bearer", {"Authorization": "Bearer "}, 12001),
        ("wrong-key", "bearer", {}, 12002),
        ("wrong-key", "api-key", {}, 12002),
        ("wrong-key", "token", {}, 12002),
        (EXPIRED_API_KEY, "bearer", {}, 12002),
        (DISABLED_USER_API_KEY, "bearer", {}, 12001),
        (UNKNOWN_USER_API_KEY, "token", {}, 12001),
    ],
)
def test_auth_errors_are_http_401(sandbox, key, scheme, headers, code):
    for path in (ACCOUNT, RUNS, f"{RUNS}/{sandbox.account.runs[0]['slug']}"):
        answer = get(sandbox.url, path, key=key, scheme=scheme, headers=headers)
        messages = {12001: "authentication required", 12002: "invalid token"}
        assert err(answer, 401) == (code, messages[code])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", RUNS),
        ("PUT", ACCOUNT),
        ("DELETE", f"{RUNS}/{UNKNOWN_SLUG}"),
        ("PATCH", f"{RUNS}/{UNKNOWN_SLUG}/result"),
        ("GET", "/api/v2"),
        ("GET", "/api/v2/"),
        ("GET", f"{RUNS}/"),
        ("GET", f"{RUNS}//result"),
        ("GET", f"{RUNS}/{UNKNOWN_SLUG}/results"),
        ("GET", f"{RUNS}/{UNKNOWN_SLUG}/result/1"),
        ("GET", "/api/v2/users"),
        ("GET", "/api/v2/run/detail"),
    ],
)
def test_unknown_paths_and_methods_are_404_11004_before_auth(sandbox, method, path):
    assert err(get(sandbox.url, path, method=method), 404) == (11004, "not found")
    assert err(get(sandbox.url, path, method=method, key=None), 404)[0] == 11004


def test_v1_reads_no_token_from_the_url(sandbox):
    answer = requests.post(
        sandbox.url + V1_ACCOUNT, params={"token": sandbox.api_key}, json={}, timeout=10
    )
    assert answer.json()["code"] == 4010


def test_request_ids_are_unique(sandbox):
    answers = [get(sandbox.url, ACCOUNT).json() for _ in range(5)]
    answers += [get(sandbox.url, ACCOUNT, key=None).json() for _ in range(5)]
    assert len({a["request_id"] for a in answers}) == 10


@pytest.mark.parametrize("path", ["", "/result"])
def test_missing_run_is_404_11004_by_default(sandbox, path):
    assert err(get(sandbox.url, f"{RUNS}/{UNKNOWN_SLUG}{path}"), 404) == (11004, "not found")


@pytest.mark.parametrize("path", ["", "/result"])
def test_missing_run_knob_70001(path):
    with serve(runs=3, missing_run="70001") as srv:
        answer = get(srv.url, f"{RUNS}/{UNKNOWN_SLUG}{path}")
        assert err(answer, 200) == (70001, "run not found")
        assert ok(get(srv.url, f"{RUNS}/{srv.account.runs[0]['slug']}{path}"))


def test_missing_run_knob_mixed_is_deterministic_per_slug():
    slugs = [f"01KSFDS8XWTJME33C08XMCR6{a}{b}" for a in "AB" for b in "0123456789"]
    with serve(runs=3, missing_run="mixed") as srv:
        seen = {}
        for slug in slugs:
            answer = get(srv.url, f"{RUNS}/{slug}")
            seen[slug] = (answer.status_code, answer.json()["code"])
            assert seen[slug] in ((404, 11004), (200, 70001))
            again = get(srv.url, f"{RUNS}/{slug}/result", {"limit": 5})
            assert (again.status_code, again.json()["code"]) == seen[slug]
    assert set(seen.values()) == {(404, 11004), (200, 70001)}
    assert MISSING_RUN_MODES == ("404", "70001", "mixed")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"missing_run": "410"}, "missing_run"),
        ({"missing_run": 404}, "missing_run"),
        ({"cross_month_status": 99}, "cross_month_status"),
        ({"cross_month_status": "400"}, "cross_month_status"),
    ],
)
def test_bad_v2_knobs_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match), serve(runs=1, **kwargs):
        pass


def test_account_endpoint(sandbox):
    data = ok(get(sandbox.url, ACCOUNT))
    assert data == {
        "balance": sandbox.account.balance,
        "balance_expiration_at": sandbox.account.balance_expiration_at,
    }
    assert re.fullmatch(r"\d+\.\d\d", data["balance"])
    assert data["balance_expiration_at"] > sandbox.account.now


# =========================================================================== Run History


def test_run_history_defaults_to_the_current_utc8_month_newest_created_first(sandbox):
    account = sandbox.account
    expected = created_in(account, *MARCH)
    assert 100 < len(expected) < len(account) / 2
    assert all_pages(sandbox.url) == expected
    first = ok(get(sandbox.url, RUNS))
    assert first["count"] == len(expected) and first["list"] == expected[:20]  # default limit
    slugs = [r["slug"] for r in expected]
    times = [created(account, slug) for slug in slugs]
    pairs = list(zip(times, slugs, strict=True))
    assert pairs == sorted(pairs, reverse=True)


def test_offset_is_a_1_based_page_number(sandbox):
    expected = created_in(sandbox.account, *MARCH)
    pages = {
        str(offset): ok(get(sandbox.url, RUNS, {"offset": offset, "limit": 7}))
        for offset in ("", 0, 1, 2, 3)
    }
    assert pages[""] == pages["0"] == pages["1"]
    assert pages["1"]["list"] == expected[:7]
    assert pages["2"]["list"] == expected[7:14] and pages["3"]["list"] == expected[14:21]
    last = -(-len(expected) // 7)
    assert (
        ok(get(sandbox.url, RUNS, {"offset": last, "limit": 7}))["list"]
        == expected[(last - 1) * 7 :]
    )
    past = ok(get(sandbox.url, RUNS, {"offset": last + 1, "limit": 7}))
    assert past == {"count": len(expected), "list": []}
    assert ok(get(sandbox.url, RUNS, {"offset": 2**31 - 1}))["list"] == []


def test_limit_defaults_to_20_and_caps_at_100(sandbox):
    assert len(ok(get(sandbox.url, RUNS))["list"]) == 20
    assert len(ok(get(sandbox.url, RUNS, {"limit": ""}))["list"]) == 20
    assert len(ok(get(sandbox.url, RUNS, {"limit": 1}))["list"]) == 1
    assert len(ok(get(sandbox.url, RUNS, {"limit": MAX_PAGE_SIZE}))["list"]) == 100


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": -5},
        {"limit": "ten"},
        {"limit": "2.0"},
        {"limit": " 5"},
        {"offset": -1},
        {"offset": "1.5"},
        {"offset": "x"},
        {"offset": 2**31},
        {"offset": "9" * 30},
        {"status": "aborted"},
        {"status": "3"},
        {"status": "Running"},
        {"start_time": "yesterday", "end_time": MARCH[0]},
        {"start_time": MARCH[0], "end_time": -1},
        {"start_time": MARCH[0], "end_time": "1e9"},
    ],
)
def test_bad_list_parameters_are_422_11000(sandbox, params):
    assert err(get(sandbox.url, RUNS, params), 422)[0] == 11000


@pytest.mark.parametrize("params", [{"limit": 0}, {"offset": -1}, {"limit": 101}])
def test_bad_result_parameters_are_422_11000(sandbox, params):
    slug = sandbox.account.runs[0]["slug"]
    assert err(get(sandbox.url, f"{RUNS}/{slug}/result", params), 422)[0] == 11000


@pytest.mark.parametrize("status", V2_STATUSES)
def test_status_filter(sandbox, status):
    account = sandbox.account
    v1_status = V2_STATUSES.index(status) + 1
    rows = all_pages(sandbox.url, {"status": status})
    expected = [
        v2_run_record(account, r)
        for r in account.runs
        if r["status"] == v1_status and MARCH[0] <= created(account, r["slug"]) < MARCH[1]
    ]
    assert rows == expected and rows
    if status == "aborting":  # every v1 status 5, whatever v2 calls it
        assert {r["status"] for r in rows} == {"aborting", "aborted"}
        assert any(r["finished_at"] == 0 for r in rows) and any(r["finished_at"] for r in rows)


def test_worker_filter_by_ulid_or_owner_name_path(sandbox):
    account = sandbox.account
    acme = account.worker("acme~price-monitor")
    assert acme is not None
    by_path = all_pages(sandbox.url, {"worker_id": "acme~price-monitor"})
    by_ulid = all_pages(sandbox.url, {"worker_id": acme.slug})
    assert (
        by_path
        == by_ulid
        == [r for r in created_in(account, *MARCH) if r["scraper_slug"] == "acme~price-monitor"]
    )
    assert by_path
    other = account.workers[0]
    rows = all_pages(sandbox.url, {"worker_id": other.slug, "status": "succeeded"})
    assert rows and {(r["scraper_slug"], r["status"]) for r in rows} == {(other.slug, "succeeded")}
    for unknown in (UNKNOWN_SLUG, "acme~nothing", "ACME~PRICE-MONITOR"):
        assert ok(get(sandbox.url, RUNS, {"worker_id": unknown})) == {"count": 0, "list": []}
    assert ok(get(sandbox.url, RUNS, {"worker_id": ""}))["count"] == len(
        created_in(account, *MARCH)
    )


def test_a_time_range_must_stay_in_one_utc8_month(sandbox):
    march_3rd, march_31st = utc8(2026, 3, 3), utc8(2026, 3, 31)
    for params in (
        {"start_time": utc8(2026, 2, 20), "end_time": march_3rd},
        {"start_time": march_31st, "end_time": utc8(2026, 4, 1)},
        {"start_time": utc8(2025, 3, 1), "end_time": march_3rd},  # same month, another year
    ):
        answer = get(sandbox.url, RUNS, params)
        assert err(answer, 400) == (11000, "run list time range cannot cross months")
    # 2026-03-31T16:00Z and 2026-04-01T00:00Z: two UTC months, one UTC+8 month (April).
    april = {"start_time": utc(2026, 3, 31, 16), "end_time": utc(2026, 4, 1)}
    assert ok(get(sandbox.url, RUNS, april))["count"] == 0  # accepted; nothing runs in April
    # 2026-02-28T16:00Z is March 1st in UTC+8: a range from there to March 31st is one month.
    whole = ok(get(sandbox.url, RUNS, {"start_time": utc(2026, 2, 28, 16), "end_time": march_31st}))
    assert whole["count"] == len(created_in(sandbox.account, *MARCH))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start_time": MARCH[0]}, "together"),
        ({"end_time": MARCH[0]}, "together"),
        ({"start_time": MARCH[0] + DAY, "end_time": MARCH[0]}, "before"),
    ],
)
def test_half_or_reversed_time_ranges_are_400_11000(sandbox, params, message):
    code, text = err(get(sandbox.url, RUNS, params), 400)
    assert code == 11000 and message in text


@pytest.mark.parametrize("status", [200, 422])
def test_cross_month_status_knob(status):
    with serve(runs=3, cross_month_status=status) as srv:
        answer = get(srv.url, RUNS, {"start_time": utc8(2026, 1, 31), "end_time": MARCH[0]})
        assert err(answer, status) == (11000, "run list time range cannot cross months")
        assert err(get(srv.url, RUNS, {"start_time": MARCH[0]}), 400)[0] == 11000


def test_end_time_names_a_whole_day():
    account = build_account(runs=0)
    start, end = utc8(2026, 3, 10), utc8(2026, 3, 20)
    inside = [start, start + 1, end, end + DAY - 1]
    outside = [start - 1, end + DAY, end + DAY + 1]
    slugs = {t: account.add_run(created_at=t)["slug"] for t in inside + outside}
    with serve(account=account) as srv:
        rows = all_pages(srv.url, {"start_time": start, "end_time": end})
        assert [r["slug"] for r in rows] == [slugs[t] for t in sorted(inside, reverse=True)]
        same_day = all_pages(srv.url, {"start_time": end, "end_time": end})
        assert [r["slug"] for r in same_day] == [slugs[end + DAY - 1], slugs[end]]


@pytest.mark.parametrize(
    ("created_at", "month"),
    [
        (utc(2026, 2, 28, 15, 59, 59), 2),  # Feb 28 23:59:59 in UTC+8
        (utc(2026, 2, 28, 16), 3),  # March 1st 00:00 in UTC+8, still February in UTC
        (utc(2026, 2, 28, 23, 59, 59), 3),  # the last second of February in UTC
        (utc(2026, 3, 1), 3),  # the first second of March in UTC
        (utc(2026, 3, 31, 15, 59, 59), 3),  # the last second of March in UTC+8
        (utc(2026, 3, 31, 16), 4),  # April 1st 00:00 in UTC+8, still March in UTC
        (utc(2026, 3, 31, 23, 59, 59), 4),  # the last second of March in UTC
        (utc(2026, 4, 1), 4),  # the first second of April in UTC
    ],
)
def test_month_boundaries_are_utc8_midnights_not_utc(created_at, month):
    account = build_account(runs=0)  # now: 2026-03-16T08:00+08:00
    for offset in (-DAY * 20, DAY * 20):  # a neighbour on each side, far from the boundary
        account.add_run(created_at=created_at + offset)
    slug = account.add_run(created_at=created_at)["slug"]
    windows = {
        2: {"start_time": utc8(2026, 2, 1), "end_time": utc8(2026, 2, 28)},
        3: {},  # the clock's month, the default
        4: {"start_time": utc8(2026, 4, 1), "end_time": utc8(2026, 4, 30)},
    }
    with serve(account=account) as srv:
        for number, params in windows.items():
            slugs = [r["slug"] for r in all_pages(srv.url, params)]
            assert (slug in slugs) is (number == month), number
        # 2026-03-31T16:00Z to 2026-04-01T00:00Z spans two UTC months but one UTC+8 month.
        april = {"start_time": utc(2026, 3, 31, 16), "end_time": utc(2026, 4, 1)}
        slugs = [r["slug"] for r in all_pages(srv.url, april)]
        assert (slug in slugs) is (month == 4)


def test_walking_back_month_by_month_lists_every_run_once_in_order():
    account = build_account(seed=3, runs=1500)
    seen: list[dict[str, Any]] = []
    with serve(account=account) as srv:
        month = datetime(2026, 3, 1, tzinfo=UTC8)
        while month >= datetime(2025, 8, 1, tzinfo=UTC8):
            following = (month + timedelta(days=32)).replace(day=1)
            last_day = int(following.timestamp()) - DAY  # 00:00 UTC+8 of the month's last day
            seen += all_pages(srv.url, {"start_time": int(month.timestamp()), "end_time": last_day})
            month = (month - timedelta(days=1)).replace(day=1)
    assert seen == [v2_run_record(account, r) for r in account.runs]


def test_the_month_follows_the_account_clock():
    now = utc8(2025, 11, 20, 12)
    account = build_account(seed=5, runs=600, now=now)
    with serve(account=account) as srv:
        rows = all_pages(srv.url)
    assert rows == created_in(account, utc8(2025, 11, 1), utc8(2025, 12, 1)) and rows


def test_grow_on_list_applies_to_v2_run_history():
    with serve(runs=30, grow_on_list=2) as srv:
        first = ok(get(srv.url, RUNS, {"limit": 5}))
        second = ok(get(srv.url, RUNS, {"limit": 5}))
        assert second["count"] == first["count"] + 2
        assert second["list"][2:] == first["list"][:3]
        assert {r["status"] for r in second["list"][:2]} <= {"ready", "running"}
        assert len(srv.account) == 34


def test_new_and_finished_runs_show_up_live():
    with serve(runs=300, seed=9) as live:
        account = live.account
        record = account.add_run(created_at=account.now + 5, status=1, worker="acme~price-monitor")
        detail = ok(get(live.url, f"{RUNS}/{record['slug']}"))
        assert (detail["status"], detail["scraper_slug"]) == ("ready", "acme~price-monitor")
        assert ok(get(live.url, RUNS, {"limit": 1}))["list"][0]["slug"] == record["slug"]
        assert account.finish_runs([record["slug"]]) == [record["slug"]]
        detail = ok(get(live.url, f"{RUNS}/{record['slug']}"))
        assert detail["status"] == "succeeded" and detail["finished_at"] > 0
        ready = ok(get(live.url, RUNS, {"status": "ready", "worker_id": "acme~price-monitor"}))
        assert record["slug"] not in {r["slug"] for r in ready["list"]}
        succeeded = ok(get(live.url, RUNS, {"status": "succeeded", "limit": 1}))
        assert succeeded["list"][0]["slug"] == record["slug"]
        results = ok(get(live.url, f"{RUNS}/{record['slug']}/result", {"limit": 100}))
        count = account.results(record["slug"], 1, 1)[0]
        assert results["count"] == count == len(results["list"]) > 0


# =========================================================================== results


def test_results_pages_are_1_based_with_v2_headers(sandbox):
    account = sandbox.account
    record = next(
        r for r in account.runs if r["results"] > 45 and r["scraper_title"].startswith("News")
    )
    path = f"{RUNS}/{record['slug']}/result"
    first = ok(get(sandbox.url, path))
    assert list(first) == ["count", "headers", "list", "page_index", "page_size"]
    assert (first["count"], first["page_index"], first["page_size"]) == (record["results"], 1, 20)
    assert first["headers"] == [
        {"key": h["key"], "label": h["label"]} for h in account.headers(record["slug"])
    ]
    assert first["list"] == account.results(record["slug"], 1, 20)[2]
    assert all("__coreclaw_data_id__" in row for row in first["list"])
    assert ok(get(sandbox.url, path, {"offset": 0})) | {"list": None} == first | {"list": None}
    third = ok(get(sandbox.url, path, {"offset": 3, "limit": 10}))
    assert (third["page_index"], third["page_size"]) == (3, 10)
    assert third["list"] == account.results(record["slug"], 3, 10)[2]
    rows = ok(get(sandbox.url, path, {"limit": 100}))["list"]
    assert rows[20:30] == third["list"] and len(rows) == min(100, record["results"])
    past = ok(get(sandbox.url, path, {"offset": 99, "limit": 100}))
    assert past["list"] == [] and past["count"] == record["results"]


# =========================================================================== faults, rate limit


def attempt(url: str, path: str) -> requests.Response | Exception:
    try:
        return get(url, path, timeout=SLOW_CLIENT_TIMEOUT)
    except requests.RequestException as exc:
        return exc


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_on_v2_then_recovery(kind):
    with serve(runs=5, fault_rate=1.0, faults=(kind,), slow_seconds=SHORT_SLOW) as srv:
        record = srv.account.runs[2]
        path = f"{RUNS}/{record['slug']}"
        answers = [attempt(srv.url, path) for _ in range(3)]
        for answer in answers[:2]:
            if kind in ("http_500", "http_502", "http_503", "http_429"):
                assert isinstance(answer, requests.Response)
                assert answer.status_code == int(kind[-3:])
                assert answer.headers["Content-Type"].startswith("text/html")
                assert ("Retry-After" in answer.headers) is (kind == "http_429")
            elif kind == "code_5000":
                assert isinstance(answer, requests.Response)
                assert err(answer, 500) == (10000, "system error")
            elif kind == "code_4290":
                assert isinstance(answer, requests.Response)
                assert err(answer, 429) == (13000, "too many requests")
                assert "Retry-After" not in answer.headers
            elif kind == "drop":
                assert isinstance(answer, requests.ConnectionError)
            elif kind == "truncated":
                assert isinstance(answer, requests.Response) and answer.status_code == 200
                assert int(answer.headers["Content-Length"]) == len(answer.content)
                assert answer.content.startswith(b'{"code":0,"data":{')
                with pytest.raises(ValueError):
                    answer.json()
            else:
                assert isinstance(answer, requests.Timeout)
        assert isinstance(answers[2], requests.Response)
        assert ok(answers[2]) == v2_run_record(srv.account, record)
        assert srv.counters.faults == {kind: 2}
        assert srv.counters.requests_by_slug[record["slug"]] == 3


def test_truncated_error_answers_keep_their_status():
    with serve(runs=3, fault_rate=1.0, faults=("truncated",), max_consecutive_faults=1) as srv:
        answer = get(srv.url, f"{RUNS}/{UNKNOWN_SLUG}")
        assert answer.status_code == 404 and answer.content.startswith(b'{"code":11004')


def test_faults_are_keyed_by_method_path_and_query():
    with serve(runs=3, fault_rate=1.0, faults=("code_5000",), max_consecutive_faults=1) as srv:
        assert err(get(srv.url, RUNS, {"limit": 5}), 500)[0] == 10000
        assert err(get(srv.url, RUNS, {"limit": 6}), 500)[0] == 10000  # another request
        assert ok(get(srv.url, RUNS, {"limit": 5}))
        assert ok(get(srv.url, RUNS, {"limit": 6}))
        assert srv.counters.faults == {"code_5000": 2}


def test_auth_and_routing_failures_are_never_faults():
    with serve(runs=3, fault_rate=1.0, faults=("http_500",)) as srv:
        for _ in range(3):
            assert err(get(srv.url, ACCOUNT, key="wrong"), 401)[0] == 12002
            assert err(get(srv.url, "/api/v2/nope"), 404)[0] == 11004
        assert srv.counters.faults == {}


def test_rate_limit_is_429_13000_without_retry_after_and_shared_with_v1():
    with serve(runs=3, rate_limit=0.001, rate_burst=3) as srv:
        v1 = requests.post(
            srv.url + V1_ACCOUNT, json={}, headers={"api-key": srv.api_key}, timeout=10
        )
        assert v1.json()["code"] == 0
        assert ok(get(srv.url, ACCOUNT)) and ok(get(srv.url, RUNS, {"limit": 1}))
        for _ in range(4):
            answer = get(srv.url, ACCOUNT)
            assert err(answer, 429) == (13000, "too many requests")
            assert "Retry-After" not in answer.headers
        v1 = requests.post(
            srv.url + V1_ACCOUNT, json={}, headers={"api-key": srv.api_key}, timeout=10
        )
        assert v1.status_code == 200 and v1.json()["code"] == 4290
        assert err(get(srv.url, ACCOUNT, key="wrong"), 401)[0] == 12002  # auth comes first
        assert srv.counters.rejected == 5


# =========================================================================== counters


def test_counters_count_routes_slugs_schemes_and_query_keys():
    with serve(runs=10) as srv:
        slug = srv.account.runs[0]["slug"]
        ok(get(srv.url, f"{RUNS}/{slug}"))
        ok(get(srv.url, f"{RUNS}/{slug}/result", {"offset": 1, "limit": 5}, scheme="api-key"))
        ok(get(srv.url, RUNS, {"limit": 5, "status": "running"}))
        ok(get(srv.url, RUNS, {"limit": 5}, scheme="token"))
        ok(get(srv.url, ACCOUNT))
        err(get(srv.url, f"{RUNS}/{UNKNOWN_SLUG}"), 404)
        err(get(srv.url, "/api/v2/nope", key=None), 404)
        err(get(srv.url, f"{RUNS}/{slug}", method="POST"), 404)
        requests.post(
            srv.url + V1_DETAIL,
            json={"run_slug": slug},
            headers={"api-key": srv.api_key},
            timeout=10,
        )
        requests.post(
            srv.url + V1_ACCOUNT + "?lang=en",
            json={},
            headers={"Authorization": f"Bearer {srv.api_key}"},
            timeout=10,
        )
        requests.get(srv.url + V1_DETAIL, timeout=10)
        snapshot = srv.counters
        assert snapshot.total == 11
        assert snapshot.requests_by_route == {
            ROUTE_V2_RUN_DETAIL: 2,
            ROUTE_V2_RUN_RESULT: 1,
            ROUTE_V2_RUN_LIST: 2,
            ROUTE_V2_ACCOUNT: 1,
            ROUTE_V2_NOT_FOUND: 2,
            ROUTE_V1_RUN_DETAIL: 1,
            ROUTE_V1_ACCOUNT_INFO: 1,
            ROUTE_V1_NOT_FOUND: 1,
        }
        assert snapshot.requests_by_slug == {slug: 4, UNKNOWN_SLUG: 1}
        assert snapshot.auth_schemes == {
            AUTH_BEARER: 6,
            AUTH_API_KEY: 2,
            AUTH_TOKEN_QUERY: 1,
            AUTH_NONE: 2,
        }
        assert snapshot.query_keys == {"offset": 1, "limit": 3, "status": 1, "token": 1, "lang": 1}
        assert snapshot.requests_by_path[RUNS] == 2
        snapshot.query_keys.clear()  # a copy
        assert srv.counters.query_keys["limit"] == 3
        srv.reset_counters()
        after = srv.counters
        assert after.total == 0
        assert not (after.requests_by_route or after.auth_schemes or after.query_keys)


def test_route_names_are_distinct():
    names = [
        ROUTE_V1_RUN_DETAIL,
        ROUTE_V1_ACCOUNT_INFO,
        ROUTE_V1_NOT_FOUND,
        ROUTE_V2_RUN_DETAIL,
        ROUTE_V2_RUN_LIST,
        ROUTE_V2_RUN_RESULT,
        ROUTE_V2_ACCOUNT,
        ROUTE_V2_NOT_FOUND,
    ]
    assert len(set(names)) == len(names)
    assert all(name.startswith(("v1 ", "v2 ")) for name in names)


# =========================================================================== contract shapes


def test_detail_has_the_contract_shape_with_and_without_err_msg(sandbox):
    account = sandbox.account
    with_msg = next(r for r in account.runs if "err_msg" in v2_run_record(account, r))
    without = next(r for r in account.runs if "err_msg" not in v2_run_record(account, r))
    for record, example in ((with_msg, "run_detail_v2"), (without, "run_detail_v2_no_err_msg")):
        answer = get(sandbox.url, f"{RUNS}/{record['slug']}").json()
        assert shape(answer) == shape(CONTRACT[example])


def test_list_has_the_contract_shape(sandbox):
    account = sandbox.account
    record = next(r for r in account.runs if "err_msg" in v2_run_record(account, r))
    when = created(account, record["slug"])
    day = int(datetime.fromtimestamp(when, UTC8).replace(hour=0, minute=0, second=0).timestamp())
    answer = get(sandbox.url, RUNS, {"start_time": day, "end_time": day, "limit": 100}).json()
    answer["data"]["list"] = [r for r in answer["data"]["list"] if r["slug"] == record["slug"]]
    assert shape(answer) == shape(CONTRACT["run_list_v2"])


def test_result_has_the_contract_shape(sandbox):
    record = next(r for r in sandbox.account.runs if r["results"] > 0)
    answer = get(sandbox.url, f"{RUNS}/{record['slug']}/result").json()
    contract = copy.deepcopy(CONTRACT["run_result_v2"])
    rows = answer["data"].pop("list")
    del contract["data"]["list"]
    assert shape(answer) == shape(contract)  # rows are whatever the worker scraped
    assert rows and all(isinstance(row, dict) for row in rows)


def test_account_has_the_contract_shape(sandbox):
    assert shape(get(sandbox.url, ACCOUNT).json()) == shape(CONTRACT["account_v2"])


def test_errors_have_the_contract_shape_plus_null_details(sandbox):
    answers = {
        "error_v2_401": get(sandbox.url, ACCOUNT, key=None),
        "error_v2_404": get(sandbox.url, f"{RUNS}/{UNKNOWN_SLUG}"),
    }
    with serve(runs=1, rate_limit=0.001) as srv:
        get(srv.url, ACCOUNT)
        answers["error_v2_429"] = get(srv.url, ACCOUNT)
    for example, answer in answers.items():
        contract = CONTRACT[example]
        document = answer.json()
        assert answer.status_code == int(example[-3:])
        assert document.pop("details") is None
        assert shape(document) == shape(contract)
        assert (document["code"], document["message"]) == (contract["code"], contract["message"])


def test_v1_account_and_results_have_the_contract_shape(sandbox):
    headers = {"api-key": sandbox.api_key}
    answer = requests.post(sandbox.url + V1_ACCOUNT, json={}, headers=headers, timeout=10).json()
    assert shape(answer) == shape(CONTRACT["account_v1"])
    record = next(r for r in sandbox.account.runs if r["results"] > 0)
    body = {"run_slug": record["slug"], "page_index": 1, "page_size": 5}
    answer = requests.post(
        sandbox.url + "/api/v1/run/result/list", json=body, headers=headers, timeout=10
    ).json()
    contract = CONTRACT["run_result_v1"]
    assert [k for k in answer["data"] if k in contract["data"]] == list(contract["data"])
    assert shape(answer["data"]["headers"]) == shape(contract["data"]["headers"])


# =========================================================================== echo_key


@pytest.mark.parametrize("mode", [True, "escaped"])
def test_echo_key_quotes_the_credential_in_errors_and_err_msg_of_both_versions(mode):
    with serve(runs=200, echo_key=mode) as srv:
        failed = next(r for r in srv.account.runs if r["err_msg"])
        answers = {
            "v2 error": get(srv.url, RUNS + "/01KSFDS8XWTJME33C08XMCR6B9", key=srv.api_key),
            "v2 auth": get(srv.url, ACCOUNT, key="not-the-key"),
            "v2 run": get(srv.url, f"{RUNS}/{failed['slug']}", key=srv.api_key),
            "v1 page": requests.post(
                srv.url + "/api/v1/run/list",
                json={"page_index": 1, "page_size": 100},
                headers={"api-key": srv.api_key},
                timeout=10,
            ),
            "v1 auth": requests.post(
                srv.url + V1_ACCOUNT, json={}, headers={"api-key": "not-the-key"}, timeout=10
            ),
            "v1 run": requests.post(
                srv.url + "/api/v1/run/detail",
                json={"run_slug": failed["slug"]},
                headers={"api-key": srv.api_key},
                timeout=10,
            ),
        }
    for name, answer in answers.items():
        key = "not-the-key" if "auth" in name else srv.api_key
        document = answer.json()  # decodes the escapes
        text = json.dumps(document)
        assert f"(key {key})" in text, name
        if mode == "escaped":
            assert key.encode() not in answer.content, name  # only escapes on the wire
    assert answers["v2 run"].json()["data"]["err_msg"] == f"{failed['err_msg']} (key {srv.api_key})"
    page = [r for r in answers["v1 page"].json()["data"]["list"] if r["err_msg"]]
    assert page and all(r["err_msg"].endswith(f"(key {srv.api_key})") for r in page)


def test_without_echo_key_no_answer_quotes_the_credential(sandbox):
    failed = next(r for r in sandbox.account.runs if r["err_msg"])
    detail = get(sandbox.url, f"{RUNS}/{failed['slug']}")
    refused = get(sandbox.url, ACCOUNT, key="not-the-key")
    assert ok(detail)["err_msg"] == failed["err_msg"]
    assert sandbox.api_key.encode() not in detail.content
    assert err(refused, 401) == (12002, "invalid token")
