"""The HTTP transport against hostile servers on loopback: deadlines, size caps, hosts that
cannot be reached, Ctrl-C, endless rate limits, keys quoted back. No test reads the clock: each
one would hang or take minutes without the bound it checks, and pytest-timeout turns a hang into
a failure."""

import gzip
import http.server
import json
import re
import socket
import threading
import time
import tracemalloc
from contextlib import contextmanager, suppress

import pytest
import requests

import coreclaw_frames as ccf
from coreclaw_frames import _batch as batch_module
from coreclaw_frames._errors import MAX_QUOTED_CHARS
from coreclaw_frames.api import HTTPRequest, HTTPTransport, RetryPolicy
from coreclaw_frames.api._scrub import MIN_SECRET_CHARS, scrub_secret
from coreclaw_frames.api._transport import MAX_ANSWER_BYTES
from coreclaw_frames.api._watchdog import WatchedHTTPConnection, WatchedHTTPSConnection
from coreclaw_frames.sandbox import serve

SLUG = "01KSFDS8XWTJME33C08XMCR6B9"
SLUGS = [f"01KSFDS8XWTJME33C08XMCR6{c}{d}" for c in "ABCD" for d in "0123456789"]


class Hostile(http.server.BaseHTTPRequestHandler):
    """A server whose ``answer(handler)`` misbehaves as each test needs; counts requests."""

    protocol_version = "HTTP/1.1"
    requests_seen = 0

    def do_GET(self):
        type(self).requests_seen += 1
        with suppress(OSError):  # the client hung up: what the tests want
            self.answer()

    do_POST = do_GET

    def answer(self):
        raise NotImplementedError

    def send_json(self, document, status=200):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def hostile(answer):
    handler = type("Handler", (Hostile,), {"answer": answer, "requests_seen": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def drip_body(self):
    """Headers at once, then the body a byte at a time, slower than any deadline."""
    self.send_response(200)
    self.send_header("Content-Length", "100000")
    self.end_headers()
    for _ in range(100_000):
        self.wfile.write(b" ")
        self.wfile.flush()
        time.sleep(0.05)


def drip_headers(self):
    for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"x" * 100_000:
        self.wfile.write(bytes([byte]))
        self.wfile.flush()
        time.sleep(0.05)


@pytest.mark.parametrize("answer", [drip_body, drip_headers], ids=["body", "headers"])
def test_timeout_is_a_deadline_for_the_whole_answer(answer):
    # Each byte comes well within any read timeout: only a deadline ends this request.
    with hostile(answer) as (handler, url):
        client = ccf.Client(api_key="k", base_url=url, timeout=0.5, max_retries=1)
        with client:
            df = ccf.fetch_runs([SLUG], client=client, errors="coerce", progress=False)
        assert df.loc[0, "fetch_error"] == "no complete answer within 0.5s after 2 attempts"
        assert handler.requests_seen == 2


@pytest.mark.parametrize("answer", [drip_body, drip_headers], ids=["body", "headers"])
def test_urllib3_honours_the_watched_connections_so_a_deadline_cuts_a_drip(answer):
    # The deadline rests on urllib3 building its connections from the classes the watchdog
    # installs (pool_classes_by_scheme): if a urllib3 release stopped doing so, this fails.
    with hostile(answer) as (_, url), HTTPTransport(pool_size=1) as transport:
        pools = transport._session.get_adapter(url).poolmanager
        assert pools.connection_from_url(url).ConnectionCls is WatchedHTTPConnection
        https = pools.connection_from_url(url.replace("http://", "https://"))
        assert https.ConnectionCls is WatchedHTTPSConnection
        with pytest.raises(ccf.TransportError, match=r"^no complete answer within 0.5s$"):
            transport.send(HTTPRequest("GET", f"{url}/x", timeout=0.5))


def test_an_answer_over_the_size_cap_is_refused_once_without_filling_memory():
    bomb = gzip.compress(b"{" + b" " * (MAX_ANSWER_BYTES + 1024 * 1024))

    def answer(self):
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(bomb)))
        self.end_headers()
        self.wfile.write(bomb)

    with hostile(answer) as (handler, url), ccf.Client(api_key="k", base_url=url) as client:
        tracemalloc.start()
        try:
            df = ccf.fetch_runs([SLUG], client=client, errors="coerce", progress=False)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert df.loc[0, "fetch_error"] == "answer larger than 64 MiB refused"
        assert handler.requests_seen == 1  # not retried
        assert peak < MAX_ANSWER_BYTES * 1.5  # read in bounded steps, refused at the cap


