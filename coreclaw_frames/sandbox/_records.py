"""Run records: their v1 shape, and how an account's RNG draws them.

No state but the RNG and the set of slugs in use. A record is a dict with exactly the v1 keys in
the documented order; statuses are v1's integers. A run's slug is a ULID whose timestamp is the
run's creation time, which is kept beside the record, never in it.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Sequence
from typing import NamedTuple

from coreclaw_frames.sandbox._workers import WORKER_SPECS, Row, WorkerSpec

__all__ = [
    "ANCHOR_TIMESTAMP",
    "STATUS_ABORTED",
    "STATUS_FAILED",
    "STATUS_READY",
    "STATUS_RUNNING",
    "STATUS_SUCCEEDED",
    "BigResults",
    "RunFactory",
    "Worker",
    "decimal_string",
    "is_final",
    "is_int",
    "ulid",
]

ANCHOR_TIMESTAMP = 1773619200
"""2026-03-16T00:00:00Z, the default "now" of an account; runs lie in the months before it."""

HISTORY_SECONDS = 182 * 86400
"""How far back finished runs go: about six months."""

ACTIVE_WINDOW_SECONDS = 3600
"""Ready runs were created, and running or being-aborted runs started, this long before now."""

CREATION_LEAD_SECONDS = (3, 60)
"""A started run was created between this many seconds (low, high) before its start."""

TRAFFIC_EXPIRATION_SECONDS = 30 * 86400
"""The traffic quota expires this long after the account's initial now."""

BALANCE_EXPIRATION_SECONDS = 365 * 86400
"""The balance expires this long after the account's initial now."""

EARLIEST_NOW = 946684800
"""2000-01-01T00:00:00Z: `build_account` refuses an earlier `now`."""

LATEST_NOW = 4102444799
"""2099-12-31T23:59:59Z: `build_account` refuses a later `now`."""

STATUS_READY = 1
STATUS_RUNNING = 2
STATUS_SUCCEEDED = 3
STATUS_FAILED = 4
STATUS_ABORTED = 5

ALL_STATUSES = 0
"""The `status` filter value of Run History that selects every status."""

ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ULID_LENGTH = 26
ULID_RANDOM_BITS = 80
ULID_BITS_PER_CHAR = 5
MS_PER_SECOND = 1000

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30

MAX_RESULTS = 200
"""Upper bound of a run's result count, so that paging through results stays fast in tests;
`BigResults` lifts it for accounts built with ``max_results``."""

MAX_USAGE_SCALE = 10
"""`usage` strings carry up to this many decimal places."""

CENTS_SCALE = 2
_CENTS_SHARE = 0.1
#: Below this a cost quoted to the cent would be off by a fifth or more.
_CENTS_FROM = 0.05

BALANCE_SCALE = 2

# Relative weights of the run statuses: mostly succeeded, a few of everything else.
_STATUS_WEIGHTS: tuple[tuple[int, int], ...] = (
    (STATUS_SUCCEEDED, 860),
    (STATUS_FAILED, 60),
    (STATUS_ABORTED, 40),
    (STATUS_RUNNING, 20),
    (STATUS_READY, 20),
)
#: A run's cost scatters around its worker's price by this (the sigma of a log-normal) ...
_COST_SPREAD = 0.25
#: ... a failed or aborted run costs this share of it ...
_PARTIAL_COST = (0.2, 1.0)
#: ... and now and then a run goes wrong and costs many times its usual (a runaway loop).
_RUNAWAY_SHARE = 0.002
_RUNAWAY_FACTOR = (15.0, 40.0)
_BEING_ABORTED_SHARE = 0.25
_API_ORIGIN_SHARE = 0.7
_HUGE_TRAFFIC_SHARE = 0.01
_FAILED_WITH_MESSAGE_SHARE = 0.8
_FREE_FAILURE_SHARE = 0.3
_LARGE_RESULT_SHARE = 0.1
_EMPTY_RESULT_SHARE = 0.05
#: In a big account, a share of succeeded runs stop at exactly `max_results` ...
_FULL_RESULT_SHARE = 0.005
#: ... and the others' counts are skewed by this exponent (mean 1/(1 + this) of the cap).
_BIG_SKEW = 7.25
_LONG_RUN_SHARE = 0.1
_OLDER_VERSION_SHARE = 0.2
_READY_SHARE_OF_NEW_RUNS = 0.5
_MIN_DURATION = 2

