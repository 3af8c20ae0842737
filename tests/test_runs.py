"""fetch_runs for both API versions: over real HTTP against the sandbox, and against answers a
test shapes, served from memory (MockTransport)."""

import http.server
import logging
import re
import threading
from collections import Counter
from decimal import Decimal
from typing import ClassVar

import pandas as pd
import pytest
import requests

import coreclaw_frames as ccf
from coreclaw_frames.sandbox import (
    AUTH_BEARER,
    DISABLED_USER_API_KEY,
    EXPIRED_API_KEY,
    FAULT_KINDS,
    UNKNOWN_USER_API_KEY,
    build_account,
    serve,
    v2_run_record,
)
from coreclaw_frames.schema import RUN_DTYPES

UNKNOWN_SLUG = "01KZZZZZZZZZZZZZZZZZZZZZZZ"
V1_STATUSES = {1: "ready", 2: "running", 3: "succeeded", 4: "failed", 5: "aborted"}


def wire(account, record, api_version):
    """The record as the sandbox serves it in ``api_version``."""
    return v2_run_record(account, record) if api_version == "v2" else record


def expected(record):
    """The frame row a served record must become, computed independently of the package."""

    def when(seconds):
        return pd.NaT if seconds == 0 else pd.Timestamp(seconds, unit="s", tz="UTC")

    status = record["status"]
    if isinstance(status, int):  # v1: a 5 without an end time is still being aborted
        status = "aborting" if status == 5 and record["finished_at"] == 0 else V1_STATUSES[status]
    return {
        "slug": record["slug"],
        "status": status,
        "scraper_title": record["scraper_title"],
        "scraper_slug": record["scraper_slug"],
        "version": record["version"],
        "origin": record["origin"],
        "results": record["results"],
        "usage": Decimal(record["usage"]),
        "traffic": record["traffic"],
        "started_at": when(record["started_at"]),
        "finished_at": when(record["finished_at"]),
        "duration": pd.NaT
        if record["finished_at"] == 0
        else pd.Timedelta(seconds=record["duration"]),
        "err_msg": record.get("err_msg") or pd.NA,
    }


def same(a, b):
    return (pd.isna(a) and pd.isna(b)) if pd.isna(a) or pd.isna(b) else a == b


def dtypes_of(df):
    return dict(df.dtypes)


RUN_FRAME_DTYPES = {k: pd.api.types.pandas_dtype(v) for k, v in RUN_DTYPES.items()}


@pytest.fixture
def client(sandbox, api_version):
    with ccf.Client(
        api_key=sandbox.api_key, base_url=sandbox.url, api_version=api_version, max_workers=16
    ) as c:
        yield c


def test_every_field_equals_the_served_record(sandbox, client, api_version):
    account = sandbox.account
    records = account.runs[:500]
    df = ccf.fetch_runs([r["slug"] for r in records], client=client, progress=False)
    assert dtypes_of(df) == RUN_FRAME_DTYPES
    served = [wire(account, r, api_version) for r in records]
    for record, (_, row) in zip(served, df.iterrows(), strict=True):
        for column, value in expected(record).items():
            assert same(row[column], value), (record["slug"], column, row[column], value)
        assert pd.isna(row["fetch_error"])
    assert df["usage"].sum() == sum(Decimal(r["usage"]) for r in records)
    assert (
        df["fetched_at"]
        .between(pd.Timestamp.now("UTC") - pd.Timedelta("5min"), pd.Timestamp.now("UTC"))
        .all()
    )
    # The sample covers what each version reports differently.
    statuses = set(df["status"])
    if api_version == "v2":
        assert {"aborting", "aborted"} <= statuses and "aborted" not in set(
            df.loc[df["finished_at"].isna(), "status"]
        )
        assert any("err_msg" not in r for r in served)  # absent err_msg became NA
        assert df["scraper_slug"].str.contains("~").any()  # an owner~name worker
        assert set(df["origin"]) == {"openapi", "web"}
    else:
        assert statuses == {"ready", "running", "succeeded", "failed", "aborting", "aborted"}
    assert (df["version"] == "latest").any()


