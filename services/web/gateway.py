"""The gateway's plumbing: who is calling, the page session, CSRF, templates, remote errors.

The gateway keeps no database. It forwards the caller's raw token to services
in nameko's context data (``engage_token``), where each service verifies it.
Machine clients send an API key (``Bearer ek_…``); the members service
exchanges it for a short-lived token carrying the key's scopes, which is reused
for ``API_KEY_REUSE_SECONDS`` only, so a revoked key is refused within that. Pages keep the token in a signed, HttpOnly, SameSite=Lax
cookie, with a CSRF token every form must echo.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from functools import partial
from typing import Any, Callable
from urllib.parse import quote, unquote, urlsplit

import eventlet
from eventlet.event import Event
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from nameko.extensions import DependencyProvider
from nameko.rpc import MethodProxy, ReplyListener
from werkzeug.wrappers import Request, Response

from services.common import search
from services.common.config import check_settings
from services.common.errors import DomainError, Forbidden, TooManyRequests, Unauthorized, Unavailable
from services.common.http import SECURITY_HEADERS, ApiHandler, error_response
from services.common.ratelimit import RateLimits
from services.common.logs import bind_member
from services.common.mongo import as_domain_error
from services.common.rpc import ServiceRpcProxy
from services.common.tokens import CONTEXT_KEY, TokenKeys, principal_from_claims
from services.web import i18n
from services.web.charts import bar_chart
from services.web.form_problems import NO_PROBLEMS
from services.web.read_cache import ReadCache

API_KEY_CONTEXT = "engage_api_key"
SESSION_COOKIE = "engage_session"
SESSION_MAX_AGE = 8 * 3600
TEMPLATES = i18n.HERE / "templates"
UNREAD_CACHE_SECONDS = 10.0
UNREAD_RPC_TIMEOUT_SECONDS = 0.5
UNREAD_CACHE_LIMIT = 20000
API_KEY_EXCHANGE_TIMEOUT_SECONDS = 5.0
# Revoking a key must stop it within 5 s; asking members again after 4 s
# costs one RPC per key per 4 s per gateway process.
API_KEY_REUSE_SECONDS = 4.0
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_MEMBER_WRITE_LIMIT = "120 per minute"


def same_site_path(target: str | None, fallback: str = "/") -> str:
    """``target`` when it is a path on this site, else ``fallback``: where to send someone after log-in.

    Browsers read ``\\`` as ``/`` and drop tabs and newlines inside URLs, so
    ``/\\evil.example`` and ``/<TAB>/evil.example`` lead off site just as
    ``//evil.example`` does; a value that still looks dangerous after
    percent-decoding is refused too, in case something on the way decodes it
    again. Only a plain absolute path passes.
    """
    if not isinstance(target, str):
        return fallback
    seen = target
    for _ in range(3):  # the raw value and two rounds of decoding
        if not _plain_absolute_path(seen):
            return fallback
        decoded = unquote(seen)
        if decoded == seen:
            break
        seen = decoded
    else:
        return fallback  # still changing after three rounds: nobody sends that honestly
    return target


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased, as browsers write it in ``Origin``."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower()


def _plain_absolute_path(value: str) -> bool:
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return False
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return False
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc


def credential_context(request: Request) -> dict:
    """Context data for services: the bearer token, an API key, or the page session's token."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        credential = header[len("Bearer "):].strip()
        if credential.startswith("ek_"):
            return {API_KEY_CONTEXT: credential}
        return {CONTEXT_KEY: credential} if credential else {}
    session = request.environ.get("engage.session")
    if session and session.get("token"):
        return {CONTEXT_KEY: session["token"]}
    return {}


class GatewayHandler(ApiHandler):
    """HTTP entrypoint that reads the page session and puts the caller's credential in context data.

    This is nameko's ``HttpRequestHandler.handle_request`` with the context data
    taken from the request's credential instead of from headers.
    """

    @property
    def gateway(self) -> "Gateway":
        return next(d for d in self.container.dependencies if isinstance(d, Gateway))

    # JSON writes made with the page session need the CSRF header; page forms carry the token in the body instead.
    cookie_writes_need_csrf_header = True

    def __init__(self, method, url, *, kept: bool = False, **kwargs):
        # kept=True: a GET route that reads only through the page cache, so the read cache may keep its whole
        # answer and send it again without a worker (see ``read_cache``).
        self.kept = kept
        super().__init__(method, url, **kwargs)

    def handle_request(self, request):
        request.shallow = False
        try:
            request.environ["engage.session"] = self.gateway.codec.read(request)
            if self.cookie_writes_need_csrf_header:
                self.gateway.refuse_cross_site_cookie_write(request)
            args, kwargs = self.get_entrypoint_parameters(request)
            self.check_signature(args, kwargs)
            context = self.gateway.exchange_api_key(credential_context(request))
            if request.method in WRITE_METHODS:
                self.gateway.limit_writes(context)
            done = Event()
            self.container.spawn_worker(self, args, kwargs, context_data=context,
                                        handle_result=partial(self.handle_result, done))
            return self.response_from_result(done.wait())
        except Exception as exc:
            return self.response_from_exception(exc)

    def handle_result(self, event, worker_ctx, result, exc_info):
        if self.kept and exc_info is None and isinstance(result, Response):
            self.gateway.keep_answer(worker_ctx, result)
        return super().handle_result(event, worker_ctx, result, exc_info)


