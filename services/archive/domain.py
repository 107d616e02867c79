"""The archive's rules: resources and their revisions, the running copy of live ideas, snapshots, exports.

Pure functions over plain dicts: no storage, broker or framework is touched
here. Times are aware datetimes; whatever a store hands back naive is UTC.
"""
from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from markdown_it import MarkdownIt
from markupsafe import Markup

from services.archive.legacy_page import LegacyIdea
from services.common import mentions, search
from services.common.contract.api.archive import LICENCES
from services.common.rules import RuleBroken

ARCHIVE_TIME_ZONE = ZoneInfo("Australia/Sydney")
FORMER_MEMBER = "former member"

OUTCOMES = ("adopted", "declined", "archived")

#: Ideas and comments on the platform are shared under the site's licence (see the page footer);
#: imported legacy pages are carried under the same licence, attributed to the people they name.
CONTENT_LICENCE = "CC-BY-4.0"

#: The fields of a resource that every revision records in full.
REVISED_FIELDS = ("kind", "title", "summary", "body", "link", "licence", "attribution", "tags", "related_ideas")
#: Search weights: a title hit outranks any number of hits further down.
SEARCH_WEIGHTS = {"title": 10, "tags": 5, "summary": 3, "body": 1}


# -- time -------------------------------------------------------------------


def aware(moment: datetime | str | None) -> datetime | None:
    """An aware datetime from a stored (naive UTC) one or an ISO 8601 string."""
    if moment is None or moment == "":
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def shown_time(moment: datetime | str | None) -> str | None:
    """The instant as ISO 8601 in Canberra time with its offset: how the archive answers every time."""
    moment = aware(moment)
    if moment is None:
        return None
    # Whole seconds stay short (legacy pages have only minutes); platform times keep their milliseconds.
    return moment.astimezone(ARCHIVE_TIME_ZONE).isoformat(timespec="milliseconds" if moment.microsecond else "seconds")


# -- Markdown ---------------------------------------------------------------

_SAFE_SCHEMES = ("http://", "https://", "mailto:")


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable("image")  # pictures from elsewhere would track readers; links are enough
    md.validateLink = lambda url: url.strip().lower().startswith(_SAFE_SCHEMES)

    def link_open(self, tokens, idx, options, env):
        tokens[idx].attrSet("rel", "nofollow noopener")
        return self.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


_MD = _markdown()


def render_markdown(text: str | None) -> Markup:
    """HTML for Markdown written by members: raw HTML is shown as text, and links go only to http(s) or mailto."""
    return Markup(_MD.render(text or ""))


def markdown_text(text: str | None) -> str:
    """The words of a Markdown text without its markup, for search and snippets."""
    words: list[str] = []
    for token in _MD.parse(text or ""):
        if token.type == "inline" and token.children:
            words.append("".join(child.content for child in token.children if child.type in ("text", "code_inline")))
        elif token.type in ("code_block", "fence"):
            words.append(token.content)
    return "\n".join(part for part in words if part)


# -- who may do what --------------------------------------------------------


def may_publish(principal, agency: str) -> bool:
    """Agency administrators and network administrators of ``agency`` publish there; operators everywhere."""
    if principal is None:
        return False
    if principal.is_operator or principal.has_role("agency_admin", agency):
        return True
    is_network_admin = "network_admin" in principal.roles or bool(principal.network_admin_of)
    return is_network_admin and principal.agency == agency


def may_import(principal) -> bool:
    """Legacy pages come in through agency administrators and operators."""
    return principal is not None and (principal.is_operator or "agency_admin" in principal.roles)


# -- resources and revisions ------------------------------------------------


