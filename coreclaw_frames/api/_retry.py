"""When to retry, how long to wait, how long to put up with rate limits, and how fast a whole
batch may send: the decisions that read a :class:`~coreclaw_frames.RetryPolicy`.

The decisions are pure functions of a policy (:func:`should_retry`, :func:`backoff`,
:func:`retry_delay`, :class:`RetryBudget`), so they are tested without sleeping; the caller
(:mod:`~coreclaw_frames.api._caller`) hands them to ``tenacity``, which runs the loop. Every
setting is read from the policy the client was given, when it is needed: nothing is frozen at
import.

:class:`RateController` is shared by every thread of a :class:`~coreclaw_frames.Client`. When
the server is congested (a fifth or more of the answers to what was sent since the last
slow-down say "too many requests") the whole batch slows down to the share the server accepted
(multiplicative decrease), then speeds up again gently while answers succeed (additive
increase): a server limit of R requests/s is met near R, without a storm of retries. A
scattered rate-limit answer slows only its own request.

Waiting has a ceiling: a ``Retry-After`` counts up to :attr:`RetryPolicy.retry_after_max`
seconds, and once the client has been answered nothing but rate limits for
:attr:`RetryPolicy.rate_limit_patience` seconds, every request still waiting on one gives up
(its row says so).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable

from coreclaw_frames._errors import CoreClawError, RateLimitError
from coreclaw_frames.api._policy import RetryPolicy

__all__ = [
    "RateController",
    "RetryBudget",
    "backoff",
    "jitter",
    "retry_delay",
    "should_retry",
]


def should_retry(error: BaseException) -> bool:
    """Whether a failed request is worth sending again.

    Transient: no answer / unreadable answer, rate limited, server errors (see each error's
    ``transient``). Everything else (bad key, unknown run, bad parameters, a host that cannot
    be reached) fails the same way every time.

    Examples
    --------
    >>> from coreclaw_frames._errors import NotFoundError, ServerError
    >>> should_retry(ServerError("HTTP 503", http_status=503))
    True
    >>> should_retry(NotFoundError("not found", code=11004, http_status=404))
    False
    """
    return isinstance(error, CoreClawError) and error.transient


def backoff(attempt: int, policy: RetryPolicy, *, rate_limited: bool = False) -> float:
    """Exponential backoff before retry number ``attempt`` (1-based), without jitter: from
    the policy's backoff base and cap, or its rate-limit ones when ``rate_limited``.

    Examples
    --------
    >>> [backoff(n, RetryPolicy()) for n in (1, 2, 3)]
    [0.25, 0.5, 1.0]
    >>> backoff(3, RetryPolicy(), rate_limited=True)
    0.2
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    if rate_limited:
        base, cap = policy.rate_limit_backoff_base, policy.rate_limit_backoff_max
    else:
        base, cap = policy.backoff_base, policy.backoff_max
    return min(cap, base * 2 ** (attempt - 1))


def jitter(delay: float, rng: random.Random | None = None) -> float:
    """``delay`` spread uniformly over [delay/2, delay], so threads do not retry in lockstep."""
    draw = (rng or random).random()
    return delay * (0.5 + 0.5 * draw)


