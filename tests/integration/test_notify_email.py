"""Email over real SMTP: the local run's catch-all server (aiosmtpd) receives what notify sends."""
import re
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import requests

from services.common.events import isoformat, utc_now
from services.notify import domain
from tests.integration.notify_world import PASSWORD, World
from tests.support.platform import free_port, wait_for


@pytest.fixture
def mail_port(platform):
    """The mail catcher (python -m deploy.local.mailcatcher) storing into this test's notify database."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "deploy.local.mailcatcher", "--port", str(port),
                                "--mongo-uri", platform.mongo_uri, "--database", platform.database_name("notify")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise AssertionError("the mail catcher did not start")
            time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def world(platform, mail_port):
    # development, as in the local run: the caught-mail page exists only there
    platform.overrides["notify"] = {"SMTP_URL": f"smtp://127.0.0.1:{mail_port}", "MAIL_SEND_SECONDS": 0.2,
                                    "ENGAGE_ENV": "development"}
    platform.start("members", "notify", "web")
    world = World(platform)
    for name in ("Rosa", "Tariq", "Mei"):
        world.member(name)
    return world


def api(platform, world, name):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {world.tokens[name]}"
    session.base = platform.url("web")
    return session


def caught_for(platform, address):
    return list(platform.db("notify").caught_mail.find({"envelope_to": address}).sort("received_at", 1))


def set_preference(platform, world, name, kind, mode):
    answer = api(platform, world, name).put(f"{platform.url('web')}/api/v1/notification-preferences",
                                            json={kind: mode}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["kinds"][kind] == mode


def test_an_immediate_email_reaches_the_smtp_server_with_text_html_and_a_stable_message_id(world, platform):
    set_preference(platform, world, "Mei", "comments", "email")
    world.submit_idea("idea-1", "Rosa")
    world.follow("idea-1", "Mei")
    wait_for(lambda: platform.db("notify").followers.find_one({"member_id": world.ids["Mei"]}), message="the follow")
    comment = world.comment("idea-1", "Tariq", idea_author="Rosa", body="Could we <b>pilot</b> it in March?")

    mail = wait_for(lambda: caught_for(platform, "mei@example.gov.au"), timeout=15, message="Mei's email")[0]
    assert mail["subject"] == "Tariq commented on “A network for engagement practitioners”, which you follow"
    assert "Mei" in mail["to"] and "notifications@engage.localhost" in mail["from"]
    assert "Could we <b>pilot</b> it in March?" in mail["text"]
    assert "Could we &lt;b&gt;pilot&lt;/b&gt; it in March?" in mail["html"]  # member text stays text
    assert f"{platform.url('web')}/ideas/idea-1#comment-c-1" in mail["text"]
    key = f"{comment['id']}|{world.ids['Mei']}|notice"
    assert mail["message_id"] == domain.stable_message_id(key, "engage.localhost")
    assert mail["list_unsubscribe"].startswith(f"<{platform.url('web')}/unsubscribe/")
    # the catcher has the mail before notify hears back from the SMTP server and marks it sent
    wait_for(lambda: platform.db("notify").outgoing_mail.find_one({"_id": key, "state": "sent"}), timeout=10,
             message="the mail to be marked sent")
    assert not caught_for(platform, "rosa@example.gov.au")  # Rosa keeps the default: in the app only

    page = requests.get(f"{platform.url('web')}/dev/mail", timeout=10)
    assert page.status_code == 200 and "which you follow" in page.text


def test_a_password_reset_request_is_emailed_with_its_one_time_link(world, platform):
    with world.rpc() as rpc:
        rpc.members.request_password_reset({"email": "rosa@example.gov.au"})
    mail = wait_for(lambda: caught_for(platform, "rosa@example.gov.au"), timeout=15, message="the reset email")[0]
    assert "Reset your" in mail["subject"]
    assert re.search(re.escape(platform.url("web")) + r"/reset/\S+", mail["text"])



def test_a_new_account_is_emailed_the_link_that_confirms_its_address_and_then_logs_in(world, platform):
    with world.rpc() as rpc:
        rpc.members.register({"email": "newcomer@example.gov.au", "display_name": "Nia Newcomer",
                              "password": PASSWORD, "agency": "dta"})
    mail = wait_for(lambda: caught_for(platform, "newcomer@example.gov.au"), timeout=15, message="the confirmation")[0]
    assert "Confirm your" in mail["subject"]
    link = re.search(re.escape(platform.url("web")) + r"/verify/\S+", mail["text"]).group(0)
    assert requests.get(link, allow_redirects=False, timeout=10).status_code == 303
    with world.rpc() as rpc:
        assert rpc.members.log_in({"email": "newcomer@example.gov.au", "password": PASSWORD})["token"]


def test_a_daily_digest_groups_three_events_into_one_email_and_its_unsubscribe_link_turns_that_kind_off(world, platform):
    set_preference(platform, world, "Mei", "comments", "daily")
    world.submit_idea("idea-1", "Rosa")
    world.follow("idea-1", "Mei")
    for number in range(3):
        world.comment("idea-1", "Tariq", idea_author="Rosa", comment_id=f"c-{number}", body=f"Thought number {number}")
    wait_for(lambda: platform.db("notify").notifications.count_documents({"recipient": world.ids["Mei"]}) == 3,
             message="three notifications for the digest")
    time.sleep(1)
    assert not caught_for(platform, "mei@example.gov.au")  # nothing is emailed at once

    tomorrow = {"at": isoformat(utc_now() + timedelta(days=1))}
    with world.rpc() as rpc:
        assert rpc.notify.build_digests(tomorrow)["built"] == 1
        assert rpc.notify.build_digests(tomorrow)["built"] == 0  # once per member per period
    mail = wait_for(lambda: caught_for(platform, "mei@example.gov.au"), timeout=15, message="the digest")
    assert len(mail) == 1
    digest = mail[0]
    assert digest["subject"] == "Your day on Engagement Network: 3 updates"
    for number in range(3):
        assert f"Thought number {number}" in digest["text"] and f"Thought number {number}" in digest["html"]

    link = re.search(r"Stop emails about this: (\S+)", digest["text"]).group(1)
    assert link.startswith(f"{platform.url('web')}/unsubscribe/")
    visitor = requests.Session()  # not logged in
    assert visitor.get(link, timeout=10).status_code == 200
    done = visitor.post(link, timeout=10)
    assert done.status_code == 200 and "no more email" in done.text
    with world.rpc("Mei") as rpc:
        assert rpc.notify.get_preferences()["kinds"]["comments"] == "off"
    assert requests.get(f"{platform.url('web')}/unsubscribe/not-a-real-token", timeout=10).status_code == 422
