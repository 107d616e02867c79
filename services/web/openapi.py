"""The OpenAPI 3 description of the gateway's JSON API, built from its routes and the public contract's schemas.

Paths, methods and path parameters come from the gateway's ``api`` entrypoints
themselves; request bodies and query parameters come from the contract's
request schemas (``services.common.contract.api``), which the services validate
with, so the description cannot promise a field the service refuses. ``OPERATIONS`` adds what code cannot say (a summary, the
answer's status, the answer's schema where the contract has one); a route under
``/api/v1`` without an entry there fails the unit test, so a new route cannot go undescribed.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Iterable

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from services.common.contract.api import archive as archive_schemas
from services.common.contract.api import ideas as ideas_schemas
from services.common.contract.api import members as members_schemas
from services.common.contract.api import notify as notify_schemas
from services.common.contract.api import search as search_schemas
from services.common.scopes import SCOPES

API_PREFIX = "/api/v1"
OPENAPI_VERSION = "3.0.3"
_RULE_PARAMETER = re.compile(r"<(?:(?P<converter>[a-z]+):)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")
_CONVERTER_TYPES = {"int": "integer", "float": "number"}


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    type: str = "string"
    required: bool = False


@dataclass(frozen=True)
class Operation:
    """What the route's code cannot say about itself."""

    summary: str
    tag: str
    status: int = 200
    body: type[Schema] | Schema | None = None
    query: type[Schema] | Schema | None = None
    response: type[Schema] | Schema | None = None
    parameters: tuple[Query, ...] = ()
    auth: str = "optional"  # "required" | "optional" (open content reads without a token) | "none"
    answers: str = "object"  # "object" | "list" | "empty" | "file"
    body_media_type: str = "application/json"
    errors: tuple[int, ...] = field(default=(422,))


_LIMIT = Query("limit", "How many items to answer with.", "integer")
_Q = Query("q", "The search words.")

