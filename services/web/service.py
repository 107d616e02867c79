"""The web gateway: the pages people use and the ``/api/v1`` JSON API, calling the services over RPC.

Each area of the product keeps its routes in its own module; this class only
puts them together on one HTTP port.
"""
from services.common import service_base
# Route modules, not their classes: ``nameko run services.web.service`` would
# take every class with entrypoints in this module's namespace for a service.
from services.web import (admin_routes, archive_routes, ideas_routes, members_routes, notify_routes, openapi_routes,
                          static_routes)
from services.web.gateway import Gateway, page


class WebGateway(service_base.ServiceBase, static_routes.StaticRoutes, members_routes.MemberRoutes,
                 ideas_routes.IdeaRoutes, archive_routes.ArchiveRoutes, notify_routes.NotifyRoutes,
                 admin_routes.AdminRoutes, openapi_routes.OpenApiRoutes):
    name = "web"

    web = Gateway()

    @page("GET", "/")
    def home_page(self, request):
        return self.web.render("home.html")
