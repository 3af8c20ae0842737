"""The sandbox's v2 results export and its storage host, big-run and schema-drift accounts: over
real loopback HTTP with `requests`."""

import csv
import doctest
import io
import json
from pathlib import Path

import pytest
import requests

from coreclaw_frames.sandbox import (
    DEFAULT_API_KEY,
    DRIFT_WORKER_PATH,
    EXPIRED_API_KEY,
    ROUTE_V2_RUN_RESULT_EXPORT,
    STORAGE_FAULT_KINDS,
    SandboxServer,
    build_account,
    serve,
)
from coreclaw_frames.sandbox import _drift as drift_module
from coreclaw_frames.sandbox import _export as export_module
from coreclaw_frames.sandbox import _knobs as knobs_module
from coreclaw_frames.sandbox import _storage as storage_module
from coreclaw_frames.sandbox._export import flatten

TIMEOUT = 10
EXPIRED_XML = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"


@pytest.fixture(scope="module")
def srv():
    """A small account with the drifting worker; tests that change a knob put it back."""
    with serve(runs=400, drift_runs=12) as server:
        yield server


def _auth(server):
    return {"Authorization": f"Bearer {server.api_key}"}


def _export(server, slug, headers=None, **params):
    return requests.get(
        f"{server.url}/api/v2/worker-runs/{slug}/result/export",
        params=params,
        headers=_auth(server) if headers is None else headers,
        timeout=TIMEOUT,
    )


def _link(server, slug, **params):
    answer = _export(server, slug, **params)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert (document["code"], document["message"], list(document["data"])) == (
        0,
        "success",
        ["download_url"],
    )
    url = document["data"]["download_url"]
    assert url.startswith(server.storage_url + "/")
    return url


def _paged_rows(server, slug):
    rows, page = [], 1
    while True:
        answer = requests.get(
            f"{server.url}/api/v2/worker-runs/{slug}/result",
            params={"offset": page, "limit": 100},
            headers=_auth(server),
            timeout=TIMEOUT,
        ).json()["data"]
        rows += answer["list"]
        if len(rows) >= answer["count"] or not answer["list"]:
            return rows
        page += 1


def _ordered(rows):
    """Rows compared with their key order."""
    return [list(row.items()) for row in rows]


def _parse(body, fmt):
    if fmt == "json":
        return json.loads(body)
    assert body == b"" or body.endswith(b"\n")
    return [json.loads(line) for line in body.decode().splitlines()]


def _run_of_each_worker(account):
    """The run with the most rows (at least one) of each worker."""
    best = {}
    for record in account.runs:
        if record["results"] and record["results"] > best.get(record["scraper_slug"], {}).get(
            "results", 0
        ):
            best[record["scraper_slug"]] = record
    assert len(best) == len(account.workers) == 9
    return list(best.values())


# ---------------------------------------------------------------- files


@pytest.mark.parametrize("fmt", ["jsonl", "json", "JSONL"])
def test_export_of_every_worker_equals_the_paged_rows(srv, fmt):
    for record in _run_of_each_worker(srv.account):
        expected = _paged_rows(srv, record["slug"])
        download = requests.get(_link(srv, record["slug"], format=fmt), timeout=TIMEOUT)
        assert download.status_code == 200
        assert int(download.headers["Content-Length"]) == len(download.content)
        rows = _parse(download.content, fmt.lower())
        assert len(rows) == record["results"]
        assert _ordered(rows) == _ordered(expected)


