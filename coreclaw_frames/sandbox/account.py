"""The seeded synthetic CoreClaw account that the sandbox serves.

Pure data, no HTTP. Everything derives from one integer seed through a private `random.Random`,
and every timestamp from a fixed anchor date instead of the clock, so a seed gives identical
records on every machine and every day: tests and benchmarks can pin exact values.

The data are shaped to trip up careless clients: `usage` strings with 0 to 10 decimal places,
traffic above 4 GiB, versions that sort wrong as plain strings (v1.0.9 < v1.0.10), unstarted
runs whose timestamps are 0, and result rows that are nested, nullable and sometimes carry keys
the worker never declared. Result rows are never stored: each one is regenerated on demand
from (seed, run slug, row index), so an account of any size costs only its run records.
"""

from __future__ import annotations

import bisect
import itertools
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

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

ANCHOR_TIMESTAMP = 1773619200
"""2026-03-16T00:00:00Z, the synthetic account's "now"; runs lie in the months before it."""

HISTORY_SECONDS = 182 * 86400
"""How far back finished runs go: about six months."""

ACTIVE_WINDOW_SECONDS = 3600
"""Ready and running runs were created within this long before the anchor."""

TRAFFIC_EXPIRATION_SECONDS = 30 * 86400
"""The traffic quota expires this long after the anchor."""

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
"""Upper bound of a run's result count, so that paging through results stays fast in tests."""

MAX_USAGE_SCALE = 10
"""`usage` strings carry 0 to this many decimal places."""

BALANCE_SCALE = 2

# Relative weights of the run statuses: mostly succeeded, a few of everything else.
_STATUS_WEIGHTS: tuple[tuple[int, int], ...] = (
    (STATUS_SUCCEEDED, 860),
    (STATUS_FAILED, 60),
    (STATUS_ABORTED, 40),
    (STATUS_RUNNING, 20),
    (STATUS_READY, 20),
)
_API_ORIGIN_SHARE = 0.7
_HUGE_TRAFFIC_SHARE = 0.01
_FAILED_WITH_MESSAGE_SHARE = 0.8
_FREE_FAILURE_SHARE = 0.3
_LARGE_RESULT_SHARE = 0.1
_EMPTY_RESULT_SHARE = 0.05
_LONG_RUN_SHARE = 0.1
_OLDER_VERSION_SHARE = 0.2
_READY_SHARE_OF_NEW_RUNS = 0.5

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

Row = dict[str, Any]
Header = dict[str, str]
_RowMaker = Callable[[random.Random, int, int], Row]


class Worker(NamedTuple):
    """One worker (scraper) of the account: its slug, title and versions, oldest first."""

    slug: str
    title: str
    versions: tuple[str, ...]


# --------------------------------------------------------------------------- values


def _ulid(timestamp_ms: int, rng: random.Random) -> str:
    """A ULID: 48-bit millisecond timestamp then 80 random bits, in Crockford base32."""
    value = (timestamp_ms << ULID_RANDOM_BITS) | rng.getrandbits(ULID_RANDOM_BITS)
    chars = []
    for _ in range(ULID_LENGTH):
        chars.append(ULID_ALPHABET[value & 0b11111])
        value >>= ULID_BITS_PER_CHAR
    return "".join(reversed(chars))


def _decimal_string(units: int, scale: int) -> str:
    """`units` / 10**`scale` as a decimal string with exactly `scale` places, float-free.

    >>> _decimal_string(217, 4), _decimal_string(100, 2), _decimal_string(5, 0)
    ('0.0217', '1.00', '5')
    """
    if scale == 0:
        return str(units)
    digits = str(units).rjust(scale + 1, "0")
    return f"{digits[:-scale]}.{digits[-scale:]}"


def _random_usage(rng: random.Random) -> str:
    """A cost in USD with a random number of decimal places, between 10**-scale and ~5."""
    scale = rng.randint(0, MAX_USAGE_SCALE)
    magnitude = rng.randint(0, scale)
    return _decimal_string(rng.randint(1, 5 * 10**magnitude), scale)


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def _pick(rng: random.Random, options: Sequence[str]) -> str:
    return options[rng.randrange(len(options))]


# --------------------------------------------------------------------------- result rows

