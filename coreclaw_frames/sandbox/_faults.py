"""The sandbox's deliberate misbehaviour and its bookkeeping: fault draws, the rate limit, counters.

One `FaultInjector`, one `TokenBucket` and one `Counters` serve both API versions. Faults are
drawn from a seeded RNG but capped per request (method, target and body), so a client that
retries enough always gets through and a test can assert that nothing is lost.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["FAULT_KINDS", "CounterSnapshot"]

FAULT_KINDS: tuple[str, ...] = (
    "http_500",
    "http_502",
    "http_503",
    "http_429",
    "code_5000",
    "code_4290",
    "drop",
    "truncated",
    "slow",
)
"""Every kind of transient failure the sandbox can inject (see `serve`)."""

GATEWAY_FAULTS: dict[str, int] = {
    "http_500": 500,
    "http_502": 502,
    "http_503": 503,
    "http_429": 429,
}
"""The faults answered with a gateway's HTML page, and its HTTP status."""

ENVELOPE_FAULTS: frozenset[str] = frozenset({"code_5000", "code_4290"})
"""The faults answered with an API error envelope, shaped by the request's API version."""


@dataclass(frozen=True)
class CounterSnapshot:
    """A consistent copy of the sandbox's request counters at one instant.

    `total` counts every request received; `requests_by_path` counts them by URL path;
    `requests_by_route` by route name (the `ROUTE_*` constants, e.g. ``"v1 run/detail"`` or
    ``"v2 worker-runs list"``; ``"v1 not-found"``/``"v2 not-found"`` for unrouted requests);
    `requests_by_slug` counts run detail and result requests of both versions by run slug;
    `auth_schemes` counts where each request carried its key (``"bearer"``, ``"api-key"``,
    ``"token-query"``, ``"none"``); `query_keys` counts every query parameter name seen;
    `rejected` counts rate-limited answers; `faults` counts injected faults by kind.

    The storage host (the links of v2's results export) is counted apart, never in `total`:
    `storage_requests` counts every request it received, `storage_key_refused` those it refused
    because they carried a credential, `storage_faults` its injected faults by kind and
    `storage_bytes` the file bytes it sent.
    """

    total: int = 0
    rejected: int = 0
    requests_by_path: Counter[str] = field(default_factory=Counter)
    requests_by_slug: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    requests_by_route: Counter[str] = field(default_factory=Counter)
    auth_schemes: Counter[str] = field(default_factory=Counter)
    query_keys: Counter[str] = field(default_factory=Counter)
    storage_requests: int = 0
    storage_key_refused: int = 0
    storage_bytes: int = 0
    storage_faults: Counter[str] = field(default_factory=Counter)


class Counters:
    """Lock-protected request counters; read them through `snapshot()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._rejected = 0
        self._by_path: Counter[str] = Counter()
        self._by_slug: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._by_route: Counter[str] = Counter()
        self._schemes: Counter[str] = Counter()
        self._query_keys: Counter[str] = Counter()
        self._storage_requests = 0
        self._storage_refused = 0
        self._storage_bytes = 0
        self._storage_faults: Counter[str] = Counter()

    def request(
        self, *, path: str, route: str, slug: str | None, scheme: str, query_keys: Iterable[str]
    ) -> None:
        with self._lock:
            self._total += 1
            self._by_path[path] += 1
            self._by_route[route] += 1
            self._schemes[scheme] += 1
            self._query_keys.update(query_keys)
            if slug is not None:
                self._by_slug[slug] += 1

    def rejected(self) -> None:
        with self._lock:
            self._rejected += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def storage_request(self) -> None:
        with self._lock:
            self._storage_requests += 1

    def storage_refused(self) -> None:
        with self._lock:
            self._storage_refused += 1

    def storage_fault(self, kind: str) -> None:
        with self._lock:
            self._storage_faults[kind] += 1

    def storage_bytes(self, count: int) -> None:
        with self._lock:
            self._storage_bytes += count

    def reset(self) -> None:
        with self._lock:
            self._total = self._rejected = 0
            self._storage_requests = self._storage_refused = self._storage_bytes = 0
            for counter in (
                self._by_path,
                self._by_slug,
                self._faults,
                self._by_route,
                self._schemes,
                self._query_keys,
                self._storage_faults,
            ):
                counter.clear()

    def snapshot(self) -> CounterSnapshot:
        with self._lock:
            return CounterSnapshot(
                total=self._total,
                rejected=self._rejected,
                requests_by_path=Counter(self._by_path),
                requests_by_slug=Counter(self._by_slug),
                faults=Counter(self._faults),
                requests_by_route=Counter(self._by_route),
                auth_schemes=Counter(self._schemes),
                query_keys=Counter(self._query_keys),
                storage_requests=self._storage_requests,
                storage_key_refused=self._storage_refused,
                storage_bytes=self._storage_bytes,
                storage_faults=Counter(self._storage_faults),
            )


class TokenBucket:
    """`capacity` tokens, refilled continuously at `rate` per second on `clock` (the monotonic
    clock unless a test gives its own).

    Examples
    --------
    >>> now = [0.0]
    >>> bucket = TokenBucket(5, 2, clock=lambda: now[0])
    >>> [bucket.take() for _ in range(3)]
    [True, True, False]
    >>> now[0] += 0.2  # one token refills in 1/5 s
    >>> bucket.take(), bucket.take()
    (True, False)
    """

    def __init__(
        self, rate: float, capacity: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._capacity = capacity
        self._tokens = capacity
        self._clock = clock
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Take one token; False when the bucket is empty."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class FaultInjector:
    """Seeded, lock-protected fault draws that never starve one request.

    A request is identified by its method, target (path and query) and raw body. After
    `max_consecutive` faults in a row for the same request the next one always goes through;
    only requests in the middle of a fault streak are remembered, so memory stays bounded by
    the requests being retried.
    """

    def __init__(
        self, seed: int | str, rate: float, kinds: tuple[str, ...], max_consecutive: int
    ) -> None:
        self._rng = random.Random(seed)
        self._rate = rate
        self._kinds = kinds
        self._max_consecutive = max_consecutive
        self._streaks: dict[tuple[str, str, bytes], int] = {}
        self._lock = threading.Lock()

    def draw(self, method: str, target: str, body: bytes) -> str | None:
        """The fault kind to inject for this request, or None to answer normally."""
        key = (method, target, body)
        with self._lock:
            streak = self._streaks.get(key, 0)
            if streak < self._max_consecutive and self._rng.random() < self._rate:
                self._streaks[key] = streak + 1
                return self._kinds[self._rng.randrange(len(self._kinds))]
            self._streaks.pop(key, None)
            return None


def check_faults(faults: Iterable[str], fault_rate: float) -> tuple[str, ...]:
    """The fault kinds of a `faults` knob, deduplicated; ValueError naming a bad one."""
    if isinstance(faults, str):
        raise ValueError(f"faults must be a collection of fault kinds, got the string {faults!r}")
    kinds = tuple(dict.fromkeys(faults))
    for kind in kinds:
        if kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}"
            )
    if fault_rate > 0 and not kinds:
        raise ValueError(f"fault_rate is {fault_rate!r} but faults is empty")
    return kinds