def test_v1_and_v2_frames_concatenate_keeping_every_dtype(sandbox):
    slugs = [r["slug"] for r in sandbox.account.runs[:300]]
    frames = []
    for version in ("v1", "v2"):
        with ccf.Client(api_key=sandbox.api_key, base_url=sandbox.url, api_version=version) as c:
            frames.append(ccf.fetch_runs(slugs, client=c, progress=False))
    both = pd.concat(frames, ignore_index=True)
    assert dtypes_of(frames[0]) == dtypes_of(frames[1]) == dtypes_of(both) == RUN_FRAME_DTYPES
    assert both["usage"].sum() == 2 * frames[0]["usage"].sum()
    # v1 reports an abort as aborted, v2 as aborting or aborted: the same ordered categories.
    v1, v2 = frames
    aborted = v1["status"] == "aborted"
    assert set(v2.loc[aborted, "status"]) <= {"aborting", "aborted"}
    assert v1.drop(columns=["status", "scraper_slug", "origin", "err_msg", "fetched_at"]).equals(
        v2.drop(columns=["status", "scraper_slug", "origin", "err_msg", "fetched_at"])
    )


def test_v2_sends_the_key_only_as_a_bearer_header(sandbox):
    sandbox.reset_counters()
    with ccf.Client(api_key=sandbox.api_key, base_url=sandbox.url) as c:
        slugs = [r["slug"] for r in sandbox.account.runs[:20]]
        ccf.fetch_runs(slugs, client=c, progress=False)
        ccf.fetch_results(slugs[:2], client=c, errors="coerce", progress=False)
        ccf.list_runs(client=c, progress=False, max_runs=5)
        ccf.account_info(client=c)
    counters = sandbox.counters
    assert counters.auth_schemes == {AUTH_BEARER: counters.total}
    assert "token" not in counters.query_keys
    assert not counters.requests_by_route.keys() - {
        "v2 worker-runs detail",
        "v2 worker-runs result",
        "v2 worker-runs list",
        "v2 users/account",
    }


class RunDetails:
    """Answers run detail requests of either version from ``records`` (v1 records, as the
    sandbox keeps them), counting the requests for each slug."""

    def __init__(self, account, records):
        self.account = account
        self.records = {r["slug"]: r for r in records}
        self.asked = Counter()
        self.lock = threading.Lock()

    def __call__(self, request):
        slug = request.json["run_slug"] if request.json else request.path.rsplit("/", 1)[1]
        with self.lock:
            self.asked[slug] += 1
        record = self.records[slug]
        if request.path.startswith("/api/v2/"):
            record = v2_run_record(self.account, record)
        return 200, {}, {"code": 0, "message": "success", "data": record}


def test_one_row_per_unique_slug_in_first_seen_order(mock_client, api_version):
    account = build_account(runs=10)
    handler = RunDetails(account, account.runs)
    client = mock_client(handler, api_version=api_version)
    slugs = [r["slug"] for r in account.runs]
    asked = [slugs[3], slugs[1], slugs[3], slugs[0], slugs[1]]
    df = ccf.fetch_runs(asked, client=client, progress=False)
    assert list(df["slug"]) == [slugs[3], slugs[1], slugs[0]]
    assert df.index.equals(pd.RangeIndex(3))
    assert handler.asked == {slugs[3]: 1, slugs[1]: 1, slugs[0]: 1}
    assert df["fetch_error"].isna().all()


@pytest.mark.parametrize(
    ("api_version", "missing_run", "reason"),
    [
        ("v1", "404", r"^70001 Run record does not exist$"),
        ("v2", "404", r"^11004 not found \(request_id req-\w+\)$"),
        ("v2", "70001", r"^70001 run not found \(request_id req-\w+\)$"),
    ],
)
def test_an_unknown_run_raises_with_the_complete_frame(api_version, missing_run, reason):
    with serve(runs=20, missing_run=missing_run) as srv:
        slugs = [srv.account.runs[0]["slug"], UNKNOWN_SLUG, srv.account.runs[1]["slug"]]
        with (
            ccf.Client(api_key=srv.api_key, base_url=srv.url, api_version=api_version) as c,
            pytest.raises(ccf.BatchFetchError) as info,
        ):
            ccf.fetch_runs(slugs, client=c, progress=False)
    exc = info.value
    assert isinstance(exc, ccf.CoreClawError)
    assert "1 of 3 runs failed" in str(exc) and UNKNOWN_SLUG in str(exc)
    assert list(exc.frame["slug"]) == slugs
    assert list(exc.errors["slug"]) == [UNKNOWN_SLUG]
    assert re.match(reason, exc.frame.loc[1, "fetch_error"])
    assert exc.frame.loc[[0, 2], "fetch_error"].isna().all()
    assert exc.frame.loc[[0, 2], "usage"].notna().all()