def test_a_declared_oversize_answer_is_refused_before_reading():
    def answer(self):
        self.send_response(200)
        self.send_header("Content-Length", str(10 * MAX_ANSWER_BYTES))
        self.end_headers()
        self.wfile.write(b"{}")  # then hangs up

    with hostile(answer) as (_, url), ccf.Client(api_key="k", base_url=url) as client:
        df = ccf.fetch_runs([SLUG], client=client, errors="coerce", progress=False)
    assert df.loc[0, "fetch_error"] == "answer larger than 64 MiB refused"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_host_that_refuses_connections_stops_the_batch_and_is_named():
    port = free_port()  # nothing listens there
    with ccf.Client(api_key="k", base_url=f"http://127.0.0.1:{port}") as client:
        with pytest.raises(ccf.ConnectionFailedError) as info:
            ccf.fetch_runs(SLUGS, client=client, progress=False)
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "refused" in message
    assert "attempts in a row" in message  # the host, not each slug, used up the retries


def test_a_host_that_does_not_resolve_stops_the_batch_at_once(monkeypatch):
    asked = []

    def no_such_host(host, *args, **kwargs):
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)  # no DNS query leaves the machine
    with ccf.Client(api_key="k", base_url="https://api.nowhere.invalid") as client:
        with pytest.raises(ccf.ConnectionFailedError, match=r"api\.nowhere\.invalid.*not resolve"):
            ccf.fetch_runs(SLUGS, client=client, progress=False)
    assert len(asked) <= client.max_workers  # the requests in flight, not 40 slugs' retries


def test_tls_to_a_plain_http_server_fails_once_and_says_why():
    with serve(runs=5) as srv:
        https = srv.url.replace("http://", "https://")
        with ccf.Client(api_key=srv.api_key, base_url=https) as client:
            with pytest.raises(ccf.ConnectionFailedError, match=r"TLS with 127\.0\.0\.1"):
                ccf.fetch_runs(SLUGS, client=client, progress=False)


def slow(self):
    time.sleep(60)


def worker_threads():
    return [t for t in threading.enumerate() if t.name.startswith("coreclaw_")]


def interrupt_once_requests_are_in_flight(monkeypatch, handler, at_least):
    def wait(*args, **kwargs):
        while handler.requests_seen < at_least:
            time.sleep(0.01)
        raise KeyboardInterrupt

    monkeypatch.setattr(batch_module, "wait", wait)


def test_ctrl_c_stops_every_request_in_flight(monkeypatch):
    with hostile(slow) as (handler, url):
        client = ccf.Client(api_key="k", base_url=url, max_workers=4, timeout=120)
        interrupt_once_requests_are_in_flight(monkeypatch, handler, at_least=4)
        with pytest.raises(KeyboardInterrupt):
            ccf.fetch_runs(SLUGS, client=client, progress=False)
        for thread in worker_threads():
            thread.join(timeout=10)  # the server would answer in 60 s, the deadline is 120 s
            assert not thread.is_alive()
        assert handler.requests_seen == 4  # nothing queued was sent after the interrupt
        client.close()


def test_the_client_works_again_after_an_interrupt(monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with serve(runs=20, latency=0.2) as srv:
        client = ccf.Client(api_key=srv.api_key, base_url=srv.url, max_workers=2)
        slugs = [r["slug"] for r in srv.account.runs]
        with monkeypatch.context() as patch:
            patch.setattr(batch_module, "wait", interrupted)
            with pytest.raises(KeyboardInterrupt):
                ccf.fetch_runs(slugs, client=client, progress=False)
        df = ccf.fetch_runs(slugs, client=client, progress=False)
        assert df["fetch_error"].isna().all()
        client.close()


def test_a_server_rate_limiting_forever_is_given_up_on_after_the_patience():
    def always_limited(self):
        body = json.dumps({"code": 13000, "message": "too many requests"}).encode()
        self.send_response(429)
        self.send_header("Retry-After", "3600")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    patience = RetryPolicy(rate_limit_patience=1.0)
    with (
        hostile(always_limited) as (_, url),
        ccf.Client(api_key="k", base_url=url, retry=patience) as client,
    ):
        df = ccf.fetch_runs(SLUGS[:3], client=client, errors="coerce", progress=False)
    for reason in df["fetch_error"]:
        assert reason.startswith("13000 too many requests: rate limited without a successful")
        assert "for 1s; gave up" in reason


def test_one_scattered_rate_limit_answer_does_not_slow_the_batch():
    with serve(runs=200, fault_rate=0.05, faults=("code_4290",), max_consecutive_faults=1) as srv:
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, max_workers=8) as client:
            df = ccf.fetch_runs(
                [r["slug"] for r in srv.account.runs], client=client, progress=False
            )
            assert df["fetch_error"].isna().all() and srv.counters.faults["code_4290"] > 3
            assert client._caller.rate.rate is None  # never paced: no congestion seen


def test_a_chained_error_never_quotes_the_key(monkeypatch):
    secret = "chained-secret-key-77"
    transport = HTTPTransport(pool_size=1)

    def failing(*args, **kwargs):
        raise requests.ConnectionError(f"header api-key: {secret} was refused")

    monkeypatch.setattr(transport._session, "request", failing)
    request = HTTPRequest("GET", "http://127.0.0.1:1/x", headers={"api-key": secret}, timeout=1)
    with pytest.raises(ccf.CoreClawError) as info:
        transport.send(request)
    seen, texts = info.value, []
    while seen is not None:
        texts.append(str(seen))
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    assert not any(secret in text for text in texts)
    transport.close()


