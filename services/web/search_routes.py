"""Gateway routes for the site's one search: ``/search`` and ``/api/v1/search``, and the addresses search had before.

One search covers everything a visitor may see: the ideas service answers for
ideas in every public state (by their text or their comments), the archive for
its resources and the ideas imported from older sites. Each is asked once per
search, both at the same time, and ``services.common.search.merge`` ranks their
parts together. Neither part depends on who asks (drafts are never found), so
the merged answer is kept in the read cache for everyone, dropped by any idea
or archive event (a deactivated author's ideas are renamed by idea events).
"""
from __future__ import annotations

from urllib.parse import urlencode

import eventlet

from services.common import search
from services.common.contract.api.search import FACETS, MAX_CURSOR, SiteSearchQuery
from services.common.contract.archive import RESOURCE_KINDS
from services.common.errors import DomainError, TimedOut, Unavailable, ValidationFailed
from services.common.http import json_response, load, query_int, whole_number_or_text
from services.common.rpc import RpcProxy
from services.web.form_problems import NO_PROBLEMS, FormProblems, form_problems
from services.web.gateway import api, page
from services.web.i18n import N_
from services.web.paging import page_links
from services.web.ideas_routes import STATE_LABELS
from services.web.read_cache import PageCache

SEARCH_TAGS = ("ideas", "archive")
DEFAULT_LIMIT = SiteSearchQuery().fields["limit"].load_default
KIND_LABELS = {"idea": N_("Ideas"), "resource": N_("Resources")}
FACET_HEADINGS = {"kind": N_("Kind"), "state": N_("State"), "agency": N_("Agency"), "network": N_("Network")}
NOTHING_FOUND = {"items": [], "next_cursor": None, "total": 0, "facets": {name: [] for name in FACETS},
                 "did_you_mean": None, "unavailable": []}
#: What a search result is missing while a service does not answer, in the words the page uses.
UNAVAILABLE_PARTS = {"ideas": N_("Ideas and their discussions cannot be searched right now, so none are shown; "
                                 "please try again in a moment."),
                     "archive": N_("The knowledge archive cannot be searched right now, so none of its resources "
                                   "are shown; please try again in a moment.")}


def search_query(args) -> dict:
    """The search's query-string values as the contract's schema takes them; blank ones and others left out."""
    query = {name: args[name] for name in ("q", *FACETS, "limit", "cursor") if args.get(name)}
    for name in ("limit", "cursor"):
        if name in query:
            query[name] = whole_number_or_text(query[name])
    return query


def search_address(query: dict) -> str:
    """The search page's address for ``query``: its words and filters (and a cursor when one is given)."""
    kept = {name: query.get(name) for name in ("q", *FACETS, "cursor")}
    if query.get("limit") not in (None, DEFAULT_LIMIT):
        kept["limit"] = query["limit"]
    return "/search?" + urlencode({name: value for name, value in kept.items() if value not in (None, "", 0)})


def result_pages(query: dict, total: int) -> tuple[int, int]:
    """Which numbered page of results ``query`` shows, and how many pages there are (as far as a cursor goes)."""
    limit = query.get("limit") or DEFAULT_LIMIT
    return query.get("cursor", 0) // limit + 1, min(max(1, -(-total // limit)), MAX_CURSOR // limit + 1)


class SearchRoutes:
    ideas = RpcProxy("ideas")
    archive = RpcProxy("archive")
    page_cache = PageCache()

    def _site_search(self, query: dict, services: tuple[str, ...] = ("ideas", "archive")) -> dict:
        """The answer of ``services`` merged, for a query the contract's schema loaded; from the cache when held."""
        if not search.query_terms(query["q"]):
            return NOTHING_FOUND

        def part_of(name: str) -> tuple[str, dict | DomainError]:
            try:
                return name, getattr(self, name).site_search(query)
            except (Unavailable, TimedOut) as away:
                return name, away

        def ask() -> dict:
            # Every service at once: a search waits for the slowest of them, not for their sum.
            pile = eventlet.GreenPile(len(services))
            for name in services:
                pile.spawn(part_of, name)
            answers = dict(pile)
            away = [name for name in services if isinstance(answers[name], DomainError)]
            if len(away) == len(services):
                raise answers[away[0]]  # nothing to show: the page says the search cannot be done now
            # A service that does not answer leaves its part out and is named, as on the home page.
            parts = [answers[name] for name in services if name not in away]
            return {"answer": {**search.merge(parts, start=query["cursor"], limit=query["limit"]), "unavailable": away},
                    "personal": any(part.get("personal") for part in parts)}

        # A member of closed networks finds their ideas too, so a member's answer is kept under their own key and
        # dropped when memberships change; the shared one, for visitors, never holds a personal answer. An answer
        # missing a part is not kept: the next search asks again.
        me = self.web.principal()
        key = ("search", services, tuple(sorted(query.items()))) + ((me,) if me else ())
        return self.page_cache.get(key, SEARCH_TAGS + (("members",) if me else ()), ask,
                                   keep=lambda held: not held["answer"]["unavailable"]
                                   and (bool(me) or not held["personal"]))["answer"]

    # -- JSON API -----------------------------------------------------------

    @api("GET", "/api/v1/search", kept=True)
    def api_search(self, request):
        return json_response(self._site_search(load(SiteSearchQuery(), search_query(request.args))))

    @api("GET", "/api/v1/ideas/search")
    def api_search_ideas(self, request):
        """The ideas service's part of the site's search, in the shape this address has always answered."""
        limit = query_int(request, "limit", 20, lo=1, hi=50)
        query = load(SiteSearchQuery(), {"q": request.args.get("q", ""), "limit": limit})
        return json_response({"items": self._site_search(query, services=("ideas",))["items"], "next_cursor": None})

    # -- pages --------------------------------------------------------------

    @page("GET", "/search", kept=True)
    def search_page(self, request):
        raw = search_query(request.args)
        try:
            query = load(SiteSearchQuery(), raw)
        except ValidationFailed as error:
            # The words stay in the box; a filter that is not one of the choices is named in the message, not kept.
            # The filters travel with the words, so what is wrong with one leads to the search box.
            problems = form_problems(error, "search", {name: "search-q" for name in SiteSearchQuery().fields})
            return self._render({"q": str(raw.get("q", ""))}, NOTHING_FOUND, problems=problems, status=422)
        return self._render(query, self._site_search(query))

    def _render(self, query: dict, answer: dict, problems: FormProblems = NO_PROBLEMS, status: int = 200):
        current, pages = result_pages(query, answer["total"])
        limit = query.get("limit") or DEFAULT_LIMIT
        return self.web.render("search/results.html", status=status, query=query, answer=answer, problems=problems,
                               current_page=current, pages=pages, page_links=page_links(current, pages),
                               page_address=lambda number: search_address({**query, "cursor": (number - 1) * limit}),
                               facets=FACETS, chosen=[name for name in FACETS if query.get(name)],
                               facet_headings=FACET_HEADINGS, kind_labels=KIND_LABELS, states=STATE_LABELS,
                               resource_kinds=RESOURCE_KINDS, unavailable_parts=UNAVAILABLE_PARTS,
                               link=lambda changes: search_address({**query, "cursor": None, **changes}))

    @page("GET", "/archive/search")
    def archive_search_page(self, request):
        """The archive's own search page became the site's search of resources (or of ideas, when asked for)."""
        kind = "idea" if request.args.get("kind") == "idea" else "resource"
        return self.web.redirect(search_address({"q": request.args.get("q"), "kind": kind,
                                                 "agency": request.args.get("agency")}))
