"""Client configuration (no network)."""

import pytest

import coreclaw_frames as ccf

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
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "")
    with ccf.Client(api_key=KEY, base_url="https://api.example.com") as client:
        assert client._transport._session.proxies.get("https") == "http://proxy.example:3128"
    monkeypatch.setenv("NO_PROXY", "api.example.com")
    with ccf.Client(api_key=KEY, base_url="https://api.example.com") as client:
        assert "https" not in client._transport._session.proxies


def test_api_version_defaults_to_v2_and_reads_the_environment(monkeypatch):
    monkeypatch.delenv("CORECLAW_API_VERSION", raising=False)
    with ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1") as client:
        assert client.api_version == "v2" and "api_version='v2'" in repr(client)
    monkeypatch.setenv("CORECLAW_API_VERSION", "v1")
    with ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1") as client:
        assert client.api_version == "v1"
    with ccf.Client(api_key=KEY, base_url="http://127.0.0.1:1", api_version="v2") as client:
        assert client.api_version == "v2"  # the argument wins


@pytest.mark.parametrize("version", ["v3", "V2", "2", 2, ""])
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
