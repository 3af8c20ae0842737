"""Retry policy and rate control: pure logic, no sleeping."""

import random

import pytest

from coreclaw_frames.api.retry import (
    BACKOFF_MAX,
    RATE_LIMIT_RETRY_FACTOR,
    RateController,
    RetryBudget,
    backoff,
    jitter,
    retry_delay,
    should_retry,
)
from coreclaw_frames.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TransportError("timeout"), True),
        (RateLimitError("HTTP 429", http_status=429), True),
        (RateLimitError("Rate limit exceeded", code=13000, http_status=429), True),
        (ServerError("Internal server error", code=10000, http_status=500), True),
        (ServerError("HTTP 503", http_status=503), True),
        (NotFoundError("Run record does not exist", code=70001), False),
        (InvalidRequestError("Invalid request parameters", code=4000), False),
        (AuthenticationError("API key invalid", code=20001), False),
        (ValueError("x"), False),
    ],
)
def test_should_retry(error, expected):
    assert should_retry(error) is expected


def test_backoff_doubles_and_is_capped():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 2.0]
    assert backoff(50) == BACKOFF_MAX
    with pytest.raises(ValueError):
        backoff(0)


def test_jitter_stays_within_half_to_full():
    rng = random.Random(1)
    draws = [jitter(2.0, rng) for _ in range(1000)]
    assert min(draws) >= 1.0 and max(draws) <= 2.0
    assert max(draws) - min(draws) > 0.5  # actually spread


def test_retry_after_is_a_floor_not_a_shortcut():
    rng = random.Random(0)
    assert retry_delay(RateLimitError("429", retry_after=7.0), 1, rng) == 7.0
    zero = [retry_delay(RateLimitError("429", retry_after=0.0), n, rng) for n in (1, 2, 3)]
    assert all(d > 0.1 for d in zero)


def test_rate_limit_waits_stay_short_without_retry_after():
    assert retry_delay(RateLimitError("4290"), 12, random.Random(0)) <= 2.0
    assert retry_delay(ServerError("503"), 6, random.Random(0)) >= 4.0


def test_retry_budget_counts_kinds_separately():
    budget = RetryBudget(max_retries=2)
    assert not budget.exhausted(ServerError("503"))
    assert not budget.exhausted(ServerError("503"))
    for _ in range(2 * RATE_LIMIT_RETRY_FACTOR):
        assert not budget.exhausted(RateLimitError("4290"))
    assert budget.exhausted(RateLimitError("4290"))
    assert budget.exhausted(TransportError("timeout"))


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_controller_is_unpaced_until_throttled():
    clock = FakeClock()
    rc = RateController(None, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        rc.acquire()
    assert clock.now == 0.0 and rc.rate is None


def test_client_side_limit_paces_requests():
    clock = FakeClock()
    rc = RateController(10.0, clock=clock, sleep=clock.sleep)
    for _ in range(21):
        rc.acquire()
    assert clock.now == pytest.approx(2.0)


def test_throttle_cuts_rate_once_per_congestion_event():
    clock = FakeClock()
    rc = RateController(None, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(100):  # 100 requests over 0.99 s
        sent.append(rc.acquire())
        clock.now += 0.01
    clock.now -= 0.01
    rc.throttled(sent[-1])
    first = rc.rate
    assert first == pytest.approx(0.8 * 100 / 0.99)
    for s in sent[:-1]:  # the other in-flight requests report the same event
        rc.throttled(s)
    assert rc.rate == first


def test_a_fresh_burst_is_measured_over_its_own_span():
    clock = FakeClock()
    rc = RateController(None, clock=clock, sleep=clock.sleep)
    for _ in range(50):  # 50 requests in 0.25 s: 200 requests/s, not 50
        rc.acquire()
        clock.now += 0.005
    rc.throttled(clock.now)
    assert rc.rate == pytest.approx(0.8 * 50 / 0.25)


def test_rate_grows_back_after_a_cut_but_not_past_the_cap():
    clock = FakeClock()
    rc = RateController(50.0, clock=clock, sleep=clock.sleep)
    rc.acquire()
    rc.throttled(0.0)
    low = rc.rate
    for _ in range(400):
        rc.acquire()
    assert low < rc.rate <= 50.0


def test_retry_after_pauses_every_sender():
    clock = FakeClock()
    rc = RateController(None, clock=clock, sleep=clock.sleep)
    rc.throttled(rc.acquire(), retry_after=3.0)
    assert rc.acquire() >= 3.0