def test_csv_export_flattens_nested_keys_and_encodes_cells(srv):
    record = next(
        r for r in _run_of_each_worker(srv.account) if r["scraper_title"] == "Job Board Listings"
    )
    url = _link(srv, record["slug"])  # csv is the default format
    assert "/results.csv?" in url
    download = requests.get(url, timeout=TIMEOUT)
    assert download.headers["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(download.content.decode())))
    expected = [flatten(row) for row in _paged_rows(srv, record["slug"])]
    columns = list(dict.fromkeys(name for row in expected for name in row))
    assert table[0] == columns and len(table) == len(expected) + 1
    for cells, row in zip(table[1:], expected, strict=True):
        for name, cell in zip(columns, cells, strict=True):
            value = row.get(name)
            if value is None:
                assert cell == ""
            elif isinstance(value, bool):
                assert cell == ("true" if value else "false")
            elif isinstance(value, list | int | float):
                assert json.loads(cell) == value
            else:
                assert cell == value

    news = next(
        r for r in _run_of_each_worker(srv.account) if r["scraper_title"].startswith("News")
    )
    header = requests.get(_link(srv, news["slug"], format="csv"), timeout=TIMEOUT).text
    assert header.splitlines()[0].split(",")[:5] == [
        "title",
        "url",
        "published_at",
        "author.name",
        "author.followers",
    ]


def test_filter_keys_keep_only_those_keys_in_row_order(srv):
    record = next(
        r for r in _run_of_each_worker(srv.account) if r["scraper_title"].startswith("News")
    )
    url = _link(srv, record["slug"], format="jsonl", filter_keys=" url , title,author")
    rows = _parse(requests.get(url, timeout=TIMEOUT).content, "jsonl")
    wanted = {"title", "url", "author"}
    expected = [
        {k: v for k, v in row.items() if k in wanted} for row in _paged_rows(srv, record["slug"])
    ]
    assert _ordered(rows) == _ordered(expected)
    assert list(rows[0]) == ["title", "url", "author"]
    csv_head = requests.get(_link(srv, record["slug"], filter_keys="author"), timeout=TIMEOUT).text
    assert csv_head.splitlines()[0] == "author.name,author.followers"


def test_empty_run_exports_empty_files(srv):
    empty = next(r for r in srv.account.runs if r["results"] == 0)
    bodies = {
        fmt: requests.get(_link(srv, empty["slug"], format=fmt), timeout=TIMEOUT).content
        for fmt in ("jsonl", "json", "csv")
    }
    assert bodies == {"jsonl": b"", "json": b"[]", "csv": b""}


# ---------------------------------------------------------------- the export endpoint


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"format": "xlsx"}, "does not render format xlsx"),
        ({"format": "RSS"}, "does not render format rss"),
        ({"format": "pdf"}, "format must be one of"),
        ({"format": "json", "filter_keys": "title,nope"}, "'nope'"),
        ({"filter_keys": "__coreclaw_data_id__"}, "'__coreclaw_data_id__'"),
    ],
)
def test_bad_format_or_filter_keys_is_an_invalid_argument(srv, params, needle):
    slug = next(r for r in srv.account.runs if r["scraper_title"].startswith("News"))["slug"]
    answer = _export(srv, slug, **params)
    assert answer.status_code == 422
    document = answer.json()
    assert document["code"] == 11000 and "data" not in document
    assert needle in document["message"]


@pytest.mark.parametrize("mode", ["404", "70001", "mixed"])
def test_missing_run_answers_as_the_results_endpoint(srv, mode):
    srv.missing_run = mode
    try:
        for slug in ("01KSFDS8XWTJME33C08XMCR6B9", "01KSFDS8XWTJME33C08XMCR6BA", "nope"):
            export = _export(srv, slug)
            result = requests.get(
                f"{srv.url}/api/v2/worker-runs/{slug}/result", headers=_auth(srv), timeout=TIMEOUT
            )
            assert (export.status_code, export.json()["code"]) == (
                result.status_code,
                result.json()["code"],
            )
            assert export.json()["code"] in (11004, 70001)
    finally:
        srv.missing_run = "404"


