"""Demonstration content for ``engage seed-demo``: agencies, members, networks, then the ideas and archive stories.

Everything goes through the public API (and the operator's RPC for agencies),
exactly as a person or an operator would do it, so the demo also exercises the
event flow. Running it again changes nothing: each step checks first.
"""
from __future__ import annotations

from typing import Callable
from urllib.parse import parse_qs, urlsplit

import requests

from tools.demo import archive, ideas

DEMO_PASSWORD = "engage-demo-2026"

AGENCIES = [
    ("apsc", "Australian Public Service Commission", {"email": "rosa.nguyen@apsc.example.gov.au",
                                                      "display_name": "Rosa Nguyen"}),
    ("dta", "Digital Transformation Agency", {"email": "tariq.haddad@dta.example.gov.au",
                                              "display_name": "Tariq Haddad"}),
    ("health", "Department of Health and Aged Care", {"email": "grace.okafor@health.example.gov.au",
                                                      "display_name": "Grace Okafor"}),
]
MEMBERS = [
    ("jill.moreton@apsc.example.gov.au", "Jill Moreton", "apsc"),
    ("sam.whitfield@dta.example.gov.au", "Sam Whitfield", "dta"),
    ("mei.chen@health.example.gov.au", "Mei Chen", "health"),
    ("oliver.brandt@apsc.example.gov.au", "Oliver Brandt", "apsc"),
]
NETWORKS = [
    ("rosa.nguyen@apsc.example.gov.au", "Engagement practitioners",
     "People across the public service who run consultations, co-design and deliberative work, swapping what worked."),
    ("tariq.haddad@dta.example.gov.au", "Digital participation",
     "Online tools for taking part: platforms, accessibility and moderation of public discussion."),
    ("grace.okafor@health.example.gov.au", "Community partnerships",
     "Working with community organisations as partners rather than as an audience."),
]
# A closed network, as a closed community for public servants only: its owner administers it, and one
# request to join waits for them (log in as its owner to approve it on the network's page).
CLOSED_NETWORKS = [
    ("rosa.nguyen@apsc.example.gov.au", "Evaluation circle",
     "A closed network for frank talk about evaluations that did not go to plan. Ask to join."),
]
REQUESTS = {"evaluation-circle": ["jill.moreton@apsc.example.gov.au"]}
JOINS = {
    "engagement-practitioners": ["jill.moreton@apsc.example.gov.au", "sam.whitfield@dta.example.gov.au",
                                 "mei.chen@health.example.gov.au", "oliver.brandt@apsc.example.gov.au"],
    "digital-participation": ["sam.whitfield@dta.example.gov.au", "rosa.nguyen@apsc.example.gov.au"],
    "community-partnerships": ["mei.chen@health.example.gov.au", "jill.moreton@apsc.example.gov.au"],
}


class DemoClient:
    """A small client of the gateway's JSON API that logs in demo members by email."""

    def __init__(self, web_url: str):
        self.web_url = web_url.rstrip("/")
        self._tokens: dict[str, str] = {}

    def token(self, email: str) -> str:
        if email not in self._tokens:
            answer = requests.post(f"{self.web_url}/api/v1/tokens", json={"email": email, "password": DEMO_PASSWORD},
                                   timeout=30)
            answer.raise_for_status()
            self._tokens[email] = answer.json()["token"]
        return self._tokens[email]

    def call(self, method: str, path: str, *, as_member: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if as_member:
            headers["Authorization"] = f"Bearer {self.token(as_member)}"
        return requests.request(method, f"{self.web_url}{path}", headers=headers, timeout=30, **kwargs)


def create_demo_agencies(rpc, existing: set[str], say: Callable[[str], None] = print) -> None:
    """The demonstration agencies, each accepting registrations from ``<slug>.example.gov.au`` addresses."""
    for slug, name, admin in AGENCIES:
        if slug not in existing:
            rpc.members.create_agency({"slug": slug, "name": name, "email_domains": [f"{slug}.example.gov.au"]},
                                      {**admin, "password": DEMO_PASSWORD})
            say(f"  agency {name} with administrator {admin['display_name']}")


def create_demo_networks(client: DemoClient, say: Callable[[str], None] = print) -> None:
    """The demonstration networks with their members (the demo ideas are shared in them), and a waiting request."""
    networks = {n["slug"] for n in client.call("GET", "/api/v1/networks").json()["items"]}
    for owner, name, description, closed in [(*n, False) for n in NETWORKS] + [(*n, True) for n in CLOSED_NETWORKS]:
        slug = name.lower().replace(" ", "-")
        if slug not in networks:
            client.call("POST", "/api/v1/networks", as_member=owner,
                        json={"name": name, "description": description, "closed": closed}).raise_for_status()
            say(f"  {'closed ' if closed else ''}network {name}")
        for email in JOINS.get(slug, []) + REQUESTS.get(slug, []):
            # joining a closed network asks its administrator; asking again leaves one request waiting
            client.call("POST", f"/api/v1/networks/{slug}/membership", as_member=email).raise_for_status()


def seed_demo(*, web_url: str, rpc_factory: Callable, say: Callable[[str], None] = print) -> None:
    client = DemoClient(web_url)
    existing = {a["slug"] for a in client.call("GET", "/api/v1/agencies").json()["items"]}
    with rpc_factory() as rpc:
        create_demo_agencies(rpc, existing, say)
    admins = {slug: admin["email"] for slug, _name, admin in AGENCIES}
    for email, display_name, agency in MEMBERS:
        # each agency's administrator invites its demo members, so they log in without a mailbox to confirm from
        invite = client.call("POST", "/api/v1/invites", as_member=admins[agency], json={"email": email})
        invite.raise_for_status()
        code = parse_qs(urlsplit(invite.json()["invite_url"]).query)["invite"][0]
        answer = client.call("POST", "/api/v1/members", json={"email": email, "display_name": display_name,
                                                              "password": DEMO_PASSWORD, "agency": agency,
                                                              "invite": code})
        if answer.status_code == 201:
            say(f"  member {display_name}")
        elif answer.status_code != 409:
            answer.raise_for_status()
    create_demo_networks(client, say)
    for area, story in (("ideas", ideas), ("archive", archive)):  # archive links a lesson to an adopted demo idea
        say(f"  {area}…")
        story.seed(client)
    say("Demonstration content is ready. Every demo member's password is " + DEMO_PASSWORD + ".")
