"""The seeded synthetic CoreClaw account that the sandbox serves, through both API versions.

Pure data, no HTTP. Everything derives from one integer seed through a private `random.Random`,
and every timestamp from the account's clock (`now`, by default a fixed anchor date) instead of
the machine's, so a seed gives identical records on every machine and every day: tests and
benchmarks can pin exact values.

Records are stored v1-shaped (integer statuses, the worker's ULID); each API version serialises
them its own way. Every run also has a creation time, which is not part of any record but
orders Run History (newest created first) and bounds v2's month-by-month listing; a run's slug
is a ULID whose timestamp is that creation time.

Costs look like real ones: each worker has a price per run and per result (a newer version may
cost more), runs scatter around it, failed and aborted runs cost a part of it, and now and then
a run goes wrong and costs many times its usual. The data are also shaped to trip up careless
clients: `usage` strings with up to 10 decimal places, traffic above 4 GiB, versions that sort
wrong as plain strings (v1.0.9 < v1.0.10) or are not numbers at all (`latest`), a worker that
v2 names by an ``owner~name`` path, unstarted runs whose timestamps are 0, runs still being
aborted, and result rows that are nested, nullable and sometimes carry keys the worker never
declared. Result rows are never stored: each one is regenerated on demand from (seed, run slug,
row index), so an account of any size costs only its run records.
"""

from __future__ import annotations

import bisect
import random
import threading
from collections.abc import Iterable, Sequence

from coreclaw_frames.sandbox._drift import drift_records
from coreclaw_frames.sandbox._records import (
    ALL_STATUSES,
    ANCHOR_TIMESTAMP,
    BALANCE_EXPIRATION_SECONDS,
    BALANCE_SCALE,
    EARLIEST_NOW,
    HISTORY_SECONDS,
    LATEST_NOW,
    MS_PER_SECOND,
    STATUS_ABORTED,
    STATUS_FAILED,
    STATUS_READY,
    STATUS_RUNNING,
    STATUS_SUCCEEDED,
    TRAFFIC_EXPIRATION_SECONDS,
    BigResults,
    RunFactory,
    Worker,
    decimal_string,
    is_final,
    is_int,
    ulid,
)
from coreclaw_frames.sandbox._workers import WORKER_SPECS, Header, Row, hex_id

__all__ = [
    "ANCHOR_TIMESTAMP",
    "DEFAULT_RUNS",
    "STATUS_ABORTED",
    "STATUS_FAILED",
    "STATUS_READY",
    "STATUS_RUNNING",
    "STATUS_SUCCEEDED",
    "Account",
    "Worker",
    "build_account",
]

DEFAULT_RUNS = 5000
"""Runs in a default account: enough for an interesting cost report, still built in ms."""