def revision_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The revised fields of ``data`` with their defaults, in a fixed order."""
    return {
        "kind": data["kind"], "title": data["title"], "summary": data.get("summary") or "",
        "body": data.get("body") or "", "link": data.get("link") or None, "licence": data["licence"],
        "attribution": data.get("attribution") or "", "tags": list(data.get("tags") or []),
        "related_ideas": list(data.get("related_ideas") or []),
    }


def changed_fields(current: Mapping[str, Any], proposed: Mapping[str, Any]) -> list[str]:
    """Which revised fields differ between two sets of fields."""
    return [name for name in REVISED_FIELDS if current.get(name) != proposed.get(name)]


@dataclass(frozen=True)
class FieldDiff:
    """How one field changed between two revisions: unified-diff lines without the file headers."""

    field: str
    lines: list[str]


def _lines_of(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return str(value).splitlines()


def diff_revisions(older: Mapping[str, Any], newer: Mapping[str, Any]) -> list[FieldDiff]:
    """The changes from ``older`` to ``newer`` (their revised fields), field by field; unchanged fields are left out."""
    changes = []
    for name in REVISED_FIELDS:
        before, after = _lines_of(older.get(name)), _lines_of(newer.get(name))
        if before == after:
            continue
        lines = list(difflib.unified_diff(before, after, lineterm="", n=2))[2:]
        changes.append(FieldDiff(name, lines))
    return changes


# -- the running copy of live ideas -----------------------------------------

IDEA_FIELDS = ("title", "description", "what_it_might_look_like", "why_it_matters", "prompts", "tags",
               "agency", "network", "author_id", "author_name", "created_at", "updated_at")


#: What an official response carries besides its words: who gave it, in which role, and when.
RESPONSE_DETAILS = ("by", "role", "at")


def new_copy(idea_id: str) -> dict:
    """An empty running copy of an idea the archive has not heard of yet."""
    return {"_id": idea_id, "idea": {}, "idea_version": 0, "state": None, "state_version": 0,
            "official_response": None, "concluded_at": None, "rating": None, "rating_version": 0,
            "comments": {}}


def apply_idea_fields(copy: dict, data: Mapping[str, Any], at: str | None = None) -> bool:
    """Take the public fields an ``idea.submitted``, ``idea.updated`` or ``idea.state_changed`` carries.

    Each part of the copy (text, state, rating) keeps the version it was last
    set from, and only a newer event replaces it, so late or repeated events
    change nothing. ``at`` is the event's time: when the state becomes an
    outcome it is the moment the idea concluded. Returns whether anything changed.
    """
    version = int(data["version"])
    changed = False
    if version > copy["idea_version"]:
        idea = dict(copy["idea"])
        for name in IDEA_FIELDS:
            if name in data:
                idea[name] = data[name]
        copy["idea"] = idea
        copy["idea_version"] = version
        changed = True
    state = data.get("to_state") or data.get("state")
    if state and version > copy["state_version"]:
        if state in OUTCOMES and copy["state"] != state:
            copy["concluded_at"] = at or data.get("updated_at")
        copy["state"] = state
        copy["official_response"] = data.get("official_response")
        copy["official_response_by"] = {name: data.get(f"official_response_{name}") for name in RESPONSE_DETAILS}
        copy["state_version"] = version
        changed = True
    rating = data.get("rating")
    if isinstance(rating, Mapping) and version > copy["rating_version"]:
        copy["rating"] = {"average": rating.get("average"), "count": rating.get("count"),
                          "distribution": rating.get("distribution")}
        copy["rating_version"] = version
        changed = True
    return changed


def apply_comment(copy: dict, event_name: str, data: Mapping[str, Any]) -> bool:
    """Take a ``comment.*`` event (posted, edited, removed, flagged, restored); stale ones change nothing.

    A comment's text and its standing (removed, hidden by reports) keep
    separate versions, so a late ``comment.posted`` still brings the text of a
    comment already reported. A hidden comment is left out of a snapshot until
    a moderator restores it; a removed one for good.
    """
    comment_id = str(data["comment_id"])
    version = int(data["version"])
    held = dict(copy["comments"].get(comment_id) or {"text_version": 0, "standing_version": 0})
    if event_name in ("comment.posted", "comment.edited"):
        if version <= held["text_version"]:
            return False
        for name in ("author_id", "author_name", "body", "parent_id", "created_at", "edited_at", "mention_links"):
            if name in data:
                held[name] = data[name]
        held["text_version"] = version
    elif event_name == "comment.removed":
        if held.get("removed"):
            return False
        held["removed"] = True
    else:
        if version <= held["standing_version"]:
            return False
        held["hidden"] = event_name == "comment.flagged" and bool(data.get("hidden"))
        held["standing_version"] = version
    copy["comments"] = {**copy["comments"], comment_id: held}
    return True


def is_concluded(copy: Mapping[str, Any]) -> bool:
    return copy.get("state") in OUTCOMES


def empty_distribution() -> dict[str, int]:
    return {str(stars): 0 for stars in range(1, 6)}


def rating_summary(copy: Mapping[str, Any]) -> dict:
    """``{average, count, distribution}`` with all five keys, from the rating the newest idea event carried."""
    latest = copy.get("rating") or {}
    given = latest.get("distribution") if isinstance(latest.get("distribution"), Mapping) else {}
    distribution = {key: int(given.get(key) or given.get(int(key)) or 0) for key in empty_distribution()}
    count = latest.get("count")
    if count is None:
        count = sum(distribution.values())
    average = latest.get("average")
    if average is None and count:
        average = round(sum(int(k) * n for k, n in distribution.items()) / count, 2)
    return {"average": average, "count": int(count), "distribution": distribution}


def _name(author_id: str | None, author_name: str | None, former: set[str]) -> str:
    if author_id and author_id in former:
        return FORMER_MEMBER
    return author_name or FORMER_MEMBER


def snapshot_from_copy(copy: Mapping[str, Any], *, former: set[str], archived_at: datetime,
                       previous: Mapping[str, Any] | None = None) -> dict:
    """The archived idea kept when a live idea concludes, built from the running copy alone.

    ``former`` holds the ids of members seen deactivated: they are named "former
    member". Removed comments are left out. ``previous`` is the snapshot kept
    before, whose archive time and revision carry on.
    """
    idea = copy["idea"]
    if not idea.get("title"):
        raise RuleBroken("The archive has not yet heard what this idea says.", field="idea")
    comments = []
    for comment_id, held in copy["comments"].items():
        if held.get("removed") or held.get("hidden") or not held.get("created_at"):
            continue
        comments.append({
            "id": comment_id, "author_id": held.get("author_id"),
            "author_name": _name(held.get("author_id"), held.get("author_name"), former),
            "body": held.get("body") or "", "posted_at": aware(held["created_at"]),
            "edited_at": aware(held.get("edited_at")), "parent_id": held.get("parent_id"),
            "mention_links": dict(held.get("mention_links") or {}),
        })
    comments.sort(key=lambda c: (c["posted_at"], c["id"]))
    return {
        "_id": copy["_id"], "origin": "platform",
        "title": idea["title"], "description": idea.get("description") or "",
        "what_it_might_look_like": idea.get("what_it_might_look_like") or "",
        "why_it_matters": idea.get("why_it_matters") or "", "prompts": list(idea.get("prompts") or []),
        "tags": list(idea.get("tags") or []), "agency": idea.get("agency"), "network": idea.get("network"),
        "author_id": idea.get("author_id"), "author_name": _name(idea.get("author_id"), idea.get("author_name"), former),
        "submitted_at": aware(idea.get("created_at")), "updated_at": aware(idea.get("updated_at")),
        "outcome": copy["state"], "official_response": copy.get("official_response"),
        "official_response_by": dict(copy.get("official_response_by") or {}),
        "concluded_at": aware(copy.get("concluded_at")) or (previous or {}).get("concluded_at") or archived_at,
        "rating": rating_summary(copy), "comments": comments, "licence": CONTENT_LICENCE,
        "archived_at": (previous or {}).get("archived_at") or archived_at,
        "version": int((previous or {}).get("version") or 0) + 1,
    }


def snapshot_from_legacy(page: LegacyIdea, *, idea_id: str, fingerprint: str, archived_at: datetime) -> dict:
    """An archived idea from a legacy consultation page: its rating kept as the page's figures, not as votes."""
    return {
        "_id": idea_id, "origin": "import", "fingerprint": fingerprint,
        "title": page.title, "description": page.description,
        "what_it_might_look_like": page.what_it_might_look_like, "why_it_matters": page.why_it_matters,
        "prompts": list(page.prompts), "tags": list(page.tags), "agency": None, "network": None,
        "author_id": None, "author_name": page.author,
        "submitted_at": page.posted_at, "updated_at": None,
        "outcome": "archived", "official_response": None, "concluded_at": None,
        "rating": {"average": page.rating_average, "count": page.rating_count, "distribution": None, "imported": True},
        "comments": [
            {"id": f"c{number}", "author_id": None, "author_name": comment.author, "body": comment.body,
             "posted_at": comment.posted_at, "edited_at": None, "parent_id": None}
            for number, comment in enumerate(page.comments, start=1)
        ],
        "licence": CONTENT_LICENCE, "archived_at": archived_at, "version": 1,
    }


