"""JSON log lines carrying service, entrypoint, call id, event id and type, and member id.

``LOG_FORMAT=text`` gives human-readable lines for the local run. The context
comes from ``LogContext``, a dependency every service has, which fills
contextvars for the worker's green thread; secrets are never logged.
"""
from __future__ import annotations

import contextvars
import logging
import os

from nameko.extensions import DependencyProvider
from pythonjsonlogger.json import JsonFormatter

_context: contextvars.ContextVar[dict] = contextvars.ContextVar("engage_log_context", default={})
# Attributes passed with ``extra=`` under these names are replaced before any handler sees them.
SECRET_ATTRIBUTES = frozenset({"password", "token", "secret", "authorization", "api_key", "engage_token", "cookie"})
REDACTED = "[redacted]"


class ContextFilter(logging.Filter):
    """Adds the worker's context to each record and blanks attributes that would carry a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key in SECRET_ATTRIBUTES.intersection(record.__dict__):
            setattr(record, key, REDACTED)
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        if not getattr(record, "service", None):
            record.service = os.environ.get("ENGAGE_SERVICE", "")
        return True


class EngageJsonFormatter(JsonFormatter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"levelname": "level", "asctime": "time", "name": "logger"})
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", *args, **kwargs)


def make_formatter() -> logging.Formatter:
    """The formatter named in each service's ``LOGGING`` config: JSON unless ``LOG_FORMAT=text``."""
    if os.environ.get("LOG_FORMAT", "json") == "text":
        return logging.Formatter("%(asctime)s %(service)s %(levelname)s %(name)s: %(message)s")
    return EngageJsonFormatter()


class LogContext(DependencyProvider):
    """Puts the call id, entrypoint and event of the current worker on every log line it writes."""

    def worker_setup(self, worker_ctx) -> None:
        data = worker_ctx.context_data or {}
        _context.set({
            "service": self.container.service_name,
            "entrypoint": worker_ctx.entrypoint.method_name,
            "call_id": worker_ctx.call_id,
            # The caller's call id (the gateway's, for an RPC it made), so one request can be followed across services.
            "parent_call_id": worker_ctx.immediate_parent_call_id,
            "event_id": data.get("event_id"),
            "event_type": data.get("event_type"),
        })

    def get_dependency(self, worker_ctx):
        return None


def bind_member(member_id: str | None) -> None:
    """Add the acting member to this worker's log context once the token is checked."""
    if member_id:
        _context.set({**_context.get(), "member_id": member_id})