def test_export_needs_the_key_and_is_counted(srv):
    slug = srv.account.runs[0]["slug"]
    before = srv.counters
    assert _export(srv, slug, headers={}).json()["code"] == 12001
    assert (
        _export(srv, slug, headers={"Authorization": f"Bearer {EXPIRED_API_KEY}"}).status_code
        == 401
    )
    assert _export(srv, slug, headers={"api-key": srv.api_key}).status_code == 200
    after = srv.counters
    assert after.total - before.total == 3
    route = after.requests_by_route[ROUTE_V2_RUN_RESULT_EXPORT]
    assert route - before.requests_by_route[ROUTE_V2_RUN_RESULT_EXPORT] == 3
    assert after.requests_by_slug[slug] - before.requests_by_slug[slug] == 3


def test_export_is_rate_limited_and_faulted_like_every_request():
    with serve(runs=20, rate_limit=0.001, rate_burst=1) as limited:
        slug = limited.account.runs[0]["slug"]
        assert _export(limited, slug).status_code == 200
        refused = _export(limited, slug)
        assert (refused.status_code, refused.json()["code"]) == (429, 13000)
        assert limited.counters.rejected == 1
    with serve(runs=20, fault_rate=1.0, faults=["http_503"], max_consecutive_faults=2) as faulty:
        slug = faulty.account.runs[0]["slug"]
        statuses = [_export(faulty, slug).status_code for _ in range(3)]
        assert statuses == [503, 503, 200]
        assert faulty.counters.faults["http_503"] == 2


def test_v1_has_no_export_route_and_v2_routes_get_only(srv):
    slug = srv.account.runs[0]["slug"]
    v1 = requests.post(
        f"{srv.url}/api/v1/run/result/export",
        json={"slug": slug},
        headers={"api-key": srv.api_key},
        timeout=TIMEOUT,
    )
    assert (v1.status_code, v1.json()["code"]) == (200, 4040)
    post = requests.post(
        f"{srv.url}/api/v2/worker-runs/{slug}/result/export", headers=_auth(srv), timeout=TIMEOUT
    )
    assert (post.status_code, post.json()["code"]) == (404, 11004)


# ---------------------------------------------------------------- the storage host


def _credential_forms(key):
    return [
        ({"Authorization": f"Bearer {key}"}, {}),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, {}),
        ({"api-key": key}, {}),
        ({"api-key": "anything"}, {}),
        ({"token": "anything"}, {}),
        ({"X-Api-Key": key}, {}),
        ({"Cookie": f"session={key}"}, {}),
        ({}, {"token": key}),
        ({}, {"token": "anything"}),
        ({}, {"api_key": "anything"}),
        ({}, {"api-key": "anything"}),
        ({}, {"key": key}),  # the key's value anywhere in the request line
    ]


def test_storage_refuses_and_counts_every_credential_form(srv):
    url = _link(srv, srv.account.runs[0]["slug"], format="json")
    forms = _credential_forms(srv.api_key)
    before = srv.counters
    for headers, params in forms:
        answer = requests.get(url, headers=headers, params=params, timeout=TIMEOUT)
        assert answer.status_code == 403, (headers, params)
        assert "<Code>AccessDenied</Code>" in answer.text
    in_path = url.replace("/results.json", f"/{srv.api_key}/results.json")
    assert requests.get(in_path, timeout=TIMEOUT).status_code == 403
    after = srv.counters
    assert after.storage_key_refused - before.storage_key_refused == len(forms) + 1
    assert after.storage_requests - before.storage_requests == len(forms) + 1
    assert after.total == before.total  # the storage host is not the API
    assert requests.get(url, timeout=TIMEOUT).status_code == 200  # no credential: served


def test_storage_counts_requests_and_bytes_and_serves_head(srv):
    url = _link(srv, srv.account.runs[0]["slug"], format="jsonl")
    before = srv.counters
    body = requests.get(url, timeout=TIMEOUT).content
    head = requests.head(url, timeout=TIMEOUT)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == len(body)
    after = srv.counters
    assert after.storage_requests - before.storage_requests == 2
    assert after.storage_bytes - before.storage_bytes == len(body)
    assert requests.get(url, timeout=TIMEOUT).content == body  # the cached file