def anonymise(record: dict, member_id: str) -> bool:
    """Name ``member_id`` "former member" wherever ``record`` (a snapshot, copy or resource) names them."""
    changed = False
    if record.get("author_id") == member_id and record.get("author_name") != FORMER_MEMBER:
        record["author_name"] = FORMER_MEMBER
        changed = True
    comments = record.get("comments")
    for comment in (comments.values() if isinstance(comments, dict) else comments or []):
        if comment.get("author_id") == member_id and comment.get("author_name") != FORMER_MEMBER:
            comment["author_name"] = FORMER_MEMBER
            changed = True
    idea = record.get("idea")
    if isinstance(idea, dict) and idea.get("author_id") == member_id and idea.get("author_name") != FORMER_MEMBER:
        idea["author_name"] = FORMER_MEMBER
        changed = True
    return changed


# -- what callers see -------------------------------------------------------


def rating_view(rating: Mapping[str, Any]) -> dict:
    view = {"average": rating.get("average"), "count": int(rating.get("count") or 0),
            "distribution": rating.get("distribution")}
    if rating.get("imported"):
        view["imported"] = True
    return view


def idea_view(snapshot: Mapping[str, Any]) -> dict:
    """An archived idea as the API answers it: no member ids, every time with its offset."""
    return {
        "id": str(snapshot["_id"]), "origin": snapshot["origin"], "archived": True,
        "title": snapshot["title"], "description": snapshot["description"],
        "what_it_might_look_like": snapshot["what_it_might_look_like"], "why_it_matters": snapshot["why_it_matters"],
        "prompts": list(snapshot["prompts"]), "tags": list(snapshot["tags"]),
        "agency": snapshot.get("agency"), "network": snapshot.get("network"),
        "author_name": snapshot["author_name"], "submitted_at": shown_time(snapshot.get("submitted_at")),
        "updated_at": shown_time(snapshot.get("updated_at")), "outcome": snapshot["outcome"],
        "official_response": snapshot.get("official_response"), "concluded_at": shown_time(snapshot.get("concluded_at")),
        **{f"official_response_{name}": (snapshot.get("official_response_by") or {}).get(name)
           for name in RESPONSE_DETAILS},
        "archived_at": shown_time(snapshot.get("archived_at")), "rating": rating_view(snapshot["rating"]),
        "comments": [
            {"id": c["id"], "author_name": c["author_name"], "body": c["body"], "posted_at": shown_time(c["posted_at"]),
             "edited_at": shown_time(c.get("edited_at")), "parent_id": c.get("parent_id"), "depth": depth,
             "paragraphs": mentions.paragraphs(c["body"], c.get("mention_links") or {})}
            for c, depth in threaded(snapshot["comments"])
        ],
        "licence": snapshot.get("licence", CONTENT_LICENCE), "version": snapshot.get("version", 1),
    }


