"""Open data: the JSON export reads back as the same records, the CSV has the documented header, the CLI agrees."""
import csv
import io
import json
import re
from pathlib import Path

import pytest

from services.archive.store import ArchiveStore
from tests.integration.archive_support import PAGES, ArchiveClient
from tools import archive_files

DOC = Path(__file__).resolve().parents[2] / "docs" / "open-data.md"


def documented_columns(dataset: str) -> list[str]:
    """The column names docs/open-data.md lists under ``### <dataset>.csv``, in order."""
    section = DOC.read_text().split(f"### {dataset}.csv", 1)[1].split("###", 1)[0]
    return re.findall(r"^\| `([a-z_0-9]+)` \|", section, flags=re.M)


@pytest.fixture
def archive(platform):
    platform.start("members", "archive", "web")
    client = ArchiveClient(platform)
    client.publish(kind="framework", title="Engagement principles", summary="Six principles, with examples.",
                   body="1. Be clear on intent\n2. Close the loop", tags=["principles"], licence="CC-BY-SA-4.0")
    client.publish(kind="post", title="Course notes: social media for teams", summary="Notes from two pilot courses.",
                   link="https://example.gov.au/notes", attribution="Finance, courseware team")
    client.import_page((PAGES / "library_of_plain_letters.txt").read_text())
    return client


def test_the_json_export_reads_back_as_the_same_records(archive):
    resources = json.loads(archive.call("GET", "/api/v1/archive/export/resources.json").text)
    assert resources["count"] == 2 and resources["dataset"] == "resources"
    for record in resources["items"]:
        live = archive.call("GET", f"/api/v1/archive/resources/{record['id']}").json()
        assert record == {name: live[name] for name in documented_columns("resources")}
    ideas = json.loads(archive.call("GET", "/api/v1/archive/export/ideas.json").text)
    (idea,) = ideas["items"]
    live = archive.call("GET", f"/api/v1/archive/ideas/{idea['id']}").json()
    assert idea["rating"] == live["rating"] == {"average": 4.3, "count": 12, "distribution": None, "imported": True}
    assert [(c["author_name"], c["posted_at"], c["body"]) for c in idea["comments"]] == \
        [(c["author_name"], c["posted_at"], c["body"]) for c in live["comments"]]
    assert {k: idea[k] for k in idea if k not in ("comments",)} == {k: live[k] for k in idea if k != "comments"}
    assert all(c["licence"] == "CC-BY-4.0" for c in idea["comments"])


@pytest.mark.parametrize("dataset, rows", [("resources", 2), ("ideas", 1), ("comments", 3)])
def test_each_csv_opens_with_the_documented_header(archive, dataset, rows):
    answer = archive.call("GET", f"/api/v1/archive/export/{dataset}.csv")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8"))))
    assert table[0] == documented_columns(dataset)
    assert len(table) == rows + 1


def test_csv_cells_keep_lists_figures_and_licences(archive):
    answer = archive.call("GET", "/api/v1/archive/export/ideas.csv")
    (row,) = csv.DictReader(io.StringIO(answer.content.decode("utf-8")))
    assert row["rating_average"] == "4.3" and row["rating_count"] == "12" and row["rating_1"] == ""
    assert row["rating_imported"] == "true" and row["comment_count"] == "3" and row["licence"] == "CC-BY-4.0"
    assert row["prompts"].split("|")[0] == "Would your team use it?"
    resources = list(csv.DictReader(io.StringIO(
        archive.call("GET", "/api/v1/archive/export/resources.csv").content.decode("utf-8"))))
    assert {r["licence"] for r in resources} == {"CC-BY-SA-4.0", "CC-BY-4.0"}


def test_an_unknown_export_is_not_found(archive):
    assert archive.call("GET", "/api/v1/archive/export/members.json").status_code == 404
    assert archive.call("GET", "/api/v1/archive/export/resources.xml").status_code == 404


def test_the_cli_exports_the_same_files_and_imports_with_a_result_per_file(archive, platform, tmp_path):
    store = ArchiveStore(platform.db("archive"), source="urn:engage:test:archive", service="archive")
    said = []
    paths = archive_files.export_files(store, tmp_path, say=said.append)
    assert sorted(p.name for p in paths) == sorted(f"{d}.{f}" for d in ("resources", "ideas", "comments")
                                                   for f in ("json", "csv"))
    api_csv = archive.call("GET", "/api/v1/archive/export/resources.csv").content.decode("utf-8")
    assert (tmp_path / "resources.csv").read_bytes().decode("utf-8") == api_csv

    results = archive_files.import_files(store, [PAGES / "library_of_plain_letters.txt",
                                               PAGES / "library_of_plain_letters_truncated.txt",
                                               tmp_path / "missing.txt"], say=said.append)
    assert [r.outcome for r in results] == ["existing", "failed", "failed"]
    assert "line 25" in results[1].error and "Based on: N votes" in results[1].error
    assert said[-4].startswith("[1/3]") and said[-1] == "0 imported, 1 already there, 2 failed."
    assert platform.db("archive").archived_ideas.count_documents({}) == 1
