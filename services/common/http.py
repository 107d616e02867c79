"""HTTP helpers shared by every service: JSON in and out, one error table, health and metrics.

``api`` is nameko's ``http`` entrypoint with the platform's error mapping: a
``DomainError`` (also one re-raised from an RPC) becomes its status and the
body ``{"error": {"code", "message", "fields"}}``; anything else is a 500
that says nothing internal. ``read_json`` enforces the 1 MB limit (declared
or chunked), refuses a body sent as another media type (415), tells a body
that is not JSON (400) from one that fails its schema or holds values storage
cannot (422), and never lets a hostile body reach a 500. The router's own 404
and 405 answer in the same shape under ``/api/``, and as the site's error page
elsewhere on a server that renders pages.
"""
from __future__ import annotations

import json
import logging
import socket
from typing import Any, Protocol

from marshmallow import Schema, ValidationError
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from services.common.contract.fields import shown_name, value_problems
from services.common.errors import (BadRequest, DomainError, MethodNotAllowed, NotFound, PayloadTooLarge,
                                    TooManyRequests, UnsupportedMediaType, ValidationFailed)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
}


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, default=str)
    return Response(body, status=status, mimetype="application/json",
                    headers={**SECURITY_HEADERS, **(headers or {})})


def error_response(exc: Exception) -> Response:
    from services.common.mongo import as_domain_error

    exc = as_domain_error(exc)
    if isinstance(exc, DomainError):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        return json_response(exc.to_body(), exc.status, headers)
    log.exception("unexpected error while serving a request")
    body = {"error": {"code": "internal", "message": "Something went wrong on our side; it has been logged.", "fields": {}}}
    return json_response(body, 500)


def read_body(request: Request) -> bytes:
    """The raw body, refused past ``MAX_BODY_BYTES`` whether its length was declared or it came in chunks."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES // 1024} KB.")
    try:
        data = request.stream.read(MAX_BODY_BYTES + 1)
    except ValueError:  # eventlet's ChunkReadError: a chunk size that is not hex
        raise BadRequest("The body's chunked transfer encoding is malformed.") from None
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES // 1024} KB.")
    return data


def is_json_media_type(mimetype: str) -> bool:
    """application/json, or a JSON-based type such as application/merge-patch+json."""
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def read_json(request: Request, schema: Schema | None = None) -> Any:
    """The request's JSON body (checked by ``parse_json``), loaded through ``schema`` when given.

    A body without a Content-Type is read as JSON (curl and scripts often send
    none); one declared as anything else is refused, so an HTML page or a
    multipart upload is never half-understood.
    """
    raw = read_body(request)
    if raw and request.mimetype and not is_json_media_type(request.mimetype):
        raise UnsupportedMediaType(f"Send the body as application/json, not {request.mimetype}.",
                                   {"Content-Type": ["must be application/json"]})
    payload = parse_json(raw)
    return load(schema, payload) if schema is not None else payload


class _RepeatedKey(Exception):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """``object_pairs_hook``: a key given twice is refused, not silently won by its last value."""
    found: dict = {}
    for key, value in pairs:
        if key in found:
            raise _RepeatedKey(key)
        found[key] = value
    return found


def _refuse_constant(name: str) -> None:
    """``parse_constant``: Python reads NaN and Infinity, but they are not JSON."""
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes) -> Any:
    """JSON the platform accepts: UTF-8, no NaN or Infinity, no key twice in an object, at most
    ``MAX_JSON_DEPTH`` levels, and only values storage can hold (``value_problems``)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The body is not valid JSON: it is not UTF-8 text.") from None
    try:
        payload = json.loads(text or "null", object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    except RecursionError:  # the parser recurses per level; thousands of brackets end here, not in a 500
        raise _too_deep() from None
    except _RepeatedKey as repeated:
        name = shown_name(repeated.key)
        raise ValidationFailed(f"The key {name!r} appears more than once in one object.",
                               {name: ["appears more than once in one object"]}) from None
    except ValueError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}.") from None
    if _depth(payload) > MAX_JSON_DEPTH:
        raise _too_deep()
    problems = value_problems(payload)
    if problems:
        raise ValidationFailed.from_marshmallow(problems)
    return payload


