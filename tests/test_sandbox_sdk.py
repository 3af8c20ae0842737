"""The official CoreClaw SDK works unchanged against the sandbox (its base URL, header, paths)."""

import pytest

coreclaw = pytest.importorskip("coreclaw")
CoreClawAPIError, CoreClawClient = coreclaw.CoreClawAPIError, coreclaw.CoreClawClient

UNKNOWN_SLUG = "01KSFDS8XWTJME33C08XMCR6B9"


@pytest.fixture
def client(sandbox):
    with CoreClawClient(api_key=sandbox.api_key, base_url=sandbox.url, timeout=10) as sdk:
        yield sdk


def test_sdk_run_detail(sandbox, client):
    record = sandbox.account.runs[42]
    assert client.post("run/detail", {"run_slug": record["slug"]}) == record


def test_sdk_run_list(sandbox, client):
    data = client.post("run/list", {"page_index": 2, "page_size": 7, "status": 3})
    succeeded = [r for r in sandbox.account.runs if r["status"] == 3]
    assert data == {"count": len(succeeded), "list": succeeded[7:14]}


def test_sdk_list_results(sandbox, client):
    record = next(r for r in sandbox.account.runs if r["results"] > 25)
    first = client.run(record["slug"]).list_results(limit=10, offset=0)
    third = client.run(record["slug"]).list_results(limit=10, offset=20)
    assert first["count"] == record["results"]
    assert len(first["list"]) == 10
    assert (third["page_index"], third["page_size"]) == (3, 10)
    assert third["list"] == sandbox.account.results(record["slug"], 3, 10)[2]


def test_sdk_account_info(sandbox, client):
    assert client.post("account/info", {})["balance"] == sandbox.account.balance


def test_sdk_unknown_run_raises_70001(client):
    with pytest.raises(CoreClawAPIError) as caught:
        client.post("run/detail", {"run_slug": UNKNOWN_SLUG})
    assert caught.value.code == 70001
    assert caught.value.message == "Run record does not exist"
    with pytest.raises(CoreClawAPIError) as caught:
        client.run(UNKNOWN_SLUG).list_results(limit=10, offset=0)
    assert caught.value.code == 70001


def test_sdk_wrong_key_raises_20001(sandbox):
    with (
        CoreClawClient(api_key="wrong", base_url=sandbox.url + "/", timeout=10) as sdk,
        pytest.raises(CoreClawAPIError) as caught,
    ):
        sdk.post("account/info", {})
    assert caught.value.code == 20001