_FIRST_NAMES = ("Ana", "Ben", "Chen", "Dara", "Elif", "Farid", "Greta", "Hiro", "Inés", "Jonas")
_LAST_NAMES = ("Almeida", "Brooks", "Castillo", "Dubois", "Eriksen", "Fischer", "Gupta", "Ito")
_CITIES = (
    ("Lisbon", "PT"),
    ("São Paulo", "BR"),
    ("Zürich", "CH"),
    ("Austin", "US"),
    ("Osaka", "JP"),
    ("Kraków", "PL"),
    ("Toronto", "CA"),
)
_TOPICS = ("Markets", "Climate", "Chip makers", "Central banks", "Electric cars", "Startups")
_VERBS = ("rally after", "brace for", "rethink", "bet on", "slow down amid", "cheer")
_EVENTS = ("rate decision", "record heat", "earnings season", "new tariffs", "funding drought")
_PRODUCTS = ("Wireless Earbuds", "Espresso Machine", "Trail Shoes", "4K Monitor", "Desk Lamp")
_BRANDS = ("Acme", "Nordlys", "Kumo", "Vertex", "Pampa")
_CURRENCIES = ("USD", "EUR", "GBP")
_JOB_TITLES = ("Data Engineer", "Backend Developer", "Product Analyst", "SRE", "ML Engineer")
_COMPANIES = ("Globex", "Initech", "Umbrella Labs", "Hooli", "Stark Logistics")
_JOB_TAGS = ("python", "sql", "aws", "kubernetes", "pandas", "go", "spark", "dbt")
_PLACE_KINDS = ("Café", "Bakery", "Bookshop", "Ramen Bar", "Climbing Gym", "Pharmacy")
_STREETS = ("Main St", "Rua Augusta", "Bahnhofstrasse", "Congress Ave", "ul. Floriańska")
_FEATURES = ("balcony", "garage", "garden", "elevator", "fireplace", "sea view", "pool")

_PRICE_CENTS_MAX = 250_000
_RATING_TENTHS_MAX = 50
_MICRODEGREES = 1_000_000


def _person(rng: random.Random) -> str:
    return f"{_pick(rng, _FIRST_NAMES)} {_pick(rng, _LAST_NAMES)}"


def _news_row(rng: random.Random, reference: int, index: int) -> Row:
    published = reference - rng.randint(0, 7 * 86400)
    title = f"{_pick(rng, _TOPICS)} {_pick(rng, _VERBS)} {_pick(rng, _EVENTS)}"
    row: Row = {
        "title": title,
        "url": f"https://news.example.com/{_iso(published)[:10]}/story-{index}",
        "published_at": _iso(published),
        "author": {"name": _person(rng), "followers": rng.randint(0, 2_000_000)},
    }
    if rng.random() < 0.3:
        row["image_url"] = f"https://img.example.com/{_hex_id(rng)}.jpg"
    return row


def _product_row(rng: random.Random, reference: int, index: int) -> Row:
    city, country = _CITIES[rng.randrange(len(_CITIES))]
    rating_tenths = rng.randint(10, _RATING_TENTHS_MAX)
    row: Row = {
        "name": f"{_pick(rng, _BRANDS)} {_pick(rng, _PRODUCTS)}",
        "price": rng.randint(99, _PRICE_CENTS_MAX) / 100,
        "currency": _pick(rng, _CURRENCIES),
        "in_stock": rng.random() < 0.8,
        "rating": rating_tenths / 10 if rng.random() < 0.85 else None,
        "seller": {
            "name": f"{_pick(rng, _LAST_NAMES)} Store",
            "address": {"city": city, "country": country},
        },
    }
    if rng.random() < 0.25:
        row["sku"] = f"SKU-{rng.randint(100000, 999999)}"
    return row


def _job_row(rng: random.Random, reference: int, index: int) -> Row:
    salary_min = rng.randint(40, 150) * 1000
    row: Row = {
        "title": _pick(rng, _JOB_TITLES),
        "company": _pick(rng, _COMPANIES),
        "salary_min": salary_min,
        "salary_max": salary_min + rng.randint(0, 60) * 1000,
        "tags": rng.sample(_JOB_TAGS, rng.randint(0, 4)),
        "remote": rng.random() < 0.4,
    }
    if rng.random() < 0.2:
        row["posted_days_ago"] = rng.randint(0, 30)
    return row


