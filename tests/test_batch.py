"""The batch runner and input checks: pure logic with a client whose transport must never be
asked anything."""

import threading

import pytest

import coreclaw_frames as ccf
from coreclaw_frames import _batch as batch
from coreclaw_frames._batch import WINDOW_PER_WORKER, run_batch, validate_slugs
from coreclaw_frames.api import MockTransport


class Unused(MockTransport):
    """A transport that fails any request, and records being cancelled."""

    def __init__(self):
        super().__init__(self.refuse)
        self.cancelled = 0

    @staticmethod
    def refuse(request):
        raise AssertionError(f"no request expected, got {request!r}")

    def cancel(self):
        self.cancelled += 1


@pytest.fixture
def client():
    with ccf.Client(api_key="k", max_workers=4, transport=Unused()) as c:
        yield c


def test_only_a_window_of_tasks_exists_at_a_time(client, monkeypatch):
    live, most = [0], [0]
    lock = threading.Lock()
    real_submit = batch.ThreadPoolExecutor.submit

    def counting_submit(self, fn, *args):
        with lock:
            live[0] += 1
            most[0] = max(most[0], live[0])

        def run(*inner):
            try:
                return fn(*inner)
            finally:
                with lock:
                    live[0] -= 1

        return real_submit(self, run, *args)

    monkeypatch.setattr(batch.ThreadPoolExecutor, "submit", counting_submit)
    keys = list(range(5000))
    outcomes = run_batch(client, keys, lambda c, k: k * 2, progress=False, desc="keys")
    assert outcomes == {k: k * 2 for k in keys}
    assert most[0] <= client.max_workers * WINDOW_PER_WORKER


def test_an_unexpected_error_in_one_task_fails_only_that_key(client):
    def task(c, key):
        if key == 3:
            raise TypeError("list indices must be integers")
        if key == 5:
            raise RecursionError("maximum recursion depth exceeded")
        return key

    outcomes = run_batch(client, list(range(8)), task, progress=False, desc="keys")
    assert outcomes[3] == "internal error: TypeError: list indices must be integers"
    assert outcomes[5].startswith("internal error: RecursionError")
    assert [outcomes[k] for k in (0, 1, 2, 4, 6, 7)] == [0, 1, 2, 4, 6, 7]


@pytest.mark.parametrize(
    "stopper",
    [
        ccf.AuthenticationError("invalid token", code=12002, http_status=401),
        ccf.ConnectionFailedError("cannot connect to 127.0.0.1:1: connection refused"),
    ],
)
def test_a_bad_key_or_a_dead_host_stops_the_batch(client, stopper):
    ran = []

    def task(c, key):
        ran.append(key)
        raise stopper

    with pytest.raises(type(stopper)):
        run_batch(client, list(range(1000)), task, progress=False, desc="keys")
    assert len(ran) <= client.max_workers * WINDOW_PER_WORKER


def test_an_interrupt_cancels_the_clients_requests(client, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "wait", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_batch(client, [1, 2, 3], lambda c, k: k, progress=False, desc="keys")
    assert client.transport.cancelled == 1  # the requests in flight were cut


def test_on_result_sees_every_key_in_the_calling_thread(client):
    seen = []
    main = threading.get_ident()

    def remember(key, outcome):
        assert threading.get_ident() == main
        seen.append((key, outcome))

    run_batch(client, [1, 2, 3], lambda c, k: -k, progress=False, desc="keys", on_result=remember)
    assert sorted(seen) == [(1, -1), (2, -2), (3, -3)]


def test_validate_slugs_keeps_first_seen_order():
    slugs = ["01KSFDS8XWTJME33C08XMCR6B9", "01KSFDS8XWTJME33C08XMCR6B8"]
    assert validate_slugs([*slugs, slugs[0]]) == slugs
