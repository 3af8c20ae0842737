"""Retry decisions and rate control: pure logic on an injected policy and clock, no sleeping.

Each setting of the RetryPolicy is shown to be read: a test changes it and sees the decision
change."""

import heapq
import itertools
import math
import random

import pytest

from coreclaw_frames._errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)
from coreclaw_frames.api._policy import RetryPolicy
from coreclaw_frames.api._retry import (
    RateController,
    RetryBudget,
    backoff,
    jitter,
    retry_delay,
    should_retry,
)
from coreclaw_frames.sandbox._faults import TokenBucket


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


DEFAULT = RetryPolicy()


def test_backoff_doubles_and_is_capped():
    assert [backoff(n, DEFAULT) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 2.0]
    assert backoff(50, DEFAULT) == DEFAULT.backoff_max == 20.0
    with pytest.raises(ValueError):
        backoff(0, DEFAULT)


def test_backoff_reads_its_base_and_cap_from_the_policy():
    policy = RetryPolicy(backoff_base=1.5, backoff_max=4.0)
    assert [backoff(n, policy) for n in (1, 2, 3)] == [1.5, 3.0, 4.0]
    limited = RetryPolicy(rate_limit_backoff_base=0.5, rate_limit_backoff_max=0.75)
    assert [backoff(n, limited, rate_limited=True) for n in (1, 2, 3)] == [0.5, 0.75, 0.75]
    assert backoff(1, limited) == DEFAULT.backoff_base  # the other pair is left alone


def test_jitter_stays_within_half_to_full():
    rng = random.Random(1)
    draws = [jitter(2.0, rng) for _ in range(1000)]
    assert min(draws) >= 1.0 and max(draws) <= 2.0
    assert max(draws) - min(draws) > 0.5  # actually spread


def test_retry_after_is_a_floor_not_a_shortcut():
    rng = random.Random(0)
    assert retry_delay(RateLimitError("429", retry_after=7.0), 1, DEFAULT, rng) == 7.0
    zero = [retry_delay(RateLimitError("429", retry_after=0.0), n, DEFAULT, rng) for n in (1, 2, 3)]
    # our own backoff still applies
    assert all(d >= DEFAULT.rate_limit_backoff_base / 2 for d in zero)


def test_retry_after_counts_up_to_the_policys_cap():
    long_wait = RateLimitError("429", retry_after=3600.0)
    assert retry_delay(long_wait, 1, DEFAULT) == DEFAULT.retry_after_max == 60.0
    assert retry_delay(long_wait, 1, RetryPolicy(retry_after_max=5)) == 5.0


def test_rate_limit_waits_stay_short_without_retry_after():
    assert retry_delay(RateLimitError("4290"), 12, DEFAULT, random.Random(0)) <= 2.0
    assert retry_delay(ServerError("503"), 6, DEFAULT, random.Random(0)) >= 4.0


def test_retry_delay_is_the_policys_backoff_with_jitter():
    policy = RetryPolicy(
        backoff_base=8.0, backoff_max=8.0, rate_limit_backoff_base=3.0, rate_limit_backoff_max=3.0
    )
    rng = random.Random(0)
    server = [retry_delay(ServerError("503"), n, policy, rng) for n in range(1, 40)]
    limited = [retry_delay(RateLimitError("429"), 1, policy, rng) for _ in range(40)]
    assert min(server) >= 4.0 and max(server) <= 8.0
    assert min(limited) >= 1.5 and max(limited) <= 3.0


def test_retry_budget_counts_kinds_separately():
    budget = RetryBudget(RetryPolicy(max_retries=2))
    assert not budget.exhausted(ServerError("503"))
    assert not budget.exhausted(ServerError("503"))
    for _ in range(2 * DEFAULT.rate_limit_retry_factor):
        assert not budget.exhausted(RateLimitError("4290"))
    assert budget.exhausted(RateLimitError("4290"))
    assert budget.exhausted(TransportError("timeout"))


@pytest.mark.parametrize(("max_retries", "factor"), [(0, 5), (3, 1), (2, 4)])
def test_retry_budget_reads_max_retries_and_the_rate_limit_factor(max_retries, factor):
    policy = RetryPolicy(max_retries=max_retries, rate_limit_retry_factor=factor)
    failures, limits = RetryBudget(policy), RetryBudget(policy)
    assert [failures.exhausted(ServerError("503")) for _ in range(max_retries + 1)] == [
        *[False] * max_retries,
        True,
    ]
    allowed = max_retries * factor
    assert [limits.exhausted(RateLimitError("429")) for _ in range(allowed + 1)] == [
        *[False] * allowed,
        True,
    ]


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
    for at in sent[: DEFAULT.congestion_answers]:
        rc.throttled(at)
    assert rc.rate == pytest.approx(0.25 * 50 / 0.25, rel=0.05)


def test_rate_grows_back_after_a_cut_but_not_past_the_cap():
    clock = FakeClock()
    rc = RateController(50.0, clock=clock, sleep=clock.sleep)
    sent = send(rc, clock, 20)
    for at in sent[: DEFAULT.congestion_answers]:
        rc.throttled(at)
    low = rc.rate
    for _ in range(400):
        rc.acquire()
    assert low < rc.rate <= 50.0


def test_retry_after_pauses_every_sender_when_congested():
    clock = FakeClock()
    rc = RateController(None, clock=clock, sleep=clock.sleep)
    sent = send(rc, clock, 20)
    for at in sent[: DEFAULT.congestion_answers]:
        rc.throttled(at, retry_after=3.0)
    now = clock.now
    assert rc.acquire() >= now + 3.0


