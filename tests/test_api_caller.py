"""The caller on an in-memory transport, with an injected policy, clock and sleep: every retry,
wait and give-up is seen without a server and without really waiting."""

import threading
import time

import pytest

import coreclaw_frames as ccf
from coreclaw_frames import _batch as batch_module
from coreclaw_frames.api import BaseTransport, HTTPAnswer, MockTransport, RetryPolicy
from coreclaw_frames.api import _caller as caller_module
from coreclaw_frames.api._caller import Caller
from coreclaw_frames.api._v1 import V1
from coreclaw_frames.api._v2 import V2

SLUG = "01KSFDS8XWTJME33C08XMCR6B9"
SLUGS = [f"01KSFDS8XWTJME33C08XMCR6{c}{d}" for c in "ABCD" for d in "0123456789"]
KEY = "caller-test-key-2718281828"
OK = {"code": 0, "message": "success", "data": {"slug": SLUG}}
UNAVAILABLE = (503, {}, {"code": 10000, "message": "system error"})


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it; records each wait."""

    def __init__(self):
        self.now = 0.0
        self.waits = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.waits.append(seconds)
        self.now += seconds


class Counting:
    """A handler answering ``answers`` in turn (the last one from then on), counting calls."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = []
        self.lock = threading.Lock()

    def __call__(self, request):
        with self.lock:
            self.requests.append(request)
            return self.answers[min(len(self.requests), len(self.answers)) - 1]


def caller_of(handler, policy=None, dialect=V2, **settings):
    clock = FakeClock()
    caller = Caller(
        MockTransport(handler),
        base_url="https://api.example.com",
        auth_headers=dialect.auth_headers(KEY),
        secret=KEY,
        timeout=7.0,
        policy=policy or RetryPolicy(),
        rate_limit=None,
        clock=clock,
        sleep=clock.sleep,
        **settings,
    )
    return caller, clock


def limited(retry_after):
    headers = {} if retry_after is None else {"retry-after": str(retry_after)}
    return 429, headers, {"code": 13000, "message": "too many requests"}


@pytest.mark.parametrize("dialect", [V1, V2])
def test_the_transport_gets_the_whole_request(dialect):
    handler = Counting((200, {}, OK))
    caller, _ = caller_of(handler, dialect=dialect)
    assert caller.call(dialect.run_detail(SLUG), dialect) == {"slug": SLUG}
    (request,) = handler.requests
    assert request.timeout == 7.0 and request.url.startswith("https://api.example.com/api/")
    assert dict(request.headers) == dialect.auth_headers(KEY)
    if dialect is V1:
        assert (request.method, request.path, request.json) == (
            "POST",
            "/api/v1/run/detail",
            {"run_slug": SLUG},
        )
    else:
        assert (request.method, request.path, request.json) == (
            "GET",
            f"/api/v2/worker-runs/{SLUG}",
            None,
        )
    assert KEY not in repr(request)


def test_max_retries_bounds_the_attempts_and_the_backoff_sets_the_waits():
    handler = Counting(UNAVAILABLE)
    policy = RetryPolicy(max_retries=3, backoff_base=2.0, backoff_max=5.0)
    caller, clock = caller_of(handler, policy)
    with pytest.raises(ccf.RetriesExhaustedError, match="10000 system error after 4 attempts"):
        caller.call(V2.run_detail(SLUG), V2)
    assert len(handler.requests) == 4 == caller.requests_sent
    bounds = [(1.0, 2.0), (2.0, 4.0), (2.5, 5.0)]  # doubling from 2 s, capped at 5 s, jittered
    assert len(clock.waits) == 3
    assert all(low <= wait <= high for wait, (low, high) in zip(clock.waits, bounds, strict=True))


def test_a_request_that_succeeds_after_failures_returns_its_data():
    handler = Counting(UNAVAILABLE, UNAVAILABLE, (200, {}, OK))
    caller, clock = caller_of(handler, RetryPolicy(max_retries=2))
    assert caller.call(V2.run_detail(SLUG), V2) == {"slug": SLUG}
    assert caller.requests_sent == 3 and len(clock.waits) == 2


def test_retry_after_is_honoured_up_to_the_policys_cap():
    handler = Counting(limited(30))
    policy = RetryPolicy(max_retries=1, rate_limit_retry_factor=2, retry_after_max=4)
    caller, clock = caller_of(handler, policy)
    with pytest.raises(ccf.RetriesExhaustedError, match="after 3 attempts"):
        caller.call(V2.run_detail(SLUG), V2)
    assert clock.waits == [4.0, 4.0]  # not 30 s, and never less than the server asked


def test_rate_limit_answers_have_an_allowance_of_their_own():
    handler = Counting(limited(0))
    policy = RetryPolicy(max_retries=2, rate_limit_retry_factor=3, rate_limit_backoff_max=1.0)
    caller, clock = caller_of(handler, policy)
    with pytest.raises(ccf.RetriesExhaustedError, match="after 7 attempts"):
        caller.call(V2.run_detail(SLUG), V2)
    assert len(handler.requests) == 7
    assert min(clock.waits) > 0 and max(clock.waits) <= 1.0  # Retry-After: 0 burns nothing