def _place_row(rng: random.Random, reference: int, index: int) -> Row:
    city, _country = _CITIES[rng.randrange(len(_CITIES))]
    return {
        "name": f"{_pick(rng, _LAST_NAMES)} {_pick(rng, _PLACE_KINDS)}",
        "address": f"{rng.randint(1, 400)} {_pick(rng, _STREETS)}, {city}",
        "latitude": rng.randint(-60 * _MICRODEGREES, 60 * _MICRODEGREES) / _MICRODEGREES,
        "longitude": rng.randint(-180 * _MICRODEGREES, 180 * _MICRODEGREES) / _MICRODEGREES,
        "reviews": rng.randint(0, 5000),
        "categories": rng.sample(_PLACE_KINDS, rng.randint(1, 2)),
        "phone": f"+1 555 {rng.randint(1000000, 9999999)}" if rng.random() < 0.7 else None,
    }


def _profile_row(rng: random.Random, reference: int, index: int) -> Row:
    handle = f"{_pick(rng, _FIRST_NAMES).lower()}_{rng.randint(1, 9999)}"
    return {
        "username": handle,
        "followers": rng.randint(0, 50_000_000),
        "verified": rng.random() < 0.1,
        "bio": f"{_pick(rng, _TOPICS)} | {_CITIES[rng.randrange(len(_CITIES))][0]}",
        "recent_posts": [
            {"id": str(rng.getrandbits(60)), "likes": rng.randint(0, 1_000_000)}
            for _ in range(rng.randint(0, 3))
        ],
    }


def _listing_row(rng: random.Random, reference: int, index: int) -> Row:
    city, _country = _CITIES[rng.randrange(len(_CITIES))]
    return {
        "listing_id": f"L{rng.randint(10**7, 10**8 - 1)}",
        "price": rng.randint(80, 2500) * 1000,
        "bedrooms": rng.randint(0, 6),
        "area_m2": rng.randint(250, 4000) / 10,
        "location": {"city": city, "postcode": f"{rng.randint(10000, 99999)}"},
        "features": rng.sample(_FEATURES, rng.randint(0, 3)),
    }


def _headers(*columns: tuple[str, str, str]) -> tuple[Header, ...]:
    return tuple({"label": label, "key": key, "format": fmt} for label, key, fmt in columns)


@dataclass(frozen=True)
class _WorkerSpec:
    """Everything about a worker that is fixed in code; only its slug depends on the seed."""

    title: str
    versions: tuple[str, ...]
    headers: tuple[Header, ...]
    make_row: _RowMaker
    data_id: bool
    weight: int


_WORKER_SPECS: tuple[_WorkerSpec, ...] = (
    _WorkerSpec(
        "News Collection 20260305",
        ("v1.0.5", "v1.0.9", "v1.0.10", "v1.1.0"),
        _headers(
            ("Title", "title", "text"),
            ("URL", "url", "url"),
            ("Published", "published_at", "datetime"),
            ("Author", "author", "object"),
        ),
        _news_row,
        data_id=True,
        weight=30,
    ),
    _WorkerSpec(
        "E-commerce Product Details",
        ("v1.2.0", "v1.9.3", "v1.10.0", "v2.0.0"),
        _headers(
            ("Name", "name", "text"),
            ("Price", "price", "number"),
            ("Currency", "currency", "text"),
            ("In stock", "in_stock", "boolean"),
            ("Rating", "rating", "number"),
            ("Seller", "seller", "object"),
        ),
        _product_row,
        data_id=True,
        weight=25,
    ),
    _WorkerSpec(
        "Job Board Listings",
        ("v0.9.1", "v0.10.0", "v1.0.0"),
        _headers(
            ("Title", "title", "text"),
            ("Company", "company", "text"),
            ("Salary min", "salary_min", "number"),
            ("Salary max", "salary_max", "number"),
            ("Tags", "tags", "array"),
            ("Remote", "remote", "boolean"),
        ),
        _job_row,
        data_id=False,
        weight=15,
    ),
    _WorkerSpec(
        "Maps Places Extractor",
        ("v2.3.9", "v2.3.10", "v2.3.11", "v2.4.0"),
        _headers(
            ("Name", "name", "text"),
            ("Address", "address", "text"),
            ("Latitude", "latitude", "number"),
            ("Longitude", "longitude", "number"),
            ("Reviews", "reviews", "number"),
            ("Categories", "categories", "array"),
            ("Phone", "phone", "text"),
        ),
        _place_row,
        data_id=False,
        weight=12,
    ),
    _WorkerSpec(
        "Social Profile Scraper",
        ("v1.0.0", "v1.0.1", "v1.0.2"),
        _headers(
            ("Username", "username", "text"),
            ("Followers", "followers", "number"),
            ("Verified", "verified", "boolean"),
            ("Bio", "bio", "text"),
        ),
        _profile_row,
        data_id=True,
        weight=10,
    ),
    _WorkerSpec(
        "Real Estate Listings",
        ("v3.1.0", "v3.2.0", "v3.10.0"),
        _headers(
            ("Listing", "listing_id", "text"),
            ("Price", "price", "number"),
            ("Bedrooms", "bedrooms", "number"),
            ("Area (m²)", "area_m2", "number"),
            ("Location", "location", "object"),
            ("Features", "features", "array"),
        ),
        _listing_row,
        data_id=False,
        weight=8,
    ),
)

