"""The web gateway: the pages people use and the ``/api/v1`` JSON API, calling the services over RPC.

Each area of the product keeps its routes in its own module; this class only
puts them together on one HTTP port.
"""
from services.common import service_base
from services.web.archive_routes import ArchiveRoutes
from services.web.gateway import Gateway, page
from services.web.ideas_routes import IdeaRoutes
from services.web.members_routes import MemberRoutes
from services.web.notify_routes import NotifyRoutes
from services.web.static_routes import StaticRoutes


class WebGateway(service_base.ServiceBase, StaticRoutes, MemberRoutes, IdeaRoutes, ArchiveRoutes, NotifyRoutes):
    name = "web"

    web = Gateway()

    @page("GET", "/")
    def home_page(self, request):
        return self.web.render("home.html")