def _too_deep() -> ValidationFailed:
    return ValidationFailed(f"The body nests deeper than {MAX_JSON_DEPTH} levels.", {"_schema": ["nested too deeply"]})


def load(schema: Schema, payload: Any) -> Any:
    """Validate ``payload`` with a marshmallow schema, raising ``ValidationFailed`` naming each field."""
    if payload is None or not isinstance(payload, (dict, list)):
        raise ValidationFailed("The body must be a JSON object.", {"_schema": ["expected a JSON object"]})
    try:
        return schema.load(payload)
    except ValidationError as exc:
        raise ValidationFailed.from_marshmallow(exc.messages) from None


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def whole_number_or_text(raw: str) -> int | str:
    """A query or form value as an int when it is written in ASCII digits, else as sent.

    ``str.isdigit`` alone also accepts digits ``int`` refuses ("²"); a value
    left as text is named by the schema that refuses it.
    """
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 100 else raw


def count_argument(value: Any, most: int, name: str = "limit") -> int:
    """An RPC's count argument (how many items, months…), refused with the reason unless a whole number 1–``most``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise ValidationFailed(f"{name} must be a whole number from 1 to {most}.", {name: [f"must be from 1 to {most}"]})
    return value


def query_int(request: Request, name: str, default: int, *, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be a whole number.", {name: ["must be a whole number"]}) from None
    if not lo <= value <= hi:
        raise ValidationFailed(f"{name} must be between {lo} and {hi}.", {name: [f"must be between {lo} and {hi}"]})
    return value


class _HeaderedWsgiApp(WsgiApp):
    """Routes like nameko's, and answers what no entrypoint answers in the platform's shapes.

    The router's 404 and 405, and a handler whose own error answer failed,
    get the JSON error shape under ``/api/`` and on servers without pages; on
    a server with pages (``renders_pages``) people get its error page. Every
    answer carries the security headers.
    """

    def __call__(self, environ, start_response):
        kept = self.server.kept_answer(environ)
        if kept is not None:
            status, headers, body = kept
            start_response(status, headers)
            return [body]
        if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            # eventlet's server ends a chunked body itself; without this flag
            # werkzeug hands out an empty stream for a body of unknown length,
            # and a chunked body would be ignored instead of read and limited.
            environ["wsgi.input_terminated"] = True
        sent = environ.get("headers_raw")
        if sent is not None and not any(name.lower() == "content-type" for name, _ in sent):
            # eventlet fills in http.client's default, text/plain, for a request
            # that declared no type; a JSON endpoint must tell that from a real
            # text/plain (which a cross-site form can send).
            environ.pop("CONTENT_TYPE", None)
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            try:
                provider, values = adapter.match()
            except HTTPException as exc:
                response = self.router_answer(request, exc)
            else:
                request.path_values = values
                response = provider.handle_request(request)
        except Exception as exc:  # handlers answer their own errors; this is for when that answer failed too
            log.exception("an error answer failed")
            response = self.last_resort(request, exc)
        return response(environ, start_response)

    def router_answer(self, request: Request, exc: HTTPException) -> Response:
        if exc.code == 404:
            response = self.error_answer(request, NotFound(f"Nothing is at {request.path}."))
        elif exc.code == 405:
            allowed = sorted(getattr(exc, "valid_methods", None) or [])
            response = self.error_answer(request, MethodNotAllowed(
                f"{request.method} is not allowed at {request.path}; use {', '.join(allowed)}.",
                {"method": [f"must be one of {', '.join(allowed)}"]}))
            response.headers["Allow"] = ", ".join(allowed)
        else:  # the router's redirects (a missing trailing slash) stay as werkzeug makes them
            response = exc.get_response(request.environ)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def page_renderer(self, request: Request):
        """The entrypoint that answers people on this server, or None where the answer is JSON."""
        if request.path == "/api" or request.path.startswith("/api/"):
            return None
        return next((p for p in self.server._providers if getattr(p, "renders_pages", False)), None)

    def error_answer(self, request: Request, error: DomainError) -> Response:
        renderer = self.page_renderer(request)
        return renderer.response_from_exception(error) if renderer is not None else error_response(error)

    def last_resort(self, request: Request, exc: Exception) -> Response:
        if self.page_renderer(request) is None:
            return error_response(exc)
        response = Response(_LAST_RESORT_PAGE, status=500, mimetype="text/html")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


# When even the error page could not be rendered: still a page, in the site's style.
_LAST_RESORT_PAGE = """<!doctype html>
<html lang="en-AU"><head><meta charset="utf-8"><title>Something went wrong</title>
<link rel="stylesheet" href="/static/engage.css"></head>
<body><header class="site-header"><div class="bar"><a class="brand" href="/">Home</a></div></header>
<main id="main"><h1>Something went wrong</h1>
<p role="alert">Something went wrong on our side; it has been logged.</p><p><a href="/">Back to the home page</a></p>
</main></body></html>
"""


def is_on(value: Any) -> bool:
    """A yes/no setting: YAML's true, or the words true, yes, on, 1 from the environment."""
    return value is True or str(value or "").strip().lower() in ("true", "yes", "on", "1")