def test_storage_refuses_unknown_links_other_methods_and_removed_runs():
    with serve(runs=30) as server:
        record = next(r for r in server.account.runs if r["results"])
        url = _link(server, record["slug"])
        forged = url.split("X-Amz-Signature=")[0] + "X-Amz-Signature=forged"
        assert requests.get(forged, timeout=TIMEOUT).status_code == 403
        no_signature = url.split("?")[0]
        assert requests.get(no_signature, timeout=TIMEOUT).status_code == 403
        other_path = url.replace("/results.csv", "/results.json")
        assert "SignatureDoesNotMatch" in requests.get(other_path, timeout=TIMEOUT).text
        assert requests.put(url, data=b"x", timeout=TIMEOUT).status_code == 405
        server.account.remove_runs([record["slug"]])
        gone = requests.get(url, timeout=TIMEOUT)
        assert (gone.status_code, "NoSuchKey" in gone.text) == (404, True)


def test_expired_link_answers_403_with_s3_xml():
    with serve(runs=20, link_ttl=0) as server:
        url = _link(server, server.account.runs[0]["slug"])
        assert "X-Amz-Expires=0" in url
        answer = requests.get(url, timeout=TIMEOUT)
        assert answer.status_code == 403
        assert answer.headers["Content-Type"] == "application/xml"
        assert EXPIRED_XML in answer.text


def test_storage_redirect_knob_answers_302_to_the_third_host(srv):
    url = _link(srv, srv.account.runs[0]["slug"])
    srv.storage_redirect = "http://127.0.0.1:9/elsewhere/results.csv"
    try:
        answer = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
    finally:
        srv.storage_redirect = None
    assert answer.status_code == 302
    assert answer.headers["Location"] == "http://127.0.0.1:9/elsewhere/results.csv"
    assert requests.get(url, timeout=TIMEOUT).status_code == 200


def _attempt(url):
    """One download: the body, or the kind of failure it met."""
    try:
        answer = requests.get(url, timeout=TIMEOUT)
    except requests.exceptions.ChunkedEncodingError:
        return "truncated"
    except requests.ConnectionError:
        return "drop"
    return "http_503" if answer.status_code == 503 else answer.content


def _fault_sequence(server, links):
    return [_attempt(url) for url in links for _ in range(3)]


def test_storage_faults_are_drawn_from_the_seed_and_clear_after_the_cap():
    options = {"runs": 40, "storage_fault_rate": 1.0, "max_consecutive_faults": 2, "seed": 5}
    with serve(**options) as server:
        records = [r for r in server.account.runs if r["results"] > 5][:8]
        links = [_link(server, r["slug"], format="jsonl") for r in records]
        outcomes = _fault_sequence(server, links)
        counters = server.counters
    # Each URL fails twice in a row, then gets its whole file.
    for position, record in enumerate(records):
        first, second, third = outcomes[3 * position : 3 * position + 3]
        assert first in STORAGE_FAULT_KINDS and second in STORAGE_FAULT_KINDS
        assert len(_parse(third, "jsonl")) == record["results"]
    assert set(counters.storage_faults) == set(STORAGE_FAULT_KINDS)
    assert sum(counters.storage_faults.values()) == 2 * len(records)
    with serve(**options) as again:
        links = [_link(again, r["slug"], format="jsonl") for r in records]
        assert [o for o in _fault_sequence(again, links) if isinstance(o, str)] == [
            o for o in outcomes if isinstance(o, str)
        ]


def test_storage_host_starts_and_stops_with_the_server():
    server = SandboxServer(runs=5)
    assert server.storage_url.endswith(":0")
    with server:
        storage_url = server.storage_url
        assert storage_url != server.url and not storage_url.endswith(":0")
        assert requests.get(storage_url + "/", timeout=TIMEOUT).status_code == 403
    with pytest.raises(requests.ConnectionError):
        requests.get(storage_url + "/", timeout=TIMEOUT)


