"""Scenario 8: fifty ratings and fifty comments on one idea at once, and two members joining one network at once."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.chaos.conftest import report
from tests.integration.ideas_support import start_world

WRITERS = 50


def test_parallel_ratings_comments_and_joins_count_exactly(platform):
    world = start_world(platform)
    idea = world.submit(world.member("Rosa Nguyen"))
    tokens = [world.member(f"Writer {n:02d}") for n in range(WRITERS)]
    stars = [1 + n % 5 for n in range(WRITERS)]
    path = f"/api/v1/ideas/{idea['id']}"

    def rate(n: int) -> int:
        return world.call("PUT", f"{path}/rating", tokens[n], json={"stars": stars[n]}).status_code

    def comment(n: int) -> int:
        return world.call("POST", f"{path}/comments", tokens[n], json={"body": f"Comment number {n}"}).status_code

    with ThreadPoolExecutor(max_workers=2 * WRITERS) as pool:
        ratings = list(pool.map(rate, range(WRITERS)))
        comments = list(pool.map(comment, range(WRITERS)))
        # rating and commenting at the same moment as well
        mixed = list(pool.map(lambda n: rate(n) if n % 2 else comment(n), range(WRITERS)))

    shown = world.call("GET", path).json()
    stored = platform.db("ideas").ideas.find_one({"_id": idea["id"]})
    comment_rows = platform.db("ideas").comments.count_documents({"idea_id": idea["id"]})
    expected_comments = WRITERS + WRITERS // 2

    network = world.call("POST", "/api/v1/networks", tokens[0], json={"name": "Engagement practice",
                                                                     "description": "People who run consultations."})
    assert network.status_code == 201, network.text
    slug = network.json()["slug"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        joins = list(pool.map(lambda n: world.call("POST", f"/api/v1/networks/{slug}/membership", tokens[n]).status_code,
                              (1, 2)))
    joined = world.call("GET", f"/api/v1/networks/{slug}").json()
    report("concurrent writes", ratings_sent=WRITERS, rating_count=shown["rating"]["count"],
           comments_sent=expected_comments, comments_stored=comment_rows,
           comment_count_shown=shown.get("comment_count"), idea_version=stored["version"],
           joins_sent=2, network_members=joined["member_count"])
    assert ratings + comments + mixed == [200] * WRITERS + [201] * WRITERS + [
        200 if n % 2 else 201 for n in range(WRITERS)]
    assert shown["rating"]["count"] == WRITERS
    assert stored["rating"]["sum"] == sum(stars)
    assert shown["rating"]["distribution"] == {str(s): stars.count(s) for s in range(1, 6)}
    assert comment_rows == expected_comments
    assert stored.get("comment_count", expected_comments) == expected_comments
    assert joins == [200, 200]
    assert joined["member_count"] == 3 and len(joined["members"]) == 3
