"""The web server every service shares: Nagle off on its connections.

A real nameko container serves a small service on a free port; it has only
HTTP entrypoints, so no broker or storage is needed.
"""
import socket

import pytest
import requests
from nameko.containers import ServiceContainer
from werkzeug.wrappers import Response

from services.common.http import HeaderedWebServer, api
from tests.support.platform import free_port


class EchoService:
    name = "echo"

    @api("GET", "/page")
    def page(self, request):
        return Response("x" * 50_000)


def serve(service_class):
    port = free_port()
    container = ServiceContainer(service_class, {"WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"})
    container.start()
    web = next(ext for ext in container.extensions if isinstance(ext, HeaderedWebServer))
    web.url = f"http://127.0.0.1:{port}"
    return container, web


@pytest.fixture
def server():
    container, web = serve(EchoService)
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
