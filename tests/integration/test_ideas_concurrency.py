"""Fifty members rate one idea at the same moment: no rating is lost, the average is exact."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.ideas_support import start_world

RATERS = 50


def test_fifty_concurrent_ratings_by_fifty_members_count_fifty_with_the_exact_average(platform):
    world = start_world(platform)
    idea = world.submit(world.member("Rosa Nguyen"))
    tokens = [world.member(f"Rater {n:02d}") for n in range(RATERS)]
    stars = [1 + n % 5 for n in range(RATERS)]

    def rate(pair):
        token, given = pair
        return world.call("PUT", f"/api/v1/ideas/{idea['id']}/rating", token, json={"stars": given}).status_code

    with ThreadPoolExecutor(max_workers=RATERS) as pool:
        statuses = list(pool.map(rate, zip(tokens, stars)))
    assert statuses == [200] * RATERS
    rating = world.call("GET", f"/api/v1/ideas/{idea['id']}").json()["rating"]
    assert rating["count"] == RATERS
    assert rating["average"] == pytest.approx(round(sum(stars) / RATERS, 2))
    assert rating["distribution"] == {str(n): stars.count(n) for n in range(1, 6)}
    stored = platform.db("ideas").ideas.find_one({"_id": idea["id"]})
    assert stored["rating"]["sum"] == sum(stars)
    assert platform.db("ideas").ratings.count_documents({"idea_id": idea["id"]}) == RATERS
    assert stored["version"] == idea["version"] + RATERS