_ERROR_MESSAGES = (
    "Navigation timeout of 30000 ms exceeded",
    "ProxyError: tunnel connection failed: 407 Proxy Authentication Required",
    "Selector not found: div.product-price > span.amount",
    "net::ERR_CONNECTION_RESET at https://www.example.com/search?page=12",
    "Request blocked: HTTP 403 Forbidden (captcha page detected)",
    "Out of memory: worker exceeded the 1024 MB limit",
    "TimeoutError: waiting for selector `#results` failed: timeout 60000ms exceeded",
    "Input validation failed: 'start_urls' must be a non-empty list",
)


class Worker(NamedTuple):
    """One worker (scraper) of the account, its versions oldest first.

    `slug` is the worker's ULID, its id in v1 and in the account's records. `path` is set when
    v2 names the worker by an ``owner~name`` path instead; `v2_id` is what v2 shows.
    """

    slug: str
    title: str
    versions: tuple[str, ...]
    path: str | None = None

    @property
    def v2_id(self) -> str:
        """The worker's `scraper_slug` in v2: its ``owner~name`` path, else its ULID."""
        return self.path or self.slug


def ulid(timestamp_ms: int, rng: random.Random) -> str:
    """A ULID: 48-bit millisecond timestamp then 80 random bits, in Crockford base32."""
    value = (timestamp_ms << ULID_RANDOM_BITS) | rng.getrandbits(ULID_RANDOM_BITS)
    chars = []
    for _ in range(ULID_LENGTH):
        chars.append(ULID_ALPHABET[value & 0b11111])
        value >>= ULID_BITS_PER_CHAR
    return "".join(reversed(chars))


def decimal_string(units: int, scale: int) -> str:
    """`units` / 10**`scale` as a decimal string with exactly `scale` places, float-free.

    Examples
    --------
    >>> decimal_string(217, 4), decimal_string(100, 2), decimal_string(5, 0)
    ('0.0217', '1.00', '5')
    """
    if scale == 0:
        return str(units)
    digits = str(units).rjust(scale + 1, "0")
    return f"{digits[:-scale]}.{digits[-scale:]}"


def cost_string(rng: random.Random, cost: float) -> str:
    """``cost`` (USD, > 0) as a decimal string: to the cent now and then, as the API's own
    examples show (``"1.00"``), otherwise with a random number of decimal places, from the
    fewest that keep two significant digits up to :data:`MAX_USAGE_SCALE`.

    Examples
    --------
    >>> cost_string(random.Random(1), 0.0217)
    '0.02170'
    """
    if cost >= _CENTS_FROM and rng.random() < _CENTS_SHARE:
        scale = CENTS_SCALE
    else:
        fewest = min(MAX_USAGE_SCALE, max(0, math.ceil(-math.log10(cost)) + 1))
        scale = rng.randint(fewest, MAX_USAGE_SCALE)
    return decimal_string(max(1, round(cost * 10**scale)), scale)


def is_int(value: object) -> bool:
    """Whether `value` is an int and not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_final(record: Row) -> bool:
    """Whether a run is over: succeeded, failed, or aborted with a finish time."""
    status = record["status"]
    return status in (STATUS_SUCCEEDED, STATUS_FAILED) or (
        status == STATUS_ABORTED and record["finished_at"] != 0
    )


def _record(
    *,
    status: int,
    err_msg: str,
    slug: str,
    worker: Worker,
    results: int,
    usage: str,
    started_at: int,
    finished_at: int,
    origin: str,
    traffic: int,
    version: str,
) -> Row:
    """A run record with exactly the v1 keys, in the documented order."""
    return {
        "status": status,
        "err_msg": err_msg,
        "slug": slug,
        "scraper_title": worker.title,
        "scraper_slug": worker.slug,
        "results": results,
        "usage": usage,
        "started_at": started_at,
        "finished_at": finished_at,
        "duration": finished_at - started_at if finished_at else 0,
        "origin": origin,
        "traffic": traffic,
        "version": version,
    }


class BigResults:
    """The result counts of succeeded runs in a big account: 0 to `max_results`, skewed.

    Most runs are small, a few are huge: a share is empty, a share hits the cap exactly, and
    the others are ``(max_results + 1) * u**k`` for a uniform ``u``, so the mean of a
    succeeded run is about a ninth of `max_results` (an account of 2,000 runs with
    ``max_results=5000`` holds about a million rows). Draws come from their own RNG, seeded
    from the account's seed, so a big account's runs differ from the default ones only in
    their result counts, costs and traffic.

    Examples
    --------
    >>> big = BigResults(0, 5000)
    >>> counts = [big.draw() for _ in range(2000)]
    >>> min(counts), max(counts)
    (0, 5000)
    """

    def __init__(self, seed: int | str, max_results: int) -> None:
        self.rng = random.Random(f"{seed}/big-results/{max_results}")
        self.max_results = max_results

    def draw(self) -> int:
        """One succeeded run's result count."""
        rng = self.rng
        if rng.random() < _EMPTY_RESULT_SHARE:
            return 0
        if rng.random() < _FULL_RESULT_SHARE:
            return self.max_results
        return min(self.max_results, int((self.max_results + 1) * rng.random() ** _BIG_SKEW))


