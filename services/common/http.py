"""HTTP helpers shared by every service: JSON in and out, one error table, health and metrics.

``api`` is nameko's ``http`` entrypoint with the platform's error mapping: a
``DomainError`` (also one re-raised from an RPC) becomes its status and the
body ``{"error": {"code", "message", "fields"}}``; anything else is a 500
that says nothing internal. ``read_json`` enforces the 1 MB limit and tells a
body that is not JSON (400) from one that fails its schema (422).
"""
from __future__ import annotations

import json
import logging
import socket
from typing import Any

from marshmallow import Schema, ValidationError
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from services.common.errors import BadRequest, DomainError, PayloadTooLarge, TooManyRequests, ValidationFailed

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
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES // 1024} KB.")
    data = request.stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES // 1024} KB.")
    return data


def read_json(request: Request, schema: Schema | None = None) -> Any:
    """The request's JSON body, loaded through ``schema`` when given."""
    raw = read_body(request)
    try:
        payload = json.loads(raw.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}.") from None
    if _depth(payload) > MAX_JSON_DEPTH:
        raise ValidationFailed("The body nests deeper than allowed.", {"_schema": ["nested too deeply"]})
    return load(schema, payload) if schema is not None else payload


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
    """Routes like nameko's, and answers the router's own errors (404, 405) with the security headers too."""

    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, values = adapter.match()
        except HTTPException as exc:
            response = exc.get_response(environ)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response(environ, start_response)
        request.path_values = values
        return provider.handle_request(request)(environ, start_response)


class HeaderedWebServer(WebServer):
    """nameko's web server with ``_HeaderedWsgiApp`` and Nagle's algorithm off; every HTTP entrypoint shares it."""

    def get_wsgi_app(self):
        return _HeaderedWsgiApp(self)

    def get_wsgi_server(self, sock, wsgi_app, **kwargs):
        # A response written in two parts (headers, then body) would otherwise
        # wait for the client's delayed ACK, about 40 ms, before its second
        # part leaves. Set on the listening socket, every accepted connection
        # inherits it (Linux copies TCP_NODELAY to accepted sockets).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return super().get_wsgi_server(sock, wsgi_app, **kwargs)


class ApiHandler(HttpRequestHandler):
    """nameko's HTTP entrypoint with the platform's error mapping and security headers."""

    server = HeaderedWebServer()

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
