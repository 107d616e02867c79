"""No request can stop a service: every way a dependency provider can fail answers that one request.

A probe provider fails at each stage nameko runs it (``get_dependency``,
``worker_setup``, ``worker_result``, ``worker_teardown``) on request; then the
platform's own providers are fed what they can meet from outside: unknown API
keys, members not running, garbage and forged tokens, a token-key server that
does not answer, call-id headers of the wrong type, a non-numeric limit.
After each, the same container still answers.
"""
from __future__ import annotations

import time

import jwt
import pytest
import requests
from kombu import Connection, Exchange, Producer, Queue
from nameko.extensions import DependencyProvider
from nameko.standalone.rpc import ServiceRpcProxy

from services.common import service_base
from services.common.container import container_class
from services.common.errors import DomainError, Forbidden
from services.common.http import api, json_response
from services.common.rpc import ANYONE, MEMBER, rpc
from services.common.tokens import CONTEXT_KEY
from tests.support.platform import free_port, wait_for

STAGES = ("get_dependency", "worker_setup", "worker_result", "worker_teardown")


class FailOnRequest(DependencyProvider):
    """Raises at the stage named by the worker's first argument (an HTTP path value or an RPC argument)."""

    @staticmethod
    def _wanted(worker_ctx) -> str:
        args = worker_ctx.args
        if args and hasattr(args[0], "path_values"):
            return args[0].path_values.get("stage", "")
        return str(args[0]) if args else ""

    def _maybe_fail(self, worker_ctx, stage: str) -> None:
        wanted = self._wanted(worker_ctx)
        if wanted == stage:
            raise RuntimeError(f"the probe provider failed in {stage}")
        if wanted == f"{stage}-refused":
            raise Forbidden(f"the probe provider refused in {stage}")

    def get_dependency(self, worker_ctx):
        self._maybe_fail(worker_ctx, "get_dependency")
        return "ready"

    def worker_setup(self, worker_ctx):
        self._maybe_fail(worker_ctx, "worker_setup")

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        self._maybe_fail(worker_ctx, "worker_result")

    def worker_teardown(self, worker_ctx):
        self._maybe_fail(worker_ctx, "worker_teardown")


class FragileService(service_base.ServiceBase):
    name = "fragile"
    probe = FailOnRequest()

    @api("GET", "/stage/<stage>")
    def over_http(self, request, stage):
        return json_response({"provider": self.probe})

    @rpc(allow=ANYONE)
    def over_rpc(self, stage):
        return {"provider": self.probe}

    @rpc(allow=MEMBER)
    def who(self):
        principal = self.caller.required()
        return principal.member_id


@pytest.fixture
def fragile(vhost):
    port = free_port()
    config = {"AMQP_URI": vhost, "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}", "serializer": "json",
              "MEMBERS_JWKS_URL": f"http://127.0.0.1:{free_port()}/.well-known/jwks.json"}
    container = container_class(config)(FragileService, config)
    container.start()
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(f"{url}/health"), message="the fragile service")
    yield container, url, vhost
    container.kill()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _alive(container, url: str) -> None:
    assert not container._died.ready(), "the container died"
    assert requests.get(f"{url}/stage/none", timeout=5).json() == {"provider": "ready"}


@pytest.mark.parametrize("stage", STAGES)
def test_an_http_request_whose_provider_fails_gets_an_answer_and_the_service_stays_up(fragile, stage):
    container, url, _ = fragile
    response = requests.get(f"{url}/stage/{stage}", timeout=5)
    if stage in ("get_dependency", "worker_setup"):
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal"
    else:  # the method ran; a provider failing afterwards is logged, the answer stands
        assert response.status_code == 200
    _alive(container, url)


@pytest.mark.parametrize("stage", ("get_dependency", "worker_setup"))
def test_a_provider_refusing_while_preparing_a_worker_answers_with_its_own_status(fragile, stage):
    container, url, _ = fragile
    response = requests.get(f"{url}/stage/{stage}-refused", timeout=5)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == f"the probe provider refused in {stage}"
    _alive(container, url)


@pytest.mark.parametrize("stage", STAGES)
def test_an_rpc_call_whose_provider_fails_gets_an_answer_and_the_service_stays_up(fragile, stage):
    container, url, amqp_uri = fragile
    with ServiceRpcProxy("fragile", {"AMQP_URI": amqp_uri}, timeout=10) as proxy:
        if stage in ("get_dependency", "worker_setup"):
            with pytest.raises(Exception, match="the probe provider failed"):
                proxy.over_rpc(stage)
        else:
            assert proxy.over_rpc(stage) == {"provider": "ready"}
        assert proxy.over_rpc("none") == {"provider": "ready"}
    _alive(container, url)


