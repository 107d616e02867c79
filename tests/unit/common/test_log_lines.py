"""Log lines are JSON with the service, entrypoint, call id, event and member of the worker that wrote them."""
import io
import json
import logging

import pytest
from nameko.containers import ServiceContainer
from nameko.testing.services import dummy, entrypoint_hook

from services.common import logs

log = logging.getLogger("engage.test.logs")


class LoggingService:
    name = "ledger"
    log_context = logs.LogContext()

    @dummy
    def handle(self, member_id=None, **extra):
        if member_id:
            logs.bind_member(member_id)
        log.warning("handled it", extra=extra)


@pytest.fixture
def lines(monkeypatch):
    """Log lines written through the services' LOGGING setup (filter and formatter), as parsed JSON."""
    monkeypatch.setenv("LOG_FORMAT", "json")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    handler.setFormatter(logs.make_formatter())
    log.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        log.removeHandler(handler)


@pytest.fixture
def container():
    running = ServiceContainer(LoggingService, {})
    running.start()
    yield running
    running.stop()


def test_a_worker_line_names_service_entrypoint_call_event_and_member(container, lines):
    context = {"event_id": "e-1", "event_type": "idea.rated"}
    with entrypoint_hook(container, "handle", context_data=context) as handle:
        handle(member_id="m-7")
    [line] = lines()
    assert line["message"] == "handled it" and line["level"] == "WARNING"
    assert (line["service"], line["entrypoint"]) == ("ledger", "handle")
    assert line["call_id"].startswith("ledger.handle.")
    assert (line["event_id"], line["event_type"], line["member_id"]) == ("e-1", "idea.rated", "m-7")
    assert line["time"] and line["logger"] == "engage.test.logs"


def test_each_worker_has_its_own_context(container, lines):
    with entrypoint_hook(container, "handle") as handle:
        handle(member_id="m-1")
    with entrypoint_hook(container, "handle") as handle:
        handle()
    first, second = lines()
    assert first["member_id"] == "m-1" and "member_id" not in second
    assert first["call_id"] != second["call_id"]


def test_secrets_passed_as_extra_are_blanked(container, lines):
    with entrypoint_hook(container, "handle") as handle:
        handle(password="hunter2 hunter2", token="eyJ.secret", secret="whsec_1", display_name="Rosa")
    [line] = lines()
    assert (line["password"], line["token"], line["secret"]) == ("[redacted]",) * 3
    assert line["display_name"] == "Rosa"
    assert "hunter2" not in json.dumps(line) and "eyJ.secret" not in json.dumps(line)


def test_text_format_is_one_switch_for_people(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "text")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    logs.ContextFilter().filter(record)
    assert logs.make_formatter().format(record).endswith("INFO x: hello")
