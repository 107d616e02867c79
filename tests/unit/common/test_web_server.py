"""The web server every service shares: Nagle off on its connections, chunked bodies limited, the router's errors in shape.

A real nameko container serves a small service on a free port; it has only
HTTP entrypoints, so no broker or storage is needed.
"""
import socket

import pytest
import requests
from nameko.containers import ServiceContainer
from werkzeug.wrappers import Response

from services.common.http import MAX_BODY_BYTES, ApiHandler, HeaderedWebServer, api, json_response, read_json
from tests.support.platform import free_port


class FailingAnswers(ApiHandler):
    """An entrypoint whose own error answer fails too, as a broken error template would."""

    def response_from_exception(self, exc):
        raise RuntimeError("the error answer failed")


class FailingPages(FailingAnswers):
    renders_pages = True


class EchoService:
    name = "echo"

    @api("POST", "/api/v1/echo")
    def echo(self, request):
        return json_response({"got": read_json(request)})

    @api("GET", "/page")
    def page(self, request):
        return Response("x" * 50_000)


class BrokenService:
    name = "broken"

    @FailingAnswers.decorator("GET", "/api/v1/broken")
    def broken_api(self, request):
        raise RuntimeError("a bug")

    @FailingPages.decorator("GET", "/broken")
    def broken_page(self, request):
        raise RuntimeError("a bug")


def serve(service_class, **settings):
    port = free_port()
    container = ServiceContainer(service_class, {"WEB_SERVER_ADDRESS": f"127.0.0.1:{port}", **settings})
    container.start()
    web = next(ext for ext in container.extensions if isinstance(ext, HeaderedWebServer))
    web.url = f"http://127.0.0.1:{port}"
    return container, web


@pytest.fixture
def server():
    container, web = serve(EchoService)
    yield web
    container.stop()


@pytest.fixture
def broken_server():
    container, web = serve(BrokenService)
    yield web
    container.stop()


def test_an_accepted_connection_has_tcp_nodelay_set(server):
    accepted = []
    serve_request = server.process_request

    def note_nodelay(sock, address):  # the server's own accepted socket, read before it serves
        accepted.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return serve_request(sock, address)

    server.process_request = note_nodelay
    assert server._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    assert requests.get(f"{server.url}/page", timeout=10).status_code == 200
    assert accepted and all(accepted), accepted


def chunks(total: int, size: int = 64 * 1024):
    """A body of ``total`` bytes sent without Content-Length (requests sends a generator chunked)."""
    yield b'{"pad": "'
    left = total - len(b'{"pad": "') - len(b'"}')
    while left > 0:
        piece = min(size, left)
        yield b"a" * piece
        left -= piece
    yield b'"}'


class KeptPages:
    """Answers held in memory, as the gateway's read cache holds its pages."""

    def __init__(self, pages):
        self.pages = pages

    def answer(self, environ):
        body = self.pages.get(environ["PATH_INFO"])
        if body == "broken":
            raise RuntimeError("a fault while reading a kept answer")
        return body and ("200 OK", [("Content-Length", str(len(body)))], body)


def test_a_kept_answer_is_sent_without_a_worker_and_a_fault_reading_it_falls_back_to_the_entrypoint(server):
    server.keep_answers_with(KeptPages({"/page": b"kept", "/api/v1/broken": "broken"}))
    assert requests.get(f"{server.url}/page", timeout=10).text == "kept"
    assert requests.post(f"{server.url}/api/v1/echo", json={"a": 1}, timeout=10).json() == {"got": {"a": 1}}
    assert requests.get(f"{server.url}/api/v1/broken", timeout=10).status_code == 404  # the router answered


@pytest.mark.parametrize("setting, logged", [(None, False), ("false", False), ("true", True), (True, True)])
def test_access_log_writes_one_line_per_request_only_when_asked(setting, logged, caplog):
    container, web = serve(EchoService, **({} if setting is None else {"ACCESS_LOG": setting}))
    try:
        with caplog.at_level("INFO", logger="nameko.web.server"):
            assert requests.get(f"{web.url}/page", timeout=10).status_code == 200
        lines = [r.getMessage() for r in caplog.records if r.name == "nameko.web.server" and "GET /page" in r.getMessage()]
        assert len(lines) == (1 if logged else 0), lines
    finally:
        container.stop()


def test_a_chunked_body_is_read_like_any_other(server):
    answer = requests.post(f"{server.url}/api/v1/echo", data=chunks(10_000),
                           headers={"Content-Type": "application/json"}, timeout=10)
    assert answer.request.headers.get("Transfer-Encoding") == "chunked"
    assert answer.status_code == 200 and len(answer.json()["got"]["pad"]) == 10_000 - 11


def test_a_chunked_body_over_the_limit_is_a_413(server):
    answer = requests.post(f"{server.url}/api/v1/echo", data=chunks(MAX_BODY_BYTES + 100_000),
                           headers={"Content-Type": "application/json"}, timeout=30)
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "payload_too_large"


def test_a_malformed_chunked_body_is_a_400(server):
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=10) as conn:
        conn.sendall(b"POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
        status_line = conn.makefile("rb").readline()
    assert status_line.split()[1] == b"400", status_line


def test_the_routers_404_and_405_answer_the_json_error_shape(server):
    missing = requests.get(f"{server.url}/api/v1/nothing-here", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert "/api/v1/nothing-here" in missing.json()["error"]["message"]
    wrong = requests.delete(f"{server.url}/api/v1/echo", timeout=10)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"
    assert wrong.json()["error"] == {"code": "method_not_allowed", "message": wrong.json()["error"]["message"],
                                     "fields": {"method": ["must be one of POST"]}}
    assert missing.headers["X-Content-Type-Options"] == "nosniff" == wrong.headers["X-Content-Type-Options"]


def test_a_server_without_pages_answers_json_outside_the_api_too(server):
    missing = requests.get(f"{server.url}/no-such-page", timeout=10)
    assert missing.status_code == 404 and missing.headers["Content-Type"].startswith("application/json")


def test_when_an_error_answer_fails_too_the_api_still_answers_json_and_people_a_styled_page(broken_server):
    api_answer = requests.get(f"{broken_server.url}/api/v1/broken", timeout=10)
    assert api_answer.status_code == 500 and api_answer.json()["error"]["code"] == "internal"
    for path in ("/broken", "/no-such-page"):  # the second is the router's 404, whose page fails the same way
        page_answer = requests.get(f"{broken_server.url}{path}", timeout=10)
        assert page_answer.status_code == 500 and page_answer.headers["Content-Type"].startswith("text/html"), path
        assert "/static/engage.css" in page_answer.text and page_answer.headers["X-Frame-Options"] == "DENY"
