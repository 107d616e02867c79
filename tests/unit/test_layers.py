"""The project's boundaries hold: the import-linter contracts in pyproject.toml, checked as part of the suite.

Services never import each other, the gateway imports only the kit, no service
imports the operator's tools (``tools/``), and domain rules import neither
nameko, pymongo nor pika, however indirectly. A change that crosses one of these
lines fails here with lint-imports' account of the import chain that crossed it.
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The virtual environment's own script, beside its python (not resolved: that would leave the environment).
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_every_import_contract_in_pyproject_is_kept():
    checked = subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert checked.returncode == 0, f"lint-imports found a broken boundary:\n{checked.stdout}{checked.stderr}"