def test_coerce_returns_the_frame_with_failed_rows(client):
    df = ccf.fetch_runs([UNKNOWN_SLUG], client=client, errors="coerce", progress=False)
    assert "not found" in df.loc[0, "fetch_error"] or "does not exist" in df.loc[0, "fetch_error"]
    assert df.drop(columns=["slug", "fetched_at", "fetch_error"]).iloc[0].isna().all()


@pytest.fixture
def unasked(mock_client, api_version):
    """A client, and the list of the requests it sent (a test expects none)."""
    asked = []
    return mock_client(asked.append, api_version=api_version), asked


def test_empty_list_gives_empty_frame_without_requests(unasked):
    client, asked = unasked
    df = ccf.fetch_runs([], client=client)
    assert len(df) == 0 and list(df.columns) == list(RUN_DTYPES)
    assert dtypes_of(df) == RUN_FRAME_DTYPES
    assert asked == []


BAD_INPUTS = [
    ("01KSFDS8XWTJME33C08XMCR6B9", TypeError, "not a single string"),
    (None, TypeError, "got None"),
    (42, TypeError, "got int"),
    ({"01KSFDS8XWTJME33C08XMCR6B9": 1}, TypeError, "got dict"),
    (["01KSFDS8XWTJME33C08XMCR6B9", 7], TypeError, r"1 is not: 7 \(int\) at position 2$"),
    (["01KSFDS8XWTJME33C08XMCR6B9", None], TypeError, r"None \(NoneType\) at position 2"),
    ([""], ValueError, r"1 of 1 slugs is not a run slug .*'' at position 1 \(empty\)"),
    (["   "], ValueError, r"'   ' at position 1 \(empty\)"),
    (
        ["run-123", "x"],
        ValueError,
        r"2 of 2 slugs are not run slugs .*'run-123' at position 1, 'x' at position 2",
    ),
    (["01KSFDS8XWTJME33C08XMCR6B"], ValueError, "26-character"),  # 25 characters
    (["01KSFDS8XWTJME33C08XMCR6B9X"], ValueError, "26-character"),  # 27
    (["01KSFDS8XWTJME33C08XMCR6BI"], ValueError, "'01KSFDS8XWTJME33C08XMCR6BI'"),  # I is not base32
    (["81KSFDS8XWTJME33C08XMCR6B9"], ValueError, "81KSFDS8"),  # first digit over 7
    (["01KSFDS8XWTJME33C08XMCR6B9", "01KSFDS8XWTJME33C08XMCR6B9 9"], ValueError, "position 2"),
]


@pytest.mark.parametrize(("slugs", "error", "match"), BAD_INPUTS)
def test_bad_input_is_refused_before_any_request(unasked, slugs, error, match):
    client, asked = unasked
    with pytest.raises(error, match=match):
        ccf.fetch_runs(slugs, client=client)
    assert asked == []


def test_slugs_as_people_have_them_are_taken(sandbox, client):
    slugs = [r["slug"] for r in sandbox.account.runs[:3]]
    pasted = [f"  {slugs[0].lower()}\r\n", f"{slugs[1]}\n", f"\t{slugs[2]} ", slugs[0]]
    df = ccf.fetch_runs(pasted, client=client, progress=False)
    assert list(df["slug"]) == slugs  # normalised, duplicates (by case) once
    assert df["fetch_error"].isna().all()


def test_many_bad_slugs_are_counted_and_quoted(unasked):
    client, asked = unasked
    with pytest.raises(ValueError, match=r"7 of 8 slugs .*and 2 more"):
        ccf.fetch_runs(["x"] * 7 + ["01KSFDS8XWTJME33C08XMCR6B9"], client=client)
    assert asked == []


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"errors": "ignore"}, ValueError, "errors must be 'raise' or 'coerce'"),
        ({"progress": "yes"}, TypeError, "progress must be"),
        ({"client": "http://127.0.0.1"}, TypeError, "client must be"),
    ],
)
def test_bad_options_are_refused_before_any_request(unasked, kwargs, error, match):
    client, asked = unasked
    kwargs.setdefault("client", client)
    with pytest.raises(error, match=match):
        ccf.fetch_runs(["01KSFDS8XWTJME33C08XMCR6B9"], **kwargs)
    assert asked == []


