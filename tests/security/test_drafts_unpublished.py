"""A draft is its author's alone: nothing about it reaches ideas.events, or a webhook, until it is published."""
import json
import time

from tests.integration.ideas_support import start_world
from tests.integration.test_notify_webhooks import Receiver
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


def test_a_drafts_creation_and_edits_reach_no_webhook_and_publishing_it_does(platform):
    platform.overrides["notify"] = {"WEBHOOK_RETRY_DELAYS": "0.3,0.6", "SMTP_URL": "smtp://127.0.0.1:9",
                                    "MAIL_SEND_SECONDS": 0.2}
    world = start_world(platform)
    platform.start("notify")
    hook = Receiver()
    try:
        subscriber = world.member("Tariq Aziz")
        created = world.call("POST", "/api/v1/webhooks", subscriber, json={
            "url": hook.url, "event_types": ["idea.submitted", "idea.updated", "idea.state_changed"]})
        assert created.status_code == 201, created.text
        author = world.member("Rosa Nguyen")
        draft = world.submit(author, title="Secret draft title", draft=True)
        edited = world.call("PATCH", f"/api/v1/ideas/{draft['id']}", author, json={"description": "Still a draft"})
        assert edited.status_code == 200, edited.text
        time.sleep(2.0)  # time enough for a delivery, as the publication below shows
        assert [r for r in hook.requests if draft["id"].encode() in r["body"]] == []

        published = world.call("POST", f"/api/v1/ideas/{draft['id']}/state", author, json={"state": "open"})
        assert published.status_code == 200, published.text
        delivered = wait_for(lambda: [r for r in hook.requests if b"Secret draft title" in r["body"]],
                             message="the publication's delivery")
        assert json.loads(delivered[0]["body"])["data"]["description"] == "Still a draft"
    finally:
        hook.close()