class RunFactory:
    """Draws the random parts of runs, from one RNG; one instance per account."""

    def __init__(
        self,
        rng: random.Random,
        workers: Sequence[Worker],
        now: int,
        *,
        big: BigResults | None = None,
    ) -> None:
        self.rng = rng
        self.workers = workers
        self.big = big
        self.history_start = now - HISTORY_SECONDS
        self.now = now
        self.used_slugs: set[str] = {worker.slug for worker in workers}
        self._status_values = [status for status, _ in _STATUS_WEIGHTS]
        self._status_cumulative = list(
            itertools.accumulate(weight for _, weight in _STATUS_WEIGHTS)
        )
        self._worker_cumulative = list(itertools.accumulate(spec.weight for spec in WORKER_SPECS))
        self._worker_of = {worker.slug: worker for worker in workers}
        self._spec_of = {
            worker.slug: spec for worker, spec in zip(workers, WORKER_SPECS, strict=True)
        }

    @property
    def all_workers(self) -> list[Worker]:
        """The workers runs are drawn for, then those added with `add_worker`."""
        return list(self._worker_of.values())

    @property
    def specs(self) -> dict[str, WorkerSpec]:
        """Each worker's spec, by worker ULID."""
        return dict(self._spec_of)

    def add_worker(self, worker: Worker, spec: WorkerSpec) -> None:
        """Know one more worker: `at` and `finish` serve it, random draws never pick it."""
        self._worker_of[worker.slug] = worker
        self._spec_of[worker.slug] = spec
        self.used_slugs.add(worker.slug)

    def _weighted(self, cumulative: list[int]) -> int:
        return bisect.bisect_right(cumulative, self.rng.randrange(cumulative[-1]))

    def _slug(self, created: int) -> str:
        while True:
            slug = ulid(created * MS_PER_SECOND + self.rng.randrange(MS_PER_SECOND), self.rng)
            if slug not in self.used_slugs:
                self.used_slugs.add(slug)
                return slug

    def _lead(self) -> int:
        return self.rng.randint(*CREATION_LEAD_SECONDS)

    def _duration(self) -> int:
        rng = self.rng
        if rng.random() < _LONG_RUN_SHARE:
            return rng.randint(600, 4 * 3600)
        return rng.randint(_MIN_DURATION, 600)

    def make(
        self,
        status: int,
        worker: Worker,
        created: int,
        started: int,
        finished: int,
        *,
        fresh: bool = False,
    ) -> Row:
        """A record; `fresh` runs have produced nothing yet (no results, cost or traffic)."""
        rng = self.rng
        results = 0 if fresh else self._results(status)
        free = fresh or (status == STATUS_FAILED and rng.random() < _FREE_FAILURE_SHARE)
        version = self._version(worker, started or created)
        record = _record(
            status=status,
            err_msg=self._err_msg(status),
            slug=self._slug(created),
            worker=worker,
            results=results,
            usage="0" if free else self._usage(worker, version, results, status),
            started_at=started,
            finished_at=finished,
            origin="api" if rng.random() < _API_ORIGIN_SHARE else "web",
            traffic=0 if fresh else self._traffic(results),
            version=version,
        )
        if self.big is not None and status == STATUS_SUCCEEDED and not fresh:
            record.update(self._big(worker, version))
        return record

    def _big(self, worker: Worker, version: str) -> Row:
        """The result count, cost and traffic of a succeeded run of a big account, drawn from
        the big account's own RNG so that every other draw stays what it is by default."""
        assert self.big is not None
        results = self.big.draw()
        rng = self.big.rng
        return {
            "results": results,
            "usage": self._usage(worker, version, results, STATUS_SUCCEEDED, rng),
            "traffic": self._traffic(results, rng),
        }

    def historical(self) -> tuple[Row, int]:
        """A run of the seeded history and its creation time."""
        rng = self.rng
        status = self._status_values[self._weighted(self._status_cumulative)]
        worker = self.workers[self._weighted(self._worker_cumulative)]
        if status == STATUS_READY:
            created = self.now - rng.randint(1, ACTIVE_WINDOW_SECONDS)
            return self.make(status, worker, created, 0, 0, fresh=True), created
        if status == STATUS_RUNNING or (
            status == STATUS_ABORTED and rng.random() < _BEING_ABORTED_SHARE
        ):
            started, finished = self.now - rng.randint(1, ACTIVE_WINDOW_SECONDS), 0
        else:
            duration = self._duration()
            started = rng.randint(self.history_start, self.now - duration)
            finished = started + duration
        created = started - self._lead()
        return self.make(status, worker, created, started, finished), created

    def new_active(self, created: int) -> Row:
        """A brand-new ready or running run created at `created` (and started then)."""
        rng = self.rng
        worker = self.workers[rng.randrange(len(self.workers))]
        if rng.random() < _READY_SHARE_OF_NEW_RUNS:
            return self.make(STATUS_READY, worker, created, 0, 0, fresh=True)
        return self.make(STATUS_RUNNING, worker, created, created, 0, fresh=True)

    def at(self, created: int, status: int, worker: Worker | None) -> Row:
        """A run of `status` created at `created`."""
        if worker is None:
            worker = self.workers[self._weighted(self._worker_cumulative)]
        if status == STATUS_READY:
            return self.make(status, worker, created, 0, 0, fresh=True)
        started = created + self._lead()
        finished = 0 if status == STATUS_RUNNING else started + self._duration()
        return self.make(status, worker, created, started, finished)

    def finish(self, record: Row, created: int, now: int) -> Row:
        """The final form of an unfinished run."""
        started = record["started_at"] or created + self._lead()
        finished = max(now, started + _MIN_DURATION)
        times = {"started_at": started, "finished_at": finished, "duration": finished - started}
        if record["status"] == STATUS_ABORTED:
            return {**record, **times}
        results = max(record["results"], self._results(STATUS_SUCCEEDED), 1)
        worker = self._worker_of[record["scraper_slug"]]
        final = {
            **record,
            "status": STATUS_SUCCEEDED,
            "err_msg": "",
            "results": results,
            "usage": self._usage(worker, record["version"], results, STATUS_SUCCEEDED),
            **times,
            "traffic": max(record["traffic"], self._traffic(results)),
        }
        if self.big is not None:
            final.update(self._big(worker, record["version"]))
            final["results"] = max(final["results"], 1)
        return final

    def _usage(
        self,
        worker: Worker,
        version: str,
        results: int,
        status: int,
        rng: random.Random | None = None,
    ) -> str:
        """A run's cost: its worker's price for its version and results, scattered; a part of
        it for a run that failed or was aborted; rarely a runaway many times that."""
        rng = rng or self.rng
        cost = self._spec_of[worker.slug].price(version, results)
        cost *= rng.lognormvariate(0.0, _COST_SPREAD)
        if status in (STATUS_FAILED, STATUS_ABORTED):
            cost *= rng.uniform(*_PARTIAL_COST)
        if rng.random() < _RUNAWAY_SHARE:
            cost *= rng.uniform(*_RUNAWAY_FACTOR)
        return cost_string(rng, cost)

    def _results(self, status: int) -> int:
        rng = self.rng
        if status == STATUS_SUCCEEDED:
            if rng.random() < _EMPTY_RESULT_SHARE:
                return 0
            if rng.random() < _LARGE_RESULT_SHARE:
                return rng.randint(50, MAX_RESULTS)
            return rng.randint(1, 49)
        if status == STATUS_FAILED:
            return rng.randint(0, 10)
        return rng.randint(0, 30)

    def _err_msg(self, status: int) -> str:
        if status == STATUS_FAILED and self.rng.random() < _FAILED_WITH_MESSAGE_SHARE:
            return _ERROR_MESSAGES[self.rng.randrange(len(_ERROR_MESSAGES))]
        return ""

    def _traffic(self, results: int, rng: random.Random | None = None) -> int:
        rng = rng or self.rng
        if rng.random() < _HUGE_TRAFFIC_SHARE:
            return rng.randint(4 * GIB + 1, 12 * GIB)
        if results == 0:
            return rng.choice((0, rng.randint(KIB, MIB)))
        return results * rng.randint(2 * KIB, 2 * MIB)

    def _version(self, worker: Worker, when: int) -> str:
        """Newer runs mostly use newer versions; some stay on an older one."""
        elapsed = max(0, when - self.history_start)
        index = min(len(worker.versions) - 1, elapsed * len(worker.versions) // HISTORY_SECONDS)
        if index > 0 and self.rng.random() < _OLDER_VERSION_SHARE:
            index -= 1
        return worker.versions[index]
