"""RPC both ways: the entrypoint every service exposes, and the proxy callers use, each with a deadline.

``rpc`` is nameko's entrypoint with domain errors logged as expected outcomes;
a storage server that cannot be reached answers as ``Unavailable`` (503).

``RpcProxy`` is nameko's proxy with a deadline on every call (``RPC_TIMEOUT_SECONDS``,
or ``timeout=`` per proxy). The request message expires at that deadline, so a
call the caller gave up on never runs later in a queue; a call with no answer
in time raises ``TimedOut`` (504); a service that is not running, or a bus that
cannot be reached, raises ``Unavailable`` (503). At most
``RPC_CONCURRENCY_PER_SERVICE`` calls to one service are in flight from one
process, and the next fails at once with 503, so one stuck service cannot hold
every worker of its caller.

Deny by default: every entrypoint declares who may call it, ``@rpc(allow=MEMBER)``,
and a call its declaration does not allow is refused (``Unauthorized`` without a
member's token, else ``Forbidden``) before the method runs. Who is calling
comes from two proofs only: the member's verified token in the context data,
and the message's AMQP ``user_id``, which RabbitMQ checks against the user of
the connection that published it, so a service is known by its broker user and
never by a header. Every proxy here stamps its connection's user as ``user_id``.
"""
from __future__ import annotations

import logging
from typing import Callable

import eventlet
from amqp.exceptions import AMQPError
from kombu.exceptions import KombuError
from eventlet.semaphore import Semaphore
from nameko.exceptions import UnknownService
from kombu import Queue
from nameko.rpc import RPC_QUEUE_TEMPLATE, MethodProxy, ReplyListener, Rpc, RpcConsumer, get_rpc_exchange
from nameko.rpc import RpcProxy as NamekoRpcProxy
from nameko.rpc import ServiceProxy
from nameko.standalone.rpc import ClusterProxy
from nameko.standalone.rpc import ClusterRpcProxy as NamekoClusterRpcProxy
from nameko.standalone.rpc import ServiceRpcProxy as NamekoServiceRpcProxy

from services.common.bus import broker_user, durable_queue_arguments
from services.common.errors import DomainError, Forbidden, TimedOut, Unauthorized, Unavailable
from services.common.mongo import as_domain_error
from services.common.tokens import Caller, CallerAccess, Principal

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 8.0
DEFAULT_CONCURRENCY_PER_SERVICE = 64


OPERATOR_BROKER_USER = "operator"
BROKER_USER_KEY = "engage_broker_user"
"""Where ``DomainRpc`` puts the message's validated ``user_id`` for its worker; never forwarded (see ``_outgoing``)."""


class Identity:
    """Who is calling one entrypoint: the broker user RabbitMQ vouched for, and the member a token proves."""

    def __init__(self, broker_user: str | None, access: CallerAccess):
        self.broker_user = broker_user
        self._access = access

    def member(self) -> Principal | None:
        """The verified member, or None without a token (a bad or expired token raises ``Unauthorized``)."""
        return self._access.optional()


class Allow:
    """A declaration of who may call an entrypoint; ``a | b`` allows either."""

    def __init__(self, name: str, test: Callable[[Identity], bool]):
        self.name = name
        self._test = test

    def permits(self, who: Identity) -> bool:
        return bool(self._test(who))

    def check(self, who: Identity) -> None:
        """Return when ``who`` may call; else raise ``Unauthorized`` (no member's token) or ``Forbidden``."""
        if self.permits(who):
            return
        if who.member() is None:
            # A visitor reaching a member's entrypoint through the gateway gets a 401, i.e. "log in".
            raise Unauthorized(f"Log in first: this is only for {self.name}.")
        raise Forbidden(f"This is only for {self.name}.")

    def __or__(self, other: "Allow") -> "Allow":
        return Allow(f"{self.name} or {other.name}", lambda who: self.permits(who) or other.permits(who))

    def __repr__(self) -> str:
        return f"<allow {self.name}>"


def _is_operator(who: Identity) -> bool:
    member = who.member()
    if member is not None:
        # A token says "acting as this member", whichever connection carries it.
        return member.is_operator
    return who.broker_user == OPERATOR_BROKER_USER


ANYONE = Allow("anyone, visitors included", lambda who: True)
"""Open content, registering and logging in: whoever reaches the bus (the gateway brings visitors)."""
MEMBER = Allow("logged-in members", lambda who: who.member() is not None)
OPERATOR = Allow("the platform operator", _is_operator)
"""An operator's token, or with no token at all the ``operator`` broker user (the CLI)."""


