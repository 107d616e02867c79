"""No RPC entrypoint can be left undeclared: a missing declaration fails at import or at start-up."""
from __future__ import annotations

import pytest
from nameko.rpc import rpc as nameko_rpc

from services.common import service_base
from services.common.container import container_class
from services.common.rpc import ANYONE, MEMBER, OPERATOR, rpc, service

CONFIG = {"AMQP_URI": "amqp://nobody:nothing@127.0.0.1:1/"}


def test_an_rpc_without_a_declaration_fails_when_its_module_is_imported():
    with pytest.raises(TypeError, match="declares who may call it"):
        class Undeclared(service_base.ServiceBase):
            name = "undeclared"

            @rpc
            def anything(self):
                return 1


def test_a_service_using_nameko_s_own_rpc_fails_at_start_up():
    class Bypassing(service_base.ServiceBase):
        name = "bypassing"

        @nameko_rpc
        def anything(self):
            return 1

    container = container_class(CONFIG)(Bypassing, CONFIG)
    with pytest.raises(TypeError, match="declares nobody"):
        container.dependencies.all.setup()


def test_a_declared_rpc_on_a_class_that_cannot_enforce_it_fails_at_start_up():
    class Unguarded:
        name = "unguarded"

        @rpc(allow=ANYONE)
        def anything(self):
            return 1

    container = container_class(CONFIG)(Unguarded, CONFIG)
    with pytest.raises(TypeError, match="nothing would enforce"):
        container.entrypoints.all.setup()


def test_declarations_combine_and_name_who_they_allow():
    either = service("notify") | OPERATOR
    assert either.name == "the notify service or the platform operator"
    assert MEMBER.name == "logged-in members"
