"""The ideas demonstration content: created through the API, and a second run adds nothing."""
import requests

from tests.support.accounts import register_confirmed
from tools import demo
from tools.demo import ideas as ideas_demo


def test_seeding_twice_creates_the_demo_ideas_once_with_ratings_and_threads(platform):
    platform.start("members", "ideas", "web")
    web = platform.url("web")
    with platform.rpc() as rpc:
        for slug, name, admin in demo.AGENCIES:
            rpc.members.create_agency({"slug": slug, "name": name}, {**admin, "password": demo.DEMO_PASSWORD})
    for email, display_name, agency in demo.MEMBERS:
        register_confirmed(platform, {"email": email, "display_name": display_name,
                                      "password": demo.DEMO_PASSWORD, "agency": agency})
    client = demo.DemoClient(web)
    demo.create_demo_networks(client, say=lambda line: None)  # the demo ideas are shared in these networks
    ideas_demo.seed(client)
    ideas_demo.seed(client)
    items = requests.get(f"{web}/api/v1/ideas", timeout=10).json()["items"]
    assert sorted(i["title"] for i in items) == sorted(s["idea"]["title"] for s in ideas_demo.IDEAS if not s.get("draft"))
    network = next(i for i in items if i["title"].startswith("A service-wide network"))
    assert network["rating"]["count"] == 5 and network["rating"]["average"] == 2.8
    comments = requests.get(f"{web}/api/v1/ideas/{network['id']}/comments", timeout=10).json()["items"]
    assert [c["depth"] for c in comments][:3] == [1, 2, 3] and len(comments) == 7
