"""The gateway serves its OpenAPI description, the API page and the events page."""
import requests

from services.common import contract


def test_the_gateway_serves_openapi_and_the_two_documentation_pages(platform):
    platform.start("members", "web")
    base = platform.url("web")

    described = requests.get(f"{base}/api/v1/openapi.json", timeout=10)
    assert described.status_code == 200 and described.headers["Content-Type"].startswith("application/json")
    document = described.json()
    assert document["openapi"].startswith("3.") and "/api/v1/ideas/{idea_id}/rating" in document["paths"]

    page = requests.get(f"{base}/api/docs", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "/api/v1/ideas/{idea_id}/rating" in page.text and "stars" in page.text

    events = requests.get(f"{base}/docs/events", timeout=10)
    assert events.status_code == 200
    for spec in contract.all_specs():
        assert f'id="{spec.name}.v{spec.version}"' in events.text
    assert "ideas.events" in events.text and "au.gov.engage.idea.rated.v1" in events.text