OPERATIONS: dict[str, Operation] = {
    "api_openapi": Operation("This description (OpenAPI 3)", "documentation", auth="none", errors=()),
    # members
    "api_agencies": Operation("List agencies", "members", answers="list", auth="none", errors=()),
    "api_register": Operation("Register a member of an agency (confirm the address by the link mailed, or bring "
                              "an invite); 409 when the address is already registered", "members", 201,
                              members_schemas.Registration, auth="none", errors=(404, 409, 422, 429)),
    "api_invite": Operation("Invite an address to the caller's agency (agency administrators; the link is shown once)",
                            "members", 201, members_schemas.Invitation, auth="required", errors=(401, 403, 422)),
    "api_audit_log": Operation("Role changes, API keys, invitations and operator actions (administrators)",
                               "members", answers="list", auth="required", errors=(401, 403)),
    "api_token": Operation("Log in: exchange an email and password for a token", "members", 201,
                           members_schemas.Login, auth="none", errors=(401, 422, 429)),
    "api_me": Operation("The calling member, with email, agency, roles and networks", "members", auth="required",
                        errors=(401,)),
    "api_member": Operation("A member's public profile", "members", errors=(404,)),
    "api_member_roles": Operation("Change a member's roles", "members", body=members_schemas.RoleChange,
                                  auth="required", errors=(401, 403, 404, 422)),
    "api_deactivate": Operation("Deactivate a member", "members", auth="required", errors=(401, 403, 404)),
    "api_networks": Operation("List networks of practice", "members", answers="list", errors=()),
    "api_create_network": Operation("Create a network of practice", "members", 201, members_schemas.NetworkCreation,
                                    auth="required", errors=(401, 403, 409, 422)),
    "api_network": Operation("A network of practice, the caller's standing in it and its members (a closed "
                             "network lists its members to its members only)", "members", errors=(404,)),
    "api_join_network": Operation("Join an open network of practice, or ask to join a closed one (`requested` is "
                                  "then true)", "members", auth="required", errors=(401, 403, 404)),
    "api_network_activity": Operation("A network's newest ideas and discussion (a closed network's for its members "
                                      "only: anyone else gets `visible: false`)", "ideas", errors=(404,)),
    "api_join_requests": Operation("Requests to join a closed network waiting for a decision (its administrators)",
                                   "members", answers="list", auth="required", errors=(401, 403, 404)),
    "api_decide_join_request": Operation("Approve or decline a request to join (the network's administrators)",
                                         "members", body=members_schemas.JoinDecision, auth="required",
                                         errors=(401, 403, 404, 409, 422)),
    "api_appoint_network_admin": Operation("Make a member of the network one of its administrators", "members",
                                           auth="required", errors=(401, 403, 404, 409)),
    "api_invite_guest": Operation("Invite a partner from outside the public service into the network as a guest "
                                  "(its administrators; the link is shown once)", "members", 201,
                                  members_schemas.Invitation, auth="required", errors=(401, 403, 404, 422)),
    "api_leave_network": Operation("Leave a network of practice", "members", auth="required", errors=(401, 404)),
    "api_keys": Operation("The caller's API keys (never the keys themselves)", "members", answers="list",
                          auth="required", errors=(401, 403)),
    "api_create_key": Operation("Create a scoped API key (shown once)", "members", 201, members_schemas.ApiKeyCreation,
                                auth="required", errors=(401, 403, 422)),
    "api_revoke_key": Operation("Revoke one of the caller's API keys", "members", 204, auth="required",
                                answers="empty", errors=(401, 403, 404)),
    "api_log_out": Operation("Log out everywhere: end every token and page session of the caller", "members", 204,
                             auth="required", answers="empty", errors=(401, 403)),
    "api_request_reset": Operation("Ask for a password reset link by email", "members", 202,
                                   members_schemas.ResetRequest, auth="none", errors=(422, 429)),
    # ideas
    "api_list_ideas": Operation("List ideas", "ideas", query=ideas_schemas.ListQuery, answers="list"),
    "api_submit_idea": Operation("Submit an idea", "ideas", 201, ideas_schemas.IdeaSubmission, auth="required",
                                 errors=(401, 403, 422)),
    "api_search_ideas": Operation("Search ideas, best match first (the site search's ideas)", "ideas",
                                  parameters=(_Q, _LIMIT), answers="list"),
    "api_similar_ideas": Operation("Ideas with a title like this one", "ideas",
                                   parameters=(Query("title", "A draft title."),), answers="list"),
    "api_idea": Operation("An idea with its rating summary", "ideas", errors=(404,)),
    "api_edit_idea": Operation("Edit an idea", "ideas", body=ideas_schemas.IdeaEdit, auth="required",
                               errors=(401, 403, 404, 409, 422)),
    "api_change_state": Operation("Move an idea through its lifecycle", "ideas", body=ideas_schemas.StateChange,
                                  auth="required", errors=(401, 403, 404, 409, 422)),
    "api_rate": Operation("Rate an idea from 1 to 5 stars (rating again replaces the rating)", "ideas",
                          body=ideas_schemas.Rating, auth="required", errors=(401, 403, 404, 422)),
    "api_comments": Operation("An idea's comments, threaded", "ideas", answers="list", errors=(404,)),
    "api_post_comment": Operation("Comment on an idea, or reply to a comment", "ideas", 201,
                                  ideas_schemas.CommentPost, auth="required", errors=(401, 403, 404, 422)),
    "api_edit_comment": Operation("Edit one's own comment", "ideas", body=ideas_schemas.CommentEdit,
                                  auth="required", errors=(401, 403, 404, 422)),
    "api_remove_comment": Operation("Remove a comment", "ideas", auth="required", errors=(401, 403, 404)),
    "api_report_comment": Operation("Report a comment to the moderators", "ideas", body=ideas_schemas.Report,
                                    auth="required", errors=(401, 404, 422)),
    "api_moderate_comment": Operation("Decide on a reported comment", "ideas",
                                      body=ideas_schemas.ModerationDecision, auth="required",
                                      errors=(401, 403, 404, 422)),
    "api_follow": Operation("Follow an idea", "ideas", auth="required", errors=(401, 404)),
    "api_unfollow": Operation("Stop following an idea", "ideas", auth="required", errors=(401, 404)),
    "api_following_preference": Operation("Whether the caller follows the ideas they comment on or rate", "ideas",
                                          auth="required", errors=(401,)),
    "api_set_following_preference": Operation("Choose whether commenting on or rating an idea follows it", "ideas",
                                              body=ideas_schemas.FollowingPreference, auth="required",
                                              errors=(401, 422)),
    "api_moderation_queue": Operation("Comments waiting for a moderator", "ideas", answers="list", auth="required",
                                      errors=(401, 403)),
    "api_moderation_log": Operation("Moderation decisions, newest first", "ideas", answers="list", auth="required",
                                    errors=(401, 403)),
    # notify
    "api_notifications": Operation("The caller's notifications, newest first, with the unread count", "notify",
                                   parameters=(_LIMIT,), auth="required", errors=(401,)),
    "api_notification_read": Operation("Mark one notification read", "notify", auth="required", errors=(401, 404)),
    "api_notifications_read": Operation("Mark every notification read", "notify", auth="required", errors=(401,)),
    "api_preferences": Operation("The caller's notification preferences", "notify", auth="required", errors=(401,)),
    "api_set_preferences": Operation("Change notification preferences", "notify",
                                     body=notify_schemas.PreferenceChange, auth="required", errors=(401, 422)),
    "api_webhook_event_types": Operation("Event types a webhook can subscribe to", "webhooks", answers="list",
                                         errors=()),
    "api_create_webhook": Operation("Subscribe a URL to event types (the secret is shown once)", "webhooks", 201,
                                    notify_schemas.WebhookCreation, auth="required", errors=(401, 403, 422)),
    "api_webhooks": Operation("The caller's webhooks", "webhooks", answers="list", auth="required", errors=(401,)),
    "api_webhook": Operation("One webhook", "webhooks", auth="required", errors=(401, 403, 404)),
    "api_delete_webhook": Operation("Delete a webhook", "webhooks", auth="required", errors=(401, 403, 404)),
    "api_rotate_webhook_secret": Operation("Rotate a webhook's secret; the old one stays valid for an overlap",
                                           "webhooks", body=notify_schemas.SecretRotation, auth="required",
                                           errors=(401, 403, 404, 422)),
    "api_webhook_deliveries": Operation("A webhook's recent deliveries", "webhooks", answers="list", auth="required",
                                        errors=(401, 403, 404)),
    "api_redeliver": Operation("Send a delivery again", "webhooks", auth="required", errors=(401, 403, 404)),
    # search
    "api_search": Operation("Search everything a visitor may see: ideas in every public state (also by their "
                            "comments), archive resources and archived ideas, ranked together, with facet counts",
                            "search", query=search_schemas.SiteSearchQuery, response=search_schemas.SiteSearchResults),
    # archive
    "api_archive_search": Operation("Search the archive, best match first", "archive",
                                    query=archive_schemas.SearchQuery, answers="list"),
    "api_archive_resources": Operation("List knowledge resources", "archive", query=archive_schemas.Listing,
                                       answers="list"),
    "api_archive_create_resource": Operation("Publish a knowledge resource", "archive", 201,
                                             archive_schemas.ResourceInput, auth="required",
                                             errors=(401, 403, 409, 422)),
    "api_archive_resource": Operation("A knowledge resource", "archive", errors=(404,)),
    "api_archive_update_resource": Operation("Revise a knowledge resource", "archive",
                                             body=archive_schemas.ResourceEdit, auth="required",
                                             errors=(401, 403, 404, 409, 422)),
    "api_archive_withdraw_resource": Operation("Withdraw a knowledge resource", "archive", auth="required",
                                               errors=(401, 403, 404)),
    "api_archive_revisions": Operation("A resource's revisions", "archive", answers="list", errors=(404,)),
    "api_archive_revision": Operation("One revision of a resource", "archive", errors=(404,)),
    "api_archive_diff": Operation("What changed between two revisions", "archive", query=archive_schemas.DiffQuery,
                                  errors=(404, 422)),
    "api_archive_revert": Operation("Make an earlier revision current again", "archive", 201,
                                    archive_schemas.Revert, auth="required", errors=(401, 403, 404, 422)),
    "api_archive_propose": Operation("Propose a resource for the archive", "archive", 201, archive_schemas.Proposal,
                                     auth="required", errors=(401, 422)),
    "api_archive_proposals": Operation("Proposals waiting for review", "archive", answers="list", auth="required",
                                       errors=(401, 403)),
    "api_archive_review": Operation("Accept or decline a proposal", "archive", body=archive_schemas.Review,
                                    auth="required", errors=(401, 403, 404, 409, 422)),
    "api_archive_ideas": Operation("List archived ideas", "archive", query=archive_schemas.Listing, answers="list"),
    "api_archive_idea": Operation("An archived idea with its outcome, rating and comments", "archive",
                                  errors=(404,)),
    "api_archive_import": Operation("Import a legacy consultation page (201 new, 200 seen before)", "archive", 201,
                                    auth="required", body_media_type="text/plain", errors=(400, 401, 403, 422)),
    "api_archive_export": Operation("Open-data export: resources or ideas as JSON or CSV", "archive",
                                    answers="file", errors=(404,)),
}

