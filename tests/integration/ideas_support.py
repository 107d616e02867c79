"""What the ideas integration tests share: a running platform with an agency, members and their tokens."""
from __future__ import annotations

import requests

from tests.support.accounts import confirm_address
from tests.support.platform import wait_for

PASSWORD = "a long enough password"
IDEA = {
    "title": "A network for engagement practitioners",
    "description": "People who run consultations across agencies meet and swap what worked, so good "
                   "engagement practice travels beyond one team.",
    "what_it_might_look_like": "A meet-up every quarter and an online space between meetings.",
    "why_it_matters": "Lessons from engaging the public stay where they were learned unless someone shares them.",
    "prompts": ["Would you take part?", "How would it keep going after a keen start?"],
    "tags": ["networks", "capability"],
}


class IdeasWorld:
    """The gateway's URL, and members registered through its API."""

    def __init__(self, platform):
        self.platform = platform
        self.url = platform.url("web")
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    def member(self, name: str, agency: str = "dta") -> str:
        """Register ``name`` (once) and return their token."""
        if name not in self.tokens:
            email = name.lower().replace(" ", ".") + "@example.gov.au"
            created = requests.post(f"{self.url}/api/v1/members", json={
                "email": email, "display_name": name, "password": PASSWORD, "agency": agency}, timeout=10)
            assert created.status_code == 201, created.text
            self.ids[name] = created.json()["id"]
            confirm_address(self.platform, self.ids[name])
            self.tokens[name] = self.log_in(email)
        return self.tokens[name]

    def log_in(self, email: str) -> str:
        issued = requests.post(f"{self.url}/api/v1/tokens", json={"email": email, "password": PASSWORD}, timeout=10)
        assert issued.status_code == 201, issued.text
        return issued.json()["token"]

    def call(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def network(self, token: str, name: str) -> str:
        """Create a network of practice as the token's member (its first member); its slug once ideas knows."""
        created = self.call("POST", "/api/v1/networks", token, json={"name": name, "description": "For testing."})
        assert created.status_code == 201, created.text
        slug = created.json()["slug"]
        wait_for(lambda: self.platform.db("ideas").network_memberships.count_documents(
            {"network": slug, "member": True}) > 0, message=f"ideas hears that {name} has a member")
        return slug

    def submit(self, token: str, **changes) -> dict:
        answer = self.call("POST", "/api/v1/ideas", token, json={**IDEA, **changes})
        assert answer.status_code == 201, answer.text
        return answer.json()


def start_world(platform) -> IdeasWorld:
    platform.start("members", "ideas", "web")
    with platform.rpc() as rpc:
        rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency"},
                                  {"email": "admin@example.gov.au", "display_name": "Ada Admin", "password": PASSWORD})
    world = IdeasWorld(platform)
    world.tokens["Ada Admin"] = world.log_in("admin@example.gov.au")
    return world