class Account:
    """A synthetic CoreClaw account: workers, run records and on-demand result rows.

    Build one with `build_account`. Records are plain v1-shaped dicts exactly as v1 returns
    them; treat them as read-only (methods that change a run replace its dict). All methods
    are thread-safe.

    Examples
    --------
    >>> account = build_account(seed=0, runs=100)
    >>> first = account.runs[0]
    >>> account.run(first["slug"]) is first
    True
    >>> count, headers, rows = account.results(first["slug"], page_index=1, page_size=10)
    """

    def __init__(
        self,
        *,
        seed: int,
        now: int,
        records: Sequence[tuple[Row, int]],
        balance: str,
        factory: RunFactory,
    ) -> None:
        self.seed = seed
        self.workers: list[Worker] = factory.all_workers
        self.balance = balance
        self.traffic_expiration_at = now + TRAFFIC_EXPIRATION_SECONDS
        self.balance_expiration_at = now + BALANCE_EXPIRATION_SECONDS
        self._factory = factory
        self._lock = threading.Lock()
        self._specs = factory.specs
        self._worker_ids = {worker.slug: worker for worker in self.workers}
        self._worker_ids.update({worker.path: worker for worker in self.workers if worker.path})
        self._created: dict[str, int] = {record["slug"]: created for record, created in records}
        self._by_slug: dict[str, Row] = {record["slug"]: record for record, _ in records}
        self._ordered: list[Row] = sorted(self._by_slug.values(), key=self._order_key, reverse=True)
        self._views: dict[tuple[int, str | None], tuple[list[Row], list[int]]] = {}
        self._traffic = sum(record["traffic"] for record, _ in records)
        self._clock = now

    def __len__(self) -> int:
        return len(self._ordered)

    def _order_key(self, record: Row) -> tuple[int, str]:
        """Run History order, used with reverse=True: newest created first, then slug."""
        return (self._created[record["slug"]], record["slug"])

    @property
    def now(self) -> int:
        """The account's clock, unix seconds; `add_runs` advances it one second per new run."""
        return self._clock

    def advance(self, now: int) -> None:
        """Move the account's clock forward to `now` (unix seconds); it never goes back.

        Examples
        --------
        >>> account = build_account(runs=0)
        >>> account.advance(account.now + 60)
        >>> account.now - ANCHOR_TIMESTAMP
        60
        """
        if not is_int(now) or now < self._clock or now > LATEST_NOW:
            raise ValueError(
                f"now must be unix seconds from the account's clock ({self._clock}) on, got {now!r}"
            )
        with self._lock:
            self._clock = now

    @property
    def runs(self) -> list[Row]:
        """All run records in Run History order (newest created first); a new list each call."""
        with self._lock:
            return list(self._ordered)

    @property
    def traffic(self) -> int:
        """Bytes used by all runs of the account."""
        return self._traffic

    def run(self, slug: str) -> Row | None:
        """The run record with this slug, or None.

        Examples
        --------
        >>> build_account(runs=0).run("01KSFDS8XWTJME33C08XMCR6B9") is None
        True
        """
        return self._by_slug.get(slug)

    def created_at(self, slug: str) -> int | None:
        """The creation time (unix seconds) of the run with this slug, or None."""
        return self._created.get(slug)

    def worker(self, worker_id: str) -> Worker | None:
        """The worker with this ULID or ``owner~name`` path, or None.

        Examples
        --------
        >>> account = build_account(runs=0)
        >>> account.worker("acme~price-monitor") == account.worker(account.workers[6].slug)
        True
        """
        return self._worker_ids.get(worker_id)

    def list_runs(
        self,
        page_index: int,
        page_size: int,
        status: int = ALL_STATUSES,
        scraper_slug: str | None = None,
        *,
        created_from: int | None = None,
        created_before: int | None = None,
    ) -> tuple[int, list[Row]]:
        """One Run History page: (count of matching runs, records of page `page_index`).

        Order: newest created first, ties by slug descending. `status` 0 means every status;
        an unknown `scraper_slug` (a worker ULID) matches nothing. `created_from` and
        `created_before` keep runs created in ``[created_from, created_before)``. A page past
        the end is empty.

        Examples
        --------
        >>> count, page = build_account(runs=30).list_runs(page_index=2, page_size=20)
        >>> count, len(page)
        (30, 10)
        """
        start = (page_index - 1) * page_size
        with self._lock:
            records, keys = self._view(status, scraper_slug)
            low = 0 if created_before is None else bisect.bisect_right(keys, -created_before)
            high = len(keys) if created_from is None else bisect.bisect_right(keys, -created_from)
            high = max(low, high)
            first = min(low + start, high)
            return high - low, records[first : min(first + page_size, high)]

    def _view(self, status: int, scraper_slug: str | None) -> tuple[list[Row], list[int]]:
        """The ordered records matching a filter and their negated creation times (ascending),
        cached until the account changes."""
        key = (status, scraper_slug)
        view = self._views.get(key)
        if view is None:
            records = [
                record
                for record in self._ordered
                if (status == ALL_STATUSES or record["status"] == status)
                and (scraper_slug is None or record["scraper_slug"] == scraper_slug)
            ]
            view = records, [-self._created[record["slug"]] for record in records]
            self._views[key] = view
        return view

    def headers(self, slug: str) -> list[Header]:
        """The result headers the run's worker declares. Raises KeyError for an unknown run."""
        spec = self._specs[self._by_slug[slug]["scraper_slug"]]
        return [dict(header) for header in spec.headers]

    def results(
        self, slug: str, page_index: int, page_size: int
    ) -> tuple[int, list[Header], list[Row]]:
        """One page of a run's results: (total rows, headers, rows of the page).

        Rows are regenerated from (seed, slug, row index), so a row is the same whatever the
        page size. Raises KeyError for an unknown run.

        Examples
        --------
        >>> account = build_account(runs=50)
        >>> slug = max(account.runs, key=lambda r: r["results"])["slug"]
        >>> account.results(slug, 1, 4)[2][3] == account.results(slug, 2, 3)[2][0]
        True
        """
        start = (page_index - 1) * page_size
        rows = self.rows(slug, start, start + page_size)
        return self._by_slug[slug]["results"], self.headers(slug), rows

    def rows(self, slug: str, start: int = 0, stop: int | None = None) -> list[Row]:
        """The run's result rows ``start`` to ``stop`` (excluded; None: to the last), as the
        results pages hold them; KeyError for an unknown run.

        Examples
        --------
        >>> account = build_account(runs=50)
        >>> slug = max(account.runs, key=lambda r: r["results"])["slug"]
        >>> account.rows(slug, 3, 5) == account.results(slug, 2, 3)[2][:2]
        True
        """
        record = self._by_slug[slug]
        spec = self._specs[record["scraper_slug"]]
        make_row = spec.row_maker(record["version"])
        count: int = record["results"]
        reference = record["started_at"] or self._created[slug]
        rows = []
        for index in range(max(0, start), count if stop is None else min(stop, count)):
            rng = random.Random(f"{self.seed}/{slug}/{index}")
            row = make_row(rng, reference, index)
            if spec.data_id:
                row["__coreclaw_data_id__"] = hex_id(rng)
            rows.append(row)
        return rows

    # ------------------------------------------------------------------ live changes

    def add_runs(self, count: int) -> list[Row]:
        """Add `count` brand-new runs (ready or running, created after every other run).

        Each new run advances the clock by one second and is created at the new `now`. Used by
        the sandbox's `grow_on_list` knob to show Run History pages shifting while runs
        arrive. Returns the new records.

        Examples
        --------
        >>> account = build_account(runs=10)
        >>> new = account.add_runs(2)
        >>> len(account), account.runs[0]["status"] in (1, 2), account.now - 1773619200
        (12, True, 2)
        """
        with self._lock:
            added = []
            for _ in range(count):
                self._clock += 1
                added.append((self._factory.new_active(self._clock), self._clock))
            self._insert(added)
            return [record for record, _ in added]

    def add_run(
        self,
        *,
        created_at: int,
        status: int = STATUS_SUCCEEDED,
        worker: Worker | str | None = None,
    ) -> Row:
        """Add one run created at exactly `created_at` (unix seconds); returns its record.

        `status` is a v1 status (1-5; 5 makes a finished aborted run); `worker` a `Worker`,
        a worker ULID or ``owner~name`` path, or None for a random one. The other fields are
        drawn as for historical runs: a started run starts a few seconds after its creation.
        The clock does not move.

        Examples
        --------
        >>> account = build_account(runs=0)
        >>> record = account.add_run(created_at=1772294400, status=4, worker="acme~price-monitor")
        >>> account.created_at(record["slug"]), record["status"], record["scraper_title"]
        (1772294400, 4, 'Acme Price Monitor')
        """
        if not is_int(created_at) or not 0 <= created_at <= LATEST_NOW:
            raise ValueError(f"created_at must be an int of unix seconds, got {created_at!r}")
        if not is_int(status) or not STATUS_READY <= status <= STATUS_ABORTED:
            raise ValueError(f"status must be an int in [1, 5], got {status!r}")
        chosen = self.worker(worker) if isinstance(worker, str) else worker
        if (worker is not None and chosen is None) or (
            chosen is not None and chosen not in self.workers
        ):
            raise ValueError(f"worker must be one of the account's workers, got {worker!r}")
        with self._lock:
            record = self._factory.at(created_at, status, chosen)
            self._insert([(record, created_at)])
            return record

    def finish_runs(self, runs: int | Iterable[str]) -> list[str]:
        """Make runs final; returns the slugs of the runs that changed, oldest created first.

        `runs` is a count (that many of the oldest unfinished runs) or a collection of slugs
        (runs already final are left alone; an unknown slug raises KeyError and changes
        nothing). Ready and running runs succeed, with a cost, results, `finished_at` and
        `duration`; runs being aborted become aborted with a `finished_at`. A run finishes at
        the clock's now, or a few seconds after its start when that is later.

        Examples
        --------
        >>> account = build_account(runs=200)
        >>> slugs = account.finish_runs(3)
        >>> [account.run(slug)["finished_at"] > 0 for slug in slugs]
        [True, True, True]
        """
        if isinstance(runs, bool | str):
            raise ValueError(f"runs must be a count or a collection of slugs, got {runs!r}")
        with self._lock:
            if isinstance(runs, int):
                if runs < 0:
                    raise ValueError(f"runs must be a count >= 0, got {runs!r}")
                chosen = [r for r in reversed(self._ordered) if not is_final(r)][:runs]
            else:
                wanted = dict.fromkeys(runs)
                unknown = [slug for slug in wanted if slug not in self._by_slug]
                if unknown:
                    raise KeyError(unknown[0])
                chosen = [self._by_slug[slug] for slug in wanted]
                chosen = sorted((r for r in chosen if not is_final(r)), key=self._order_key)
            replaced: dict[str, Row] = {}
            for record in chosen:
                slug = record["slug"]
                new = self._factory.finish(record, self._created[slug], self._clock)
                replaced[slug] = self._by_slug[slug] = new
                self._traffic += new["traffic"] - record["traffic"]
            if replaced:
                self._ordered = [replaced.get(r["slug"], r) for r in self._ordered]
                self._views.clear()
            return list(replaced)

    def remove_runs(self, slugs: Iterable[str]) -> None:
        """Remove runs, as retention does: they leave Run History and their detail is not found.

        An unknown slug raises KeyError and changes nothing.

        Examples
        --------
        >>> account = build_account(runs=10)
        >>> gone = account.runs[0]["slug"]
        >>> account.remove_runs([gone])
        >>> len(account), account.run(gone)
        (9, None)
        """
        wanted = set(slugs) if not isinstance(slugs, str) else {slugs}
        with self._lock:
            unknown = sorted(wanted - self._by_slug.keys())
            if unknown:
                raise KeyError(unknown[0])
            for slug in wanted:
                self._traffic -= self._by_slug.pop(slug)["traffic"]
                del self._created[slug]
            self._ordered = [r for r in self._ordered if r["slug"] not in wanted]
            self._views.clear()

    def _insert(self, added: Sequence[tuple[Row, int]]) -> None:
        """Add records with their creation times; the caller holds the lock."""
        for record, created in added:
            self._by_slug[record["slug"]] = record
            self._created[record["slug"]] = created
            self._ordered.append(record)
            self._traffic += record["traffic"]
        self._ordered.sort(key=self._order_key, reverse=True)
        self._views.clear()