ERROR_STATUSES = {
    400: "The body is not JSON (or not the media type asked for).",
    401: "No token, or a token that is expired or refused.",
    403: "The caller may not do this.",
    404: "No such thing.",
    409: "It conflicts with the current state.",
    422: "The body or query failed validation; `fields` names each field.",
    429: "Too many tries; wait for `Retry-After` seconds.",
}


@dataclass(frozen=True)
class Route:
    method: str
    rule: str
    handler: str
    doc: str


def api_routes(gateway_class: type) -> list[Route]:
    """Every ``api`` entrypoint of the gateway under ``/api/v1``, in a stable order."""
    from services.web.gateway import GatewayHandler

    found = []
    for name, member in inspect.getmembers(gateway_class, inspect.isfunction):
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            if isinstance(entrypoint, GatewayHandler) and entrypoint.url.startswith(API_PREFIX):
                found.append(Route(entrypoint.method.upper(), entrypoint.url, name, inspect.getdoc(member) or ""))
    return sorted(found, key=lambda r: (r.rule, r.method))


def openapi_path(rule: str) -> tuple[str, list[dict]]:
    """``/ideas/<string:idea_id>`` → ``/ideas/{idea_id}`` and its path parameters."""
    parameters = []
    for match in _RULE_PARAMETER.finditer(rule):
        parameters.append({"name": match["name"], "in": "path", "required": True,
                           "schema": {"type": _CONVERTER_TYPES.get(match["converter"] or "string", "string")}})
    return _RULE_PARAMETER.sub(lambda m: "{" + m["name"] + "}", rule), parameters


