"""The home page shows that the network is alive, and each section stands alone when its service is away."""
import html

import requests

from tests.integration.ideas_support import start_world
from tests.support.platform import wait_for


def home(world, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = requests.get(f"{world.url}/", headers=headers, timeout=20)
    assert answer.status_code == 200, answer.text[:500]
    return html.unescape(answer.text)


def section(page: str, heading: str) -> str:
    """The text of the card or section under ``heading`` (up to the next heading)."""
    start = page.index(f">{heading}</h2>")
    following = page.find("</h2>", start + len(heading) + 6)
    return page[start:following if following != -1 else None]


def test_newest_top_adopted_networks_and_archive_show_and_a_member_sees_their_own_ideas(platform):
    world = start_world(platform)
    platform.start("archive")
    assert "No ideas yet: be the first to share one." in home(world)

    rosa, tariq, admin = world.member("Rosa Nguyen"), world.member("Tariq Haddad"), world.tokens["Ada Admin"]
    network = world.network(rosa, "Co-design practitioners")
    panels = world.submit(rosa, title="Community panels in every library", network=network)
    summaries = world.submit(rosa, title="Plain-language summaries for consultations")
    draft = world.submit(rosa, title="A draft nobody else may see", draft=True)
    assert world.call("PUT", f"/api/v1/ideas/{summaries['id']}/rating", tariq, json={"stars": 5}).status_code == 200
    for move in ({"state": "under_review"}, {"state": "adopted", "official_response": "Every consultation from July."}):
        assert world.call("POST", f"/api/v1/ideas/{summaries['id']}/state", admin, json=move).status_code == 200
    published = world.call("POST", "/api/v1/archive/resources", admin, json={
        "kind": "tool", "title": "Workshop planning canvas", "summary": "A canvas for planning workshops.",
        "body": "Use it before the first meeting.", "licence": "CC-BY-4.0", "attribution": "DTA", "tags": []})
    assert published.status_code == 201, published.text

    def shows_everything() -> str | None:
        page = home(world)
        wanted = [("Newest ideas", panels["title"]), ("Top rated", summaries["title"]),
                  ("Recently adopted", "Every consultation from July."), ("Active networks", "Co-design practitioners"),
                  ("New in the archive", "Workshop planning canvas")]
        return page if all(text in section(page, heading) for heading, text in wanted) else None

    page = wait_for(shows_everything, timeout=15, message="the home page to show the new ideas, network and resource")
    assert "1 new idea" in section(page, "Active networks")
    assert "5.0 ★ (1)" in section(page, "Top rated")
    assert draft["title"] not in page and "Your activity" not in page, "a visitor sees no one's drafts"

    mine = section(home(world, rosa), "Your activity")
    assert draft["title"] in mine and panels["title"] in mine
    assert "You have not shared an idea yet." in section(home(world, tariq), "Your activity")


def test_a_service_that_does_not_answer_empties_only_its_own_section(platform):
    world = start_world(platform)
    platform.start("archive")
    rosa = world.member("Rosa Nguyen")
    world.submit(rosa, title="Street-level listening posts")
    platform.stop_service("archive")

    page = wait_for(lambda: (lambda text: text if "Street-level listening posts" in text else None)(home(world)),
                    timeout=10, message="the newest idea on the home page")
    assert "This cannot be shown right now" in section(page, "New in the archive")
    assert "This cannot be shown right now" not in section(page, "Newest ideas")

    platform.stop_service("ideas")  # what the page cache holds still shows; a member's own ideas cannot
    page = home(world, rosa)
    assert "Street-level listening posts" in section(page, "Newest ideas")
    assert "This cannot be shown right now" in section(page, "Your activity")


def test_bad_limits_are_refused_with_the_reason(platform):
    world = start_world(platform)
    with platform.rpc(world.member("Rosa Nguyen")) as rpc:
        for call, most in ((rpc.ideas.highlights, 20), (rpc.ideas.my_ideas, 50)):
            for bad in (0, most + 1, "5", True, None):
                try:
                    call(bad)
                except Exception as error:  # the kit's ValidationFailed, as the caller receives it
                    assert f"limit must be a whole number from 1 to {most}" in str(error), (bad, error)
                else:
                    raise AssertionError(f"{call} accepted {bad!r}")
