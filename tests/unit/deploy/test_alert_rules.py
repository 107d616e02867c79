"""Every alert has a promtool unit test that shows it firing, and a runbook section in docs/operations.md."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = ROOT / "deploy" / "prometheus"
OPERATIONS = ROOT / "docs" / "operations.md"


def alert_rules() -> list[dict]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in rules for rule in group["rules"] if "alert" in rule]


def unit_tests() -> list[dict]:
    return yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    anchors = set()
    for heading in re.findall(r"^#+\s+(.*)$", markdown, re.MULTILINE):
        anchor = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(anchor)
    return anchors


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed")
def test_promtool_passes_the_unit_tests_of_the_alert_rules():
    result = subprocess.run(["promtool", "test", "rules", "alerts.test.yml"], cwd=PROMETHEUS,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_in_which_it_fires_and_one_in_which_it_does_not():
    fired, quiet = set(), set()
    for test in unit_tests():
        for case in test.get("alert_rule_test", []):
            (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - fired == set(), f"never shown firing: {sorted(names - fired)}"
    assert names - quiet == set(), f"never shown quiet: {sorted(names - quiet)}"


def test_every_alert_links_its_runbook_section_in_docs_operations():
    anchors = heading_anchors(OPERATIONS.read_text())
    for rule in alert_rules():
        url = rule["annotations"].get("runbook_url", "")
        assert url.startswith("docs/operations.md#"), rule["alert"]
        assert url.split("#", 1)[1] in anchors, f"{rule['alert']}: no section {url} in docs/operations.md"


def test_the_firing_tests_check_the_runbook_link_too():
    for test in unit_tests():
        for case in test.get("alert_rule_test", []):
            for expected in case.get("exp_alerts") or []:
                assert expected["exp_annotations"]["runbook_url"].startswith("docs/operations.md#"), case["alertname"]