class PageHandler(GatewayHandler):
    """Like ``api`` but errors answer as pages: log-in for 401, an error page otherwise."""

    renders_pages = True  # the router's 404 and 405 outside /api/ answer as this error page too
    cookie_writes_need_csrf_header = False

    def response_from_exception(self, exc):
        gateway = self.gateway
        if isinstance(exc, Unauthorized):
            response = Response("", status=303, headers={"Location": "/login"})
            gateway.codec.write(response, {})
            return response
        if not isinstance(exc, DomainError):
            exc = as_domain_error(exc)
        if not isinstance(exc, DomainError):
            error_response(exc)  # logs it
        status = exc.status if isinstance(exc, DomainError) else 500
        message = exc.message if isinstance(exc, DomainError) else "Something went wrong on our side; it has been logged."
        html = gateway.env.get_template("error.html").render(
            me=None, csrf_token="", flash=None, unread=None, status_code=status, message=message)
        response = Response(html, status=status, mimetype="text/html")
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


class SessionCodec:
    """Signs and reads the page session cookie."""

    def __init__(self, secret: str, secure: bool):
        self.serializer = URLSafeTimedSerializer(secret, salt="engage-session")
        self.secure = secure

    def read(self, request: Request) -> dict:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return {}
        try:
            return self.serializer.loads(raw, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return {}

    def write(self, response: Response, session: dict) -> None:
        if session:
            response.set_cookie(SESSION_COOKIE, self.serializer.dumps(session), max_age=SESSION_MAX_AGE,
                                httponly=True, samesite="Lax", secure=self.secure, path="/")
        else:
            response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax", secure=self.secure)


class Gateway(DependencyProvider):
    """Per request: the caller (verified locally), the page session, CSRF, and page rendering."""

    keys = TokenKeys()
    rpc_reply_listener = ReplyListener()
    read_cache = ReadCache()

    def setup(self) -> None:
        config = self.container.config
        check_settings(config, ("SECRET_KEY",), secrets=("SECRET_KEY",))
        public = str(config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8000")
        self.trusted_proxies = int(config.get("TRUSTED_PROXIES") or 0)
        self.codec = SessionCodec(str(config["SECRET_KEY"]), secure=public.startswith("https://"))
        self.public_origin = _origin(public)
        self.env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                               extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
        self.env.install_gettext_translations(i18n.translations(), newstyle=True)
        self.env.filters["local_time"] = _local_time_for_reader
        self.env.filters["snippet"] = search.snippet_markup
        self.env.globals["site_name"] = config.get("SITE_NAME") or "Engagement Network"
        self.env.globals["bar_chart"] = bar_chart
        self.api_key_tokens: dict[str, tuple[str, float]] = {}
        self.limits = RateLimits(config.get("REDIS_URL") or None)
        self.write_rule = str(config.get("MEMBER_WRITE_LIMIT") or DEFAULT_MEMBER_WRITE_LIMIT)
        self.unread_counts: dict[str, tuple[int | None, float]] = {}

    def unread_count(self, worker_ctx, member_id: str) -> int | None:
        """The bell's count for a member, cached briefly; None when notify does not answer in time.

        Pages must render whatever notify is doing, so the call has a short
        timeout and a failure is cached like an answer (no page waits twice in
        a row). Reading notifications forgets the member's entry.
        """
        now = time.monotonic()
        cached = self.unread_counts.get(member_id)
        if cached and cached[1] > now:
            return cached[0]
        count: int | None
        try:
            with eventlet.Timeout(UNREAD_RPC_TIMEOUT_SECONDS):
                count = int(MethodProxy(worker_ctx, "notify", "unread_count", self.rpc_reply_listener)())
        except eventlet.Timeout:
            count = None
        except Exception:  # notify not running, or refusing: the page shows no count
            count = None
        if len(self.unread_counts) >= UNREAD_CACHE_LIMIT:
            self.unread_counts.clear()
        self.unread_counts[member_id] = (count, now + UNREAD_CACHE_SECONDS)
        return count

    def forget_unread_count(self, member_id: str) -> None:
        self.unread_counts.pop(member_id, None)
        self.read_cache.forget(f"unread:{member_id}")

    def keep_answer(self, worker_ctx, response: Response) -> None:
        """Let the read cache keep a ``kept`` route's answer: a visitor's until its tags change, a member's at most
        until their bell's count or their token expires."""
        token = worker_ctx.context_data.get(CONTEXT_KEY)
        if not token:
            self.read_cache.keep_answer(worker_ctx, response, member_id=None, expires=None)
            return
        try:
            claims = self.keys.verifier.verify(token)
        except Unauthorized:
            return
        member_id = str(claims["sub"])
        now = time.monotonic()
        unread = self.unread_counts.get(member_id)
        # A page shows the bell's count, which lives until unread[1]; an API answer, which does not, lives as long.
        bell_until = unread[1] if unread and unread[1] > now else now + UNREAD_CACHE_SECONDS
        expires = min(bell_until, now + float(claims.get("exp", 0)) - time.time())
        if expires > now:
            self.read_cache.keep_answer(worker_ctx, response, member_id=member_id, expires=expires)

    def limit_writes(self, context: dict) -> None:
        """Count a write against its member (also when made with an API key); ``TooManyRequests`` past ``MEMBER_WRITE_LIMIT``.

        Anonymous writes (registration, log-in) are not counted here: log-in
        failures have limits of their own in the members service. A token that
        does not verify is not counted either; the service refuses it.
        """
        if context.get(CONTEXT_KEY):
            try:
                key = "member:" + str(self.keys.verifier.verify(context[CONTEXT_KEY])["sub"])
            except Unauthorized:
                return
        else:
            return
        self.limits.take(self.write_rule, "member-writes", key,
                         message="Too many changes in a short time; wait a little before the next one.")

    def member_time_zone(self, worker_ctx) -> str | None:
        """The caller's time zone from their profile, or None when members does not answer in time."""
        try:
            with eventlet.Timeout(UNREAD_RPC_TIMEOUT_SECONDS):
                return str(MethodProxy(worker_ctx, "members", "me", self.rpc_reply_listener)().get("time_zone") or "")
        except eventlet.Timeout:
            return None
        except Exception:  # members not running or refusing: dates show in Canberra time
            return None

    def refuse_cross_site_cookie_write(self, request: Request) -> None:
        """``Forbidden`` for a JSON write carried by the session cookie alone, the shape a forged request takes.

        Browsers attach the cookie to requests another site makes, and a body
        sent without a Content-Type (or as text/plain) needs no CORS preflight.
        So a write authenticated by the cookie must also send ``X-CSRF-Token``
        equal to the session's token (pages publish it in a ``csrf-token`` meta
        tag), which another site can neither read nor set without a preflight,
        and its ``Origin`` (or ``Referer``), when sent, must be this site's own.
        Bearer tokens and API keys are never sent by a browser on its own, so
        they need neither.
        """
        if request.method not in WRITE_METHODS or request.headers.get("Authorization", "").startswith("Bearer "):
            return
        session = request.environ.get("engage.session") or {}
        if not session.get("token"):
            return
        sent = request.headers.get("X-CSRF-Token", "")
        expected = str(session.get("csrf") or "")
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise Forbidden("A change made with the site's session needs the X-CSRF-Token header; "
                            "scripts elsewhere should send a token as Authorization: Bearer.",
                            {"X-CSRF-Token": ["missing or not this session's"]})
        claimed = request.headers.get("Origin") or request.headers.get("Referer")
        if claimed and _origin(claimed) != self.public_origin:
            raise Forbidden("This change did not come from this site.", {"Origin": ["not this site"]})

    def exchange_api_key(self, context: dict) -> dict:
        """Context data with an API key replaced by the short-lived token members issues for it.

        Done before the worker starts, so the token is in the context data every
        RPC the worker makes carries; an unknown key is ``Unauthorized`` (401)
        and members not answering in time is ``Unavailable`` (503).
        """
        key = context.pop(API_KEY_CONTEXT, None)
        if key:
            context[CONTEXT_KEY] = self._token_for_api_key(key)
        return context

    def _token_for_api_key(self, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()
        cached = self.api_key_tokens.get(digest)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        try:
            with ServiceRpcProxy("members", {"AMQP_URI": self.container.config["AMQP_URI"]},
                                 timeout=API_KEY_EXCHANGE_TIMEOUT_SECONDS) as members:
                answer = members.token_for_api_key(key)
        except DomainError:
            raise
        except Exception as exc:  # members or the bus not answering: the caller may try again
            raise Unavailable("API keys cannot be checked at the moment; please try again shortly.") from exc
        if len(self.api_key_tokens) >= UNREAD_CACHE_LIMIT:
            self.api_key_tokens.clear()
        self.api_key_tokens[digest] = (answer["token"], time.monotonic() + API_KEY_REUSE_SECONDS)
        return answer["token"]

    def get_dependency(self, worker_ctx) -> "RequestView":
        return RequestView(self, worker_ctx)


class RequestView:
    """What an entrypoint needs to know about this request and how to answer it as a page."""

    def __init__(self, gateway: Gateway, worker_ctx):
        self.gateway = gateway
        self.worker_ctx = worker_ctx
        request = worker_ctx.args[0] if worker_ctx.args else None
        self.session: dict = dict(request.environ.get("engage.session") or {}) if request is not None else {}
        self._session_changed = False

    # -- who is calling -----------------------------------------------------

    @property
    def trusted_proxies(self) -> int:
        return self.gateway.trusted_proxies

    def principal(self):
        token = self.worker_ctx.context_data.get(CONTEXT_KEY)
        if not token:
            return None
        try:
            principal = principal_from_claims(self.gateway.keys.verifier.verify(token))
        except Unauthorized:
            if self.session.get("token") == token:
                self.log_out()
            return None
        bind_member(principal.member_id)
        return principal

    def require_principal(self):
        principal = self.principal()
        if principal is None:
            raise Unauthorized("Log in first.")
        return principal

    # -- the page session ---------------------------------------------------

    def log_in(self, token: str, display_name: str) -> None:
        self.session = {"token": token, "name": display_name, "csrf": secrets.token_urlsafe(24)}
        self.worker_ctx.data[CONTEXT_KEY] = token
        self._session_changed = True

    def log_out(self) -> None:
        self.session = {}
        self.worker_ctx.data.pop(CONTEXT_KEY, None)
        self._session_changed = True

    def csrf_token(self) -> str:
        if not self.session.get("csrf"):
            self.session["csrf"] = secrets.token_urlsafe(24)
            self._session_changed = True
        return self.session["csrf"]

    def check_csrf(self, form) -> None:
        sent = form.get("csrf_token", "")
        expected = self.session.get("csrf", "")
        if not expected or not hmac.compare_digest(str(sent), str(expected)):
            raise Forbidden("This form has expired or did not come from this site; reload the page and try again.")

    def forget_unread_count(self) -> None:
        """After the member reads notifications, the bell asks notify again on the next page."""
        principal = self.principal()
        if principal is not None:
            self.gateway.forget_unread_count(principal.member_id)

    def flash(self, message: str) -> None:
        self.session["flash"] = message
        self._session_changed = True

    # -- answers ------------------------------------------------------------

    def finish(self, response: Response) -> Response:
        if self._session_changed:
            self.gateway.codec.write(response, self.session)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        flash = self.session.pop("flash", None)
        if flash:
            self._session_changed = True
        principal = self.principal()
        unread = context.pop("unread", None)
        if unread is None and principal is not None:
            unread = self.gateway.unread_count(self.worker_ctx, principal.member_id)
        # Any page may show a refused form again: its problems, and (where a page has several forms with
        # fields of one name) what the member typed, by the id of the field it goes back into.
        context.setdefault("problems", NO_PROBLEMS)
        context.setdefault("kept", {})
        html = self.gateway.env.get_template(template).render(
            me=principal, csrf_token=_TokenWhenShown(self.csrf_token), flash=flash, request=self.worker_ctx.args[0],
            unread=unread, time_zone=self.time_zone(principal), **context)
        return self.finish(Response(html, status=status, mimetype="text/html"))

    def time_zone(self, principal) -> str | None:
        """The member's time zone for dates on pages: asked of members once, then kept in the page session."""
        if principal is None:
            return None
        if self.session.get("tz_for") != principal.member_id:
            found = self.gateway.member_time_zone(self.worker_ctx)
            if found is None:
                return None
            self.session.update(tz=found, tz_for=principal.member_id)
            self._session_changed = True
        return self.session.get("tz")

    def redirect(self, location: str, flash: str | None = None) -> Response:
        if flash:
            self.flash(flash)
        return self.finish(Response("", status=303, headers={"Location": location}))

    def login_redirect(self, request: Request) -> Response:
        return self.redirect(f"/login?next={quote(request.full_path.rstrip('?'))}")

class _TokenWhenShown:
    """The session's CSRF token, made only when a page prints it: a page without a form sets no cookie."""

    def __init__(self, make: Callable[[], str]):
        self._make = make

    def __str__(self) -> str:
        return self._make()

    def __html__(self) -> str:  # URL-safe base64: nothing to escape
        return self._make()


@pass_context
def _local_time_for_reader(context, value, time_zone: str | None = None, fmt: str | None = None) -> str:
    """The ``local_time`` filter: an instant in the logged-in member's time zone (Canberra time for visitors)."""
    zone = time_zone or context.get("time_zone")
    return i18n.local_time(value, zone, fmt) if fmt else i18n.local_time(value, zone)


api = GatewayHandler.decorator
page = PageHandler.decorator
