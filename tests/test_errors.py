"""The error tree: every error pickles with its data, and messages say what happened."""

import pickle

import pandas as pd
import pytest

import coreclaw_frames as ccf
from coreclaw_frames import _errors as errors
from coreclaw_frames._records import records_to_frame
from coreclaw_frames._results_store import ResultsSyncSummary


def failed_frame():
    return records_to_frame(
        [
            {"slug": "01KSFDS8XWTJME33C08XMCR6B9", "fetch_error": "HTTP 503 after 6 attempts"},
            {"slug": "01KSFDS8XWTJME33C08XMCR6B8", "fetch_error": "11004 not found"},
        ]
    )


EXAMPLES = [
    errors.CoreClawError("plain", code=7),
    errors.TransportError("timeout"),
    errors.ConnectionFailedError("cannot connect to 127.0.0.1:9: connection refused"),
    errors.AnswerTooLargeError("answer larger than 64 MiB refused"),
    errors.APIError("bad", code=11000, http_status=422, request_id="req-1"),
    errors.AuthenticationError("invalid token", code=12002, http_status=401, request_id="r"),
    errors.RateLimitError("slow down", code=13000, http_status=429, retry_after=3.5),
    errors.ServerError("HTTP 503", http_status=503),
    errors.NotFoundError("not found", code=11004, http_status=404, request_id="req-9"),
    errors.InvalidRequestError("nope", code=4000),
    errors.RetriesExhaustedError(errors.ServerError("HTTP 503", http_status=503), 6),
    errors.BatchFetchError(failed_frame()),
    errors.ExportUnavailableError("storage host answered HTTP 403 (the link expired)"),
    errors.ResultsSyncError(
        ResultsSyncSummary("rows", runs_added=3, runs_failed=1, failures={"01K": "HTTP 503"})
    ),
    errors.ParquetFormatError("not ours"),
    errors.CancelledError("interrupted"),
]


@pytest.mark.parametrize("error", EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_error_pickles_with_its_data(error):
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    for name, value in vars(error).items():
        other = vars(again)[name]
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(other, value)
        elif isinstance(value, BaseException):
            assert type(other) is type(value) and str(other) == str(value)
        else:
            assert other == value, name


def test_every_public_error_is_in_the_examples():
    public = {
        getattr(ccf, name)
        for name in ccf.__all__
        if isinstance(getattr(ccf, name), type)
        and issubclass(getattr(ccf, name), ccf.CoreClawError)
    }
    assert public <= {type(e) for e in EXAMPLES}


def test_only_transient_errors_are_retried():
    transient = {type(e).__name__ for e in EXAMPLES if e.transient}
    assert transient == {"TransportError", "RateLimitError", "ServerError"}


def test_batch_error_says_how_many_failed_and_quotes_reasons():
    exc = errors.BatchFetchError(failed_frame())
    assert str(exc).startswith("2 of 2 runs failed (01KSFDS8XWTJME33C08XMCR6B9: HTTP 503")
    assert len(exc.errors) == 2


def test_results_sync_error_names_the_failed_runs_and_carries_the_summary():
    summary = ResultsSyncSummary(
        "rows", runs_added=9, runs_failed=4, failures={f"run{i}": "HTTP 503" for i in range(4)}
    )
    exc = errors.ResultsSyncError(summary)
    assert str(exc).startswith("4 runs' results failed (run0: HTTP 503; run1: HTTP 503; run2")
    assert "; and 1 more)" in str(exc)
    assert exc.summary is summary and exc.failures == summary.failures


def test_api_error_reason_carries_code_and_request_id():
    error = errors.NotFoundError("not found", code=11004, http_status=404, request_id="req-9")
    assert str(error) == error.reason == "11004 not found (request_id req-9)"
    assert errors.describe(error) == error.reason