def threaded(comments: list[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], int]]:
    """``comments`` (oldest first) in reading order with their depth, as the live idea shows its thread: each
    comment followed by its replies. A reply whose parent the archive does not hold (removed) moves up to the top."""
    ids = {c["id"] for c in comments}
    children: dict[str | None, list[Mapping[str, Any]]] = {}
    for comment in comments:
        parent = comment.get("parent_id")
        children.setdefault(parent if parent in ids else None, []).append(comment)
    ordered: list[tuple[Mapping[str, Any], int]] = []

    def walk(parent: str | None, depth: int) -> None:
        for child in children.get(parent, []):
            ordered.append((child, depth))
            walk(child["id"], depth + 1)

    walk(None, 1)
    return ordered


def resource_view(resource: Mapping[str, Any], *, with_body_html: bool = True) -> dict:
    """A resource as the API answers it. ``body_html`` is the body rendered safely."""
    view = {
        "id": str(resource["_id"]), **{name: resource.get(name) for name in REVISED_FIELDS},
        "licence_name": LICENCES.get(resource["licence"], (resource["licence"], ""))[0],
        "licence_url": LICENCES.get(resource["licence"], ("", None))[1],
        "agency": resource["agency"], "author_name": resource["author_name"], "status": resource["status"],
        "revision": resource["revision"], "published_at": shown_time(resource.get("published_at")),
        "updated_at": shown_time(resource.get("updated_at")), "version": resource["version"],
    }
    if with_body_html:
        view["body_html"] = str(render_markdown(resource.get("body")))
    return view


