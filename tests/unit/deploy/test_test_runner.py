"""`make test`'s plan: every test file runs exactly once, and what restarts shared parts runs alone."""
import importlib
import os
from pathlib import Path

from deploy.local import test as runner

ROOT = Path(runner.ROOT)


def every_test_file() -> set[str]:
    return {str(path.relative_to(ROOT)) for path in (ROOT / "tests").rglob("test_*.py")}


def test_every_test_file_is_in_one_piece_except_the_fault_scenarios_and_the_browser_tests():
    runs = runner.plan(chaos=False, args=[])
    main_files = [path for run in runs if run.stage == "main" for path in run.paths]
    assert len(main_files) == len(set(main_files)), "a file is in two pieces"
    elsewhere = {path for path in every_test_file() if path.startswith(("tests/chaos/", "tests/e2e/browser/"))}
    assert set(main_files) == every_test_file() - elsewhere
    assert all("not alone" in " ".join(run.options) for run in runs if run.stage == "main")
    later = [(run.stage, run.paths, " ".join(run.options)) for run in runs if run.stage != "main"]
    assert [(stage, paths) for stage, paths, _ in later] == [("alone", ["tests"]), ("browser", ["tests/e2e/browser"])]
    assert "-m alone and not chaos_long" in later[0][2]


def test_the_number_of_workers_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("ENGAGE_TEST_WORKERS", "2")
    try:
        two = importlib.reload(runner)
        assert two.WORKERS == 2
        assert len([run for run in two.plan(chaos=False, args=[]) if run.stage == "main"]) == 6
    finally:
        monkeypatch.delenv("ENGAGE_TEST_WORKERS")
        importlib.reload(runner)


def test_paths_given_run_as_one_run_and_chaos_runs_the_long_scenarios():
    given = runner.plan(chaos=False, args=["tests/unit", "-k", "rating"])
    assert [(run.name, run.paths) for run in given] == [("main", ["tests/unit"])]
    assert "-k" in given[0].options
    chaos = runner.plan(chaos=True, args=[])
    assert [(run.stage, run.options[:2]) for run in chaos] == [("chaos", ["-m", "chaos_long"])]


def test_test_files_have_unique_names():
    # pytest imports a test file by its basename where a directory has no __init__.py: two of a name break a run
    loose = [ROOT / path for path in every_test_file() if not (ROOT / path).with_name("__init__.py").exists()]
    names = [path.name for path in loose]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []
