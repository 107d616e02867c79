"""The bell in the page header: a cheap unread count that never stops a page from rendering."""
import re

import requests

from tests.integration.notify_world import PASSWORD, World
from tests.support.platform import wait_for


def logged_in_session(platform, email):
    session = requests.Session()
    form = session.get(f"{platform.url('web')}/login", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = session.post(f"{platform.url('web')}/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf},
                          timeout=10, allow_redirects=False)
    assert answer.status_code == 303
    return session


def test_pages_render_without_a_count_when_notify_is_not_running(platform):
    platform.start("members", "web")
    world = World(platform)
    world.member("Rosa")
    session = logged_in_session(platform, "rosa@example.gov.au")
    home = session.get(f"{platform.url('web')}/", timeout=10)
    assert home.status_code == 200
    assert 'aria-label="Notifications"' in home.text and 'class="count"' not in home.text


def test_the_bell_counts_unread_notifications_and_forgets_the_count_when_the_member_reads(platform):
    platform.overrides["notify"] = {"SMTP_URL": "smtp://127.0.0.1:9"}
    platform.start("members", "notify", "web")
    world = World(platform)
    world.member("Rosa")
    world.member("Tariq")
    world.submit_idea("idea-1", "Rosa")
    world.comment("idea-1", "Tariq", idea_author="Rosa")
    with world.rpc("Rosa") as rpc:
        wait_for(lambda: rpc.notify.unread_count() == 1, message="Rosa's notification")
    session = logged_in_session(platform, "rosa@example.gov.au")
    home = session.get(f"{platform.url('web')}/", timeout=10).text
    assert 'Notifications: 1 unread' in home and '<span class="count">1</span>' in home

    page = session.get(f"{platform.url('web')}/notifications", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    listed = session.get(f"{platform.url('web')}/api/v1/notifications", timeout=10).json()
    opened = session.post(f"{platform.url('web')}/notifications/{listed['items'][0]['id']}/read", timeout=10,
                          data={"csrf_token": csrf}, allow_redirects=False)
    assert opened.status_code == 303 and opened.headers["Location"] == "/ideas/idea-1#comment-c-1"
    home = session.get(f"{platform.url('web')}/", timeout=10).text
    assert 'class="count"' not in home  # read at once, not after the cache expires
