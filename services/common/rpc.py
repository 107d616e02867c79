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
"""
from __future__ import annotations

import logging

import eventlet
from amqp.exceptions import AMQPError
from kombu.exceptions import KombuError
from eventlet.semaphore import Semaphore
from nameko.exceptions import UnknownService
from nameko.rpc import MethodProxy, ReplyListener, Rpc
from nameko.rpc import RpcProxy as NamekoRpcProxy
from nameko.rpc import ServiceProxy

from services.common.errors import DomainError, TimedOut, Unavailable
from services.common.mongo import as_domain_error

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 8.0
DEFAULT_CONCURRENCY_PER_SERVICE = 16


class DomainRpc(Rpc):
    def __init__(self, **kwargs):
        kwargs.setdefault("expected_exceptions", DomainError)
        super().__init__(**kwargs)

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

    def get_dependency(self, worker_ctx) -> "DeadlineServiceProxy":
        return DeadlineServiceProxy(worker_ctx, self.target_service, self.rpc_reply_listener, self.timeout,
                                    self.in_flight, **self.options)


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
