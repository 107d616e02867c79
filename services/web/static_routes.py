"""Serves the gateway's own assets (no external CDN)."""
from __future__ import annotations

import mimetypes

from werkzeug.wrappers import Response

from services.common.errors import NotFound
from services.web.gateway import api
from services.web.i18n import HERE

STATIC = (HERE / "static").resolve()


class StaticRoutes:
    @api("GET", "/static/<path:name>")
    def static_file(self, request, name):
        path = (STATIC / name).resolve()
        if STATIC not in path.parents or not path.is_file():
            raise NotFound("No such file.")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return Response(path.read_bytes(), mimetype=mime, headers={"Cache-Control": "public, max-age=3600"})

    @api("GET", "/favicon.ico")
    def favicon(self, request):
        """Browsers ask for it on every site whatever the page links; a 404 would fill the logs."""
        return Response((STATIC / "favicon.ico").read_bytes(), mimetype="image/x-icon",
                        headers={"Cache-Control": "public, max-age=86400"})
