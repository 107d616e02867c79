"""Public events carry only public facts: one-time links go over members.private, drafts stay unpublished."""
import json
import re
import time
import uuid

import pika
import pytest
import requests

from services import subscriber_accounts
from services.common.events_log import history
from services.common.events import utc_now
from tests.integration.notify_world import PASSWORD
from tests.integration.test_notify_email import caught_for, mail_port, world  # noqa: F401  (fixtures)
from tests.security.test_subscriber_accounts import refused
from tests.support.platform import wait_for

PUBLIC = ("members", "ideas", "notify", "archive")


class PublicWatcher:
    """A queue of the test's own bound with ``#`` to every public exchange: what any outside subscriber could see."""

    def __init__(self, uri: str):
        self.connection = pika.BlockingConnection(pika.URLParameters(uri))
        self.channel = self.connection.channel()
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        for service in PUBLIC:
            self.channel.exchange_declare(f"{service}.events", exchange_type="topic", durable=True)
            self.channel.queue_bind(self.queue, f"{service}.events", routing_key="#")
        self.seen: list[bytes] = []

    def drain(self, settle: float = 1.0) -> list[bytes]:
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            method, _properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                self.connection.sleep(0.05)
            else:
                self.seen.append(body)
        return self.seen

    def types(self) -> list[str]:
        return [json.loads(body)["type"] for body in self.seen]


def test_no_public_event_carries_a_reset_or_verification_link_and_the_mails_still_bring_working_links(world, platform):
    watcher = PublicWatcher(platform.uri_for("operator"))
    with world.rpc() as rpc:
        rpc.members.request_password_reset({"email": "rosa@example.gov.au"})
        rpc.members.register({"email": "newcomer@example.gov.au", "display_name": "Nia Newcomer",
                              "password": PASSWORD, "agency": "dta"})
    reset_mail = wait_for(lambda: caught_for(platform, "rosa@example.gov.au"), timeout=15, message="the reset mail")
    confirm_mail = wait_for(lambda: caught_for(platform, "newcomer@example.gov.au"), timeout=15,
                            message="the confirmation mail")
    reset_link = re.search(re.escape(platform.url("web")) + r"/reset/\S+", reset_mail[-1]["text"]).group(0)
    verify_link = re.search(re.escape(platform.url("web")) + r"/verify/\S+", confirm_mail[-1]["text"]).group(0)

    captured = watcher.drain()
    assert "au.gov.engage.member.registered.v1" in watcher.types()  # the watcher does hear public events
    for body in captured:
        text = body.decode()
        for secret in (reset_link.rsplit("/", 1)[-1], verify_link.rsplit("/", 1)[-1], "/reset/", "/verify/",
                       "rosa@example.gov.au", "newcomer@example.gov.au"):
            assert secret not in text

    assert requests.get(verify_link, allow_redirects=False, timeout=10).status_code == 303
    with world.rpc() as rpc:
        rpc.members.reset_password({"token": reset_link.rsplit("/", 1)[-1], "password": "a brand new long password"})
        assert rpc.members.log_in({"email": "rosa@example.gov.au", "password": "a brand new long password"})["token"]


def test_a_private_row_keeps_its_secret_only_until_sent_and_is_never_replayed(world, platform):
    with world.rpc() as rpc:
        rpc.members.request_password_reset({"email": "rosa@example.gov.au"})
    outbox = platform.db("members").outbox
    row = wait_for(lambda: outbox.find_one({"type": "member.password_reset_requested", "state": "sent"}),
                   message="the reset row sent")
    assert row["exchange"] == "members.private" and "data" not in row["envelope"]
    replayable = {entry["type"] for entry in history({"members": platform.db("members")}, since=utc_now().replace(year=2000))}
    assert "member.registered" in replayable
    assert not replayable & {"member.password_reset_requested", "member.verification_requested"}


@pytest.fixture
def account(infrastructure, vhost):
    name = f"nosy-{uuid.uuid4().hex[:6]}"
    made = subscriber_accounts.create(infrastructure[1], vhost, name)
    yield made
    subscriber_accounts.revoke(infrastructure[1], name)


def test_an_outside_subscriber_cannot_bind_its_queue_to_members_private(account, platform):
    platform.start("members")  # members.private exists, as in every deployment
    own = f"subscriber.{account.name}.links"
    assert refused(account.uri, lambda ch: (ch.queue_declare(own, durable=True),
                                            ch.queue_bind(own, "members.private", "#"))) == "refused"


@pytest.mark.parametrize("user", ["ideas", "archive", "web"])
def test_no_service_but_notify_may_bind_to_members_private(platform, user):
    platform.start("members")
    own = f"{user}.probe-private"
    assert refused(platform.uri_for(user), lambda ch: (ch.queue_declare(own, exclusive=True),
                                                       ch.queue_bind(own, "members.private", "#"))) == "refused"
