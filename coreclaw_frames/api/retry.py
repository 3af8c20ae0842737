"""When to retry, how long to wait, how long to put up with rate limits, and how fast a whole
batch may send.

The decisions are pure functions (:func:`should_retry`, :func:`backoff`, :func:`retry_delay`)
so they are tested without sleeping; the transport hands them to ``tenacity``, which runs the
loop.

:class:`RateController` is shared by every thread of a :class:`~coreclaw_frames.Client`. When
the server is congested (a fifth or more of the answers to what was sent since the last
slow-down say "too many requests") the whole batch slows down to the share the server accepted
(multiplicative decrease), then speeds up again gently while answers succeed (additive
increase): a server limit of R requests/s is met near R, without a storm of retries. A
scattered rate-limit answer slows only its own request.

Waiting has a ceiling: a ``Retry-After`` counts up to :data:`RETRY_AFTER_MAX` seconds, and once
the client has been answered nothing but rate limits for :data:`RATE_LIMIT_PATIENCE` seconds,
every request still waiting on one gives up (its row says so).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable

from coreclaw_frames.errors import CoreClawError, RateLimitError

#: First retry waits about this long (seconds); each further retry doubles it.
BACKOFF_BASE = 0.25
#: No single wait is longer than this (seconds).
BACKOFF_MAX = 20.0
#: A server's ``Retry-After`` is honoured up to this many seconds.
RETRY_AFTER_MAX = 60.0
#: After this many seconds of nothing but rate-limit answers, requests stop waiting for them.
RATE_LIMIT_PATIENCE = 120.0
#: Rate-limit answers are a request to slow down, not a failure: each request may meet this
#: many times ``max_retries`` of them before it gives up.
RATE_LIMIT_RETRY_FACTOR = 5
#: Waits after rate-limit answers start and stay short: the shared rate controller does the
#: pacing, and a scattered answer should cost its request little.
RATE_LIMIT_BACKOFF_BASE = 0.05
RATE_LIMIT_BACKOFF_MAX = 2.0

#: On congestion the batch's rate drops to the share of requests the server accepted, at least
#: to this fraction of what it was sending ...
RATE_DECREASE_FACTOR = 0.8
#: ... and at most to this fraction, so answers that were all refused do not stall the batch.
RATE_DECREASE_FLOOR = 0.25
#: After a slow-down, the rate grows back by this fraction of itself per second.
RATE_INCREASE_PER_SECOND = 0.5
#: ... and by at least this many requests/second per second, so a low rate recovers quickly.
RATE_INCREASE_MIN = 2.0
#: The controller never goes slower than this (requests/second).
RATE_MIN = 0.5
#: How far back the controller looks to measure the rate actually sent (seconds).
RATE_WINDOW = 1.0
#: ... and never over less than this (seconds), so a handful of requests is no "huge rate".
RATE_MIN_SPAN = 0.1
#: The server is congested when, of at least this many answers to requests sent since the last
#: slow-down, ...
CONGESTION_ANSWERS = 8
#: ... at least this share said "too many requests".
CONGESTION_SHARE = 0.2


def should_retry(error: BaseException) -> bool:
    """Whether a failed request is worth sending again.

    Transient: no answer / unreadable answer, rate limited, server errors (see each error's
    ``transient``). Everything else (bad key, unknown run, bad parameters, a host that cannot
    be reached) fails the same way every time.

    >>> from coreclaw_frames.errors import NotFoundError, ServerError
    >>> should_retry(ServerError("HTTP 503", http_status=503))
    True
    >>> should_retry(NotFoundError("not found", code=11004, http_status=404))
    False
    """
    return isinstance(error, CoreClawError) and error.transient


def backoff(attempt: int, *, base: float | None = None, cap: float | None = None) -> float:
    """Exponential backoff before retry number ``attempt`` (1-based), without jitter.

    ``base`` and ``cap`` default to :data:`BACKOFF_BASE` and :data:`BACKOFF_MAX` as they are
    when called (the policy is read at call time, never frozen into a default argument).

    >>> [backoff(n) for n in (1, 2, 3)]
    [0.25, 0.5, 1.0]
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    base = BACKOFF_BASE if base is None else base
    cap = BACKOFF_MAX if cap is None else cap
    return min(cap, base * 2 ** (attempt - 1))


def jitter(delay: float, rng: random.Random | None = None) -> float:
    """``delay`` spread uniformly over [delay/2, delay], so threads do not retry in lockstep."""
    draw = (rng or random).random()
    return delay * (0.5 + 0.5 * draw)


