"""The rules of a download from the storage host, as pure functions and through a client."""

import io
import socket
import threading

import pytest

import coreclaw_frames as ccf
from coreclaw_frames.api import MockTransport
from coreclaw_frames.api._download import check_download_answer, check_download_url
from coreclaw_frames.api._transport import HTTPAnswer

KEY = "secret-key-0123456789"
SLUG = "01KSFDS8XWTJME33C08XMCR6B9"


@pytest.mark.parametrize(
    ("url", "match"),
    [
        (None, "no download_url"),
        (17, "no download_url"),
        ("ftp://storage.example.com/f", "not http"),
        ("https:///no-host", "not http"),
        (f"https://storage.example.com/f?sig={KEY}", "carries the API key"),
        (f"https://{KEY}@storage.example.com/f", "carries the API key"),
        ("https://me:pw@storage.example.com/f", "user name or password"),
        ("https://storage.example.com/f?token=abc", r"credential parameter \(token\)"),
        ("https://storage.example.com/f?X=1&API_KEY=abc", r"credential parameter \(api_key\)"),
    ],
)
def test_links_not_to_follow_are_refused_without_quoting_the_key(url, match):
    with pytest.raises(ccf.ExportUnavailableError, match=match) as caught:
        check_download_url(url, KEY)
    assert KEY not in str(caught.value)


def test_a_presigned_link_is_followed():
    url = "https://storage.example.com/runs/r/results.jsonl?X-Amz-Signature=abc&X-Amz-Expires=60"
    assert check_download_url(url, KEY) == url


@pytest.mark.parametrize(
    ("status", "headers", "body", "error", "match"),
    [
        (503, {}, b"", ccf.ServerError, "HTTP 503"),
        (429, {}, b"", ccf.ServerError, "HTTP 429"),
        (302, {"Location": "http://third.example/x"}, b"", ccf.ExportUnavailableError, "third"),
        (403, {}, b"<Message>Request has expired</Message>", ccf.ExportUnavailableError, "expired"),
        (404, {}, b"", ccf.ExportUnavailableError, "HTTP 404"),
    ],
)
def test_answers_of_the_storage_host(status, headers, body, error, match):
    with pytest.raises(error, match=match) as caught:
        check_download_answer(HTTPAnswer(status, headers, body), "http://storage.example/f")
    assert caught.value.transient == (status in (429, 503))


def test_a_2xx_answer_is_accepted():
    check_download_answer(HTTPAnswer(200, {}, b""), "http://storage.example/f")


def hostile(download_url, file_body=b'{"a": 1}\n'):
    """A v2 server whose export answers ``download_url``; records what reached each host."""
    seen = []

    def handler(request):
        seen.append(request)
        if request.path.endswith("/result/export"):
            data = {"download_url": download_url}
            return 200, {}, {"code": 0, "message": "success", "data": data}
        if request.url.startswith("http://storage.example"):
            return 200, {}, file_body
        return 404, {}, {"code": 11004, "message": "not found"}

    return handler, seen


def test_the_download_request_carries_no_credential():
    handler, seen = hostile("http://storage.example/runs/x/results.jsonl")
    with ccf.Client(api_key=KEY, transport=MockTransport(handler)) as client:
        sink = io.BytesIO()
        size = client.download(client.export_url(SLUG), sink)
    assert size == len(b'{"a": 1}\n') == len(sink.getvalue())
    api, storage = seen
    assert api.headers == {"Authorization": f"Bearer {KEY}"}
    assert storage.headers == {} and storage.params == {}
    assert client.downloads_sent == 1 and client.requests_sent == 1


def test_an_export_answering_a_link_with_the_key_never_sends_the_key_there():
    handler, seen = hostile(f"http://storage.example/f?X-Sig={KEY}")
    with ccf.Client(api_key=KEY, transport=MockTransport(handler)) as client:
        url = client.export_url(SLUG)  # the key is scrubbed from every answer before it is read
        assert KEY not in url
        client.download(url, io.BytesIO())
    assert all(KEY not in request.url + repr(request.params) for request in seen[1:])
    assert seen[1].headers == {}


def test_a_download_starts_over_after_a_transient_failure():
    attempts = []

    def handler(request):
        attempts.append(request)
        if len(attempts) == 1:
            return 503, {}, b"SlowDown"
        return 200, {}, b'{"a": 1}\n'

    policy = ccf.RetryPolicy(backoff_base=0.001, backoff_max=0.002)
    with ccf.Client(api_key=KEY, transport=MockTransport(handler), retry=policy) as client:
        sink = io.BytesIO(b"left over from before")
        assert client.download("http://storage.example/f", sink) == 9
    assert sink.getvalue() == b'{"a": 1}\n'
    assert len(attempts) == 2


def test_a_download_cut_short_of_its_length_is_retried_over_http():
    """A real server that sends half the declared body once, then the whole of it."""
    body = b'{"a": 1}\n' * 1000
    served = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        for _ in range(2):
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                whole = not served
                served.append(whole)
                connection.sendall(head + (body[: len(body) // 2] if whole else body))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/f"
    policy = ccf.RetryPolicy(backoff_base=0.001, backoff_max=0.002)
    try:
        with ccf.Client(api_key=KEY, retry=policy) as client:
            sink = io.BytesIO()
            assert client.download(url, sink) == len(body)
    finally:
        thread.join(5)
        listener.close()
    assert sink.getvalue() == body
    assert served == [True, False]


def test_v1_cannot_export():
    with ccf.Client(api_key=KEY, api_version="v1", base_url="http://127.0.0.1:9") as client:
        assert client.can_export is False
        with pytest.raises(ccf.ExportUnavailableError, match="no results export"):
            client.export_url(SLUG)
