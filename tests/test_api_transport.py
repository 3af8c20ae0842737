"""The transport seam: requests and answers, and the in-memory MockTransport (no network)."""

import json

import pytest

import coreclaw_frames as ccf
from coreclaw_frames.api import BaseTransport, HTTPAnswer, HTTPRequest, MockTransport
from coreclaw_frames.api._transport import Headers

SLUG = "01KSFDS8XWTJME33C08XMCR6B9"
REQUEST = HTTPRequest("GET", "https://api.example.com/api/v2/users/account", timeout=3.0)


def test_headers_are_read_without_regard_to_case():
    headers = Headers({"Retry-After": "3", "content-type": "application/json"})
    assert headers["retry-after"] == headers["RETRY-AFTER"] == "3"
    assert "Content-Type" in headers and 7 not in headers
    assert sorted(headers) == ["Retry-After", "content-type"] and len(headers) == 2
    with pytest.raises(KeyError):
        headers["Date"]


def test_an_answer_takes_any_mapping_of_headers_and_checks_its_types():
    answer = HTTPAnswer(429, {"retry-after": "2"}, b"")
    assert answer.headers.get("Retry-After") == "2"
    with pytest.raises(TypeError, match="status must be an integer"):
        HTTPAnswer("200", {}, b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="body must be bytes, got str"):
        HTTPAnswer(200, {}, "{}")  # type: ignore[arg-type]


def test_a_request_never_shows_its_headers():
    request = HTTPRequest("GET", "https://h/api/v2/x", headers={"Authorization": "Bearer sk-1"})
    assert "sk-1" not in repr(request) and "sk-1" not in str(request)
    assert request.path == "/api/v2/x"


@pytest.mark.parametrize(
    ("body", "sent"),
    [
        (b"\x00raw", b"\x00raw"),
        ("caf\u00e9", "caf\u00e9".encode()),
        ({"code": 0, "data": [1]}, json.dumps({"code": 0, "data": [1]}).encode()),
        ([1, 2], b"[1, 2]"),
    ],
)
def test_a_handlers_body_may_be_bytes_text_or_json(body, sent):
    answer = MockTransport(lambda request: (201, {"X-A": "b"}, body)).send(REQUEST)
    assert (answer.status, answer.headers["x-a"], answer.body) == (201, "b", sent)


def test_a_handler_may_return_an_answer_and_sees_the_request():
    seen = []

    def handler(request):
        seen.append(request)
        return HTTPAnswer(204, {}, b"")

    assert MockTransport(handler).send(REQUEST).status == 204
    assert seen == [REQUEST]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (None, "handler must return an HTTPAnswer or \\(status, headers, body\\), got NoneType"),
        ((200, {}), "got tuple"),
        ((200, {}, 3.5), "body must be bytes, str, dict or list, got float"),
    ],
)
def test_a_handler_returning_something_else_is_told_what_is_expected(result, message):
    with pytest.raises(TypeError, match=message):
        MockTransport(lambda request: result).send(REQUEST)


def test_a_handler_must_be_callable():
    with pytest.raises(TypeError, match="handler must be a function of a request"):
        MockTransport({"code": 0})  # type: ignore[arg-type]


def test_a_transport_must_implement_send_and_closes_as_a_context_manager():
    with pytest.raises(TypeError):
        BaseTransport()  # type: ignore[abstract]
    closed = []

    class Closing(MockTransport):
        def close(self):
            closed.append(True)

    with Closing(lambda request: (200, {}, b"")) as transport:
        assert isinstance(transport, BaseTransport)
    assert closed == [True]


def test_the_client_takes_only_a_transport():
    with pytest.raises(TypeError, match=r"transport must be a coreclaw_frames\.api\.BaseTransport"):
        ccf.Client(api_key="k", transport=lambda request: (200, {}, b""))


def test_a_mock_client_fetches_frames_like_any_other(mock_client):
    def handler(request):
        slug = request.path.rsplit("/", 1)[1]
        record = {"slug": slug, "status": "succeeded", "scraper_slug": SLUG, "usage": "0.5"}
        return 200, {}, {"code": 0, "data": {**record, "started_at": 0, "finished_at": 0}}

    client = mock_client(handler)
    df = ccf.fetch_runs([SLUG], client=client, progress=False)
    assert df.loc[0, "slug"] == SLUG and str(df.loc[0, "usage"]) == "0.5000000000"
    assert "transport=MockTransport(" in repr(client)
