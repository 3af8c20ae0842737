"""The sandbox server: the synthetic account, every v1 endpoint and error path over real
loopback HTTP, fault injection, the rate limit, counters, concurrency and contract shapes."""

from __future__ import annotations

import doctest
import http.client
import inspect
import json
import pydoc
import re
import socket
import statistics
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

import coreclaw_frames.sandbox
from coreclaw_frames.sandbox import (
    DEFAULT_API_KEY,
    DEFAULT_RUNS,
    DISABLED_USER_API_KEY,
    EXPIRED_API_KEY,
    FAULT_KINDS,
    MAX_PAGE_SIZE,
    UNKNOWN_USER_API_KEY,
    SandboxServer,
    build_account,
    serve,
)
from coreclaw_frames.sandbox import _account as account_module
from coreclaw_frames.sandbox import _faults as faults_module
from coreclaw_frames.sandbox import _protocol as protocol_module
from coreclaw_frames.sandbox import _records as records_module
from coreclaw_frames.sandbox import _server as server_module
from coreclaw_frames.sandbox import _v1 as v1_module
from coreclaw_frames.sandbox import _v2 as v2_module
from coreclaw_frames.sandbox import _wire as wire_module
from coreclaw_frames.sandbox import _workers as workers_module

DETAIL = "/api/v1/run/detail"
LIST = "/api/v1/run/list"
RESULTS = "/api/v1/run/result/list"
ACCOUNT = "/api/v1/account/info"
UNKNOWN_SLUG = "01KSFDS8XWTJME33C08XMCR6B9"
ULID_PATTERN = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
USAGE_PATTERN = re.compile(r"^\d+(\.\d{1,10})?$")
RECORD_KEYS = [
    "status",
    "err_msg",
    "slug",
    "scraper_title",
    "scraper_slug",
    "results",
    "usage",
    "started_at",
    "finished_at",
    "duration",
    "origin",
    "traffic",
    "version",
]
GIB = 1 << 30
SLOW_CLIENT_TIMEOUT = 0.3
SHORT_SLOW = 1.0

# Verbatim copies of the documented examples (the API contract's contract/*.json files).
#: The documented example payloads (copied verbatim from the API docs), by file stem.
CONTRACT = {
    path.stem: path.read_text() for path in (Path(__file__).parent / "contract").glob("*.json")
}