class KeptAnswers(Protocol):
    """Whole answers a server may send again without running an entrypoint (the gateway's read cache)."""

    def answer(self, environ: dict) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """``(status line, headers, body)`` kept for this request, or None to run the entrypoint as usual."""


class HeaderedWebServer(WebServer):
    """nameko's web server with ``_HeaderedWsgiApp`` and Nagle's algorithm off; every HTTP entrypoint shares it.

    An extension may register ``KeptAnswers`` (``keep_answers_with``): a
    request it holds an answer for is answered straight from the WSGI call,
    without a worker, which is what makes a repeat page cost what sending its
    bytes costs.
    """

    answers: KeptAnswers | None = None

    def keep_answers_with(self, answers: KeptAnswers) -> None:
        self.answers = answers

    def kept_answer(self, environ: dict) -> tuple[str, list[tuple[str, str]], bytes] | None:
        if self.answers is None:
            return None
        try:
            return self.answers.answer(environ)
        except Exception:  # a kept answer is an optimisation: on any fault, the entrypoint answers
            log.exception("a kept answer could not be read; the entrypoint answers instead")
            return None

    def get_wsgi_app(self):
        return _HeaderedWsgiApp(self)

    def get_wsgi_server(self, sock, wsgi_app, **kwargs):
        # A response written in two parts (headers, then body) would otherwise
        # wait for the client's delayed ACK, about 40 ms, before its second
        # part leaves. Set on the listening socket, every accepted connection
        # inherits it (Linux copies TCP_NODELAY to accepted sockets).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server = super().get_wsgi_server(sock, wsgi_app, **kwargs)
        # One log line per request costs more than sending a kept page; the load balancer in front logs requests,
        # and the metrics count them. ACCESS_LOG=true writes them here too.
        server.log_output = is_on(self.container.config.get("ACCESS_LOG"))
        return server


class ApiHandler(HttpRequestHandler):
    """nameko's HTTP entrypoint with the platform's error mapping and security headers."""

    server = HeaderedWebServer()
    # A handler that answers people with pages says so; the server then asks
    # it for the pages of its router's 404 and 405 outside /api/.
    renders_pages = False

    def __init__(self, method, url, **kwargs):
        kwargs.setdefault("expected_exceptions", DomainError)
        super().__init__(method, url, **kwargs)

    def response_from_exception(self, exc):
        return error_response(exc)

    def response_from_result(self, result):
        response = super().response_from_result(result)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


api = ApiHandler.decorator