# The workers were created a while before the oldest run.
_WORKERS_CREATED_AT = ANCHOR_TIMESTAMP - HISTORY_SECONDS - 30 * 86400


# --------------------------------------------------------------------------- the account


def _order_key(record: Row) -> tuple[bool, int, str]:
    """Run History order, used with reverse=True: unstarted first, then newest start, then slug."""
    return (record["started_at"] == 0, record["started_at"], record["slug"])


class Account:
    """A synthetic CoreClaw account: workers, run records and on-demand result rows.

    Build one with `build_account`. Records are plain dicts exactly as the API returns them;
    treat them as read-only. All methods are thread-safe.

    Example:
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
        workers: Sequence[Worker],
        records: Sequence[Row],
        balance: str,
        traffic_expiration_at: int,
        rng: random.Random,
    ) -> None:
        self.seed = seed
        self.workers: list[Worker] = list(workers)
        self.balance = balance
        self.traffic_expiration_at = traffic_expiration_at
        self._rng = rng
        self._lock = threading.Lock()
        self._specs = {
            worker.slug: spec for worker, spec in zip(workers, _WORKER_SPECS, strict=True)
        }
        self._by_slug: dict[str, Row] = {record["slug"]: record for record in records}
        self._ordered: list[Row] = sorted(records, key=_order_key, reverse=True)
        self._views: dict[tuple[int, str | None], list[Row]] = {}
        self._traffic = sum(record["traffic"] for record in records)
        self._clock = ANCHOR_TIMESTAMP

    def __len__(self) -> int:
        return len(self._ordered)

    @property
    def runs(self) -> list[Row]:
        """All run records in Run History order (newest first); a new list each call."""
        with self._lock:
            return list(self._ordered)

    @property
    def traffic(self) -> int:
        """Bytes used by all runs of the account."""
        return self._traffic

    def run(self, slug: str) -> Row | None:
        """The run record with this slug, or None.

        >>> build_account(runs=0).run("01KSFDS8XWTJME33C08XMCR6B9") is None
        True
        """
        return self._by_slug.get(slug)

    def list_runs(
        self,
        page_index: int,
        page_size: int,
        status: int = ALL_STATUSES,
        scraper_slug: str | None = None,
    ) -> tuple[int, list[Row]]:
        """One Run History page: (count of matching runs, records of page `page_index`).

        Order: runs not started yet (started_at 0) first, then started_at descending, ties by
        slug descending. `status` 0 means every status; an unknown `scraper_slug` matches
        nothing. A page past the end is empty.

        >>> count, page = build_account(runs=30).list_runs(page_index=2, page_size=20)
        >>> count, len(page)
        (30, 10)
        """
        start = (page_index - 1) * page_size
        with self._lock:
            view = self._view(status, scraper_slug)
            return len(view), view[start : start + page_size]

    def _view(self, status: int, scraper_slug: str | None) -> list[Row]:
        """The ordered records matching a filter, cached until the next `add_runs`."""
        key = (status, scraper_slug)
        view = self._views.get(key)
        if view is None:
            view = [
                record
                for record in self._ordered
                if (status == ALL_STATUSES or record["status"] == status)
                and (scraper_slug is None or record["scraper_slug"] == scraper_slug)
            ]
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

        >>> account = build_account(runs=50)
        >>> slug = max(account.runs, key=lambda r: r["results"])["slug"]
        >>> account.results(slug, 1, 4)[2][3] == account.results(slug, 2, 3)[2][0]
        True
        """
        record = self._by_slug[slug]
        spec = self._specs[record["scraper_slug"]]
        count: int = record["results"]
        reference = record["started_at"] or ANCHOR_TIMESTAMP
        start = (page_index - 1) * page_size
        rows = []
        for index in range(start, min(start + page_size, count)):
            rng = random.Random(f"{self.seed}/{slug}/{index}")
            row = spec.make_row(rng, reference, index)
            if spec.data_id:
                row["__coreclaw_data_id__"] = _hex_id(rng)
            rows.append(row)
        return count, [dict(header) for header in spec.headers], rows

    def add_runs(self, count: int) -> list[Row]:
        """Add `count` brand-new runs (ready or running, newer than every other run).

        Used by the sandbox's `grow_on_list` knob to show Run History pages shifting while runs
        arrive. Returns the new records.

        >>> account = build_account(runs=10)
        >>> new = account.add_runs(2)
        >>> len(account), account.runs[0]["status"] in (1, 2)
        (12, True)
        """
        with self._lock:
            new_records = []
            for _ in range(count):
                self._clock += 1
                new_records.append(self._new_active_run(self._clock))
            for record in new_records:
                self._by_slug[record["slug"]] = record
            self._ordered.extend(new_records)
            self._ordered.sort(key=_order_key, reverse=True)
            self._views.clear()
            return new_records

    def _new_active_run(self, now: int) -> Row:
        rng = self._rng
        worker = self.workers[rng.randrange(len(self.workers))]
        status = STATUS_READY if rng.random() < _READY_SHARE_OF_NEW_RUNS else STATUS_RUNNING
        slug = self._unique_slug(now * MS_PER_SECOND + rng.randrange(MS_PER_SECOND))
        return _record(
            status=status,
            err_msg="",
            slug=slug,
            worker=worker,
            results=0,
            usage="0",
            started_at=now if status == STATUS_RUNNING else 0,
            duration=0,
            origin="api" if rng.random() < _API_ORIGIN_SHARE else "web",
            traffic=0,
            version=worker.versions[-1],
        )

    def _unique_slug(self, timestamp_ms: int) -> str:
        while True:
            slug = _ulid(timestamp_ms, self._rng)
            if slug not in self._by_slug:
                return slug