def post(
    url: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = DEFAULT_API_KEY,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> requests.Response:
    """POST `body` as JSON (or raw `data`) with the `api-key` header unless `key` is None."""
    all_headers = {"Content-Type": "application/json"}
    if key is not None:
        all_headers["api-key"] = key
    all_headers.update(headers or {})
    payload = data if data is not None else json.dumps({} if body is None else body).encode()
    return requests.post(url + path, data=payload, headers=all_headers, timeout=timeout)


def envelope(response: requests.Response) -> dict[str, Any]:
    """The JSON envelope of an HTTP 200 answer."""
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert set(document) == {"code", "message", "data"}
    return document


def ok(response: requests.Response) -> Any:
    document = envelope(response)
    assert (document["code"], document["message"]) == (0, "success")
    return document["data"]


def error(response: requests.Response) -> tuple[int, str]:
    document = envelope(response)
    assert document["data"] is None
    return document["code"], document["message"]


def shape(value: Any) -> Any:
    """Key sets and JSON types, recursively (a list is described by its first item)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def all_pages(url: str, body: dict[str, Any], page_size: int = MAX_PAGE_SIZE) -> list[Any]:
    rows: list[Any] = []
    page_index = 1
    while True:
        data = ok(post(url, LIST, {**body, "page_index": page_index, "page_size": page_size}))
        rows.extend(data["list"])
        if len(data["list"]) < page_size:
            assert len(rows) == data["count"]
            return rows
        page_index += 1


@pytest.fixture(scope="module")
def account_5000():
    return build_account()


# =========================================================================== the account


def test_same_seed_gives_identical_account_and_other_seeds_differ():
    first, again, other = (
        build_account(seed=1, runs=500),
        build_account(seed=1, runs=500),
        build_account(seed=2, runs=500),
    )
    assert first.runs == again.runs
    assert first.workers == again.workers
    assert first.balance == again.balance
    slug = max(first.runs, key=lambda r: r["results"])["slug"]
    assert first.results(slug, 1, 50) == again.results(slug, 1, 50)
    assert {r["slug"] for r in first.runs}.isdisjoint({r["slug"] for r in other.runs})
    assert [r["usage"] for r in first.runs] != [r["usage"] for r in other.runs]


def test_records_have_exactly_the_v1_keys_and_types(account_5000):
    types = {"usage": str, "err_msg": str, "slug": str, "scraper_title": str, "scraper_slug": str}
    types |= {"origin": str, "version": str}
    for record in account_5000.runs:
        assert list(record) == RECORD_KEYS
        for key in RECORD_KEYS:
            expected = types.get(key, int)
            assert type(record[key]) is expected, (key, record)


def test_all_statuses_with_consistent_timestamps(account_5000):
    runs = account_5000.runs
    statuses = Counter(r["status"] for r in runs)
    assert set(statuses) == {1, 2, 3, 4, 5}
    assert statuses[3] > len(runs) / 2
    for record in runs:
        if record["status"] == 1:
            assert record["started_at"] == record["finished_at"] == record["duration"] == 0
        elif record["status"] == 2:
            assert record["started_at"] > 0
            assert record["finished_at"] == record["duration"] == 0
        elif record["status"] == 5 and record["finished_at"] == 0:  # still being aborted
            assert record["started_at"] > 0 and record["duration"] == 0
        else:
            assert record["finished_at"] == record["started_at"] + record["duration"]
            assert record["started_at"] > 0
    being_aborted = [r for r in runs if r["status"] == 5 and r["finished_at"] == 0]
    assert 0 < len(being_aborted) < statuses[5]


def test_usage_strings_carry_0_to_10_decimal_places_without_floats(account_5000):
    usages = [r["usage"] for r in account_5000.runs]
    assert all(USAGE_PATTERN.match(u) for u in usages)
    places = {len(u.partition(".")[2]) for u in usages}
    # Free runs cost "0", some are quoted to the cent, the rest to 2 significant digits or more.
    assert {0, *range(2, 11)} <= places <= set(range(11))
    assert "0" in usages
    assert any(u.endswith("0") and "." in u for u in usages)  # trailing zeros kept, e.g. "1.00"
    assert records_module.decimal_string(12345, 10) == "0.0000012345"


def test_traffic_goes_beyond_4_gib_and_origins_months_versions_vary(account_5000):
    runs = account_5000.runs
    assert min(r["traffic"] for r in runs) == 0
    assert any(r["traffic"] > 4 * GIB for r in runs)
    assert {r["origin"] for r in runs} == {"api", "web"}
    months = {
        datetime.fromtimestamp(r["started_at"], UTC).strftime("%Y-%m")
        for r in runs
        if r["started_at"]
    }
    assert len(months) >= 5
    versions = {r["version"] for r in runs}
    assert {"v1.0.9", "v1.0.10"} <= versions
    assert 5 <= len(account_5000.workers) <= 8
    assert all(len(worker.versions) >= 3 for worker in account_5000.workers)
    assert {w.slug for w in account_5000.workers} == {r["scraper_slug"] for r in runs}


def test_slugs_are_unique_ulids_encoding_the_creation_time(account_5000):
    runs = account_5000.runs
    slugs = [r["slug"] for r in runs]
    assert len(set(slugs)) == len(slugs)
    assert all(ULID_PATTERN.match(s) for s in slugs)
    assert all(ULID_PATTERN.match(w.slug) for w in account_5000.workers)
    now = account_5000.now
    for record in runs:
        milliseconds = 0
        for char in record["slug"][:10]:
            milliseconds = milliseconds * 32 + records_module.ULID_ALPHABET.index(char)
        created = account_5000.created_at(record["slug"])
        assert milliseconds // 1000 == created
        if record["started_at"]:
            assert 3 <= record["started_at"] - created <= 60
        else:
            assert now - 3600 <= created < now


def test_only_failed_runs_carry_an_error_message(account_5000):
    with_message = [r for r in account_5000.runs if r["err_msg"]]
    assert with_message
    assert all(r["status"] == 4 for r in with_message)
    assert len({r["err_msg"] for r in with_message}) >= 3


def test_result_counts_stay_modest(account_5000):
    counts = [r["results"] for r in account_5000.runs]
    assert min(counts) == 0
    assert max(counts) <= 200
    assert statistics.median(counts) < 50
    assert all(r["results"] == 0 for r in account_5000.runs if r["status"] == 1)


def test_result_rows_are_the_same_whatever_the_page_size(account_5000):
    slug = next(r["slug"] for r in account_5000.runs if r["results"] >= 30)
    count, headers, rows = account_5000.results(slug, 1, 30)
    assert count >= 30 and len(rows) == 30
    assert rows[12:24] == account_5000.results(slug, 2, 12)[2]
    assert headers == account_5000.headers(slug)
    assert all({"label", "key", "format"} == set(h) for h in headers)


def test_account_info_fields(account_5000):
    assert re.fullmatch(r"\d+\.\d{2}", account_5000.balance)
    assert account_5000.traffic == sum(r["traffic"] for r in account_5000.runs)
    assert account_5000.traffic_expiration_at > account_module.ANCHOR_TIMESTAMP


def test_add_runs_adds_the_newest_ready_and_running_runs():
    account = build_account(runs=50)
    before = account.runs
    now = account.now
    new = account.add_runs(6)
    after = account.runs
    assert len(after) == 56
    assert account.now == now + 6  # one second per new run
    assert {r["status"] for r in new} == {1, 2}
    assert [r for r in after if r not in new] == before  # old runs keep their order
    assert after[:6] == new[::-1]  # newest created first
    for offset, record in enumerate(new, start=1):
        assert account.run(record["slug"]) is record
        assert account.created_at(record["slug"]) == now + offset
        assert record["started_at"] in (0, now + offset)
        assert record["results"] == record["traffic"] == record["finished_at"] == 0


@pytest.mark.parametrize(("kwargs", "match"), [({"runs": -1}, "runs"), ({"seed": "0"}, "seed")])
def test_build_account_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_account(**kwargs)


PAGING_ACCOUNT = build_account(seed=5, runs=300)


@settings(max_examples=60, deadline=None)
@given(
    page_size=st.integers(1, MAX_PAGE_SIZE),
    status=st.integers(0, 5),
    worker=st.sampled_from([None, *[w.slug for w in PAGING_ACCOUNT.workers]]),
)
def test_pages_concatenate_to_the_ordered_filtered_runs(page_size, status, worker):
    expected = [
        r
        for r in PAGING_ACCOUNT.runs
        if status in (0, r["status"]) and worker in (None, r["scraper_slug"])
    ]
    collected = []
    for page_index in range(1, len(expected) // page_size + 3):
        count, page = PAGING_ACCOUNT.list_runs(page_index, page_size, status, worker)
        assert count == len(expected)
        collected.extend(page)
    assert collected == expected


def test_run_history_order_is_newest_created_first(account_5000):
    runs = account_5000.runs
    keys = [(account_5000.created_at(r["slug"]), r["slug"]) for r in runs]
    assert keys == sorted(keys, reverse=True)
    assert len({created for created, _ in keys}) < len(keys)  # ties exist, broken by slug
    assert runs[0]["started_at"] == 0 or runs[0]["status"] in (2, 5)  # the newest are active


@pytest.mark.parametrize(
    "module",
    [
        coreclaw_frames.sandbox,
        account_module,
        faults_module,
        protocol_module,
        records_module,
        server_module,
        v1_module,
        v2_module,
        wire_module,
        workers_module,
    ],
)
def test_docstring_examples_run_and_modules_stay_small(module):
    failures, attempted = doctest.testmod(module)
    assert failures == 0
    assert attempted > 0 or module in (faults_module, protocol_module, wire_module, workers_module)
    assert module.__doc__ and len(Path(module.__file__).read_text().splitlines()) <= 500


def test_public_names_are_sorted_and_exist():
    names = coreclaw_frames.sandbox.__all__

    def isort_style(name: str) -> tuple[int, str]:  # constants, classes, functions (ruff RUF022)
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert names == sorted(names, key=isort_style)
    assert all(hasattr(coreclaw_frames.sandbox, name) for name in names)


# =========================================================================== endpoints


def test_run_detail_returns_the_account_record(sandbox):
    for record in sandbox.account.runs[:: DEFAULT_RUNS // 20]:
        assert ok(post(sandbox.url, DETAIL, {"run_slug": record["slug"]})) == record


def test_run_detail_of_unknown_run_is_70001(sandbox):
    assert error(post(sandbox.url, DETAIL, {"run_slug": UNKNOWN_SLUG})) == (
        70001,
        "Run record does not exist",
    )
    assert error(post(sandbox.url, DETAIL, {"run_slug": "not-a-ulid"}))[0] == 70001


def test_run_list_pages_through_every_run_in_order(sandbox):
    rows = all_pages(sandbox.url, {})
    assert rows == sandbox.account.runs
    assert all(type(r["usage"]) is str for r in rows)


def test_run_list_count_multiple_of_page_size_and_past_the_end():
    with serve(runs=40) as srv:
        second = ok(post(srv.url, LIST, {"page_index": 2, "page_size": 20}))
        assert second["count"] == 40 and len(second["list"]) == 20
        assert second["list"] == srv.account.runs[20:]
        past = ok(post(srv.url, LIST, {"page_index": 3, "page_size": 20}))
        assert past == {"count": 40, "list": []}
        far = ok(post(srv.url, LIST, {"page_index": 10**6, "page_size": 100}))
        assert far == {"count": 40, "list": []}


def test_empty_account_serves_empty_pages():
    with serve(runs=0) as srv:
        assert ok(post(srv.url, LIST, {"page_index": 1, "page_size": 10})) == {
            "count": 0,
            "list": [],
        }
        assert ok(post(srv.url, ACCOUNT, {}))["traffic"] == 0
        assert error(post(srv.url, DETAIL, {"run_slug": UNKNOWN_SLUG}))[0] == 70001


@pytest.mark.parametrize("status", [0, 1, 2, 3, 4, 5])
def test_run_list_status_filter(sandbox, status):
    rows = all_pages(sandbox.url, {"status": status})
    expected = [r for r in sandbox.account.runs if status in (0, r["status"])]
    assert rows == expected
    assert rows


def test_run_list_scraper_filter_and_unknown_scraper(sandbox):
    worker = sandbox.account.workers[1]
    rows = all_pages(sandbox.url, {"scraper_slug": worker.slug, "status": 3})
    assert rows == [
        r for r in sandbox.account.runs if r["scraper_slug"] == worker.slug and r["status"] == 3
    ]
    assert {r["scraper_title"] for r in rows} == {worker.title}
    page = ok(
        post(sandbox.url, LIST, {"page_index": 1, "page_size": 10, "scraper_slug": UNKNOWN_SLUG})
    )
    assert page == {"count": 0, "list": []}
    # An empty scraper_slug or a null status means "no filter", as zero values do in the API.
    page = ok(
        post(
            sandbox.url, LIST, {"page_index": 1, "page_size": 5, "scraper_slug": "", "status": None}
        )
    )
    assert page["count"] == len(sandbox.account)


def test_run_results_first_and_later_pages(sandbox):
    record = next(r for r in sandbox.account.runs if r["results"] > 25)
    data = ok(
        post(sandbox.url, RESULTS, {"run_slug": record["slug"], "page_index": 1, "page_size": 10})
    )
    assert set(data) == {"count", "headers", "list", "page_index", "page_size"}
    assert (data["count"], data["page_index"], data["page_size"]) == (record["results"], 1, 10)
    assert data["headers"] == sandbox.account.headers(record["slug"])
    assert len(data["list"]) == 10
    page3 = ok(
        post(sandbox.url, RESULTS, {"run_slug": record["slug"], "page_index": 3, "page_size": 10})
    )
    assert page3["list"] == sandbox.account.results(record["slug"], 3, 10)[2]
    assert page3["page_index"] == 3


def test_run_results_paging_returns_every_row_once(sandbox):
    record = next(
        r
        for r in sandbox.account.runs
        if r["results"] > 60 and r["scraper_title"].startswith("News")
    )
    rows: list[dict[str, Any]] = []
    page_index = 1
    while len(rows) < record["results"] and page_index < 20:
        body = {"run_slug": record["slug"], "page_index": page_index, "page_size": 25}
        rows.extend(ok(post(sandbox.url, RESULTS, body))["list"])
        page_index += 1
    body = {"run_slug": record["slug"], "page_index": page_index, "page_size": 25}
    assert ok(post(sandbox.url, RESULTS, body))["list"] == []
    assert len(rows) == record["results"]
    ids = [row["__coreclaw_data_id__"] for row in rows]
    assert len(set(ids)) == len(ids)


def test_run_results_of_empty_and_unknown_runs(sandbox):
    empty = next(r for r in sandbox.account.runs if r["results"] == 0)
    data = ok(
        post(sandbox.url, RESULTS, {"run_slug": empty["slug"], "page_index": 1, "page_size": 10})
    )
    assert (data["count"], data["list"]) == (0, [])
    assert data["headers"]
    body = {"run_slug": UNKNOWN_SLUG, "page_index": 1, "page_size": 10}
    assert error(post(sandbox.url, RESULTS, body)) == (70001, "Run record does not exist")


def test_result_rows_differ_by_worker_and_go_beyond_headers(sandbox):
    account = sandbox.account
    samples: dict[str, list[dict[str, Any]]] = {}
    for worker in account.workers:
        slugs = [
            r["slug"]
            for r in account.runs
            if r["scraper_slug"] == worker.slug and r["results"] >= 40
        ]
        samples[worker.title] = account.results(slugs[0], 1, 40)[2]
    news = samples["News Collection 20260305"]
    assert all(isinstance(row["author"]["followers"], int) for row in news)
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["published_at"]) for row in news
    )
    products = samples["E-commerce Product Details"]
    assert all(
        isinstance(row["price"], float) and isinstance(row["in_stock"], bool) for row in products
    )
    assert None in {row["rating"] for row in products}
    assert all(isinstance(row["seller"]["address"]["city"], str) for row in products)
    jobs = samples["Job Board Listings"]
    assert all(
        isinstance(row["tags"], list) and row["salary_min"] <= row["salary_max"] for row in jobs
    )
    assert len({frozenset(rows[0]) for rows in samples.values()}) == len(samples)
    with_ids = {title for title, rows in samples.items() if "__coreclaw_data_id__" in rows[0]}
    assert 0 < len(with_ids) < len(samples)
    beyond = 0
    for worker in account.workers:
        slug = next(
            r["slug"]
            for r in account.runs
            if r["scraper_slug"] == worker.slug and r["results"] >= 40
        )
        _, headers, rows = account.results(slug, 1, 40)
        declared = {h["key"] for h in headers} | {"__coreclaw_data_id__"}
        beyond += sum(not set(row) <= declared for row in rows)
    assert beyond > 0


def test_account_info(sandbox):
    data = ok(post(sandbox.url, ACCOUNT, {}))
    assert data == {
        "balance": sandbox.account.balance,
        "traffic": sandbox.account.traffic,
        "traffic_expiration_at": sandbox.account.traffic_expiration_at,
    }
    assert type(data["balance"]) is str and type(data["traffic"]) is int


def test_bearer_authorization_works_too(sandbox):
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    assert ok(post(sandbox.url, ACCOUNT, {}, key=None, headers=headers))["balance"]


# =========================================================================== error paths


@pytest.mark.parametrize(
    ("path", "data"),
    [
        (DETAIL, b"{not json"),
        (DETAIL, b""),
        (DETAIL, b"\xff\xfe"),
        (DETAIL, b"[1, 2]"),
        (DETAIL, b'"run"'),
        (DETAIL, b"{}"),
        (DETAIL, b'{"run_slug": ""}'),
        (DETAIL, b'{"run_slug": 123}'),
        (DETAIL, b'{"run_slug": null}'),
        (ACCOUNT, b"[]"),
        (ACCOUNT, b"null"),
        (LIST, b'{"page_size": 10}'),
        (LIST, b'{"page_index": 1}'),
        (LIST, b'{"page_index": 0, "page_size": 10}'),
        (LIST, b'{"page_index": -1, "page_size": 10}'),
        (LIST, b'{"page_index": "1", "page_size": 10}'),
        (LIST, b'{"page_index": 1.0, "page_size": 10}'),
        (LIST, b'{"page_index": true, "page_size": 10}'),
        (LIST, b'{"page_index": 2147483648, "page_size": 10}'),
        (LIST, b'{"page_index": 1, "page_size": 0}'),
        (LIST, b'{"page_index": 1, "page_size": 101}'),
        (LIST, b'{"page_index": 1, "page_size": null}'),
        (LIST, b'{"page_index": 1, "page_size": 10, "status": 6}'),
        (LIST, b'{"page_index": 1, "page_size": 10, "status": -1}'),
        (LIST, b'{"page_index": 1, "page_size": 10, "status": "3"}'),
        (LIST, b'{"page_index": 1, "page_size": 10, "scraper_slug": 5}'),
        (RESULTS, b'{"page_index": 1, "page_size": 10}'),
        (RESULTS, b'{"run_slug": "01KSFDS8XWTJME33C08XMCR6B9", "page_size": 10}'),
        (RESULTS, b'{"run_slug": "01KSFDS8XWTJME33C08XMCR6B9", "page_index": 1, "page_size": 500}'),
        (RESULTS, b'{"run_slug": ["x"], "page_index": 1, "page_size": 10}'),
    ],
)
def test_bad_bodies_and_parameters_are_4000(sandbox, path, data):
    assert error(post(sandbox.url, path, data=data)) == (4000, "Invalid request parameters")


def test_4000_envelope_is_the_documented_one(sandbox):
    answer = post(sandbox.url, LIST, data=b"{}")
    assert answer.json() == json.loads(CONTRACT["error_v1"])


@pytest.mark.parametrize(
    ("key", "headers", "expected"),
    [
        (None, {}, (4010, "Unauthorized")),
        (None, {"Authorization": "Basic dXNlcjpwYXNz"}, (4010, "Unauthorized")),
        (None, {"Authorization": "Bearer "}, (4010, "Unauthorized")),
        ("", {}, (4010, "Unauthorized")),
        ("wrong-key", {}, (20001, "API key invalid")),
        (None, {"Authorization": "Bearer wrong-key"}, (20001, "API key invalid")),
        (EXPIRED_API_KEY, {}, (20002, "API key expired")),
        (DISABLED_USER_API_KEY, {}, (10002, "User disabled")),
        (UNKNOWN_USER_API_KEY, {}, (10001, "User does not exist")),
    ],
)
def test_auth_codes(sandbox, key, headers, expected):
    assert error(post(sandbox.url, ACCOUNT, {}, key=key, headers=headers)) == expected


def test_auth_is_checked_before_parameters_but_after_the_path(sandbox):
    assert error(post(sandbox.url, LIST, data=b"{bad", key="wrong"))[0] == 20001
    assert error(post(sandbox.url, "/api/v1/nope", {}, key=None))[0] == 4040


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/run/nope"),
        ("POST", "/api/v1/run/detail/"),
        ("POST", "/"),
        ("GET", DETAIL),
        ("PUT", LIST),
        ("DELETE", ACCOUNT),
        ("GET", "/api/v1"),
        ("POST", "/api/v2x/worker-runs"),
    ],
)
def test_unknown_paths_and_non_post_methods_are_4040(sandbox, method, path):
    headers = {"api-key": sandbox.api_key}
    answer = requests.request(method, sandbox.url + path, headers=headers, timeout=10)
    assert error(answer) == (4040, "Resource not found")


def test_query_string_is_ignored(sandbox):
    assert ok(post(sandbox.url, ACCOUNT + "?lang=en", {}))["balance"] == sandbox.account.balance


# =========================================================================== the wire


def test_keep_alive_and_connection_close(sandbox):
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    sockets = []
    try:
        headers = {"api-key": sandbox.api_key, "Content-Type": "application/json"}
        for _ in range(3):
            connection.request("POST", ACCOUNT, b"{}", headers)
            response = connection.getresponse()
            assert json.loads(response.read())["code"] == 0
            assert response.getheader("Connection") is None
            sockets.append(connection.sock)
    finally:
        connection.close()
    assert sockets[0] is not None and all(s is sockets[0] for s in sockets)  # one connection
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=10) as raw:
        request = (
            f"POST {ACCOUNT} HTTP/1.1\r\nHost: x\r\napi-key: {sandbox.api_key}\r\n"
            "Content-Length: 2\r\nConnection: close\r\n\r\n{}"
        )
        raw.sendall(request.encode())
        received = b""
        while chunk := raw.recv(65536):  # ends only when the server closes the connection
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Connection: close" in head
    assert json.loads(body)["code"] == 0


def test_chunked_body_head_and_oversized_body(sandbox):
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    try:
        headers = {"api-key": sandbox.api_key, "Transfer-Encoding": "chunked"}
        slug = sandbox.account.runs[3]["slug"]
        chunks = iter([b'{"run_slug": ', json.dumps(slug).encode(), b"}"])
        connection.request("POST", DETAIL, chunks, headers, encode_chunked=True)
        assert json.loads(connection.getresponse().read())["data"]["slug"] == slug
        connection.request("HEAD", ACCOUNT, headers={"api-key": sandbox.api_key})
        response = connection.getresponse()
        assert int(response.getheader("Content-Length", "")) > 0 and response.read() == b""
        too_big = wire_module.MAX_BODY_BYTES + 1
        connection.putrequest("POST", DETAIL)
        connection.putheader("api-key", sandbox.api_key)
        connection.putheader("Content-Length", str(too_big))
        connection.endheaders()
        response = connection.getresponse()
        assert json.loads(response.read())["code"] == 4000
        assert response.getheader("Connection") == "close"
    finally:
        connection.close()


def test_250_concurrent_connections_all_succeed(sandbox):
    clients = 250
    barrier = threading.Barrier(clients)
    results: list[Any] = [None] * clients
    slugs = [r["slug"] for r in sandbox.account.runs[:clients]]

    def worker(index: int) -> None:
        with requests.Session() as session:
            session.headers["api-key"] = sandbox.api_key
            barrier.wait(timeout=30)
            try:
                answer = session.post(
                    sandbox.url + DETAIL, json={"run_slug": slugs[index]}, timeout=30
                )
                results[index] = answer.json()["data"]["slug"]
            except requests.RequestException as exc:
                results[index] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == slugs


def test_stop_is_clean_even_when_the_body_raises_and_a_connection_is_idle():
    with pytest.raises(RuntimeError, match="boom"), serve(runs=1) as srv:
        port = srv.port
        idle = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        idle.request("POST", ACCOUNT, b"{}", {"api-key": srv.api_key})
        idle.getresponse().read()
        raise RuntimeError("boom")  # stop() must not wait for the idle connection
    idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_sandbox_server_start_stop_and_url():
    srv = SandboxServer(runs=2)
    srv.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", srv.url)
        assert ok(post(srv.url, LIST, {"page_index": 1, "page_size": 5}))["count"] == 2
        with pytest.raises(RuntimeError):
            srv.start()
    finally:
        srv.stop()
        srv.stop()  # idempotent


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fault_rate": 1.5}, "fault_rate.*1.5"),
        ({"fault_rate": -0.1}, "fault_rate"),
        ({"latency": -1}, "latency.*-1"),
        ({"faults": ("bogus",)}, "bogus"),
        ({"faults": "drop"}, "drop"),
        ({"faults": (), "fault_rate": 0.5}, "faults"),
        ({"max_consecutive_faults": -1}, "max_consecutive_faults"),
        ({"slow_seconds": -0.5}, "slow_seconds"),
        ({"retry_after": -1}, "retry_after"),
        ({"retry_after": 1.5}, "retry_after"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_limit": -2}, "rate_limit"),
        ({"rate_limit": 5, "rate_burst": 0.5}, "rate_burst"),
        ({"rate_burst": 5}, "rate_burst"),
        ({"api_key": ""}, "api_key"),
        ({"api_key": EXPIRED_API_KEY}, "api_key"),
        ({"grow_on_list": -1}, "grow_on_list"),
        ({"echo_key": "loud"}, "echo_key.*loud"),
        ({"echo_key": 1}, "echo_key"),
        ({"port": 70000}, "port"),
        ({"runs": -3}, "runs"),
    ],
)
def test_bad_knobs_raise_value_error_naming_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match), serve(**kwargs):
        pass


def test_serve_takes_and_shows_exactly_the_parameters_of_the_server():
    assert inspect.signature(serve).parameters == inspect.signature(SandboxServer).parameters
    assert "latency: 'float' = 0.0" in pydoc.render_doc(serve, renderer=pydoc.plaintext)
    account = build_account(seed=3, runs=4)
    options = {"account": account, "api_key": "k-serve", "retry_after": 0, "clock_offset": 60.0}
    with serve(**options) as srv:
        assert isinstance(srv, SandboxServer) and srv.account is account
        assert (srv.api_key, srv.retry_after, srv.clock_offset) == ("k-serve", 0, 60.0)
        assert (
            ok(post(srv.url, LIST, {"page_index": 1, "page_size": 5}, key="k-serve"))["count"] == 4
        )
    with pytest.raises(TypeError, match="unexpected keyword argument 'run'"), serve(run=3):
        pass


# =========================================================================== faults


def attempt(srv: SandboxServer, body: dict[str, Any]) -> requests.Response | Exception:
    """One run/detail call with a timeout shorter than the `slow` fault; errors returned."""
    try:
        return post(srv.url, DETAIL, body, timeout=SLOW_CLIENT_TIMEOUT)
    except requests.RequestException as exc:
        return exc


def assert_fault(kind: str, answer: requests.Response | Exception, expected_body: bytes) -> None:
    if kind in ("http_500", "http_502", "http_503", "http_429"):
        assert isinstance(answer, requests.Response)
        assert answer.status_code == int(kind[-3:])
        assert answer.headers["Content-Type"].startswith("text/html")
        assert answer.text.startswith("<html>") and kind[-3:] in answer.text
        if kind == "http_429":
            assert answer.headers["Retry-After"] == "1"
    elif kind in ("code_5000", "code_4290"):
        assert isinstance(answer, requests.Response)
        assert error(answer)[0] == int(kind[-4:])
    elif kind == "drop":
        assert isinstance(answer, requests.ConnectionError)
    elif kind == "truncated":
        assert isinstance(answer, requests.Response) and answer.status_code == 200
        assert int(answer.headers["Content-Length"]) == len(answer.content)
        assert expected_body.startswith(answer.content) and len(answer.content) < len(expected_body)
        with pytest.raises(ValueError):
            answer.json()
    else:
        assert kind == "slow"
        assert isinstance(answer, requests.Timeout)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_then_recovery(kind):
    with serve(runs=5, fault_rate=1.0, faults=(kind,), slow_seconds=SHORT_SLOW) as srv:
        record = srv.account.runs[2]
        body = {"run_slug": record["slug"]}
        expected = json.dumps(
            {"code": 0, "message": "success", "data": record}, separators=(",", ":")
        ).encode()
        answers = [attempt(srv, body) for _ in range(3)]
        for answer in answers[:2]:
            assert_fault(kind, answer, expected)
        assert isinstance(answers[2], requests.Response)
        assert ok(answers[2]) == record
        assert srv.counters.faults == {kind: 2}
        assert srv.counters.requests_by_slug[record["slug"]] == 3


def test_retry_after_knob_and_zero():
    with serve(runs=3, fault_rate=1.0, faults=("http_429",), retry_after=0) as srv:
        answer = post(srv.url, ACCOUNT, {})
        assert (answer.status_code, answer.headers["Retry-After"]) == (429, "0")


def test_slow_answer_is_correct_once_it_arrives():
    with serve(
        runs=3, fault_rate=1.0, faults=("slow",), slow_seconds=2.0, max_consecutive_faults=5
    ) as srv:
        with pytest.raises(requests.ReadTimeout):  # slower than a client that waits 0.2 s
            post(srv.url, ACCOUNT, {}, timeout=0.2)
        data = ok(post(srv.url, ACCOUNT, {}, timeout=30))
        assert data["balance"] == srv.account.balance


def test_zero_consecutive_faults_means_no_fault():
    with serve(runs=3, fault_rate=1.0, max_consecutive_faults=0) as srv:
        assert all(ok(post(srv.url, ACCOUNT, {})) for _ in range(5))
        assert srv.counters.faults == {}


def test_auth_failures_are_never_faults():
    with serve(runs=3, fault_rate=1.0, faults=("http_500",)) as srv:
        for _ in range(4):
            assert error(post(srv.url, ACCOUNT, {}, key="wrong"))[0] == 20001
        assert error(post(srv.url, "/nope", {}))[0] == 4040
        assert srv.counters.faults == {}


def fault_trace(seed: int) -> list[str]:
    """What each of 40 distinct requests got on its first attempt, with faults drawn."""
    trace = []
    with serve(
        runs=40, seed=seed, fault_rate=0.5, faults=("http_500", "code_5000", "http_503")
    ) as srv:
        for record in srv.account.runs:
            answer = post(srv.url, DETAIL, {"run_slug": record["slug"]})
            trace.append(f"{answer.status_code}/{answer.text[:20]}")
    return trace


def test_fault_draws_are_deterministic_per_seed():
    first = fault_trace(seed=11)
    assert first == fault_trace(seed=11)
    assert first != fault_trace(seed=12)
    assert 5 < sum(t.startswith('200/{"code":0') for t in first) < 35


def test_mixed_faults_lose_nothing_with_enough_retries():
    with serve(runs=60, seed=4, fault_rate=0.5, slow_seconds=SHORT_SLOW) as srv:
        received = []
        for record in srv.account.runs:
            for _ in range(3):  # max_consecutive_faults + 1
                answer = attempt(srv, {"run_slug": record["slug"]})
                if isinstance(answer, requests.Response) and answer.status_code == 200:
                    try:
                        document = answer.json()
                    except ValueError:
                        continue
                    if document["code"] == 0:
                        received.append(document["data"])
                        break
        assert received == srv.account.runs
        assert sum(srv.counters.faults.values()) > 10


# =========================================================================== rate limit, latency


def test_rate_limit_rejects_with_4290_and_counts():
    # A bucket of 5 that refills one token in 1000 s: exactly 5 requests get through.
    with serve(runs=3, rate_limit=0.001, rate_burst=5) as srv:
        answers = [post(srv.url, ACCOUNT, {}) for _ in range(15)]
        codes = [envelope(answer)["code"] for answer in answers]
        assert codes == [0] * 5 + [4290] * 10
        assert srv.counters.rejected == 10
        rejected = [error(answer) for answer in answers if answer.json()["code"] == 4290]
        assert set(rejected) == {(4290, "Rate limit exceeded")}
        assert error(post(srv.url, ACCOUNT, {}, key="wrong"))[0] == 20001  # auth comes first
        assert srv.counters.rejected == 10


def test_the_bucket_refills_at_its_rate_up_to_its_capacity():
    clock = [0.0]
    bucket = faults_module.TokenBucket(5.0, 5.0, clock=lambda: clock[0])
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    clock[0] += 0.19  # not quite one token
    assert not bucket.take()
    clock[0] += 0.01
    assert bucket.take() and not bucket.take()
    clock[0] += 100  # never more than the capacity
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]


def test_rate_limit_default_burst_is_one_token_below_one_per_second():
    with serve(runs=3, rate_limit=0.5) as srv:
        assert ok(post(srv.url, ACCOUNT, {}))
        assert error(post(srv.url, ACCOUNT, {})) == (4290, "Rate limit exceeded")
        assert srv.counters.rejected == 1


def test_latency_delays_every_answer():
    with serve(runs=3, latency=2.0) as srv:
        for path in (ACCOUNT, "/api/v1/unknown"):
            with pytest.raises(requests.ReadTimeout):  # no answer within 0.2 s, errors included
                post(srv.url, path, {}, timeout=0.2)


# =========================================================================== counters, growth


def test_counters_count_paths_slugs_and_total_and_reset():
    with serve(runs=10) as srv:
        slug = srv.account.runs[0]["slug"]
        for _ in range(3):
            ok(post(srv.url, DETAIL, {"run_slug": slug}))
        for _ in range(2):
            ok(post(srv.url, RESULTS, {"run_slug": slug, "page_index": 1, "page_size": 5}))
        ok(post(srv.url, LIST, {"page_index": 1, "page_size": 5}))
        error(post(srv.url, "/nope", {}))
        error(post(srv.url, DETAIL, {"run_slug": UNKNOWN_SLUG}, key="wrong"))
        snapshot = srv.counters
        assert snapshot.total == 8
        assert snapshot.requests_by_path == {DETAIL: 4, RESULTS: 2, LIST: 1, "/nope": 1}
        assert snapshot.requests_by_slug == {slug: 5, UNKNOWN_SLUG: 1}
        assert (snapshot.rejected, snapshot.faults) == (0, Counter())
        snapshot.requests_by_path.clear()  # a copy: the live counters are untouched
        assert srv.counters.requests_by_path[DETAIL] == 4
        srv.reset_counters()
        assert srv.counters.total == 0 and srv.counters.requests_by_slug == {}


def test_grow_on_list_adds_newest_runs_on_every_list_call():
    with serve(runs=30, grow_on_list=2) as srv:
        before = srv.account.runs
        page1 = ok(post(srv.url, LIST, {"page_index": 1, "page_size": 10}))
        assert page1["count"] == 32
        grown = srv.account.runs
        new = [r for r in grown if r not in before]
        assert len(new) == 2 and all(r["status"] in (1, 2) for r in new)
        assert [r for r in grown if r not in new] == before  # old runs keep their order
        newest_start = max(r["started_at"] for r in before)
        assert all(r["started_at"] == 0 or r["started_at"] > newest_start for r in new)
        assert page1["list"] == grown[:10]
        page2 = ok(post(srv.url, LIST, {"page_index": 2, "page_size": 10}))
        assert page2["count"] == 34
        assert page2["list"] == srv.account.runs[10:20]
        # The two runs added by the second call pushed the end of page 1 onto page 2.
        assert page2["list"][:2] == page1["list"][-2:]
        assert ok(post(srv.url, DETAIL, {"run_slug": new[0]["slug"]})) == new[0]


# =========================================================================== contract shapes


@pytest.mark.parametrize("status", [1, 2, 3, 4, 5])
def test_run_detail_has_the_contract_shape(sandbox, status):
    record = next(r for r in sandbox.account.runs if r["status"] == status)
    answer = post(sandbox.url, DETAIL, {"run_slug": record["slug"]}).json()
    contract = json.loads(CONTRACT["run_detail_v1"])
    assert shape(answer) == shape(contract)
    assert list(answer["data"]) == list(contract["data"])


def test_run_list_has_the_contract_shape(sandbox):
    answer = post(sandbox.url, LIST, {"page_index": 1, "page_size": 3}).json()
    assert shape(answer) == shape(json.loads(CONTRACT["run_list_v1"]))


def test_error_has_the_contract_shape(sandbox):
    answer = post(sandbox.url, DETAIL, {"run_slug": UNKNOWN_SLUG}).json()
    assert shape(answer) == shape(json.loads(CONTRACT["error_v1"]))


def test_v2_examples_match_the_served_v1_shapes_where_they_overlap(sandbox):
    record = sandbox.account.runs[100]
    detail = post(sandbox.url, DETAIL, {"run_slug": record["slug"]}).json()["data"]
    v2_detail = json.loads(CONTRACT["run_detail_v2"])["data"]
    assert set(v2_detail) == set(detail)  # the same field names in both versions
    assert {k: shape(v) for k, v in v2_detail.items() if k != "status"} == {
        k: shape(detail[k]) for k in v2_detail if k != "status"
    }
    slug = next(r["slug"] for r in sandbox.account.runs if r["results"] > 0)
    results = post(
        sandbox.url, RESULTS, {"run_slug": slug, "page_index": 1, "page_size": 2}
    ).json()["data"]
    v2_results = json.loads(CONTRACT["run_result_v2"])["data"]
    assert set(v2_results) == set(results)
    assert set(v2_results["headers"][0]) < set(results["headers"][0])  # v2 drops `format`
    assert all(isinstance(row, dict) for row in results["list"])
    assert type(results["count"]) is int


def test_every_contract_example_is_loaded():
    assert set(CONTRACT) == {
        "account_v1",
        "account_v2",
        "error_v1",
        "error_v2_401",
        "error_v2_404",
        "error_v2_429",
        "run_detail_v1",
        "run_detail_v2",
        "run_detail_v2_no_err_msg",
        "run_list_v1",
        "run_list_v2",
        "run_result_v1",
        "run_result_v2",
        "run_result_export_v2",
    }
    shared = Path("/work/shared/contract")
    if shared.is_dir():  # the copies stay byte-exact
        for path in shared.glob("*.json"):
            assert CONTRACT[path.stem] == path.read_text(), path.name