def build_account(
    seed: int = 0,
    runs: int = DEFAULT_RUNS,
    *,
    now: int | None = None,
    max_results: int | None = None,
    drift_runs: int = 0,
) -> Account:
    """Build the synthetic account for `seed` with `runs` historical runs.

    Deterministic: the same seed, size and clock give identical records; another seed gives
    others. `max_results` and `drift_runs` draw from RNGs of their own: the other fields of the
    runs stay as they are by default.

    Parameters
    ----------
    seed : int, default 0
        Seeds the workers, the runs and their result rows.
    runs : int, default DEFAULT_RUNS
        How many historical runs the account holds (5,000 by default).
    now : int, optional
        The account's clock, in unix seconds: historical runs lie in the six months or so
        before it, ready and running ones in its last hour. Default: the fixed
        `ANCHOR_TIMESTAMP`, never the machine's clock.
    max_results : int, optional
        A big account: succeeded runs hold 0 to `max_results` rows, skewed, about a ninth of
        it on average (`BigResults`; ``runs=2000, max_results=5000``: about a million rows).
    drift_runs : int, default 0
        Add a ninth worker whose rows change shape between versions (see
        `coreclaw_frames.sandbox._drift`), ``account.worker(DRIFT_WORKER_PATH)``, and this many
        succeeded runs of it, on top of `runs`, spread over the history.

    Returns
    -------
    Account

    Raises
    ------
    ValueError
        An int out of range, or `now` not a unix time the sandbox serves.

    Examples
    --------
    >>> account = build_account(seed=7, runs=1000)
    >>> len(account), len(account.workers), account.now == ANCHOR_TIMESTAMP
    (1000, 8, True)
    >>> account.runs == build_account(seed=7, runs=1000).runs
    True
    >>> max(r["results"] for r in build_account(runs=300, max_results=5000).runs) > 1000
    True
    >>> drift = build_account(runs=100, drift_runs=12)
    >>> feed = drift.worker("drift~catalog-feed")  # DRIFT_WORKER_PATH
    >>> len(drift), sum(r["scraper_slug"] == feed.slug for r in drift.runs)
    (112, 12)
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    cap = 1 if max_results is None else max_results
    sizes = (("runs", runs, 0), ("max_results", cap, 1), ("drift_runs", drift_runs, 0))
    for name, value, low in sizes:
        if not is_int(value) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if now is None:
        now = ANCHOR_TIMESTAMP
    elif not is_int(now) or not EARLIEST_NOW <= now <= LATEST_NOW:
        raise ValueError(
            f"now must be an int of unix seconds in [{EARLIEST_NOW}, {LATEST_NOW}], got {now!r}"
        )
    rng = random.Random(seed)
    workers_created_at = now - HISTORY_SECONDS - 30 * 86400
    workers = [
        Worker(
            slug=ulid((workers_created_at + position * 86400) * MS_PER_SECOND, rng),
            title=spec.title,
            versions=spec.versions,
            path=spec.path,
        )
        for position, spec in enumerate(WORKER_SPECS)
    ]
    big = BigResults(seed, max_results) if max_results is not None else None
    factory = RunFactory(rng, workers, now, big=big)
    records = [factory.historical() for _ in range(runs)]
    if drift_runs:
        records += drift_records(seed, now, factory, drift_runs, max_results)
    # A prepaid balance worth a few weeks to a few months of the account's spend.
    balance = decimal_string(rng.randint(20, 500) * 10**BALANCE_SCALE, BALANCE_SCALE)
    return Account(seed=seed, now=now, records=records, balance=balance, factory=factory)