def test_rate_limits_are_given_up_on_after_the_policys_patience():
    handler = Counting(limited(3))
    policy = RetryPolicy(max_retries=100, rate_limit_patience=10)
    caller, clock = caller_of(handler, policy)
    with pytest.raises(ccf.RetriesExhaustedError) as info:
        caller.call(V2.run_detail(SLUG), V2)
    assert str(info.value).endswith(
        "too many requests: rate limited without a successful answer for 10s; gave up"
    )
    assert 10 <= clock.now < 10 + 3  # the last wait is cut to the patience left


def test_a_lost_connection_is_retried_and_a_host_that_is_down_is_not():
    lost, down = ccf.TransportError("connection lost"), ccf.ConnectionFailedError("host down")

    def failing(error):
        def handler(request):
            calls.append(request)
            raise error

        return handler

    calls = []
    caller, _ = caller_of(failing(lost), RetryPolicy(max_retries=2))
    with pytest.raises(ccf.RetriesExhaustedError, match="connection lost after 3 attempts"):
        caller.call(V2.run_detail(SLUG), V2)
    assert len(calls) == 3
    calls.clear()
    caller, _ = caller_of(failing(down), RetryPolicy(max_retries=2))
    with pytest.raises(ccf.ConnectionFailedError):
        caller.call(V2.run_detail(SLUG), V2)
    assert len(calls) == 1


def test_the_key_is_scrubbed_from_an_answer_before_anything_reads_it():
    echo = (404, {}, {"code": 11004, "message": f"no run for key {KEY}", "request_id": "r1"})
    caller, _ = caller_of(Counting(echo))
    with pytest.raises(ccf.NotFoundError) as info:
        caller.call(V2.run_detail(SLUG), V2)
    assert str(info.value) == "11004 no run for key *** (request_id r1)"


def test_an_answer_over_the_cap_from_any_transport_is_refused_once(monkeypatch):
    class Unbounded(BaseTransport):
        sent = 0

        def send(self, request):
            self.sent += 1
            return HTTPAnswer(200, {}, b" " * 11)

    monkeypatch.setattr(caller_module, "MAX_ANSWER_BYTES", 10)
    transport = Unbounded()
    with ccf.Client(api_key=KEY, transport=transport) as client:
        with pytest.raises(ccf.AnswerTooLargeError):
            client.run_detail(SLUG)
    assert transport.sent == 1


def test_the_servers_clock_is_read_from_the_date_header():
    date = "Tue, 01 Jan 2036 00:00:00 GMT"
    caller, _ = caller_of(Counting((200, {"date": date}, OK)))
    before = time.time()
    caller.call(V2.run_detail(SLUG), V2)
    after = time.time()
    assert 2082758400 + 0.5 - after <= caller.clock_offset <= 2082758400 + 0.5 - before


def test_cancel_and_close_reach_the_transport():
    class Recording(MockTransport):
        def __init__(self):
            super().__init__(lambda request: (200, {}, OK))
            self.calls = []

        def cancel(self):
            self.calls.append("cancel")

        def close(self):
            self.calls.append("close")

    transport = Recording()
    client = ccf.Client(api_key=KEY, transport=transport)
    client.cancel()
    client.close()
    client.close()
    assert transport.calls == ["cancel", "close"]
    with pytest.raises(ccf.CoreClawError, match="closed"):
        client.run_detail(SLUG)


# --- Ctrl-C -----------------------------------------------------------------------------------


def worker_threads():
    return [t for t in threading.enumerate() if t.name.startswith("coreclaw_")]


def test_ctrl_c_wakes_requests_waiting_to_retry(monkeypatch):
    handler = Counting(UNAVAILABLE)
    waits: list[float] = []
    sleep = Caller._sleep

    def recorded(self, seconds):
        waits.append(seconds)
        return sleep(self, seconds)

    def interrupt_once_every_worker_waits(*args, **kwargs):
        while len(waits) < 4:
            time.sleep(0.01)
        raise KeyboardInterrupt

    monkeypatch.setattr(Caller, "_sleep", recorded)
    monkeypatch.setattr(batch_module, "wait", interrupt_once_every_worker_waits)
    slow = RetryPolicy(backoff_base=60.0, backoff_max=60.0)  # every retry waits 30-60 s
    client = ccf.Client(api_key=KEY, max_workers=4, retry=slow, transport=MockTransport(handler))
    with pytest.raises(KeyboardInterrupt):
        ccf.fetch_runs(SLUGS, client=client, progress=False)
    # Four workers were asleep for 30 s or more when Ctrl-C came: only cancel() wakes them
    # within the 10 s each is given here.
    assert len(waits) == 4 and min(waits) >= 30
    for thread in worker_threads():
        thread.join(timeout=10)
        assert not thread.is_alive()
    assert len(handler.requests) == 4  # no retry was sent after the interrupt
    client.close()
