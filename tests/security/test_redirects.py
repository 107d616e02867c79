"""After log-in people go back where they were, but only to a page of this site."""
from __future__ import annotations

import re

import pytest
import requests

from services.web.gateway import same_site_path
from tests.integration.ideas_support import start_world

CSRF_INPUT = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
OFF_SITE = ["/\\evil.example/x", "/\t/evil.example", "//evil.example", "https://evil.example", "/\\t/evil",
            "/%5Cevil.example", "/%2F/evil.example", "%2F%2Fevil.example", "/%09/evil.example", "/%252F/evil.example",
            "/\n/evil.example", "\\\\evil.example", " //evil.example", "javascript:alert(1)", "/%5C%5Cevil.example"]


@pytest.mark.parametrize("target", OFF_SITE)
def test_a_next_that_a_browser_would_follow_off_site_falls_back_to_the_home_page(target):
    assert same_site_path(target) == "/"


@pytest.mark.parametrize("target", ["/ideas", "/ideas?sort=new&page=2", "/search?q=water%20policy", "/me#keys"])
def test_a_path_on_this_site_is_kept(target):
    assert same_site_path(target) == target


def test_logging_in_with_an_off_site_next_lands_on_the_home_page(platform):
    world = start_world(platform)
    world.member("Rosa Nguyen")
    landed = {}
    for target in OFF_SITE + ["/ideas?sort=new"]:
        browser = requests.Session()
        csrf = CSRF_INPUT.search(browser.get(f"{world.url}/login", timeout=10).text).group(1)
        answer = browser.post(f"{world.url}/login", allow_redirects=False, timeout=10, data={
            "email": "rosa.nguyen@example.gov.au", "password": "a long enough password", "csrf_token": csrf,
            "next": target})
        assert answer.status_code == 303, answer.text
        landed[target] = answer.headers["Location"]
    assert landed.pop("/ideas?sort=new") == "/ideas?sort=new"
    assert set(landed.values()) == {"/"}, landed
