"""The idea page's floor: one nameko HTTP entrypoint that reads one document and renders a page of the same size.

The document holds what the gateway's idea page shows (the idea, its rating
histogram, its comments) and the byte length of the gateway's page, so the
rendered page is made as long as the real one.
"""
from __future__ import annotations

import os

import jinja2
import pymongo
from nameko.web.handlers import http
from werkzeug.wrappers import Response

TEMPLATE = jinja2.Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ idea.title }}</title></head><body><main>
<h1>{{ idea.title }}</h1><p>{{ idea.description }}</p>
<section><h2>Rating</h2><p>{{ idea.rating.average }} from {{ idea.rating.count }} votes</p><ul>
{% for stars, votes in (idea.rating.distribution or {}).items() %}<li>{{ stars }}: {{ votes }}</li>{% endfor %}</ul></section>
<section><h2>Comments</h2><ol>
{% for comment in comments %}<li><p>{{ comment.author_name }} <time datetime="{{ comment.created_at }}">{{ comment.created_at }}</time></p><p>{{ comment.body }}</p></li>
{% endfor %}</ol></section></main></body></html>""")


class BarePageService:
    name = "bare_page"
    client = pymongo.MongoClient(os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/"), tz_aware=True)
    pages = client[os.environ.get("BENCH_DATABASE", "bench_bare_page")].pages

    @http("GET", "/ready")
    def ready(self, request):
        return "ready"

    @http("GET", "/pages/<string:page_id>")
    def page(self, request, page_id):
        doc = self.pages.find_one({"_id": page_id})
        html = TEMPLATE.render(idea=doc["idea"], comments=doc["comments"]).encode()
        return Response(html + b" " * max(0, doc["size"] - len(html)), mimetype="text/html")
