"""The workers of the synthetic account and the result rows they scrape.

Pure data, no HTTP and no state: each worker's title, versions (oldest first), declared result
headers and row generator. A row is a pure function of an RNG seeded from (seed, run slug, row
index), so rows are regenerated on demand instead of stored. Rows are nested, nullable and
sometimes carry keys the worker never declared.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["WORKER_SPECS", "Header", "Row", "WorkerSpec", "hex_id"]

Row = dict[str, Any]
Header = dict[str, str]
RowMaker = Callable[[random.Random, int, int], Row]


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hex_id(rng: random.Random) -> str:
    """A 24-digit hex id, as CoreClaw's `__coreclaw_data_id__` values look."""
    return f"{rng.getrandbits(96):024x}"


def _pick(rng: random.Random, options: Sequence[str]) -> str:
    return options[rng.randrange(len(options))]


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
        row["image_url"] = f"https://img.example.com/{hex_id(rng)}.jpg"
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


def _price_check_row(rng: random.Random, reference: int, index: int) -> Row:
    price_cents = rng.randint(99, _PRICE_CENTS_MAX)
    previous_cents = price_cents + rng.randint(-price_cents // 4, price_cents // 4)
    return {
        "product_url": f"https://shop.example.com/p/{rng.randint(10**5, 10**6 - 1)}",
        "price": price_cents / 100,
        "previous_price": previous_cents / 100 if rng.random() < 0.9 else None,
        "currency": _pick(rng, _CURRENCIES),
        "checked_at": _iso(reference + index),
        "competitor": {"name": f"{_pick(rng, _BRANDS)} Outlet", "rank": rng.randint(1, 20)},
    }


def _review_row(rng: random.Random, reference: int, index: int) -> Row:
    row: Row = {
        "review_id": f"R{rng.getrandbits(40):010X}",
        "stars": rng.randint(1, 5),
        "text": f"{_pick(rng, _PRODUCTS)}: {_pick(rng, _VERBS)} {_pick(rng, _EVENTS)}",
        "reviewer": _person(rng),
        "reviewed_on": _iso(reference - rng.randint(0, 90 * 86400))[:10],
        "helpful_votes": rng.randint(0, 800),
    }
    if rng.random() < 0.15:
        row["photos"] = [f"https://img.example.com/{hex_id(rng)}.jpg"]
    return row


def _headers(*columns: tuple[str, str, str]) -> tuple[Header, ...]:
    return tuple({"label": label, "key": key, "format": fmt} for label, key, fmt in columns)


@dataclass(frozen=True)
class WorkerSpec:
    """Everything about a worker that is fixed in code; only its ULID depends on the seed.

    `path` is the worker's v2 id when v2 names it by an ``owner~name`` path instead of its ULID.
    A run costs about `price_per_run` plus `price_per_result` for each result (USD), times the
    `version_prices` factor of its version (one per version; a newer version may cost more).
    `rows_of_version`, when set, gives the row maker of each version (by its index), for a
    worker whose rows change shape between versions.
    """

    title: str
    versions: tuple[str, ...]
    headers: tuple[Header, ...]
    make_row: RowMaker
    data_id: bool
    weight: int
    path: str | None = None
    price_per_run: float = 0.002
    price_per_result: float = 0.001
    version_prices: tuple[float, ...] = ()
    rows_of_version: Callable[[int], RowMaker] | None = None

    def row_maker(self, version: str) -> RowMaker:
        """How the rows of a run of `version` are made: `make_row`, unless the worker's rows
        change shape from one version to the next (`rows_of_version`, given the version's
        index)."""
        if self.rows_of_version is None:
            return self.make_row
        index = self.versions.index(version) if version in self.versions else 0
        return self.rows_of_version(index)

    def price(self, version: str, results: int) -> float:
        """The usual cost (USD) of a run of `version` with `results` results."""
        index = self.versions.index(version) if version in self.versions else 0
        factor = self.version_prices[index] if index < len(self.version_prices) else 1.0
        return (self.price_per_run + self.price_per_result * results) * factor


WORKER_SPECS: tuple[WorkerSpec, ...] = (
    WorkerSpec(
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
        price_per_run=0.004,
        price_per_result=0.0008,
    ),
    WorkerSpec(
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
        price_per_run=0.006,
        price_per_result=0.0015,
        version_prices=(1.0, 1.0, 1.0, 1.35),
    ),
    WorkerSpec(
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
        price_per_run=0.003,
        price_per_result=0.0012,
    ),
    WorkerSpec(
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
        price_per_run=0.01,
        price_per_result=0.003,
    ),
    WorkerSpec(
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
        price_per_run=0.002,
        price_per_result=0.0005,
        version_prices=(1.0, 0.8, 0.8),
    ),
    WorkerSpec(
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
        price_per_run=0.008,
        price_per_result=0.002,
    ),
    WorkerSpec(
        "Acme Price Monitor",
        ("v0.8.0", "v0.9.0", "v0.10.0"),
        _headers(
            ("Product", "product_url", "url"),
            ("Price", "price", "number"),
            ("Previous price", "previous_price", "number"),
            ("Currency", "currency", "text"),
            ("Checked", "checked_at", "datetime"),
        ),
        _price_check_row,
        data_id=True,
        weight=6,
        path="acme~price-monitor",
        price_per_run=0.001,
        price_per_result=0.0004,
    ),
    WorkerSpec(
        "Review Aggregator",
        ("v1.0.0", "v1.1.0", "latest"),
        _headers(
            ("Review", "review_id", "text"),
            ("Stars", "stars", "number"),
            ("Text", "text", "text"),
            ("Reviewer", "reviewer", "text"),
            ("Date", "reviewed_on", "date"),
        ),
        _review_row,
        data_id=False,
        weight=5,
        price_per_run=0.002,
        price_per_result=0.0006,
        version_prices=(1.0, 1.0, 1.25),
    ),
)
