"""Deny by default on RPC: every entrypoint of every service refuses callers its declaration does not allow.

The services run with their own broker users on the test's vhost; callers log
in as a service's user (``web`` is how visitors and members arrive) and say
who they are with a member's token or with nothing. Who a service is comes
from the broker-validated ``user_id``, so neither a header nor a forged
``user_id`` can make a caller someone else.
"""
from __future__ import annotations

import inspect
import uuid

import pika
import pytest

from services.common.errors import DomainError, Forbidden, Unauthorized
from services.common.rpc import BROKER_USER_KEY, DomainRpc, ClusterRpcProxy
from services.common.tokens import CONTEXT_KEY, principal_from_claims
from tests.support.platform import service_class

SERVICES = ("members", "ideas", "notify", "archive")
PASSWORD = "a long enough password"


def rpc_entrypoints():
    """(service, method, declaration) for every RPC entrypoint, found on the service classes themselves."""
    found = []
    for name in SERVICES:
        for method, function in inspect.getmembers(service_class(name), inspect.isfunction):
            for entrypoint in getattr(function, "nameko_entrypoints", ()):
                if isinstance(entrypoint, DomainRpc):
                    found.append((name, method, function, entrypoint.allow))
    return found


def placeholder_arguments(function) -> list:
    """A value of the annotated kind for every parameter without a default: enough to reach the method."""
    values = []
    for parameter in list(inspect.signature(function).parameters.values())[1:]:
        if parameter.default is not inspect.Parameter.empty:
            continue
        kind = str(parameter.annotation)
        values.append({} if "dict" in kind else [] if "list" in kind else 1 if kind == "int" else str(uuid.uuid4()))
    return values


class Claimed:
    """An identity as the declaration sees it, to say what each declaration should let through."""

    def __init__(self, broker_user, member):
        self.broker_user, self._member = broker_user, member

    def member(self):
        return self._member


@pytest.fixture(scope="module")
def running(infrastructure):
    from tests.support.accounts import confirm_address
    from tests.support.shared_platform import shared_platform

    with shared_platform(infrastructure) as platform:
        platform.start(*SERVICES)
        with platform.rpc() as rpc:
            rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency"})
            member = rpc.members.register({"email": "plain@example.gov.au", "display_name": "Plain Member",
                                           "password": PASSWORD, "agency": "dta"})
            confirm_address(platform, member["id"])
            token = rpc.members.log_in({"email": "plain@example.gov.au", "password": PASSWORD})["token"]
        yield platform, token


def call(platform, user: str, service: str, method: str, args: list, context: dict | None = None):
    """The answer, or the DomainError the call raised."""
    with ClusterRpcProxy({"AMQP_URI": platform.uri_for(user)}, context_data=context or {}, timeout=20) as rpc:
        try:
            return getattr(rpc[service], method)(*args)
        except DomainError as error:
            return error


def test_the_services_declare_every_rpc_entrypoint_and_there_are_many():
    entrypoints = rpc_entrypoints()
    assert len(entrypoints) > 60
    assert {service for service, *_ in entrypoints} == set(SERVICES)


def test_every_rpc_entrypoint_refuses_a_caller_without_identity_or_with_a_plain_member_token_unless_declared(running):
    platform, token = running
    from jwt import decode

    member = principal_from_claims(decode(token, options={"verify_signature": False}))
    refused, allowed, wrong = {}, {}, []
    # Log-out ends the member's token, so it goes last.
    for service, method, function, allow in sorted(rpc_entrypoints(), key=lambda entry: entry[1] == "log_out"):
        args = placeholder_arguments(function)
        for who, context, principal in (("no identity", {}, None), ("member", {CONTEXT_KEY: token}, member)):
            answer = call(platform, "web", service, method, args, context)
            declared_refusal = (isinstance(answer, (Unauthorized, Forbidden))
                                and str(answer).startswith(("Log in first: this is only for", "This is only for")))
            expected_refusal = not allow.permits(Claimed("web", principal))
            (refused if declared_refusal else allowed).setdefault(who, []).append(f"{service}.{method}")
            if declared_refusal != expected_refusal:
                wrong.append((who, f"{service}.{method}", allow.name, repr(answer)[:120]))
            if expected_refusal and principal is None:
                assert isinstance(answer, Unauthorized), (service, method, answer)
            elif expected_refusal:
                assert isinstance(answer, Forbidden), (service, method, answer)
    assert not wrong, wrong
    # Open content stays open, and members' own entrypoints are closed to visitors.
    assert "ideas.get_idea" in allowed["no identity"] and "members.log_in" in allowed["no identity"]
    assert {"members.me", "notify.list_notifications", "ideas.rate"} <= set(refused["no identity"])
    assert {"members.create_agency", "members.contact_addresses", "notify.build_digests",
            "members.dead_letters"} <= set(refused["member"])


def test_a_refused_call_does_no_work(running):
    platform, token = running
    answer = call(platform, "web", "members", "create_agency", [{"slug": "sneaky", "name": "Sneaky"}])
    assert isinstance(answer, Unauthorized)
    assert platform.db("members").agencies.find_one({"slug": "sneaky"}) is None


def test_a_services_broker_user_cannot_call_another_services_operator_only_entrypoints(running):
    platform, _ = running
    assert isinstance(call(platform, "ideas", "members", "create_agency", [{"slug": "x", "name": "X"}]), Unauthorized)
    assert isinstance(call(platform, "ideas", "notify", "build_digests", []), Unauthorized)
    assert isinstance(call(platform, "ideas", "members", "dead_letters", []), Unauthorized)
    # contact_addresses is for notify: ideas is refused, notify (by its own user) is answered.
    assert isinstance(call(platform, "ideas", "members", "contact_addresses", [[]]), Unauthorized)
    assert call(platform, "notify", "members", "contact_addresses", [[]]) == []
    assert isinstance(call(platform, "operator", "notify", "build_digests", []), dict)


def test_a_header_claiming_to_be_the_operator_counts_for_nothing(running):
    platform, _ = running
    answer = call(platform, "ideas", "members", "create_agency", [{"slug": "y", "name": "Y"}],
                  {BROKER_USER_KEY: "operator"})
    assert isinstance(answer, Unauthorized)


def test_the_broker_refuses_a_message_whose_user_id_is_not_the_connections_user(running):
    platform, _ = running
    connection = pika.BlockingConnection(pika.URLParameters(platform.uri_for("ideas")))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.basic_publish("nameko-rpc", "members.create_agency", b'{"args": [{}], "kwargs": {}}',
                                  pika.BasicProperties(user_id="operator", content_type="application/json"))
        assert refused.value.reply_code == 406  # PRECONDITION_FAILED: user_id property set to 'operator' but ...
        assert "user_id" in refused.value.reply_text
    finally:
        if connection.is_open:
            connection.close()