def _schema_name(schema) -> str:
    return (schema if isinstance(schema, type) else type(schema)).__name__


def _answer(operation: Operation) -> dict:
    if operation.answers == "empty":
        return {"description": "Done; there is no body."}
    if operation.answers == "file":
        return {"description": "The export file.", "content": {"application/json": {"schema": {"type": "object"}},
                                                               "text/csv": {"schema": {"type": "string"}}}}
    if operation.response is not None:
        schema = operation.response
    elif operation.answers == "list":
        schema = {"$ref": "#/components/schemas/Page"}
    else:
        schema = {"type": "object"}
    return {"description": "Success.", "content": {"application/json": {"schema": schema}}}


def _operation(route: Route, described: Operation, path_parameters: list[dict]) -> dict:
    parameters = list(path_parameters)
    if described.query is not None:
        parameters.append({"in": "query", "schema": described.query})
    parameters += [{"name": q.name, "in": "query", "required": q.required, "description": q.description,
                    "schema": {"type": q.type}} for q in described.parameters]
    answer = {
        "summary": described.summary,
        "operationId": route.handler,
        "tags": [described.tag],
        "responses": {str(described.status): _answer(described)},
    }
    if route.doc:
        answer["description"] = route.doc
    if parameters:
        answer["parameters"] = parameters
    if described.body is not None:
        answer["requestBody"] = {"required": True, "content": {described.body_media_type: {"schema": described.body}}}
    elif described.body_media_type != "application/json":
        answer["requestBody"] = {"required": True, "content": {described.body_media_type: {"schema": {"type": "string"}}}}
    if described.auth == "required":
        answer["security"] = [{"bearer": []}]
    elif described.auth == "optional":
        answer["security"] = [{}, {"bearer": []}]
    else:
        answer["security"] = []
    statuses = set(described.errors) | ({401} if described.auth == "required" else set())
    if described.body is not None or described.body_media_type != "application/json":
        statuses |= {400, 422}
    for status in sorted(statuses):
        answer["responses"][str(status)] = {"$ref": f"#/components/responses/Error{status}"}
    return answer