def retry_delay(error: BaseException, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` after ``error``.

    A ``Retry-After`` from the server is a lower bound, never a reason to retry sooner than our
    own backoff: ``Retry-After: 0`` must not burn every attempt in a millisecond. It counts up
    to :data:`RETRY_AFTER_MAX`: ``Retry-After: 3600`` does not park a batch for an hour.

    >>> from coreclaw_frames.errors import RateLimitError
    >>> retry_delay(RateLimitError("HTTP 429", retry_after=30.0), 1)
    30.0
    >>> retry_delay(RateLimitError("HTTP 429", retry_after=0.0), 1) > 0
    True
    >>> retry_delay(RateLimitError("HTTP 429", retry_after=3600.0), 1)
    60.0
    """
    if not isinstance(error, RateLimitError):
        return jitter(backoff(attempt), rng)
    delay = jitter(backoff(attempt, base=RATE_LIMIT_BACKOFF_BASE, cap=RATE_LIMIT_BACKOFF_MAX), rng)
    if error.retry_after is not None:
        delay = max(delay, min(error.retry_after, RETRY_AFTER_MAX))
    return delay


class RetryBudget:
    """Stop condition for one request: ``max_retries`` failures, more rate-limit answers, or
    the client's patience with rate limits spent (see :meth:`RateController.patience_left`).

    Used as tenacity's ``stop``; counts each kind of failure separately.
    """

    def __init__(self, max_retries: int, rate: RateController | None = None) -> None:
        self.max_retries = max_retries
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
            return self.rate_limited > self.max_retries * RATE_LIMIT_RETRY_FACTOR
        self.failures += 1
        return self.failures > self.max_retries

    @property
    def attempts(self) -> int:
        return self.failures + self.rate_limited


class RateController:
    """Paces every request of one client; shared by all its threads.

    ``limit`` (requests/second) is a hard client-side cap; ``None`` means no cap until the
    server pushes back. Thread-safe.

    >>> rc = RateController(limit=None)
    >>> sent_at = rc.acquire()        # returns at once: no limit known yet
    """

    def __init__(
        self,
        limit: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
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
        with self._lock:
            now = self._clock()
            if self._limited_since is None:
                self._limited_since = now
            if sent_at <= self._last_decrease:
                return  # sent before the last slow-down: no news
            self._answers += 1
            self._limited += 1
            answers, limited = self._answers, self._limited
            if answers < CONGESTION_ANSWERS or limited < CONGESTION_SHARE * answers:
                return
            self._answers = self._limited = 0
            current = self._measured_rate(now)
            if self._rate is not None:
                current = min(current, self._rate)
            accepted = 1 - limited / answers
            factor = min(RATE_DECREASE_FACTOR, max(RATE_DECREASE_FLOOR, accepted))
            self._rate = max(RATE_MIN, current * factor)
            self._last_decrease = now
            self._last_update = now
            self._next_slot = max(self._next_slot, now + 1.0 / self._rate)
            if retry_after:
                pause = min(retry_after, RETRY_AFTER_MAX)
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
        return RATE_LIMIT_PATIENCE

    def patience_left(self) -> float:
        """Seconds before requests stop waiting on rate limits (``inf`` while answers come).

        >>> RateController().patience_left()
        inf
        """
        with self._lock:
            if self._limited_since is None:
                return math.inf
            return RATE_LIMIT_PATIENCE - (self._clock() - self._limited_since)

    def _forget_old_sends(self, now: float) -> None:
        while self._sent and self._sent[0] < now - RATE_WINDOW:
            self._sent.popleft()

    def _measured_rate(self, now: float) -> float:
        self._forget_old_sends(now)
        if not self._sent:
            return RATE_MIN
        # Over the time the window really covers: a batch that started 0.1 s ago sent its
        # requests in 0.1 s, not in a whole window.
        span = max(now - self._sent[0], RATE_MIN_SPAN)
        return max(RATE_MIN, len(self._sent) / span)

    def _grow(self, now: float) -> None:
        elapsed = now - self._last_update
        self._last_update = now
        self._forget_old_sends(now)
        if self._rate is None or self._last_decrease == -math.inf:
            return
        self._rate += max(RATE_INCREASE_MIN, self._rate * RATE_INCREASE_PER_SECOND) * elapsed
        if self.limit is not None:
            self._rate = min(self._rate, self.limit)


__all__ = [
    "RateController",
    "RetryBudget",
    "backoff",
    "jitter",
    "retry_delay",
    "should_retry",
]
