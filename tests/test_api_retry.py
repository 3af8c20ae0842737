"""Retry policy and rate control: pure logic, no sleeping."""

import heapq
import itertools
import math
import random

import pytest

from coreclaw_frames.api.retry import (
    BACKOFF_MAX,
    CONGESTION_ANSWERS,
    RATE_LIMIT_BACKOFF_BASE,
    RATE_LIMIT_PATIENCE,
    RATE_LIMIT_RETRY_FACTOR,
    RETRY_AFTER_MAX,
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
from coreclaw_frames.sandbox.faults import TokenBucket


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
    assert all(d >= RATE_LIMIT_BACKOFF_BASE / 2 for d in zero)  # our own backoff still applies


def test_retry_after_counts_up_to_its_cap():
    assert retry_delay(RateLimitError("429", retry_after=3600.0), 1) == RETRY_AFTER_MAX


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


def send(rc, clock, n, spacing=0.01):
    """``n`` requests ``spacing`` seconds apart; their send times."""
    sent = []
    for _ in range(n):
        sent.append(rc.acquire())
        clock.now += spacing
    return sent


def test_scattered_rate_limit_answers_leave_the_batch_alone():
    clock = FakeClock()
    rc = RateController(None, clock=clock, sleep=clock.sleep)
    sent = send(rc, clock, 200)
    for i, at in enumerate(sent):
        if i % 20 == 7:  # one answer in twenty
            rc.throttled(at, retry_after=30.0)
        else:
            rc.answered(at)
    assert rc.rate is None  # never paced
    assert rc.acquire() == clock.now  # and never paused by the Retry-After


def test_congestion_cuts_the_rate_to_the_accepted_share_once():
    clock = FakeClock()
    rc = RateController(None, clock=clock, sleep=clock.sleep)
    sent = send(rc, clock, 100)  # 100 requests over 1 s
    for at in sent[:6]:
        rc.answered(at)
    rc.throttled(sent[6])
    assert rc.rate is None  # 1 of 7 answers refused: too few to tell
    rc.throttled(sent[7])  # 2 of 8 refused: congested
    cut = rc.rate
    assert cut == pytest.approx(0.75 * 100 / 1.0)  # down to the 75% the server accepted
    for at in sent[10:]:  # the other requests in flight report the same congestion
        rc.throttled(at)
    assert rc.rate == cut


def test_all_refused_answers_cut_the_rate_by_three_quarters_not_to_nothing():
    clock = FakeClock()
    rc = RateController(None, clock=clock, sleep=clock.sleep)
    sent = send(rc, clock, 50, spacing=0.005)  # 50 requests in 0.25 s: 200 requests/s
    for at in sent[:CONGESTION_ANSWERS]:
        rc.throttled(at)
    assert rc.rate == pytest.approx(0.25 * 50 / 0.25, rel=0.05)


def test_rate_grows_back_after_a_cut_but_not_past_the_cap():
    clock = FakeClock()
    rc = RateController(50.0, clock=clock, sleep=clock.sleep)
    sent = send(rc, clock, 20)
    for at in sent[:CONGESTION_ANSWERS]:
        rc.throttled(at)
    low = rc.rate
    for _ in range(400):
        rc.acquire()
    assert low < rc.rate <= 50.0


def test_retry_after_pauses_every_sender_when_congested():
    clock = FakeClock()
    rc = RateController(None, clock=clock, sleep=clock.sleep)
    sent = send(rc, clock, 20)
    for at in sent[:CONGESTION_ANSWERS]:
        rc.throttled(at, retry_after=3.0)
    now = clock.now
    assert rc.acquire() >= now + 3.0


def test_patience_runs_while_only_rate_limits_arrive():
    clock = FakeClock()
    rc = RateController(None, clock=clock, sleep=clock.sleep)
    assert rc.patience_left() == math.inf
    rc.throttled(rc.acquire())
    clock.now += 100
    assert rc.patience_left() == pytest.approx(RATE_LIMIT_PATIENCE - 100)
    budget = RetryBudget(max_retries=5, rate=rc)
    assert not budget.exhausted(RateLimitError("429"))
    clock.now += RATE_LIMIT_PATIENCE
    assert budget.exhausted(RateLimitError("429")) and budget.out_of_patience
    rc.answered(rc.acquire())  # one good answer and patience starts over
    assert rc.patience_left() == math.inf


# --- a whole batch against a server's token bucket, on one simulated clock -------------------


def simulate(rc, clock, bucket, *, workers, requests, latency=0.005, seed=0):
    """``requests`` requests sent by ``workers`` threads through ``rc`` to a server that admits
    what ``bucket`` does, each answer ``latency`` seconds after its send, a refused request
    retried after ``retry_delay``; every step happens at its time on ``clock`` (no thread, no
    sleep). Returns how many were answered and how many refusals there were."""
    rng = random.Random(seed)
    order = itertools.count()
    events: list[tuple[float, int, str, int, float]] = []  # (time, order, step, attempt, sent)
    waiting, answered, refused = requests, 0, 0

    def start(at, attempt=1):
        heapq.heappush(events, (at, next(order), "acquire", attempt, 0.0))

    for _ in range(min(workers, requests)):
        waiting -= 1
        start(0.0)
    while events:
        at, _, step, attempt, sent = heapq.heappop(events)
        clock.now = max(clock.now, at)
        if step == "acquire":  # the controller gives a slot; the thread would sleep until it
            slot = rc.acquire()
            heapq.heappush(events, (slot, next(order), "send", attempt, slot))
        elif step == "send":
            outcome = "ok" if bucket.take() else "refused"
            heapq.heappush(events, (clock.now + latency, next(order), outcome, attempt, sent))
        elif step == "ok":
            rc.answered(sent)
            answered += 1
            if waiting:
                waiting -= 1
                start(clock.now)
        else:
            rc.throttled(sent)
            refused += 1
            start(clock.now + retry_delay(RateLimitError("429"), attempt, rng), attempt + 1)
    return answered, refused


def test_a_server_limit_is_met_without_a_storm_of_retries():
    # 16 unpaced threads against a server taking 40 requests/s (a bucket of 40).
    clock = FakeClock()
    rc = RateController(None, clock=clock, sleep=lambda seconds: None)
    bucket = TokenBucket(40.0, 40.0, clock=clock)
    answered, refused = simulate(rc, clock, bucket, workers=16, requests=400)
    assert answered == 400
    assert rc.rate is not None  # the whole batch slowed down together
    assert refused < 0.5 * 400
    assert clock.now < 1.2 * 400 / 40  # near the server's pace, not far below it


def test_without_the_controller_the_same_batch_storms():
    # The baseline the test above is measured against: every refusal retried on its own.
    clock = FakeClock()

    class Unpaced(RateController):
        def throttled(self, sent_at, retry_after=None):
            pass

    rc = Unpaced(None, clock=clock, sleep=lambda seconds: None)
    _, refused = simulate(rc, clock, TokenBucket(40.0, 40.0, clock=clock), workers=16, requests=400)
    assert refused >= 0.5 * 400


def test_a_client_side_cap_below_the_server_limit_is_never_refused():
    # The server takes 20 requests/s with no burst; the client caps itself at 14.
    clock = FakeClock()
    rc = RateController(14.0, clock=clock, sleep=lambda seconds: None)
    bucket = TokenBucket(20.0, 1.0, clock=clock)
    answered, refused = simulate(rc, clock, bucket, workers=16, requests=21)
    assert (answered, refused) == (21, 0)
    assert clock.now == pytest.approx(20 / 14 + 0.005)


def test_without_the_cap_that_server_refuses_many():
    clock = FakeClock()
    rc = RateController(None, clock=clock, sleep=lambda seconds: None)
    _, refused = simulate(rc, clock, TokenBucket(20.0, 1.0, clock=clock), workers=16, requests=21)
    assert refused > 0