def _record(
    *,
    status: int,
    err_msg: str,
    slug: str,
    worker: Worker,
    results: int,
    usage: str,
    started_at: int,
    duration: int,
    origin: str,
    traffic: int,
    version: str,
) -> Row:
    """A run record with exactly the v1 keys, in the documented order."""
    finished = status in (STATUS_SUCCEEDED, STATUS_FAILED, STATUS_ABORTED)
    return {
        "status": status,
        "err_msg": err_msg,
        "slug": slug,
        "scraper_title": worker.title,
        "scraper_slug": worker.slug,
        "results": results,
        "usage": usage,
        "started_at": started_at,
        "finished_at": started_at + duration if finished else 0,
        "duration": duration if finished else 0,
        "origin": origin,
        "traffic": traffic,
        "version": version,
    }


class _RunFactory:
    """Draws the random parts of historical runs; one instance per `build_account` call."""

    def __init__(self, rng: random.Random, workers: Sequence[Worker]) -> None:
        self.rng = rng
        self.workers = workers
        self.used_slugs: set[str] = set()
        self._status_values = [status for status, _ in _STATUS_WEIGHTS]
        self._status_cumulative = list(
            itertools.accumulate(weight for _, weight in _STATUS_WEIGHTS)
        )
        self._worker_cumulative = list(itertools.accumulate(spec.weight for spec in _WORKER_SPECS))

    def _weighted(self, cumulative: list[int]) -> int:
        return bisect.bisect_right(cumulative, self.rng.randrange(cumulative[-1]))

    def slug(self, timestamp_ms: int) -> str:
        while True:
            slug = _ulid(timestamp_ms, self.rng)
            if slug not in self.used_slugs:
                self.used_slugs.add(slug)
                return slug

    def make(self) -> Row:
        rng = self.rng
        status = self._status_values[self._weighted(self._status_cumulative)]
        worker = self.workers[self._weighted(self._worker_cumulative)]
        origin = "api" if rng.random() < _API_ORIGIN_SHARE else "web"
        if status == STATUS_READY:
            created = ANCHOR_TIMESTAMP - rng.randint(1, ACTIVE_WINDOW_SECONDS)
            return _record(
                status=status,
                err_msg="",
                slug=self.slug(created * MS_PER_SECOND + rng.randrange(MS_PER_SECOND)),
                worker=worker,
                results=0,
                usage="0",
                started_at=0,
                duration=0,
                origin=origin,
                traffic=0,
                version=worker.versions[-1],
            )
        if status == STATUS_RUNNING:
            duration = 0
            started = ANCHOR_TIMESTAMP - rng.randint(1, ACTIVE_WINDOW_SECONDS)
        else:
            duration = (
                rng.randint(600, 4 * 3600)
                if rng.random() < _LONG_RUN_SHARE
                else rng.randint(2, 600)
            )
            started = rng.randint(ANCHOR_TIMESTAMP - HISTORY_SECONDS, ANCHOR_TIMESTAMP - duration)
        results = self._results(status)
        return _record(
            status=status,
            err_msg=self._err_msg(status),
            slug=self.slug(started * MS_PER_SECOND + rng.randrange(MS_PER_SECOND)),
            worker=worker,
            results=results,
            usage="0"
            if status == STATUS_FAILED and rng.random() < _FREE_FAILURE_SHARE
            else _random_usage(rng),
            started_at=started,
            duration=duration,
            origin=origin,
            traffic=self._traffic(results),
            version=self._version(worker, started),
        )

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
            return _pick(self.rng, _ERROR_MESSAGES)
        return ""

    def _traffic(self, results: int) -> int:
        rng = self.rng
        if rng.random() < _HUGE_TRAFFIC_SHARE:
            return rng.randint(4 * GIB + 1, 12 * GIB)
        if results == 0:
            return rng.choice((0, rng.randint(KIB, MIB)))
        return results * rng.randint(2 * KIB, 2 * MIB)

    def _version(self, worker: Worker, started: int) -> str:
        """Newer runs mostly use newer versions; some stay on an older one."""
        elapsed = started - (ANCHOR_TIMESTAMP - HISTORY_SECONDS)
        index = min(len(worker.versions) - 1, elapsed * len(worker.versions) // HISTORY_SECONDS)
        if index > 0 and self.rng.random() < _OLDER_VERSION_SHARE:
            index -= 1
        return worker.versions[index]


def build_account(seed: int = 0, runs: int = DEFAULT_RUNS) -> Account:
    """Build the synthetic account for `seed` with `runs` historical runs.

    Deterministic: the same seed and size give identical records; another seed gives others.

    Example:
        >>> account = build_account(seed=7, runs=1000)
        >>> len(account), len(account.workers)
        (1000, 6)
        >>> account.runs == build_account(seed=7, runs=1000).runs
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 0:
        raise ValueError(f"runs must be an int >= 0, got {runs!r}")
    rng = random.Random(seed)
    workers = [
        Worker(
            slug=_ulid((_WORKERS_CREATED_AT + position * 86400) * MS_PER_SECOND, rng),
            title=spec.title,
            versions=spec.versions,
        )
        for position, spec in enumerate(_WORKER_SPECS)
    ]
    factory = _RunFactory(rng, workers)
    factory.used_slugs.update(worker.slug for worker in workers)
    records = [factory.make() for _ in range(runs)]
    balance = _decimal_string(rng.randint(0, 500_000 * 10**BALANCE_SCALE), BALANCE_SCALE)
    return Account(
        seed=seed,
        workers=workers,
        records=records,
        balance=balance,
        traffic_expiration_at=ANCHOR_TIMESTAMP + TRAFFIC_EXPIRATION_SECONDS,
        rng=rng,
    )