def retry_delay(
    error: BaseException, attempt: int, policy: RetryPolicy, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry number ``attempt`` after ``error``.

    A ``Retry-After`` from the server is a lower bound, never a reason to retry sooner than our
    own backoff: ``Retry-After: 0`` must not burn every attempt in a millisecond. It counts up
    to the policy's ``retry_after_max``: ``Retry-After: 3600`` does not park a batch for an
    hour.

    Examples
    --------
    >>> from coreclaw_frames._errors import RateLimitError
    >>> policy = RetryPolicy()
    >>> retry_delay(RateLimitError("HTTP 429", retry_after=30.0), 1, policy)
    30.0
    >>> retry_delay(RateLimitError("HTTP 429", retry_after=0.0), 1, policy) > 0
    True
    >>> retry_delay(RateLimitError("HTTP 429", retry_after=3600.0), 1, policy)
    60.0
    """
    rate_limited = isinstance(error, RateLimitError)
    delay = jitter(backoff(attempt, policy, rate_limited=rate_limited), rng)
    if isinstance(error, RateLimitError) and error.retry_after is not None:
        delay = max(delay, min(error.retry_after, policy.retry_after_max))
    return delay


class RetryBudget:
    """Stop condition for one request: ``max_retries`` failures, more rate-limit answers, or
    the client's patience with rate limits spent (see :meth:`RateController.patience_left`).

    Used as tenacity's ``stop``; counts each kind of failure separately.
    """

    def __init__(self, policy: RetryPolicy, rate: RateController | None = None) -> None:
        self.policy = policy
        self.rate = rate
        self.failures = 0
        self.rate_limited = 0
        self.out_of_patience = False

    def exhausted(self, error: BaseException | None) -> bool:
        """Record one more failed attempt; whether the request should give up now."""
        if isinstance(error, RateLimitError):
            self.rate_limited += 1
            if self.rate is not None and self.rate.patience_left() <= 0:
                self.out_of_patience = True
                return True
            return self.rate_limited > self.policy.max_retries * self.policy.rate_limit_retry_factor
        self.failures += 1
        return self.failures > self.policy.max_retries

    @property
    def attempts(self) -> int:
        return self.failures + self.rate_limited


class RateController:
    """Paces every request of one client; shared by all its threads.

    ``limit`` (requests/second) is a hard client-side cap; ``None`` means no cap until the
    server pushes back. ``policy`` says how to slow down and speed up. Thread-safe.

    Examples
    --------
    >>> rc = RateController(limit=None)
    >>> sent_at = rc.acquire()        # returns at once: no limit known yet
    """

    def __init__(
        self,
        limit: float | None = None,
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.policy = RetryPolicy() if policy is None else policy
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._rate: float | None = limit
        self._next_slot = -math.inf
        self._paused_until = -math.inf
        self._last_decrease = -math.inf
        self._last_update = clock()
        self._sent: deque[float] = deque()
        # Answers (all, and rate-limited) to requests sent since the last slow-down.
        self._answers = 0
        self._limited = 0
        # When the current run of nothing-but-rate-limits began (None: the last answer was ok).
        self._limited_since: float | None = None

    @property
    def rate(self) -> float | None:
        """The current pace in requests/second (``None``: unpaced)."""
        return self._rate

    def acquire(self) -> float:
        """Wait for this thread's turn to send; returns the send time (controller's clock)."""
        with self._lock:
            now = self._clock()
            self._grow(now)
            slot = max(now, self._next_slot, self._paused_until)
            if self._rate is not None:
                self._next_slot = slot + 1.0 / self._rate
            self._sent.append(slot)
        if slot > now:
            self._sleep(slot - now)
        return slot

    def throttled(self, sent_at: float, retry_after: float | None = None) -> None:
        """The request sent at ``sent_at`` was rate-limited; slow the whole batch down if the
        server is congested.

        Only requests sent after the last slow-down carry news, so one congestion event cuts
        the rate once, however many threads report it; a scattered rate-limit answer (too few
        of them, or too small a share of what was sent) leaves the others alone.
        """
        policy = self.policy
        with self._lock:
            now = self._clock()
            if self._limited_since is None:
                self._limited_since = now
            if sent_at <= self._last_decrease:
                return  # sent before the last slow-down: no news
            self._answers += 1
            self._limited += 1
            answers, limited = self._answers, self._limited
            if answers < policy.congestion_answers or limited < policy.congestion_share * answers:
                return
            self._answers = self._limited = 0
            current = self._measured_rate(now)
            if self._rate is not None:
                current = min(current, self._rate)
            accepted = 1 - limited / answers
            factor = min(policy.rate_decrease_factor, max(policy.rate_decrease_floor, accepted))
            self._rate = max(policy.rate_min, current * factor)
            self._last_decrease = now
            self._last_update = now
            self._next_slot = max(self._next_slot, now + 1.0 / self._rate)
            if retry_after:
                pause = min(retry_after, policy.retry_after_max)
                self._paused_until = max(self._paused_until, now + pause)

    def answered(self, sent_at: float) -> None:
        """The request sent at ``sent_at`` got an answer other than "too many requests"."""
        with self._lock:
            self._limited_since = None
            if sent_at > self._last_decrease:
                self._answers += 1

    @property
    def patience(self) -> float:
        """Seconds of nothing but rate-limit answers after which requests give up."""
        return self.policy.rate_limit_patience

    def patience_left(self) -> float:
        """Seconds before requests stop waiting on rate limits (``inf`` while answers come).

        Examples
        --------
        >>> RateController().patience_left()
        inf
        """
        with self._lock:
            if self._limited_since is None:
                return math.inf
            return self.policy.rate_limit_patience - (self._clock() - self._limited_since)

    def _forget_old_sends(self, now: float) -> None:
        while self._sent and self._sent[0] < now - self.policy.rate_window:
            self._sent.popleft()

    def _measured_rate(self, now: float) -> float:
        self._forget_old_sends(now)
        if not self._sent:
            return self.policy.rate_min
        # Over the time the window really covers: a batch that started 0.1 s ago sent its
        # requests in 0.1 s, not in a whole window.
        span = max(now - self._sent[0], self.policy.rate_min_span)
        return max(self.policy.rate_min, len(self._sent) / span)

    def _grow(self, now: float) -> None:
        elapsed = now - self._last_update
        self._last_update = now
        self._forget_old_sends(now)
        if self._rate is None or self._last_decrease == -math.inf:
            return
        policy = self.policy
        growth = max(policy.rate_increase_min, self._rate * policy.rate_increase_per_second)
        self._rate += growth * elapsed
        if self.limit is not None:
            self._rate = min(self._rate, self.limit)
