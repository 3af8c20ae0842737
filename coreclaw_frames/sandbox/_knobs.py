"""The validation of `SandboxServer`'s knobs: a knob out of range is a ValueError naming it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from coreclaw_frames.sandbox._account import Account
from coreclaw_frames.sandbox._echo import ESCAPED
from coreclaw_frames.sandbox._faults import check_faults
from coreclaw_frames.sandbox._protocol import SPECIAL_KEYS
from coreclaw_frames.sandbox._records import is_int
from coreclaw_frames.sandbox._v2 import MISSING_RUN_MODES

__all__ = ["check_knobs"]


def check_number(name: str, value: Any, *, low: float, high: float = math.inf) -> None:
    """ValueError unless `value` is a number (not a bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        bounds = f"in [{low}, {high}]" if high != math.inf else f">= {low}"
        raise ValueError(f"{name} must be a number {bounds}, got {value!r}")


def check_int(name: str, value: Any, *, low: int, high: int | None = None) -> None:
    """ValueError unless `value` is an int (not a bool) in [low, high]."""
    if not is_int(value) or value < low or (high is not None and value > high):
        bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an int {bounds}, got {value!r}")


def _check_keys(api_key: Any, accounts: Mapping[Any, Any] | None) -> None:
    if not isinstance(api_key, str) or not api_key or api_key in SPECIAL_KEYS:
        raise ValueError(
            f"api_key must be a non-empty string other than the special keys, got {api_key!r}"
        )
    for other_key, other_account in (accounts or {}).items():
        if not isinstance(other_key, str) or not other_key or other_key in SPECIAL_KEYS:
            raise ValueError(
                "accounts must map API keys (non-empty strings other than the special "
                f"keys) to accounts, got the key {other_key!r}"
            )
        if other_key == api_key:
            raise ValueError(f"accounts must not hold api_key {api_key!r}: it reads `account`")
        if not isinstance(other_account, Account):
            raise ValueError(f"accounts must map API keys to accounts, got {other_account!r}")


def check_knobs(knobs: Mapping[str, Any]) -> tuple[str, ...]:
    """Check `SandboxServer`'s parameters, given by name; returns the fault kinds to draw.

    Examples
    --------
    >>> check_knobs({"fault_rate": 0.1, "faults": ["drop"]})
    ('drop',)
    >>> check_knobs({"link_ttl": -1})
    Traceback (most recent call last):
    ...
    ValueError: link_ttl must be a number >= 0.0, got -1
    """
    k = {
        "port": 0,
        "latency": 0.0,
        "fault_rate": 0.0,
        "faults": (),
        "max_consecutive_faults": 0,
        "slow_seconds": 0.0,
        "retry_after": 0,
        "rate_limit": None,
        "rate_burst": None,
        "api_key": "key",
        "echo_key": False,
        "grow_on_list": 0,
        "missing_run": MISSING_RUN_MODES[0],
        "cross_month_status": 400,
        "accounts": None,
        "clock_offset": 0.0,
        "max_results": None,
        "drift_runs": 0,
        "storage_fault_rate": 0.0,
        "link_ttl": 0.0,
        "storage_redirect": None,
        **knobs,
    }
    check_int("port", k["port"], low=0, high=65535)
    check_number("latency", k["latency"], low=0.0)
    check_number("fault_rate", k["fault_rate"], low=0.0, high=1.0)
    fault_kinds = check_faults(k["faults"], k["fault_rate"])
    check_int("max_consecutive_faults", k["max_consecutive_faults"], low=0)
    check_number("slow_seconds", k["slow_seconds"], low=0.0)
    check_int("retry_after", k["retry_after"], low=0)
    rate_limit, rate_burst = k["rate_limit"], k["rate_burst"]
    if rate_limit is not None:
        check_number("rate_limit", rate_limit, low=0.0)
        if rate_limit == 0:
            raise ValueError("rate_limit must be > 0 (or None for no limit), got 0")
    if rate_burst is not None:
        if rate_limit is None:
            raise ValueError(f"rate_burst={rate_burst!r} needs a rate_limit")
        check_number("rate_burst", rate_burst, low=1.0)
    _check_keys(k["api_key"], k["accounts"])
    echo_key = k["echo_key"]
    if not (isinstance(echo_key, bool) or echo_key == ESCAPED):
        raise ValueError(f"echo_key must be False, True or 'escaped', got {echo_key!r}")
    check_int("grow_on_list", k["grow_on_list"], low=0)
    if k["missing_run"] not in MISSING_RUN_MODES:
        raise ValueError(
            f"missing_run must be one of {', '.join(MISSING_RUN_MODES)}, got {k['missing_run']!r}"
        )
    check_int("cross_month_status", k["cross_month_status"], low=200, high=599)
    check_number("clock_offset", k["clock_offset"], low=-math.inf)
    if k["max_results"] is not None:
        check_int("max_results", k["max_results"], low=1)
    check_int("drift_runs", k["drift_runs"], low=0)
    check_number("storage_fault_rate", k["storage_fault_rate"], low=0.0, high=1.0)
    check_number("link_ttl", k["link_ttl"], low=0.0)
    redirect = k["storage_redirect"]
    if redirect is not None and (
        not isinstance(redirect, str) or not redirect.startswith(("http://", "https://"))
    ):
        raise ValueError(f"storage_redirect must be an http(s) URL (or None), got {redirect!r}")
    return fault_kinds