def revision_view(revision: Mapping[str, Any]) -> dict:
    return {"number": revision["number"], "author_name": revision["author_name"], "at": shown_time(revision["at"]),
            "note": revision.get("note") or "", "action": revision.get("action", "edited"),
            "fields": {name: revision["fields"].get(name) for name in REVISED_FIELDS}}


# -- search -----------------------------------------------------------------


def resource_search_entry(resource: Mapping[str, Any]) -> dict:
    """The search entry of a published resource: its terms, and what a result shows and is filtered by."""
    body = markdown_text(resource.get("body"))
    return {
        "_id": f"resource:{resource['_id']}", "target_id": str(resource["_id"]), "kind": resource["kind"],
        "title": resource["title"], "text": " ".join(part for part in (resource.get("summary"), body) if part),
        "tags": list(resource.get("tags") or []), "licence": resource["licence"], "agency": resource["agency"],
        "at": aware(resource.get("updated_at") or resource.get("published_at")),
        **search.terms_for({"title": resource["title"], "tags": resource.get("tags") or [],
                            "summary": resource.get("summary"), "body": body}, SEARCH_WEIGHTS),
    }


def idea_search_entry(snapshot: Mapping[str, Any]) -> dict:
    """The search entry of an archived idea: its sections and the text of its comments."""
    sections = [snapshot.get("what_it_might_look_like"), snapshot.get("why_it_matters"), " ".join(snapshot["prompts"]),
                snapshot.get("official_response"), *(c["body"] for c in snapshot["comments"])]
    return {
        "_id": f"idea:{snapshot['_id']}", "target_id": str(snapshot["_id"]), "kind": "idea",
        "title": snapshot["title"],
        "text": " ".join(part for part in (snapshot.get("description"), *sections) if part),
        "tags": list(snapshot.get("tags") or []), "licence": snapshot.get("licence", CONTENT_LICENCE),
        "agency": snapshot.get("agency"), "outcome": snapshot["outcome"],
        "at": aware(snapshot.get("concluded_at") or snapshot.get("submitted_at")),
        **search.terms_for({"title": snapshot["title"], "tags": snapshot.get("tags") or [],
                            "summary": snapshot.get("description"), "body": " ".join(p for p in sections if p)},
                           SEARCH_WEIGHTS),
    }


def passes_filters(entry: Mapping[str, Any], *, kind: str | None = None, tag: str | None = None,
                   licence: str | None = None, agency: str | None = None) -> bool:
    """Whether a search entry meets every filter given (kind, one of its tags, licence, agency)."""
    return ((kind is None or entry.get("kind") == kind)
            and (tag is None or tag in (entry.get("tags") or ()))
            and (licence is None or entry.get("licence") == licence)
            and (agency is None or entry.get("agency") == agency))


def search_result(entry: Mapping[str, Any], terms: list[str]) -> dict:
    """One search hit: ``title`` is plain text; only ``snippet`` carries ``<mark>`` highlights."""
    path = "ideas" if entry["kind"] == "idea" else "resources"
    return {
        "id": entry["target_id"], "kind": entry["kind"], "title": entry["title"],
        "snippet": str(search.snippet(entry.get("text"), terms)), "tags": list(entry.get("tags") or []),
        "licence": entry.get("licence"), "agency": entry.get("agency"), "outcome": entry.get("outcome"),
        "at": shown_time(entry.get("at")), "url": f"/archive/{path}/{entry['target_id']}",
        "score": search.score(entry, terms),
    }


def site_hit(entry: Mapping[str, Any], terms: list[str]) -> dict:
    """A search entry as the site's one search finds it (``services.common.contract.api.search``).

    An archived idea's state is its outcome; the fields only live ideas have are None.
    """
    is_idea = entry["kind"] == "idea"
    return {
        "id": entry["target_id"], "kind": "idea" if is_idea else "resource", "title": entry["title"],
        "text": entry.get("text") or "", "found_in": "text",
        "url": f"/archive/{'ideas' if is_idea else 'resources'}/{entry['target_id']}",
        "score": search.score(entry, terms), "at": shown_time(entry.get("at")),
        "state": entry.get("outcome") if is_idea else None, "agency": entry.get("agency"), "network": None,
        "resource_kind": None if is_idea else entry["kind"], "tags": list(entry.get("tags") or []),
        "author_name": None, "comment_count": None, "rating": None, "created_at": None,
    }


# -- open data --------------------------------------------------------------

