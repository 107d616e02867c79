"""The web gateway: the pages people use and the ``/api/v1`` JSON API, calling the services over RPC.

Each area of the product keeps its routes in its own module; this class only
puts them together on one HTTP port.
"""
from services.common import service_base
from services.common.errors import TimedOut, Unavailable
# Route modules, not their classes: ``nameko run services.web.service`` would
# take every class with entrypoints in this module's namespace for a service.
from services.web import (admin_routes, archive_routes, ideas_routes, members_routes, notify_routes, openapi_routes,
                          search_routes, static_routes)
from services.web.gateway import Gateway, page


class WebGateway(service_base.ServiceBase, static_routes.StaticRoutes, members_routes.MemberRoutes,
                 ideas_routes.IdeaRoutes, archive_routes.ArchiveRoutes, search_routes.SearchRoutes,
                 notify_routes.NotifyRoutes, admin_routes.AdminRoutes, openapi_routes.OpenApiRoutes):
    name = "web"

    web = Gateway()

    @page("GET", "/", kept=True)
    def home_page(self, request):
        """Signs of life: what is new, rated, adopted and busy, from the page cache; a member's own ideas.

        Each section stands alone: a service that does not answer empties its
        own section (which says so), never the page.
        """
        highlights = _section(lambda: self.page_cache.get(("home-ideas",), ("ideas",), lambda: self.ideas.highlights(5)))
        resources = _section(lambda: self.page_cache.get(
            ("home-resources",), ("archive",), lambda: self.archive.list_resources({"limit": 4}))["items"])
        networks = _section(lambda: self.page_cache.get(("home-networks",), ("members",), self.members.list_networks))
        busy = None
        if highlights is not None and networks is not None:
            by_slug = {network["slug"]: network for network in networks}
            busy = [{**by_slug[n["slug"]], "ideas": n["ideas"]} for n in highlights["networks"] if n["slug"] in by_slug]
        me = self.web.principal()
        mine = _section(lambda: self.page_cache.get(
            ("home-mine", me.member_id), ("ideas",), lambda: self.ideas.my_ideas(5))["items"]) if me else False
        return self.web.render("home.html", highlights=highlights, resources=resources, networks=busy, mine=mine,
                               states=ideas_routes.STATE_LABELS)


def _section(fetch):
    """One home page section's data, or None while the service behind it does not answer."""
    try:
        return fetch()
    except (Unavailable, TimedOut):
        return None
