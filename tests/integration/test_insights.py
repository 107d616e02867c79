"""An agency administrator's insights: members, ideas, ratings and comments per month, per agency and network."""
import html
import re
from datetime import datetime, timezone

import requests

from tests.integration.ideas_support import PASSWORD, start_world


def counts_this_month(page: str, title: str) -> int:
    """This month's number in the table of ``title`` (its last row)."""
    table = re.search(rf'{re.escape(title)}, by month</caption>(.*?)</table>', page, re.S)
    assert table, f"no table for {title}"
    month = datetime.now(timezone.utc).strftime("%Y-%m")
    return int(re.search(rf'<th scope="row">{month}</th><td>(\d+)</td></tr></tbody>', table.group(1)).group(1))


def test_the_insights_page_counts_this_months_activity_and_only_admins_of_the_agency_see_it(platform):
    world = start_world(platform)
    with platform.rpc() as rpc:
        rpc.members.create_agency({"slug": "ato", "name": "Australian Taxation Office"},
                                  {"email": "otto@example.gov.au", "display_name": "Otto Admin", "password": PASSWORD})
    admin, rosa, tariq = world.tokens["Ada Admin"], world.member("Rosa Nguyen"), world.member("Tariq Haddad")
    network = world.network(rosa, "Co-design practitioners")
    first = world.submit(rosa, title="Community panels", network=network)
    world.submit(rosa, title="Plain-language summaries")
    world.submit(rosa, title="A draft", draft=True)
    assert world.call("PUT", f"/api/v1/ideas/{first['id']}/rating", tariq, json={"stars": 4}).status_code == 200
    for body in ("We ran one of these.", "So did we."):
        assert world.call("POST", f"/api/v1/ideas/{first['id']}/comments", tariq, json={"body": body}).status_code == 201

    answer = requests.get(f"{world.url}/admin/insights", headers={"Authorization": f"Bearer {admin}"}, timeout=20)
    assert answer.status_code == 200, answer.text[:500]
    page = html.unescape(answer.text)
    month = datetime.now(timezone.utc).strftime("%Y-%m")
    assert f'<th scope="row">{month}</th>' in page
    assert counts_this_month(page, "New members") == 3  # Ada, Rosa, Tariq
    assert counts_this_month(page, "Ideas shared") == 2  # drafts are not shared
    assert counts_this_month(page, "Ratings given") == 1
    assert counts_this_month(page, "Comments posted") == 2
    assert page.count('<svg class="chart"') == 4 + 3, "four agency charts and three for the one network"
    assert "Co-design practitioners" in page

    for outsider in (rosa, world.log_in("otto@example.gov.au")):
        refused = requests.get(f"{world.url}/admin/insights?agency=dta", headers={"Authorization": f"Bearer {outsider}"},
                               timeout=20)
        assert refused.status_code == 403
    with platform.rpc(world.log_in("otto@example.gov.au")) as rpc:
        try:
            rpc.ideas.insights("dta", 12)
        except Exception as error:
            assert "agency admin role in dta" in str(error)
        else:
            raise AssertionError("another agency's administrator read dta's insights")
    with platform.rpc(admin) as rpc:
        for bad in (0, 37, "12"):
            try:
                rpc.members.insights("dta", bad)
            except Exception as error:
                assert "months must be a whole number from 1 to 36" in str(error)
            else:
                raise AssertionError(f"months={bad!r} was accepted")
