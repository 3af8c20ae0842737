"""RetryPolicy: frozen, validated when made (naming the bad value), shown briefly."""

import dataclasses
import math

import pytest

import coreclaw_frames as ccf
from coreclaw_frames.api._policy import RetryPolicy


def test_the_policy_is_public_frozen_and_replaceable():
    assert ccf.RetryPolicy is RetryPolicy
    policy = RetryPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_retries = 9  # type: ignore[misc]
    assert dataclasses.replace(policy, max_retries=9).max_retries == 9
    assert policy.max_retries == 5


def test_the_repr_shows_max_retries_and_what_differs_from_the_defaults():
    assert repr(RetryPolicy()) == "RetryPolicy(max_retries=5)"
    policy = RetryPolicy(max_retries=2, backoff_max=3, congestion_share=0.5)
    assert repr(policy) == "RetryPolicy(max_retries=2, backoff_max=3.0, congestion_share=0.5)"
    assert eval(repr(policy)) == policy


def test_numbers_become_floats_and_integers_stay_integers():
    policy = RetryPolicy(backoff_base=1, rate_limit_retry_factor=2)
    assert type(policy.backoff_base) is float and type(policy.rate_limit_retry_factor) is int


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"max_retries": -1}, ValueError, "max_retries must be an integer >= 0, got -1"),
        ({"max_retries": 2.0}, TypeError, "max_retries must be an integer, got 2.0"),
        ({"max_retries": True}, TypeError, "max_retries must be an integer, got True"),
        ({"backoff_base": 0}, ValueError, "backoff_base must be a finite number > 0, got 0"),
        ({"backoff_base": "1"}, TypeError, "backoff_base must be a number, got '1'"),
        ({"backoff_max": math.inf}, ValueError, "backoff_max must be a finite number > 0"),
        ({"backoff_max": 0.1}, ValueError, r"backoff_max \(0.1\) must be >= backoff_base \(0.25\)"),
        ({"retry_after_max": -1}, ValueError, "retry_after_max must be a finite number >= 0"),
        ({"rate_limit_patience": math.nan}, ValueError, "rate_limit_patience must be a finite"),
        ({"rate_limit_retry_factor": -2}, ValueError, "rate_limit_retry_factor must be an int"),
        (
            {"rate_limit_backoff_base": 3},
            ValueError,
            r"rate_limit_backoff_max \(2.0\) must be >= rate_limit_backoff_base \(3.0\)",
        ),
        ({"congestion_answers": 0}, ValueError, "congestion_answers must be an integer >= 1"),
        ({"congestion_share": 1.5}, ValueError, r"congestion_share must be .* in \(0, 1\]"),
        ({"rate_decrease_factor": 0}, ValueError, r"rate_decrease_factor must be .* in \(0, 1\]"),
        (
            {"rate_decrease_floor": 0.9},
            ValueError,
            r"rate_decrease_floor \(0.9\) must be <= rate_decrease_factor \(0.8\)",
        ),
        ({"rate_increase_min": -1}, ValueError, "rate_increase_min must be a finite number >= 0"),
        ({"rate_min": 0}, ValueError, "rate_min must be a finite number > 0"),
        ({"rate_min_span": 2}, ValueError, r"rate_min_span \(2\) must be <= rate_window \(1.0\)"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(settings, error, message):
    with pytest.raises(error, match=f"^RetryPolicy {message}"):
        RetryPolicy(**settings)


def test_every_setting_has_a_rule():
    # A setting added without a rule would go unchecked.
    from coreclaw_frames.api._policy import _RULES

    assert list(_RULES) == [field.name for field in dataclasses.fields(RetryPolicy)]
