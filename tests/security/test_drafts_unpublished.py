"""A draft is its author's alone: nothing about it reaches ideas.events until it is published."""
import json

from tests.security.test_private_route import PublicWatcher
from tests.support.accounts import register_confirmed
from tests.support.platform import wait_for

import requests


def test_a_drafts_creation_and_edits_reach_no_outside_subscriber_and_publishing_it_does(platform):
    platform.start("members", "ideas", "web")
    with platform.rpc() as rpc:
        rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency"})
    register_confirmed(platform, {"email": "rosa@example.gov.au", "display_name": "Rosa Nguyen",
                                  "password": "a long enough password", "agency": "dta"})
    token = requests.post(f"{platform.url('web')}/api/v1/tokens", json={"email": "rosa@example.gov.au",
                          "password": "a long enough password"}, timeout=10).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    watcher = PublicWatcher(platform.uri_for("operator"))
    idea = requests.post(f"{platform.url('web')}/api/v1/ideas", headers=auth, timeout=10, json={
        "title": "Secret draft title", "description": "Not yet", "what_it_might_look_like": "x",
        "why_it_matters": "y", "prompts": [], "tags": [], "draft": True}).json()
    edited = requests.patch(f"{platform.url('web')}/api/v1/ideas/{idea['id']}", headers=auth, timeout=10,
                            json={"description": "Still a draft"})
    assert edited.status_code == 200, edited.text
    assert not [body for body in watcher.drain(2.0) if b"Secret draft title" in body or idea["id"].encode() in body]

    published = requests.post(f"{platform.url('web')}/api/v1/ideas/{idea['id']}/state", headers=auth, timeout=10,
                              json={"state": "open"})
    assert published.status_code == 200, published.text
    wait_for(lambda: any(b"Secret draft title" in body for body in watcher.drain(0.3)), message="the publication")
    opened = [json.loads(b) for b in watcher.seen if idea["id"].encode() in b]
    assert opened[0]["type"] == "au.gov.engage.idea.state_changed.v1"
    assert opened[0]["data"]["description"] == "Still a draft"
