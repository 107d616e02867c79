"""The service container every process of the platform runs: one bad request never stops a service.

nameko's own container dies when a dependency provider raises while it prepares
or finishes a worker (``get_dependency``, ``worker_setup``, ``worker_result``,
``worker_teardown``): the exception ends the worker's green thread and the
container kills itself, taking every entrypoint of the service with it. Here a
failure while preparing a worker becomes that worker's error, answered through
its entrypoint like any exception its method raised (a ``DomainError`` keeps
its status; anything else is logged and answered as an internal error), and a
failure while finishing one is logged and the remaining providers still run.
A request's storage calls share one deadline (``STORAGE_DEADLINE_SECONDS``).

It also reads the ``<NAME>_FILE`` settings and, with ``ENGAGE_ENV=production``,
refuses to start without the settings production needs, naming every one
missing in one message (``config.check_production``).

Every ``config.yml`` names this class in ``SERVICE_CONTAINER_CLS``, which
``nameko run`` reads; ``container_class`` gives it to code that builds
containers itself (tests, benchmarks).
"""
from __future__ import annotations

import logging
import os
import sys
from contextlib import nullcontext

import pymongo

from nameko.containers import ServiceContainer as NamekoServiceContainer
from nameko.containers import get_container_cls
from nameko.constants import CALL_ID_STACK_CONTEXT_KEY
from nameko.rpc import Rpc
from nameko.web.handlers import HttpRequestHandler

log = logging.getLogger(__name__)

SETTING = "SERVICE_CONTAINER_CLS"
PATH = "services.common.container.ServiceContainer"
_SETUP_ERROR = "_engage_setup_error"
DEFAULT_STORAGE_DEADLINE_SECONDS = 6.0


class ServiceContainer(NamekoServiceContainer):
    def __init__(self, service_cls, config):
        from services.common.bus import queue_type
        from services.common.config import ConfigError, check_production, read_setting_files

        try:
            config = read_setting_files(config, os.environ)
            check_production(service_cls.name, config, os.environ)
            queue_type(config)
        except ConfigError as exc:
            # One line on stderr and exit status 1, not a traceback to read through.
            raise SystemExit(f"configuration error: {exc}") from None
        super().__init__(service_cls, config)

    def spawn_worker(self, entrypoint, args, kwargs, context_data=None, handle_result=None):
        return super().spawn_worker(entrypoint, args, kwargs, _well_formed(context_data), handle_result)

    def _inject_dependencies(self, worker_ctx) -> None:
        for provider in self.dependencies:
            try:
                dependency = provider.get_dependency(worker_ctx)
            except Exception:
                self._fail_worker(worker_ctx, provider, "get_dependency")
                dependency = None
            setattr(worker_ctx.service, provider.attr_name, dependency)

    def _worker_setup(self, worker_ctx) -> None:
        for provider in self.dependencies:
            try:
                provider.worker_setup(worker_ctx)
            except Exception:
                self._fail_worker(worker_ctx, provider, "worker_setup")

    def _worker_result(self, worker_ctx, result, exc_info) -> None:
        for provider in self.dependencies:
            try:
                provider.worker_result(worker_ctx, result, exc_info)
            except Exception:
                log.exception("%s.worker_result failed for %s; the other providers still ran",
                              type(provider).__name__, worker_ctx.entrypoint.method_name)

    def _worker_teardown(self, worker_ctx) -> None:
        for provider in self.dependencies:
            try:
                provider.worker_teardown(worker_ctx)
            except Exception:
                log.exception("%s.worker_teardown failed for %s; the other providers still ran",
                              type(provider).__name__, worker_ctx.entrypoint.method_name)

    def _run_worker(self, worker_ctx, handle_result) -> None:
        try:
            with self._storage_deadline(worker_ctx):
                super()._run_worker(worker_ctx, handle_result)
        except Exception:
            # An entrypoint's own result handling failed (a reply that could not
            # be sent, say): that worker is lost, the service is not.
            log.exception("worker for %s failed after its method ran", worker_ctx.entrypoint.method_name)

    def _storage_deadline(self, worker_ctx):
        """A request (RPC or HTTP) has ``STORAGE_DEADLINE_SECONDS`` for all its storage calls together.

        Set here, before any dependency provider runs, so a provider's own
        lookups (the caller's session, say) count too. It lies inside the
        gateway's RPC deadline, so a storage server that hangs is a 503 from
        the service rather than a 504 from the gateway. Event handlers and
        timers keep per-call deadlines and their own retries.
        """
        if not isinstance(worker_ctx.entrypoint, (Rpc, HttpRequestHandler)):
            return nullcontext()
        return pymongo.timeout(float(self.config.get("STORAGE_DEADLINE_SECONDS") or DEFAULT_STORAGE_DEADLINE_SECONDS))

    @staticmethod
    def _fail_worker(worker_ctx, provider, stage: str) -> None:
        """Keep the first preparation failure and make the worker's method raise it instead of running."""
        error = sys.exc_info()[1]
        if getattr(worker_ctx.service, _SETUP_ERROR, None) is not None:
            return
        from services.common.errors import DomainError

        if not isinstance(error, DomainError):
            log.error("%s.%s failed for %s", type(provider).__name__, stage, worker_ctx.entrypoint.method_name,
                      exc_info=error)
        setattr(worker_ctx.service, _SETUP_ERROR, error)

        def refuse(*args, **kwargs):
            raise error

        setattr(worker_ctx.service, worker_ctx.entrypoint.method_name, refuse)


def _well_formed(context_data: dict | None) -> dict | None:
    """Context data with a call-id stack nameko can use: whoever publishes a message writes its headers."""
    if not context_data or CALL_ID_STACK_CONTEXT_KEY not in context_data:
        return context_data
    stack = context_data[CALL_ID_STACK_CONTEXT_KEY]
    if isinstance(stack, list) and all(isinstance(call_id, str) for call_id in stack):
        return context_data
    return {key: value for key, value in context_data.items() if key != CALL_ID_STACK_CONTEXT_KEY}


def container_class(config: dict) -> type[NamekoServiceContainer]:
    """The container class a config names (this module's unless it says otherwise)."""
    return get_container_cls({SETTING: PATH, **config})