#: The columns of each CSV export, in order (documented in docs/open-data.md).
RESOURCE_COLUMNS = ("id", "kind", "title", "summary", "body", "link", "licence", "attribution", "tags", "agency",
                    "author_name", "revision", "published_at", "updated_at", "related_ideas")
IDEA_COLUMNS = ("id", "origin", "title", "description", "what_it_might_look_like", "why_it_matters", "prompts",
                "tags", "agency", "author_name", "submitted_at", "outcome", "official_response", "concluded_at",
                "rating_average", "rating_count", "rating_1", "rating_2", "rating_3", "rating_4", "rating_5",
                "rating_imported", "comment_count", "licence")
COMMENT_COLUMNS = ("idea_id", "comment_id", "parent_id", "author_name", "posted_at", "edited_at", "body", "licence")
EXPORT_DATASETS = ("resources", "ideas", "comments")
EXPORT_FORMATS = ("json", "csv")
_LIST_SEPARATOR = "|"


def resource_record(resource: Mapping[str, Any]) -> dict:
    """A published resource as an open-data record."""
    view = resource_view(resource, with_body_html=False)
    return {name: view.get(name) for name in RESOURCE_COLUMNS}


def idea_record(snapshot: Mapping[str, Any]) -> dict:
    """An archived idea as an open-data record, comments included (the CSV keeps them in their own file)."""
    view = idea_view(snapshot)
    record = {name: view.get(name) for name in ("id", "origin", "title", "description", "what_it_might_look_like",
                                                "why_it_matters", "prompts", "tags", "agency", "author_name",
                                                "submitted_at", "outcome", "official_response", "concluded_at",
                                                "rating", "licence")}
    record["comments"] = [{**comment, "licence": view["licence"]} for comment in _in_posting_order(view, snapshot)]
    return record


#: What the archived idea's page gets of each comment that open data leaves out: its depth in the thread, and its
#: text as parts with the member ids its mentions link to.
PAGE_ONLY = ("depth", "paragraphs")


def _in_posting_order(view: Mapping[str, Any], snapshot: Mapping[str, Any]) -> list[dict]:
    """The view's comments as open data keeps them: in the order they were posted, without what only pages use."""
    by_id = {c["id"]: {name: value for name, value in c.items() if name not in PAGE_ONLY} for c in view["comments"]}
    return [by_id[c["id"]] for c in snapshot["comments"]]


def comment_records(snapshot: Mapping[str, Any]) -> list[dict]:
    view = idea_view(snapshot)
    return [{"idea_id": view["id"], "comment_id": c["id"], "parent_id": c["parent_id"], "author_name": c["author_name"],
             "posted_at": c["posted_at"], "edited_at": c["edited_at"], "body": c["body"], "licence": view["licence"]}
            for c in _in_posting_order(view, snapshot)]


def _idea_row(record: Mapping[str, Any]) -> dict:
    rating = record["rating"]
    distribution = rating.get("distribution") or {}
    row = {name: record.get(name) for name in IDEA_COLUMNS if name in record}
    row.update({"rating_average": rating.get("average"), "rating_count": rating.get("count"),
                "rating_imported": bool(rating.get("imported")), "comment_count": len(record.get("comments") or [])})
    for stars in range(1, 6):
        row[f"rating_{stars}"] = distribution.get(str(stars)) if rating.get("distribution") is not None else None
    return row


# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)  # our own figures, never a formula
    text = _LIST_SEPARATOR.join(str(item) for item in value) if isinstance(value, (list, tuple)) else str(value)
    return inert_in_spreadsheets(text)


def inert_in_spreadsheets(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would otherwise run it as a formula.

    Member-written text (titles, comments, names) lands in people's
    spreadsheets through the open-data CSV; ``=HYPERLINK(...)`` there would
    be a live link or worse. The quote shows as text and changes nothing else.
    """
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def to_csv(dataset: str, records: Iterable[Mapping[str, Any]]) -> str:
    """The CSV export of ``dataset``: a header of its documented columns, lists joined with "|"."""
    columns = {"resources": RESOURCE_COLUMNS, "ideas": IDEA_COLUMNS, "comments": COMMENT_COLUMNS}[dataset]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for record in records:
        row = _idea_row(record) if dataset == "ideas" else record
        writer.writerow([_cell(row.get(name)) for name in columns])
    return out.getvalue()
