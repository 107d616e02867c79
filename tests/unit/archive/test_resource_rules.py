"""Resources: safe Markdown, revisions and the diff between two of them, who may publish."""
from services.archive import domain
from services.common.tokens import Principal


def test_markdown_shows_raw_html_as_text_and_never_runs_script():
    html = domain.render_markdown("Hello <script>alert('x')</script> <b onclick=\"steal()\">bold</b>")
    assert "<script" not in html and "<b " not in html
    assert "&lt;script&gt;" in html


def test_markdown_keeps_only_http_and_mailto_links():
    html = domain.render_markdown("[a](https://example.gov.au) [b](mailto:team@example.gov.au) "
                                  "[c](javascript:alert(1)) [d](data:text/html,hi) [e](vbscript:x)")
    assert 'href="https://example.gov.au"' in html
    assert 'href="mailto:team@example.gov.au"' in html
    assert "javascript:" not in html.split("[c]")[0] and 'href="javascript' not in html
    assert 'href="data:' not in html and 'href="vbscript' not in html
    assert 'rel="nofollow noopener"' in html


def test_markdown_pictures_are_not_embedded():
    assert "<img" not in domain.render_markdown("![chart](https://example.gov.au/chart.png)")


def test_markdown_text_drops_the_markup_for_search():
    assert domain.markdown_text("# Panels\n\nRun *small* panels, see `guide`.\n\n- one\n- two") == \
        "Panels\nRun small panels, see guide.\none\ntwo"


def test_diff_lists_only_the_fields_that_changed_with_their_lines():
    older = domain.revision_fields({"kind": "tool", "title": "Canvas", "summary": "A canvas.",
                                    "body": "Step one\nStep two", "licence": "CC-BY-4.0", "attribution": "DTA",
                                    "tags": ["workshops"]})
    newer = {**older, "body": "Step one\nStep two, in pairs\nStep three", "tags": ["workshops", "co-design"]}
    changes = {change.field: change.lines for change in domain.diff_revisions(older, newer)}
    assert set(changes) == {"body", "tags"}
    assert "-Step two" in changes["body"] and "+Step two, in pairs" in changes["body"]
    assert "+Step three" in changes["body"] and " Step one" in changes["body"]
    assert "+co-design" in changes["tags"]


def test_identical_revisions_have_no_diff():
    fields = domain.revision_fields({"kind": "post", "title": "T", "licence": "CC0-1.0"})
    assert domain.diff_revisions(fields, dict(fields)) == []
    assert domain.changed_fields(fields, dict(fields)) == []


def test_agency_admins_and_network_admins_publish_in_their_agency_only():
    admin = Principal("m1", "dta", roles=("member", "agency_admin"))
    network_admin = Principal("m2", "dta", roles=("member",), network_admin_of=("digital-participation",))
    member = Principal("m3", "dta", roles=("member",))
    operator = Principal("m4", "apsc", roles=("member", "operator"))
    assert domain.may_publish(admin, "dta") and not domain.may_publish(admin, "apsc")
    assert domain.may_publish(network_admin, "dta") and not domain.may_publish(network_admin, "apsc")
    assert not domain.may_publish(member, "dta")
    assert domain.may_publish(operator, "dta")
    assert not domain.may_publish(None, "dta")


def test_only_agency_admins_and_operators_import():
    assert domain.may_import(Principal("m1", "dta", roles=("member", "agency_admin")))
    assert domain.may_import(Principal("m4", "apsc", roles=("operator",)))
    assert not domain.may_import(Principal("m3", "dta", roles=("member", "moderator")))


def test_resource_view_carries_licence_name_and_deed_and_times_with_offset():
    from datetime import datetime
    resource = {"_id": "r1", **domain.revision_fields({"kind": "course", "title": "T", "licence": "CC-BY-SA-4.0",
                                                       "body": "**hi**"}),
                "agency": "dta", "author_name": "Rosa", "status": "published", "revision": 1, "version": 1,
                "published_at": datetime(2026, 1, 10, 2, 0), "updated_at": datetime(2026, 1, 10, 2, 0)}
    view = domain.resource_view(resource)
    assert view["licence_name"].startswith("Creative Commons Attribution-ShareAlike")
    assert view["licence_url"] == "https://creativecommons.org/licenses/by-sa/4.0/"
    assert view["published_at"] == "2026-01-10T13:00:00+11:00"
    assert view["body_html"] == "<p><strong>hi</strong></p>\n"