# --- the key is never echoed back --------------------------------------------------------------

ECHO_KEY = "echo-secret-key-31415926"


def occurrences(secret, *texts):
    return [text for text in texts if secret in str(text)]


@pytest.mark.parametrize("mode", [True, "escaped"])
def test_a_server_quoting_the_key_never_gets_it_into_frames_or_errors(api_version, mode):
    with serve(runs=300, api_key=ECHO_KEY, echo_key=mode) as srv:
        failed = [r["slug"] for r in srv.account.runs if r["err_msg"]][:3]
        assert len(failed) == 3
        with ccf.Client(api_key=ECHO_KEY, base_url=srv.url, api_version=api_version) as client:
            df = ccf.fetch_runs([*failed, SLUG], client=client, errors="coerce", progress=False)
            listed = ccf.list_runs(since="2025-01-01", client=client, progress=False)
        wrong = "wrong-" + ECHO_KEY
        with ccf.Client(api_key=wrong, base_url=srv.url, api_version=api_version) as bad:
            with pytest.raises(ccf.AuthenticationError) as refused:
                ccf.fetch_runs(failed, client=bad, progress=False)
    # The server did quote it: the text around it arrived, the key itself did not.
    assert df["err_msg"].head(3).str.endswith("(key ***)").all()
    assert df.loc[3, "fetch_error"].startswith(("11004 not found (key ***)", "70001 Run record"))
    assert df.loc[3, "fetch_error"].count("(key ***)") == 1
    assert listed["err_msg"].dropna().str.endswith("(key ***)").all()
    assert "(key ***)" in str(refused.value)
    texts = [*df.astype(str).to_numpy().ravel(), *listed.astype(str).to_numpy().ravel()]
    assert not occurrences(ECHO_KEY, *texts, refused.value, refused.value.message)


def test_the_key_is_scrubbed_from_escaped_json_but_short_keys_and_other_text_are_left():
    secret = ECHO_KEY.encode()
    escaped = "".join(f"\\u{ord(c):04X}" for c in ECHO_KEY).encode()
    body = b'{"code":12002,"message":"bad token ' + escaped + b'","data":{"\\"q\\"":"\\\\u0041"}}'
    scrubbed = json.loads(scrub_secret(body, secret))
    assert scrubbed == {"code": 12002, "message": "bad token ***", "data": {'"q"': "\\u0041"}}
    clean = b'{"code":0,"data":{"err_msg":"net::ERR \\u00e9"}}'
    assert scrub_secret(clean, secret) is clean  # nothing to take out: untouched
    assert scrub_secret(b"<html>" + secret + b"</html>", secret) == b"<html>***</html>"
    assert scrub_secret(b"<p>\\u0065cho-secret-key-31415926", secret) == b"<p>***"  # not JSON
    with serve(runs=5, api_key="k" * (MIN_SECRET_CHARS - 1), echo_key=True) as srv:
        with ccf.Client(api_key=srv.api_key, base_url=srv.url) as client:
            df = ccf.fetch_runs([SLUG], client=client, errors="coerce", progress=False)
    assert "not found" in df.loc[0, "fetch_error"]  # a short key is not hunted in every word


# --- server texts are quoted briefly ----------------------------------------------------------

HUGE = 2 * 1024 * 1024


def answer_with(document, status=200):
    def answer(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))  # v1 posts a body
        self.send_json(document, status=status)

    return answer


@pytest.mark.parametrize(
    ("version", "document", "status", "start"),
    [
        ("v2", {"code": 11004, "message": "not found", "request_id": "r" * HUGE}, 404, "11004 not"),
        ("v2", {"code": 11004, "message": "m" * HUGE, "request_id": "req-1"}, 404, "11004 mmm"),
        ("v1", {"code": 70001, "message": "m" * HUGE, "data": None}, 200, "70001 mmm"),
        ("v1", {"code": 0, "message": "ok", "data": {"slug": "s" * HUGE}}, 200, "malformed"),
        ("v2", {"code": 0, "message": "ok", "data": {"slug": "s" * HUGE}}, 200, "malformed"),
        ("v2", ["x" * HUGE], 200, "malformed answer to run detail (HTTP 200)"),
    ],
    ids=["v2 request_id", "v2 message", "v1 message", "v1 slug", "v2 slug", "body excerpt"],
)
def test_server_text_in_a_fetch_error_is_capped(version, document, status, start):
    with hostile(answer_with(document, status)) as (_, url):
        with ccf.Client(api_key="k", base_url=url, api_version=version, max_retries=0) as client:
            df = ccf.fetch_runs(SLUGS[:5], client=client, errors="coerce", progress=False)
    for reason in df["fetch_error"]:
        assert reason.startswith(start), reason[:100]
        assert len(reason) < 2 * MAX_QUOTED_CHARS + 200, len(reason)
        assert re.search(r"… \([0-9,]{9} (characters|bytes)\)", reason), reason  # says how long