def test_client_from_environment(sandbox, monkeypatch, api_version):
    monkeypatch.setenv("CORECLAW_API_KEY", sandbox.api_key)
    monkeypatch.setenv("CORECLAW_BASE_URL", sandbox.url)
    monkeypatch.setenv("CORECLAW_API_VERSION", api_version)
    sandbox.reset_counters()
    slug = sandbox.account.runs[5]["slug"]
    assert list(ccf.fetch_runs([slug], progress=False)["slug"]) == [slug]
    assert (
        set(sandbox.counters.requests_by_route)
        == {
            "v1": {"v1 run/detail"},
            "v2": {"v2 worker-runs detail"},
        }[api_version]
    )


def test_under_every_fault_each_slug_arrives_exactly_once(api_version):
    with serve(runs=300, seed=3, fault_rate=0.35, slow_seconds=1.0, retry_after=0) as srv:
        slugs = [r["slug"] for r in srv.account.runs]
        with ccf.Client(
            api_key=srv.api_key,
            base_url=srv.url,
            api_version=api_version,
            timeout=0.4,
            max_workers=16,
        ) as c:
            df = ccf.fetch_runs(slugs, client=c, progress=False)
        assert list(df["slug"]) == slugs
        assert df["fetch_error"].isna().all()
        assert df["usage"].sum() == sum(Decimal(r["usage"]) for r in srv.account.runs)
        assert set(srv.counters.faults) == set(FAULT_KINDS)  # every kind was met and survived


def test_persistent_failure_is_reported_never_dropped(api_version):
    with serve(runs=20, fault_rate=1.0, faults=("http_503",), max_consecutive_faults=100) as srv:
        slugs = [r["slug"] for r in srv.account.runs[:6]]
        with ccf.Client(
            api_key=srv.api_key, base_url=srv.url, api_version=api_version, max_retries=2
        ) as c:
            df = ccf.fetch_runs(slugs, client=c, errors="coerce", progress=False)
        assert list(df["fetch_error"]) == ["HTTP 503 after 3 attempts"] * 6
        assert all(srv.counters.requests_by_slug[s] == 3 for s in slugs)


def test_retry_after_zero_does_not_burn_every_attempt(api_version):
    with serve(
        runs=10, fault_rate=1.0, faults=("http_429",), retry_after=0, max_consecutive_faults=3
    ) as srv:
        slugs = [r["slug"] for r in srv.account.runs[:4]]
        with ccf.Client(
            api_key=srv.api_key, base_url=srv.url, api_version=api_version, max_retries=1
        ) as c:
            df = ccf.fetch_runs(slugs, client=c, progress=False)
        assert df["fetch_error"].isna().all()
        assert all(srv.counters.requests_by_slug[s] == 4 for s in slugs)


@pytest.mark.slow
def test_a_batch_under_a_real_server_limit_gets_every_run(api_version):
    # A smoke test of the real threads and clock; how the pace is met (no storm of retries, a
    # client-side cap never refused) is measured on a simulated clock in test_api_retry.
    rate, n = 40.0, 160
    with serve(runs=n, rate_limit=rate) as srv:
        slugs = [r["slug"] for r in srv.account.runs]
        with ccf.Client(
            api_key=srv.api_key, base_url=srv.url, api_version=api_version, max_workers=16
        ) as c:
            df = ccf.fetch_runs(slugs, client=c, progress=False)
        assert df["fetch_error"].isna().all()
        assert df["slug"].tolist() == slugs


@pytest.mark.parametrize(
    ("api_version", "key", "code"),
    [
        ("v1", "not-the-key", 20001),
        ("v1", EXPIRED_API_KEY, 20002),
        ("v1", UNKNOWN_USER_API_KEY, 10001),
        ("v1", DISABLED_USER_API_KEY, 10002),
        ("v2", "not-the-key", 12002),
        ("v2", EXPIRED_API_KEY, 12002),
        ("v2", UNKNOWN_USER_API_KEY, 12001),
        ("v2", DISABLED_USER_API_KEY, 12001),
    ],
)
def test_bad_key_stops_the_batch_at_once(api_version, key, code):
    with serve(runs=600) as srv:
        slugs = [r["slug"] for r in srv.account.runs]
        with (
            ccf.Client(api_key=key, base_url=srv.url, api_version=api_version, max_workers=4) as c,
            pytest.raises(ccf.AuthenticationError) as info,
        ):
            ccf.fetch_runs(slugs, client=c, progress=False)
        assert info.value.code == code
        assert srv.counters.total <= 4 + 2  # the requests in flight, not the batch
        assert key not in str(info.value)


