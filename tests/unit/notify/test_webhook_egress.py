"""Webhook egress is safe by construction: only public addresses, resolved once, connected to as checked."""
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from services.common.rules import RuleBroken
from services.notify import domain
from services.notify.webhook_delivery import post

PUBLIC_V4 = "93.184.216.34"


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1",       # loopback and private IPv4
    "100.64.0.1", "100.127.255.254",                             # carrier-grade NAT (shared address space)
    "169.254.169.254",                                           # link-local: cloud metadata
    "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255",      # unspecified, multicast, reserved, broadcast
    "192.0.2.1", "198.18.0.1",                                   # documentation and benchmarking ranges
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "ff0e::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1",                       # IPv4-mapped
    "2002:7f00:1::1", "2002:a00:1::1", "2002:c0a8:101::1",       # 6to4 embedding loopback and private IPv4
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",                     # NAT64 embedding loopback and metadata
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",                      # Teredo
    "2001:db8::1",                                               # documentation
])
def test_a_webhook_to_a_non_public_address_is_refused(address):
    assert domain.address_refusal(address) is not None
    with pytest.raises(RuleBroken):
        domain.webhook_addresses("https://hooks.example.org/in", lambda host: [address], allow_private=False)


@pytest.mark.parametrize("address", [PUBLIC_V4, "2606:4700:4700::1111", "::ffff:93.184.216.34",
                                     "2002:5db8:d822::1", "64:ff9b::5db8:d822"])
def test_a_webhook_to_a_public_address_is_allowed(address):
    assert domain.address_refusal(address) is None


def test_a_host_with_one_private_address_among_public_ones_is_refused():
    with pytest.raises(RuleBroken):
        domain.webhook_addresses("https://hooks.example.org/in", lambda host: [PUBLIC_V4, "10.0.0.1"], False)


def test_a_member_may_hold_only_the_set_number_of_webhooks():
    domain.check_webhook_count(9, 10)
    with pytest.raises(RuleBroken):
        domain.check_webhook_count(10, 10)


class Receiver(BaseHTTPRequestHandler):
    hits: list = []

    def do_POST(self):
        Receiver.hits.append((self.headers["Host"], self.path))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def private_receiver():
    Receiver.hits = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_a_name_that_answers_public_then_private_is_never_connected_to_privately(private_receiver, monkeypatch):
    """DNS rebinding: the check and the connection use one lookup, so the second answer is never used."""
    answers = iter([[PUBLIC_V4], ["127.0.0.1"], ["127.0.0.1"]])
    lookups = []

    def rebinding(host):
        lookups.append(host)
        return next(answers)

    connected = []

    def recording(address, *args, **kwargs):
        connected.append(address[0])
        raise OSError("the test network reaches nothing")

    monkeypatch.setattr(socket, "create_connection", recording)
    monkeypatch.setattr("urllib3.util.connection.create_connection", recording)
    url = f"http://rebind.example.org:{private_receiver}/hook"
    address = domain.webhook_addresses(url, rebinding, allow_private=False)[0]
    code, error, _ = post(url, address, "{}", {}, timeout=2)
    assert lookups == ["rebind.example.org"]
    assert connected == [PUBLIC_V4] and Receiver.hits == []
    assert code is None and error == "could not connect"


def test_a_delivery_goes_to_the_checked_address_with_the_url_host_as_host_header(private_receiver):
    url = f"http://hooks.example.org:{private_receiver}/in?x=1"
    address = domain.webhook_addresses(url, lambda host: ["127.0.0.1"], allow_private=True)[0]
    code, error, _ = post(url, address, "{}", {"Content-Type": "application/json"}, timeout=5)
    assert (code, error) == (204, None)
    assert Receiver.hits == [(f"hooks.example.org:{private_receiver}", "/in?x=1")]


def test_a_refused_connection_is_logged_without_naming_the_port(monkeypatch):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    code, error, _ = post(f"http://hooks.example.org:{port}/in", "127.0.0.1", "{}", {}, timeout=2)
    assert code is None and error == "could not connect" and str(port) not in error