def service(*names: str) -> Allow:
    """Calls published by these services' own broker users (their validated ``user_id``)."""
    return Allow(" or ".join(f"the {name} service" for name in names), lambda who: who.broker_user in names)


def role(*roles: str) -> Allow:
    """Members holding one of ``roles`` in some agency (operators hold every role); the method checks which agency."""
    label = " or ".join(r.replace("_", " ") + "s" for r in roles)

    def holds(who: Identity) -> bool:
        member = who.member()
        return member is not None and any(member.has_role(r) for r in roles)

    return Allow(label, holds)


class RpcAccess(Caller):
    """Refuses each RPC its entrypoint's declaration does not allow, before the method runs.

    ``ServiceBase`` holds one, so every service checks every call. The refusal is
    raised while the worker is prepared; the container answers it as the call's
    error without running the method (``services.common.container``).
    """

    def setup(self) -> None:
        super().setup()
        for entrypoint in self.container.entrypoints:
            if isinstance(entrypoint, Rpc) and not isinstance(entrypoint, DomainRpc):
                raise TypeError(f"{self.container.service_name}.{entrypoint.method_name} uses nameko's own @rpc, "
                                "which declares nobody; use services.common.rpc.rpc(allow=...)")

    def worker_setup(self, worker_ctx) -> None:
        entrypoint = worker_ctx.entrypoint
        if isinstance(entrypoint, DomainRpc):
            access = getattr(worker_ctx.service, self.attr_name)
            entrypoint.allow.check(Identity(worker_ctx.context_data.get(BROKER_USER_KEY) or None, access))


class DurableRpcConsumer(RpcConsumer):
    """nameko's RPC request queue (``rpc-<service>``), declared with the configured queue type (``QUEUE_TYPE``)."""

    def setup(self) -> None:
        # nameko's own setup, with the queue's arguments added
        if self.queue is None:
            service_name = self.container.service_name
            self.queue = Queue(RPC_QUEUE_TEMPLATE.format(service_name), exchange=get_rpc_exchange(self.container.config),
                               routing_key=f"{service_name}.*", durable=True,
                               queue_arguments=durable_queue_arguments(self.container.config) or None)
            self.queue_consumer.register_provider(self)
            self._registered = True


class DomainRpc(Rpc):
    """nameko's RPC entrypoint with a declaration of who may call it (``allow``, required)."""

    rpc_consumer = DurableRpcConsumer()

    def __init__(self, allow: Allow | None = None, **kwargs):
        if not isinstance(allow, Allow):
            raise TypeError("Every RPC entrypoint declares who may call it: @rpc(allow=ANYONE | MEMBER | OPERATOR "
                            "| service(...) | role(...)).")
        self.allow = allow
        kwargs.setdefault("expected_exceptions", DomainError)
        super().__init__(**kwargs)

    def setup(self) -> None:
        if not any(isinstance(provider, RpcAccess) for provider in self.container.dependencies):
            raise TypeError(f"{self.container.service_name}.{self.method_name}: nothing would enforce its declaration; "
                            "the service class must inherit service_base.ServiceBase, and keep its caller (an "
                            "RpcAccess), or hold an RpcAccess.")
        super().setup()

    def unpack_message_headers(self, message) -> dict:
        context_data = super().unpack_message_headers(message)
        # The broker-validated property always replaces anything a header claims.
        context_data[BROKER_USER_KEY] = message.properties.get("user_id") or ""
        return context_data

    def handle_result(self, message, worker_ctx, result, exc_info):
        if exc_info is not None:
            error = as_domain_error(exc_info[1])
            if error is not exc_info[1]:
                exc_info = (type(error), error, exc_info[2])
        return super().handle_result(message, worker_ctx, result, exc_info)


rpc = DomainRpc.decorator


class DeadlineReplyListener(ReplyListener):
    """nameko's reply listener, which also forgets a reply nobody waits for any more."""

    def forget(self, reply_event) -> None:
        for correlation_id, waiting in list(self._reply_events.items()):
            if waiting is reply_event:
                del self._reply_events[correlation_id]