def build_spec(gateway_class: type, *, server_url: str | None = None) -> dict:
    """The OpenAPI document for every ``/api/v1`` route of ``gateway_class``.

    Raises ``LookupError`` naming any route that has no entry in ``OPERATIONS``.
    """
    routes = api_routes(gateway_class)
    missing = [f"{r.method} {r.rule} ({r.handler})" for r in routes if r.handler not in OPERATIONS]
    if missing:
        raise LookupError("routes without an OpenAPI description: " + ", ".join(missing))
    spec = APISpec(
        title="Engagement Network API", version="1", openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
        info={"description": (
            "The JSON API of the web gateway. Send `Authorization: Bearer <token>` (from `POST /api/v1/tokens`) "
            "or an API key (`ek_…`) the same way. A key acts with its scopes only ("
            + ", ".join(f"`{name}`" for name in SCOPES) + "); a call its scopes do not cover answers 403 naming "
            "the scope, and a revoked key answers 401 within 5 seconds. Errors answer `{\"error\": {\"code\", \"message\", \"fields\"}}`. "
            "Lists answer `{\"items\": [...], \"next_cursor\": ...}`; pass `cursor` back for the next page. "
            "Times are ISO 8601 with their offset. Events are described separately (AsyncAPI, /docs/events).")},
        servers=[{"url": server_url or "/"}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "description": "A member's token or an API key (ek_…)."})
    spec.components.schema("Error", {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message", "fields"], "properties": {
            "code": {"type": "string"}, "message": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}}}}})
    spec.components.schema("Page", {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": {"type": "object"}},
        "next_cursor": {"nullable": True, "description": "Pass back as `cursor` for the next page; null at the end."}}})
    for status, description in ERROR_STATUSES.items():
        spec.components.response(f"Error{status}", {"description": description, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
    by_path: dict[str, dict] = {}
    for route in routes:
        path, parameters = openapi_path(route.rule)
        by_path.setdefault(path, {})[route.method.lower()] = _operation(route, OPERATIONS[route.handler], parameters)
    for path, operations in by_path.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def described_routes(document: dict) -> set[tuple[str, str]]:
    """``{(METHOD, /path/{param})}`` present in an OpenAPI document."""
    return {(method.upper(), path) for path, item in document.get("paths", {}).items() for method in item}


def undescribed(gateway_class: type, document: dict) -> Iterable[str]:
    have = described_routes(document)
    for route in api_routes(gateway_class):
        path, _ = openapi_path(route.rule)
        if (route.method, path) not in have:
            yield f"{route.method} {path}"
