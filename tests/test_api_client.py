"""Client configuration (no network)."""

import pytest

import coreclaw_frames as ccf
from coreclaw_frames.api import HTTPTransport, RetryPolicy
from coreclaw_frames.api import _settings as settings
from coreclaw_frames.api._dialect import Request
from coreclaw_frames.api._v2 import V2Dialect

KEY = "secret-key-do-not-print-9f8e7d"


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
        client.run_detail("01KSFDS8XWTJME33C08XMCR6B9")


def test_proxy_settings_from_the_environment_are_kept(monkeypatch):
    url = "https://api.example.com/api/v2/users/account"
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "")
    with HTTPTransport() as transport:
        assert transport._settings_for(url)["proxies"].get("https") == "http://proxy.example:3128"
    monkeypatch.setenv("NO_PROXY", "api.example.com")
    with HTTPTransport() as transport:
        assert "https" not in transport._settings_for(url)["proxies"]


def test_the_default_transport_is_http_with_a_connection_per_worker():
    with ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1", max_workers=3) as client:
        assert isinstance(client.transport, HTTPTransport) and client.transport.pool_size == 3


# --- the retry policy ---------------------------------------------------------------------------


def test_max_retries_sets_the_policys_and_the_repr_shows_the_policy():
    with ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1") as client:
        assert client.retry == RetryPolicy() and client.max_retries == 5
        assert "retry=RetryPolicy(max_retries=5)" in repr(client)
    with ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1", max_retries=2) as client:
        assert client.retry == RetryPolicy(max_retries=2) and client.max_retries == 2
    policy = RetryPolicy(max_retries=1, backoff_base=2)
    with ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1", retry=policy) as client:
        assert client.retry is policy and client.max_retries == 1
        assert "retry=RetryPolicy(max_retries=1, backoff_base=2.0)" in repr(client)
    agreeing = ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1", retry=policy, max_retries=1)
    assert agreeing.retry is policy
    agreeing.close()


def test_max_retries_and_a_policy_that_disagree_are_refused():
    with pytest.raises(
        ValueError, match=r"max_retries=3 disagrees with retry=RetryPolicy\(max_retries=1\)"
    ):
        ccf.Client(api_key=KEY, retry=RetryPolicy(max_retries=1), max_retries=3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"retry": 3}, TypeError, "retry must be a coreclaw_frames.RetryPolicy, got int"),
        ({"retry": {"max_retries": 3}}, TypeError, "retry must be a .*RetryPolicy, got dict"),
        ({"max_retries": 2.5}, TypeError, "max_retries must be an integer, got 2.5"),
    ],
)
def test_bad_retry_settings_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        ccf.Client(api_key=KEY, **kwargs)


def test_api_version_defaults_to_v2_and_reads_the_environment(monkeypatch):
    monkeypatch.delenv("CORECLAW_API_VERSION", raising=False)
    with ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1") as client:
        assert client.api_version == "v2" and "api_version='v2'" in repr(client)
    monkeypatch.setenv("CORECLAW_API_VERSION", "v1")
    with ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1") as client:
        assert client.api_version == "v1"
    with ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1", api_version="v2") as client:
        assert client.api_version == "v2"  # the argument wins


@pytest.mark.parametrize("version", ["v3", "V2", "2", 2, "", ["v2"]])
def test_unknown_api_versions_are_refused(version):
    with pytest.raises(ValueError, match=r"api_version must be 'v2' or 'v1'"):
        ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1", api_version=version)


def test_unknown_api_version_from_the_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv("CORECLAW_API_VERSION", "v9")
    with pytest.raises(ValueError, match=r"\$CORECLAW_API_VERSION must be 'v2' or 'v1', got 'v9'"):
        ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1")


def test_a_key_read_from_a_file_keeps_working(sandbox):
    with ccf.Client(api_key=f"  {sandbox.api_key}\n", base_url=sandbox.url) as client:
        assert ccf.account_info(client=client).balance is not None


@pytest.mark.parametrize("middle", ["\x00", "\n", "\t", "é", "\x7f"])
def test_a_key_with_control_or_non_ascii_characters_is_refused_unquoted(middle):
    with pytest.raises(ValueError, match="control or non-ASCII") as info:
        ccf.Client(api_key=f"zq9w{middle}x7v", base_url="http://127.0.0.1:1")
    assert "zq9w" not in str(info.value) and "x7v" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None


@pytest.mark.parametrize("key", ["", "   ", "\n"])
def test_an_empty_key_is_refused(key):
    with pytest.raises(ValueError, match="api_key is empty"):
        ccf.Client(api_key=key, base_url="http://127.0.0.1:1")


def test_a_key_that_is_not_a_string_is_refused():
    with pytest.raises(TypeError, match="api_key must be a string"):
        ccf.Client(api_key=b"bytes-key", base_url="http://127.0.0.1:1")


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2@api.example.com",
        "https://user@api.example.com",
        "http://:hunter2@127.0.0.1:8",
    ],
)
def test_credentials_in_the_base_url_are_refused_without_showing_them(url):
    with pytest.raises(ValueError, match="user name or password") as info:
        ccf.Client(api_key=KEY, base_url=url)
    assert "hunter2" not in str(info.value) and "user" not in str(info.value).split("got")[1]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:abc", "http://127.0.0.1:99999", "http://127.0.0.1:0", "https://h:-1"]
)
def test_bad_ports_are_refused_when_the_client_is_built(url):
    with pytest.raises(ValueError, match="base_url"):
        ccf.Client(api_key=KEY, base_url=url)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("timeout", float("inf")),
        ("timeout", float("nan")),
        ("timeout", -1),
        ("rate_limit", float("inf")),
        ("rate_limit", -5),
    ],
)
def test_numbers_must_be_finite_and_positive(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a finite number > 0"):
        ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1", **{name: value})


class V3Dialect(V2Dialect):
    """A made-up next version: v2 with runs at another path."""

    version = "v3"

    def run_detail(self, slug):
        return Request("GET", f"/api/v3/runs/{slug}", "run detail")


def test_a_third_wire_version_is_one_dialect_and_one_table_entry(monkeypatch, mock_client):
    monkeypatch.setitem(settings.DIALECTS, "v3", V3Dialect())
    with pytest.raises(ValueError, match=r"api_version must be 'v3', 'v2' or 'v1', got 'v4'"):
        ccf.Client(api_key=KEY, api_version="v4")
    slug = "01KSFDS8XWTJME33C08XMCR6B9"

    def handler(request):
        assert request.path == f"/api/v3/runs/{slug}"
        record = {"slug": slug, "status": "failed", "scraper_slug": slug, "usage": "1"}
        return 200, {}, {"code": 0, "data": {**record, "started_at": 0, "finished_at": 0}}

    client = mock_client(handler, api_version="v3")
    assert list(ccf.fetch_runs([slug], client=client, progress=False)["status"]) == ["failed"]