@pytest.mark.parametrize(
    "knob",
    [
        {"storage_fault_rate": 1.5},
        {"storage_fault_rate": True},
        {"link_ttl": -1},
        {"storage_redirect": "ftp://example.com/x"},
        {"max_results": 0},
        {"drift_runs": -1},
    ],
)
def test_new_knobs_are_validated(knob):
    with pytest.raises(ValueError, match=next(iter(knob))):
        SandboxServer(runs=0, **knob)


# ---------------------------------------------------------------- big runs and schema drift


def test_big_account_holds_about_a_million_rows_and_keeps_other_fields():
    big = build_account(runs=2000, max_results=5000)
    default = build_account(runs=2000)
    counts = [r["results"] for r in big.runs]
    assert (min(counts), max(counts)) == (0, 5000)
    assert 900_000 <= sum(counts) <= 1_100_000
    assert sum(c >= 1000 for c in counts) > 100
    changing = {"results", "usage", "traffic"}
    for mine, theirs in zip(big.runs, default.runs, strict=True):
        assert {k: v for k, v in mine.items() if k not in changing} == {
            k: v for k, v in theirs.items() if k not in changing
        }
        if mine["status"] != 3:
            assert mine == theirs
    assert max(r["results"] for r in build_account().runs) <= 200  # the default stays small


def test_big_run_exports_every_row():
    with serve(runs=60, max_results=5000) as server:
        record = max(server.account.runs, key=lambda r: r["results"])
        count = record["results"]
        assert count > 2000
        url = _link(server, record["slug"], format="jsonl")
        rows = _parse(requests.get(url, timeout=TIMEOUT).content, "jsonl")
        assert len(rows) == count

        def page(number):
            return requests.get(
                f"{server.url}/api/v2/worker-runs/{record['slug']}/result",
                params={"offset": number, "limit": 100},
                headers=_auth(server),
                timeout=TIMEOUT,
            ).json()["data"]["list"]

        assert _ordered(rows[:100]) == _ordered(page(1))
        last = (count - 1) // 100 + 1
        assert _ordered(rows[(last - 1) * 100 :]) == _ordered(page(last))


def test_drift_worker_rows_change_type_between_versions(srv):
    feed = srv.account.worker(DRIFT_WORKER_PATH)
    assert feed is not None and feed.v2_id == DRIFT_WORKER_PATH
    by_version = {}
    for record in srv.account.runs:
        if record["scraper_slug"] == feed.slug and record["results"]:
            by_version.setdefault(record["version"], record)
    assert sorted(by_version) == ["v1.0.0", "v1.1.0", "v2.0.0", "v2.1.0"]
    first = {version: _paged_rows(srv, record["slug"])[0] for version, record in by_version.items()}
    shapes = {
        version: (
            type(row["id"]),
            type(row["price"]),
            type(row["available"]),
            type(row["seller"]),
            "discount" in row,
            "seller_rating" in row,
        )
        for version, row in first.items()
    }
    assert shapes == {
        "v1.0.0": (int, int, bool, dict, False, False),
        "v1.1.0": (int, float, bool, dict, True, False),
        "v2.0.0": (str, float, bool, str, True, True),
        "v2.1.0": (str, float, float, str, True, True),
    }


def test_default_account_has_no_drift_worker():
    account = build_account(runs=50)
    assert account.worker(DRIFT_WORKER_PATH) is None and len(account.workers) == 8


@pytest.mark.parametrize("module", [drift_module, export_module, knobs_module, storage_module])
def test_new_modules_have_docs_examples_and_stay_small(module):
    failures, _ = doctest.testmod(module)
    assert failures == 0
    assert module.__doc__ and len(Path(module.__file__).read_text().splitlines()) <= 500


def test_default_key_is_not_in_any_download_url(srv):
    url = _link(srv, srv.account.runs[0]["slug"])
    assert DEFAULT_API_KEY not in url and "token=" not in url