def _forged_token(claims: dict, alg: str = "HS256", key: str = "not-the-members-key") -> str:
    payload = {"sub": "m1", "aud": "engage", "iss": "urn:engage:members", "exp": int(time.time()) + 60, **claims}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": "unknown"})


BROKEN_TOKENS = {
    "garbage": "not.a.token",
    "empty segments": "..",
    "alg none": jwt.encode({"sub": "m1", "aud": "engage"}, None, algorithm="none"),
    "hmac forged": _forged_token({}),
    "binary noise": "\u00ff\u00fe" * 40,
    "very long": "a" * 100_000,
}


@pytest.mark.parametrize("name", sorted(BROKEN_TOKENS))
def test_the_caller_provider_refuses_every_broken_token_without_stopping_the_service(fragile, name):
    container, url, amqp_uri = fragile
    with ServiceRpcProxy("fragile", {"AMQP_URI": amqp_uri}, timeout=10,
                         context_data={CONTEXT_KEY: BROKEN_TOKENS[name]}) as proxy:
        with pytest.raises(DomainError) as refused:
            proxy.who()
    assert refused.value.status in (401, 503)
    _alive(container, url)


def test_a_token_that_cannot_be_checked_because_the_key_server_is_down_is_a_503_not_a_401(fragile):
    """The JWKS address points at a closed port: an RS256 token with a key id cannot be checked, not refused."""
    container, url, amqp_uri = fragile
    from services.common.tokens import issue, new_signing_key

    token, _ = issue(new_signing_key(), {"sub": "m1"}, 60)
    with ServiceRpcProxy("fragile", {"AMQP_URI": amqp_uri}, timeout=10, context_data={CONTEXT_KEY: token}) as proxy:
        with pytest.raises(DomainError) as refused:
            proxy.who()
    assert refused.value.status == 503
    _alive(container, url)


@pytest.mark.parametrize("stack", [17, "not-a-list", {"a": 1}, [None, 3]])
def test_an_rpc_message_with_a_call_id_stack_of_the_wrong_shape_does_not_stop_the_service(fragile, stack):
    """Anyone who may publish to the RPC exchange controls the headers; the log context must cope."""
    container, url, amqp_uri = fragile
    rpc_exchange = Exchange("nameko-rpc", type="topic", durable=True)
    name = f"reply-{time.time_ns()}"
    with Connection(amqp_uri) as connection:
        reply_queue = connection.SimpleQueue(Queue(name, rpc_exchange, routing_key=name, auto_delete=True))
        Producer(connection).publish(
            {"args": ["none"], "kwargs": {}}, exchange=rpc_exchange, routing_key="fragile.over_rpc",
            serializer="json", reply_to=name, correlation_id="c1", headers={"nameko.call_id_stack": stack})
        reply = reply_queue.get(timeout=10)
        reply.ack()
        reply_queue.close()
    assert set(reply.payload) >= {"result", "error"}
    _alive(container, url)


def test_an_unknown_api_key_is_a_401_and_the_gateway_keeps_serving(platform):
    platform.start("members", "web")
    web = platform.url("web")
    for key in ("ek_anything", "ek_", "ek_" + "x" * 5000, "ek_\u00e9\u00e8"):
        response = requests.get(f"{web}/api/v1/me", headers={"Authorization": f"Bearer {key}".encode()}, timeout=10)
        assert response.status_code == 401, key
        assert response.json()["error"]["code"] == "unauthorized"
    assert requests.get(f"{web}/api/v1/agencies", timeout=5).status_code == 200
    assert not platform.containers["web"]._died.ready()


def test_an_api_key_while_members_is_not_running_is_a_503_in_bounded_time(platform):
    platform.start("members", "web")
    web = platform.url("web")
    platform.stop_service("members")
    started = time.monotonic()
    response = requests.get(f"{web}/api/v1/me", headers={"Authorization": "Bearer ek_unchecked"}, timeout=30)
    assert response.status_code == 503
    assert "try again" in response.json()["error"]["message"]
    assert time.monotonic() - started < 10
    assert requests.get(f"{web}/health", timeout=5).status_code == 200