def test_patience_runs_while_only_rate_limits_arrive():
    clock = FakeClock()
    rc = RateController(None, clock=clock, sleep=clock.sleep)
    assert rc.patience_left() == math.inf
    rc.throttled(rc.acquire())
    clock.now += 100
    assert rc.patience_left() == pytest.approx(DEFAULT.rate_limit_patience - 100)
    budget = RetryBudget(DEFAULT, rate=rc)
    assert not budget.exhausted(RateLimitError("429"))
    clock.now += DEFAULT.rate_limit_patience
    assert budget.exhausted(RateLimitError("429")) and budget.out_of_patience
    rc.answered(rc.acquire())  # one good answer and patience starts over
    assert rc.patience_left() == math.inf


def test_patience_is_the_policys():
    clock = FakeClock()
    rc = RateController(None, policy=RetryPolicy(rate_limit_patience=10), clock=clock)
    rc.throttled(rc.acquire())
    clock.now += 4
    assert rc.patience == 10 and rc.patience_left() == pytest.approx(6)
    budget = RetryBudget(rc.policy, rate=rc)
    assert not budget.exhausted(RateLimitError("429"))
    clock.now += 6
    assert budget.exhausted(RateLimitError("429")) and budget.out_of_patience


# --- each congestion setting is read: a batch refused, on a simulated clock -------------------


def refused_all(policy, *, bursts=((0.0, 20),), refused=None):
    """A controller under ``policy`` that sent ``n`` requests at each ``(time, n)`` of
    ``bursts``, then had the first ``refused`` of them (default: congestion_answers) refused.
    Returns the controller and its clock."""
    clock = FakeClock()
    rc = RateController(None, policy=policy, clock=clock, sleep=clock.sleep)
    sent = []
    for at, n in bursts:
        clock.now = at
        sent += [rc.acquire() for _ in range(n)]
    for at in sent[: refused or policy.congestion_answers]:
        rc.throttled(at)
    return rc, clock


def test_congestion_needs_the_policys_number_and_share_of_refusals():
    few = RetryPolicy(congestion_answers=3)
    assert refused_all(few, refused=3)[0].rate is not None
    assert refused_all(DEFAULT, refused=3)[0].rate is None  # 3 of the default 8: no news yet
    for share, cut in ((0.2, True), (0.5, False)):
        clock = FakeClock()
        rc = RateController(None, policy=RetryPolicy(congestion_share=share), clock=clock)
        sent = send(rc, clock, 10)
        for at in sent[:6]:
            rc.answered(at)
        rc.throttled(sent[6])
        rc.throttled(sent[7])  # 2 of 8 refused: 25%
        assert (rc.rate is not None) is cut


def test_the_cut_reads_the_decrease_factor_and_floor():
    # 20 requests at once: the rate is measured over rate_min_span (0.1 s), 200 requests/s.
    assert refused_all(DEFAULT)[0].rate == pytest.approx(0.25 * 200)  # all refused: the floor
    assert refused_all(RetryPolicy(rate_decrease_floor=0.5))[0].rate == pytest.approx(100)
    clock = FakeClock()
    rc = RateController(None, policy=RetryPolicy(rate_decrease_factor=0.5), clock=clock)
    sent = send(rc, clock, 100)
    for at in sent[:6]:
        rc.answered(at)
    rc.throttled(sent[6])
    rc.throttled(sent[7])  # 75% accepted, but the factor allows at most half
    assert rc.rate == pytest.approx(0.5 * 100)


def test_the_measured_rate_reads_the_window_the_span_and_the_minimum():
    assert refused_all(RetryPolicy(rate_min_span=0.5))[0].rate == pytest.approx(0.25 * 20 / 0.5)
    bursts = ((0.0, 10), (0.5, 10))
    assert refused_all(DEFAULT, bursts=bursts)[0].rate == pytest.approx(0.25 * 20 / 0.5)
    recent = RetryPolicy(rate_window=0.3)  # only the second burst counts
    assert refused_all(recent, bursts=bursts)[0].rate == pytest.approx(0.25 * 10 / 0.1)
    assert refused_all(RetryPolicy(rate_min=60))[0].rate == 60


@pytest.mark.parametrize(
    ("policy", "grown"),
    [
        (DEFAULT, 50 + max(2.0, 0.5 * 50)),
        (RetryPolicy(rate_increase_per_second=2.0), 50 + 2.0 * 50),
        (RetryPolicy(rate_increase_per_second=0.0, rate_increase_min=7.0), 50 + 7.0),
    ],
)
def test_the_rate_grows_back_as_the_policy_says(policy, grown):
    rc, clock = refused_all(policy)
    assert rc.rate == pytest.approx(50)
    clock.now += 1.0
    rc.acquire()
    assert rc.rate == pytest.approx(grown)


def test_a_congested_servers_retry_after_pauses_up_to_the_policys_cap():
    for policy, pause in ((DEFAULT, 30.0), (RetryPolicy(retry_after_max=2), 2.0)):
        clock = FakeClock()
        rc = RateController(None, policy=policy, clock=clock, sleep=clock.sleep)
        sent = [rc.acquire() for _ in range(20)]
        for at in sent[: policy.congestion_answers]:
            rc.throttled(at, retry_after=30.0)
        assert rc.acquire() == pytest.approx(pause)


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
            delay = retry_delay(RateLimitError("429"), attempt, rc.policy, rng)
            start(clock.now + delay, attempt + 1)
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
