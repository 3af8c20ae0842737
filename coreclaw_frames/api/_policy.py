"""The :class:`RetryPolicy`: every setting of how a client retries, waits and paces its
requests, checked once when it is made and read by the decisions of
:mod:`~coreclaw_frames.api._retry` whenever they are taken."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """How a :class:`~coreclaw_frames.Client` retries, waits and paces its requests.

    Frozen and validated: a bad value is refused when the policy is made, naming it. Give one
    to ``Client(retry=...)``; derive one from another with ``dataclasses.replace``. Its repr
    shows ``max_retries`` and every setting that differs from its default.

    Examples
    --------
    >>> import dataclasses
    >>> patient = RetryPolicy(max_retries=8, rate_limit_patience=600)
    >>> patient
    RetryPolicy(max_retries=8, rate_limit_patience=600.0)
    >>> dataclasses.replace(patient, backoff_max=5).backoff_max
    5.0
    >>> RetryPolicy(backoff_base=-1)
    Traceback (most recent call last):
    ...
    ValueError: RetryPolicy backoff_base must be a finite number > 0, got -1
    """

    #: Retries of a request after a transient failure (connection, timeout, HTTP 5xx, the
    #: API's internal-error codes, an unreadable body).
    max_retries: int = 5
    #: The first retry waits about this long (seconds); each further retry doubles it ...
    backoff_base: float = 0.25
    #: ... up to this many seconds.
    backoff_max: float = 20.0
    #: A server's ``Retry-After`` is honoured up to this many seconds.
    retry_after_max: float = 60.0
    #: After this many seconds of nothing but rate-limit answers, requests stop waiting.
    rate_limit_patience: float = 120.0
    #: Rate-limit answers are a request to slow down, not a failure: each request may meet
    #: this many times ``max_retries`` of them before it gives up.
    rate_limit_retry_factor: int = 5
    #: Waits after rate-limit answers start and stay short (the rate controller does the
    #: pacing, and a scattered answer should cost its request little): from about this ...
    rate_limit_backoff_base: float = 0.05
    #: ... to at most this many seconds.
    rate_limit_backoff_max: float = 2.0
    #: The server is congested when, of at least this many answers to requests sent since the
    #: last slow-down, ...
    congestion_answers: int = 8
    #: ... at least this share said "too many requests".
    congestion_share: float = 0.2
    #: On congestion the batch's rate drops to the share of requests the server accepted, at
    #: least to this fraction of what it was sending ...
    rate_decrease_factor: float = 0.8
    #: ... and at most to this fraction, so answers that were all refused do not stall it.
    rate_decrease_floor: float = 0.25
    #: After a slow-down, the rate grows back by this fraction of itself per second ...
    rate_increase_per_second: float = 0.5
    #: ... and by at least this many requests/second per second, so a low rate recovers.
    rate_increase_min: float = 2.0
    #: The controller never goes slower than this (requests/second).
    rate_min: float = 0.5
    #: How far back the controller looks to measure the rate actually sent (seconds) ...
    rate_window: float = 1.0
    #: ... and never over less than this (seconds), so a handful of requests is no huge rate.
    rate_min_span: float = 0.1

    def __post_init__(self) -> None:
        for name, rule in _RULES.items():
            value = getattr(self, name)
            if rule.integer:
                if not isinstance(value, int) or isinstance(value, bool):
                    raise TypeError(f"RetryPolicy {name} must be an integer, got {value!r}")
            elif not isinstance(value, int | float) or isinstance(value, bool):
                raise TypeError(f"RetryPolicy {name} must be a number, got {value!r}")
            rule.check(name, value, self)
            if not rule.integer:
                object.__setattr__(self, name, float(value))

    def __repr__(self) -> str:
        shown = [
            f"{field.name}={getattr(self, field.name)!r}"
            for field in dataclasses.fields(self)
            if field.name == "max_retries" or getattr(self, field.name) != field.default
        ]
        return f"RetryPolicy({', '.join(shown)})"


@dataclass(frozen=True)
class _Rule:
    """What one setting of a :class:`RetryPolicy` may be: ``low`` (inclusive or not) up to
    ``high``, and not below another setting (``at_least``) or above one (``at_most``)."""

    low: float
    inclusive: bool = True
    high: float = math.inf
    integer: bool = False
    at_least: str | None = None
    at_most: str | None = None

    def check(self, name: str, value: float, policy: RetryPolicy) -> None:
        above_low = value >= self.low if self.inclusive else value > self.low
        if not (math.isfinite(value) and above_low and value <= self.high):
            kind = "an integer" if self.integer else "a finite number"
            if self.high < math.inf:
                bound = f"in {'[' if self.inclusive else '('}{self.low:g}, {self.high:g}]"
            else:
                bound = f"{'>=' if self.inclusive else '>'} {self.low:g}"
            raise ValueError(f"RetryPolicy {name} must be {kind} {bound}, got {value!r}")
        for other, relation, broken in (
            (self.at_least, ">=", lambda bound: value < bound),
            (self.at_most, "<=", lambda bound: value > bound),
        ):
            if other is not None and broken(getattr(policy, other)):
                raise ValueError(
                    f"RetryPolicy {name} ({value!r}) must be {relation} {other} "
                    f"({getattr(policy, other)!r})"
                )


_POSITIVE = _Rule(0.0, inclusive=False)
_SHARE = _Rule(0.0, inclusive=False, high=1.0)
_RULES: dict[str, _Rule] = {
    "max_retries": _Rule(0, integer=True),
    "backoff_base": _POSITIVE,
    "backoff_max": _Rule(0.0, inclusive=False, at_least="backoff_base"),
    "retry_after_max": _Rule(0.0),
    "rate_limit_patience": _POSITIVE,
    "rate_limit_retry_factor": _Rule(0, integer=True),
    "rate_limit_backoff_base": _POSITIVE,
    "rate_limit_backoff_max": _Rule(0.0, inclusive=False, at_least="rate_limit_backoff_base"),
    "congestion_answers": _Rule(1, integer=True),
    "congestion_share": _SHARE,
    "rate_decrease_factor": _SHARE,
    "rate_decrease_floor": _Rule(0.0, inclusive=False, high=1.0, at_most="rate_decrease_factor"),
    "rate_increase_per_second": _Rule(0.0),
    "rate_increase_min": _Rule(0.0),
    "rate_min": _POSITIVE,
    "rate_window": _POSITIVE,
    "rate_min_span": _Rule(0.0, inclusive=False, at_most="rate_window"),
}