def test_key_stays_out_of_errors_logs_and_progress(capsys, caplog, api_version):
    secret = "a-very-secret-key-5a4b3c"
    with serve(
        runs=30, fault_rate=0.4, retry_after=0, faults=("http_500", "code_5000"), api_key=secret
    ) as srv:
        slugs = [r["slug"] for r in srv.account.runs] + [UNKNOWN_SLUG]
        with (
            caplog.at_level(logging.DEBUG),
            ccf.Client(api_key=secret, base_url=srv.url, api_version=api_version) as c,
        ):
            with pytest.raises(ccf.BatchFetchError) as info:
                ccf.fetch_runs(slugs, client=c, progress=True)
            assert secret not in repr(c)
        captured = capsys.readouterr()
    assert "runs" in captured.err  # the bar was drawn
    assert "retrying" in caplog.text  # retries were logged
    for text in (captured.err, captured.out, caplog.text, str(info.value), repr(info.value)):
        assert secret not in text
    assert not info.value.frame.astype(str).apply(lambda col: col.str.contains(secret)).any().any()


def test_progress_follows_interactivity_unless_told(sandbox, client, capsys, monkeypatch):
    slug = [sandbox.account.runs[0]["slug"]]
    monkeypatch.setattr("coreclaw_frames._batch._interactive", lambda: True)
    ccf.fetch_runs(slug, client=client)
    assert "runs" in capsys.readouterr().err
    ccf.fetch_runs(slug, client=client, progress=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr("coreclaw_frames._batch._interactive", lambda: False)
    ccf.fetch_runs(slug, client=client)
    assert capsys.readouterr().err == ""


def test_progress_false_draws_nothing(sandbox, client, capsys):
    ccf.fetch_runs([sandbox.account.runs[0]["slug"]], client=client, progress=False)
    assert capsys.readouterr().err == ""


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Records the headers of every request; answers a redirect or an empty success."""

    seen: ClassVar[list[dict[str, str]]] = []
    redirect_to: ClassVar[str | None] = None

    def do_POST(self):
        type(self).seen.append(dict(self.headers))
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.redirect_to:
            self.send_response(307)
            self.send_header("Location", self.redirect_to + self.path)
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args):
        pass


def _start(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize(("api_version", "header"), [("v1", "api-key"), ("v2", "Authorization")])
def test_key_is_never_sent_to_another_host_on_redirect(api_version, header):
    target = type("Target", (_Recorder,), {"seen": [], "redirect_to": None})
    other = _start(target)
    # "localhost" and "127.0.0.1" are different hosts to an HTTP client.
    origin = type(
        "Origin", (_Recorder,), {"seen": [], "redirect_to": f"http://localhost:{other.server_port}"}
    )
    first = _start(origin)
    secret = "redirect-secret-key-1x2y3z"
    try:
        # The hazard is real: plain requests forwards a custom api-key header across hosts.
        requests.post(
            f"http://127.0.0.1:{first.server_port}/x", headers={"api-key": secret}, timeout=5
        ).close()
        assert target.seen and target.seen[-1].get("api-key") == secret
        target.seen.clear()

        url = f"http://127.0.0.1:{first.server_port}"
        with ccf.Client(api_key=secret, base_url=url, api_version=api_version) as c:
            df = ccf.fetch_runs([UNKNOWN_SLUG], client=c, errors="coerce", progress=False)
        assert secret in origin.seen[-1].get(header)  # it went to the configured host...
        assert target.seen == []  # ...and nowhere else
        assert "redirect" in df.loc[0, "fetch_error"] and secret not in df.loc[0, "fetch_error"]
    finally:
        for server in (first, other):
            server.shutdown()
            server.server_close()


def test_one_client_serves_concurrent_batches(sandbox, client):
    runs = sandbox.account.runs
    results = {}

    def work(name, part):
        results[name] = ccf.fetch_runs([r["slug"] for r in part], client=client, progress=False)

    threads = [
        threading.Thread(target=work, args=(i, runs[i * 100 : (i + 1) * 100])) for i in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(3):
        assert list(results[i]["slug"]) == [r["slug"] for r in runs[i * 100 : (i + 1) * 100]]
        assert results[i]["fetch_error"].isna().all()


@pytest.mark.parametrize("status", [401, 403])
def test_http_401_and_403_stop_the_batch(canned, status, api_version):
    client = canned(
        body=b"<html><body>Forbidden</body></html>", status=status, api_version=api_version
    )
    slugs = ["01KSFDS8XWTJME33C08XMCR6B9", "01KSFDS8XWTJME33C08XMCR6B8"]
    with pytest.raises(ccf.AuthenticationError, match=f"HTTP {status}"):
        ccf.fetch_runs(slugs, client=client, progress=False)
