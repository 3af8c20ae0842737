"""Client configuration and envelope unwrapping (no network)."""

import pytest

import coreclaw_frames as ccf
from coreclaw_frames.client import parse_retry_after, unwrap
from coreclaw_frames.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)

KEY = "secret-key-do-not-print-9f8e7d"


def test_unwrap_success_returns_data():
    assert unwrap(200, {}, b'{"code": 0, "message": "success", "data": [1, 2]}') == [1, 2]


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (
            200,
            b'{"code": 4000, "message": "Invalid request parameters", "data": null}',
            InvalidRequestError,
            4000,
        ),
        (
            200,
            b'{"code": 70001, "message": "Run record does not exist", "data": null}',
            NotFoundError,
            70001,
        ),
        (
            200,
            b'{"code": 20001, "message": "API key invalid", "data": null}',
            AuthenticationError,
            20001,
        ),
        (
            200,
            b'{"code": 4290, "message": "Rate limit exceeded", "data": null}',
            RateLimitError,
            4290,
        ),
        (
            200,
            b'{"code": 5000, "message": "Internal server error", "data": null}',
            ServerError,
            5000,
        ),
        (502, b"<html><body>Bad Gateway</body></html>", ServerError, None),
        (401, b"", AuthenticationError, None),
        (403, b"", AuthenticationError, None),
        (429, b"", RateLimitError, None),
        (404, b"", NotFoundError, None),
    ],
)
def test_unwrap_maps_errors(status, body, error, code):
    with pytest.raises(error) as info:
        unwrap(status, {}, body)
    assert info.value.code == code


@pytest.mark.parametrize(
    "body",
    [
        b'{"code": 0, "message": "succ',
        b"<html>oops</html>",
        b"[1, 2]",
        b'{"message": "x"}',
        b"\xff\xfe",
    ],
)
def test_unwrap_malformed_bodies_are_transport_errors(body):
    with pytest.raises(TransportError, match="malformed answer"):
        unwrap(200, {}, body)


def test_unwrap_refuses_redirects():
    with pytest.raises(InvalidRequestError, match=r"redirect to evil\.example:80 not followed"):
        unwrap(307, {"Location": "http://evil.example:80/api"}, b"")


def test_retry_after_from_headers():
    assert parse_retry_after({"Retry-After": "0"}) == 0.0
    assert parse_retry_after({"Retry-After": "12"}) == 12.0
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    with pytest.raises(RateLimitError) as info:
        unwrap(429, {"Retry-After": "4"}, b"")
    assert info.value.retry_after == 4.0


def test_key_falls_back_to_environment(monkeypatch):
    monkeypatch.setenv("CORECLAW_API_KEY", KEY)
    monkeypatch.setenv("CORECLAW_BASE_URL", "http://127.0.0.1:9")
    with ccf.Client() as client:
        assert client.base_url == "http://127.0.0.1:9"
        assert KEY not in repr(client) and KEY not in str(client)


def test_default_base_url_is_production(monkeypatch):
    monkeypatch.delenv("CORECLAW_BASE_URL", raising=False)
    with ccf.Client(api_key=KEY) as client:
        assert client.base_url == "https://openapi.coreclaw.com"


def test_missing_key_is_refused(monkeypatch):
    monkeypatch.delenv("CORECLAW_API_KEY", raising=False)
    with pytest.raises(ValueError, match="CORECLAW_API_KEY"):
        ccf.Client()


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com",
        "http://10.0.0.1:8080",
        "ftp://127.0.0.1",
        "127.0.0.1:80",
        "https://host/api/v1",
        "https://",
    ],
)
def test_bad_base_urls_are_refused(url):
    with pytest.raises(ValueError, match="base_url"):
        ccf.Client(api_key=KEY, base_url=url)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:1", "http://localhost:2", "http://[::1]:3", "https://api.example.com/"],
)
def test_loopback_http_and_any_https_are_allowed(url):
    with ccf.Client(api_key=KEY, base_url=url) as client:
        assert client.base_url == url.rstrip("/")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_workers": 0}, ValueError),
        ({"max_workers": 2.5}, TypeError),
        ({"max_retries": -1}, ValueError),
        ({"timeout": 0}, ValueError),
        ({"timeout": "30"}, TypeError),
        ({"rate_limit": 0}, ValueError),
        ({"rate_limit": float("nan")}, ValueError),
    ],
)
def test_bad_settings_name_the_setting(kwargs, error):
    (name,) = kwargs
    with pytest.raises(error, match=name):
        ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1", **kwargs)


def test_closed_client_refuses_requests():
    client = ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1")
    client.close()
    client.close()
    with pytest.raises(ccf.CoreClawError, match="closed"):
        client.request("run/detail", {})


def test_proxy_settings_from_the_environment_are_kept(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "")
    with ccf.Client(api_key=KEY, base_url="https://api.example.com") as client:
        assert client._session.proxies.get("https") == "http://proxy.example:3128"
    monkeypatch.setenv("NO_PROXY", "api.example.com")
    with ccf.Client(api_key=KEY, base_url="https://api.example.com") as client:
        assert "https" not in client._session.proxies