class RpcProxy(NamekoRpcProxy):
    """``RpcProxy("ideas")``: calls with a deadline and a bound on calls in flight (see the module)."""

    rpc_reply_listener = DeadlineReplyListener()

    def __init__(self, target_service: str, timeout: float | None = None, **options):
        super().__init__(target_service, **options)
        self.timeout = timeout

    def setup(self) -> None:
        config = self.container.config
        if self.timeout is None:
            self.timeout = float(config.get("RPC_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS)
        limit = int(config.get("RPC_CONCURRENCY_PER_SERVICE") or DEFAULT_CONCURRENCY_PER_SERVICE)
        self.in_flight = _in_flight_limit(self.container, self.target_service, limit)
        self.user_id = broker_user(config["AMQP_URI"])

    def get_dependency(self, worker_ctx) -> "DeadlineServiceProxy":
        return DeadlineServiceProxy(worker_ctx, self.target_service, self.rpc_reply_listener, self.timeout,
                                    self.in_flight, **{"user_id": self.user_id, **self.options})


def _in_flight_limit(container, service: str, limit: int) -> Semaphore:
    """One semaphore per target service per container, shared by every proxy to it."""
    limits = container.__dict__.setdefault("_engage_rpc_limits", {})
    return limits.setdefault(service, Semaphore(limit))


class DeadlineServiceProxy(ServiceProxy):
    def __init__(self, worker_ctx, service_name, reply_listener, timeout, in_flight, **options):
        super().__init__(worker_ctx, service_name, reply_listener, **options)
        self.timeout = timeout
        self.in_flight = in_flight

    def __getattr__(self, name: str) -> "DeadlineMethodProxy":
        if name.startswith("__"):
            raise AttributeError(name)
        return DeadlineMethodProxy(self.worker_ctx, self.service_name, name, self.reply_listener,
                                   timeout=self.timeout, in_flight=self.in_flight,
                                   expiration=self.timeout, **self.options)


class DeadlineMethodProxy(MethodProxy):
    def __init__(self, worker_ctx, service_name, method_name, reply_listener, *, timeout: float,
                 in_flight: Semaphore, **options):
        super().__init__(worker_ctx, service_name, method_name, reply_listener, **options)
        self.timeout = timeout
        self.in_flight = in_flight

    def get_message_headers(self, worker_ctx) -> dict:
        return _outgoing(super().get_message_headers(worker_ctx))

    def __call__(self, *args, **kwargs):
        if not self.in_flight.acquire(blocking=False):
            raise Unavailable(f"The {self.service_name} service is busy; please try again in a moment.")
        try:
            return self._call_within_deadline(args, kwargs)
        finally:
            self.in_flight.release()

    def _call_within_deadline(self, args, kwargs):
        reply = None
        try:
            with eventlet.Timeout(self.timeout):
                reply = self._call(*args, **kwargs)
                return reply.result()
        except eventlet.Timeout:
            if reply is not None:
                self.reply_listener.forget(reply.reply_event)
                raise TimedOut(f"The {self.service_name} service did not answer within {self.timeout:g} s; "
                               "please try again shortly.") from None
            raise Unavailable("The message bus did not take the request in time; please try again shortly.") from None
        except UnknownService:
            raise Unavailable(f"The {self.service_name} service is not running; please try again shortly.") from None
        except (OSError, KombuError, AMQPError) as exc:
            raise Unavailable(f"The message bus cannot be reached ({exc.__class__.__name__}); "
                              "please try again shortly.") from None


def _outgoing(headers: dict) -> dict:
    """Headers for a call this worker makes, without the broker user its own message came from."""
    return {key: value for key, value in headers.items() if not key.endswith(BROKER_USER_KEY)}


class _SignedClusterProxy(ClusterProxy):
    def __init__(self, worker_ctx, reply_listener, **options):
        self._options = options
        super().__init__(worker_ctx, reply_listener)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._proxies:
            self._proxies[name] = ServiceProxy(self._worker_ctx, name, self._reply_listener, **self._options)
        return self._proxies[name]


class ClusterRpcProxy(NamekoClusterRpcProxy):
    """nameko's standalone ``ClusterRpcProxy`` whose calls carry the connection's user as ``user_id``.

    The CLI, the tests and the benchmarks call services with it; as the
    ``operator`` broker user without a token it is the platform operator.
    """

    def __init__(self, config, context_data=None, timeout=None, **kwargs):
        super().__init__(config, context_data, timeout, **kwargs)
        self._proxy = _SignedClusterProxy(self._worker_ctx, self._reply_listener,
                                          user_id=broker_user(config["AMQP_URI"]))


class ServiceRpcProxy(NamekoServiceRpcProxy):
    """nameko's standalone ``ServiceRpcProxy`` whose calls carry the connection's user as ``user_id``."""

    def __init__(self, service_name, config, context_data=None, timeout=None, **kwargs):
        super().__init__(service_name, config, context_data, timeout, **kwargs)
        self._proxy = ServiceProxy(self._worker_ctx, service_name, self._reply_listener,
                                   user_id=broker_user(config["AMQP_URI"]))
