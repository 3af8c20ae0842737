"""The client's settings: where their defaults come from, and the checks that refuse a bad one
before any request, naming it.

:data:`DIALECTS` is the table of wire versions the client speaks; every message that lists
the versions is built from it.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from coreclaw_frames.api._dialect import Dialect
from coreclaw_frames.api._policy import RetryPolicy
from coreclaw_frames.api._v1 import V1
from coreclaw_frames.api._v2 import V2

__all__ = [
    "API_KEY_ENV",
    "API_VERSIONS",
    "API_VERSION_ENV",
    "BASE_URL_ENV",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "DIALECTS",
    "check_api_key",
    "check_api_version",
    "check_base_url",
    "check_int",
    "check_number",
    "check_retry",
]

DEFAULT_BASE_URL = "https://openapi.coreclaw.com"
API_KEY_ENV = "CORECLAW_API_KEY"
BASE_URL_ENV = "CORECLAW_BASE_URL"
API_VERSION_ENV = "CORECLAW_API_VERSION"
#: Every wire version the client speaks, by name, oldest first: a new version is its module
#: and one entry here.
DIALECTS: dict[str, Dialect] = {dialect.version: dialect for dialect in (V1, V2)}
API_VERSIONS: tuple[str, ...] = tuple(DIALECTS)
#: The documented, current API.
DEFAULT_API_VERSION = V2.version


def check_api_version(value: Any) -> str:
    """The name of a version of :data:`DIALECTS` (default ``$CORECLAW_API_VERSION``, then
    :data:`DEFAULT_API_VERSION`).

    Examples
    --------
    >>> check_api_version("v3")
    Traceback (most recent call last):
    ...
    ValueError: api_version must be 'v2' or 'v1', got 'v3'
    """
    source = "api_version"
    if value is None:
        value = os.environ.get(API_VERSION_ENV) or DEFAULT_API_VERSION
        source = f"${API_VERSION_ENV}"
    if not isinstance(value, str) or value not in DIALECTS:
        raise ValueError(f"{source} must be {_one_of(reversed(DIALECTS))}, got {value!r}")
    return value


def _one_of(names: Iterable[str]) -> str:
    """``'a'``, ``'a' or 'b'``, ``'a', 'b' or 'c'``."""
    quoted_names = [repr(name) for name in names]
    if len(quoted_names) < 2:
        return "".join(quoted_names)
    return f"{', '.join(quoted_names[:-1])} or {quoted_names[-1]}"


def check_retry(retry: Any, max_retries: Any) -> RetryPolicy:
    """The retry policy of ``retry=`` and ``max_retries=`` (which must agree when both are
    given)."""
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a coreclaw_frames.RetryPolicy, got {type(retry).__name__}")
    if max_retries is None:
        return retry or RetryPolicy()
    check_int("max_retries", max_retries, minimum=0)
    if retry is None:
        return RetryPolicy(max_retries=max_retries)
    if retry.max_retries != max_retries:
        raise ValueError(
            f"max_retries={max_retries} disagrees with retry={retry!r}: give max_retries "
            "in the RetryPolicy only"
        )
    return retry


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api_key(api_key: Any) -> str:
    source = "api_key"
    if api_key is None:
        api_key, source = os.environ.get(API_KEY_ENV), f"${API_KEY_ENV}"
    if api_key is None:
        raise ValueError(f"no API key: pass api_key=... or set ${API_KEY_ENV}")
    if not isinstance(api_key, str):
        raise TypeError(f"api_key must be a string, got {type(api_key).__name__}")
    key = api_key.strip()
    if not key:
        raise ValueError(f"{source} is empty: pass api_key=... or set ${API_KEY_ENV}")
    # The message never quotes the key: it would end up in tracebacks and logs.
    bad = [i for i, char in enumerate(key) if not (char.isascii() and char.isprintable())]
    if bad:
        raise ValueError(
            f"{source} holds {len(bad)} control or non-ASCII character(s) (at position "
            f"{', '.join(str(i + 1) for i in bad[:3])}): API keys are printable ASCII"
        )
    return key


def check_base_url(url: str) -> str:
    if not isinstance(url, str):
        raise TypeError(f"base_url must be a string, got {type(url).__name__}")
    parts = urlsplit(url.strip())
    if parts.username is not None or parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        raise ValueError(
            f"base_url must not hold a user name or password (got {parts.scheme}://***@{host}); "
            "the API key is the only credential"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must look like https://host[:port], got {url!r}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"base_url has a bad port (1-65535 expected): {url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"base_url {url!r} uses plain http:// to a non-loopback host; the API key would "
            "travel unencrypted. Use https://"
        )
    if parts.query or parts.fragment or parts.path.strip("/"):
        raise ValueError(f"base_url must be scheme://host[:port] only, got {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def check_int(name: str, value: Any, *, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def check_number(name: str, value: Any) -> float:
    """``value`` if it is a finite number > 0."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)
