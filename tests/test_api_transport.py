"""The transport against hostile servers on loopback: deadlines, size caps, hosts that cannot
be reached, Ctrl-C, endless rate limits. No test reads the clock: each one would hang or take
minutes without the bound it checks, and pytest-timeout turns a hang into a failure."""

import gzip
import http.server
import json
import socket
import threading
import time
import tracemalloc
from contextlib import contextmanager, suppress

import pytest
import requests

import coreclaw_frames as ccf
from coreclaw_frames import batch as batch_module
from coreclaw_frames.api import retry as retry_policy
from coreclaw_frames.api.dialect import Request
from coreclaw_frames.api.transport import MAX_ANSWER_BYTES, Transport
from coreclaw_frames.api.v2 import V2
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


def test_ctrl_c_wakes_requests_waiting_to_retry(monkeypatch):
    def unavailable(self):
        self.send_json({"code": 10000, "message": "system error"}, status=503)

    monkeypatch.setattr(retry_policy, "BACKOFF_BASE", 30.0)  # every retry waits 15-30 s
    with hostile(unavailable) as (handler, url):
        client = ccf.Client(api_key="k", base_url=url, max_workers=4)
        interrupt_once_requests_are_in_flight(monkeypatch, handler, at_least=4)
        with pytest.raises(KeyboardInterrupt):
            ccf.fetch_runs(SLUGS, client=client, progress=False)
        for thread in worker_threads():
            thread.join(timeout=10)
            assert not thread.is_alive()
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


def test_a_server_rate_limiting_forever_is_given_up_on_after_the_patience(monkeypatch):
    def always_limited(self):
        body = json.dumps({"code": 13000, "message": "too many requests"}).encode()
        self.send_response(429)
        self.send_header("Retry-After", "3600")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    monkeypatch.setattr(retry_policy, "RATE_LIMIT_PATIENCE", 1.0)
    with hostile(always_limited) as (_, url), ccf.Client(api_key="k", base_url=url) as client:
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
            assert client._transport.rate.rate is None  # never paced: no congestion seen


def test_a_real_server_limit_paces_the_whole_batch():
    with serve(runs=120, rate_limit=30) as srv:
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, max_workers=16) as client:
            df = ccf.fetch_runs(
                [r["slug"] for r in srv.account.runs], client=client, progress=False
            )
            assert df["fetch_error"].isna().all()
            assert client._transport.rate.rate is not None  # the batch slowed down together
        assert srv.counters.rejected < len(srv.account.runs)  # no retry storm


def test_a_chained_error_never_quotes_the_key(monkeypatch):
    secret = "chained-secret-key-77"
    transport = Transport(
        "http://127.0.0.1:1",
        {"api-key": secret},
        timeout=1,
        max_retries=0,
        rate_limit=None,
        pool_size=1,
    )

    def failing(*args, **kwargs):
        raise requests.ConnectionError(f"header api-key: {secret} was refused")

    monkeypatch.setattr(transport._session, "request", failing)
    with pytest.raises(ccf.CoreClawError) as info:
        transport.call(Request("GET", "/x", "run detail"), V2)
    seen, texts = info.value, []
    while seen is not None:
        texts.append(str(seen))
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    assert not any(secret in text for text in texts)
    transport.close()
