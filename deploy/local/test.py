"""`make test` and `make chaos`: the suite against a private RabbitMQ node and storage server.

Both are started here, wiped, on free ports, so a running `make run` is never
disturbed and several test runs can share the machine. pytest runs twice:
everything except the browser tests, then the browser tests on their own
(Playwright does not exit cleanly inside an eventlet-patched process). The
last line printed is the sum over both runs: `N passed, N failed[, N skipped]`.
The exit status is non-zero when a test failed or errored or pytest crashed.

`--chaos` runs the long fault scenarios instead (`tests/chaos -m chaos_long`).
Other arguments go to every pytest run (`make test ARGS="-k rating"`); paths
among them replace the default test paths.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from deploy.local import bootstrap, processes
from deploy.local.broker_users import redacted

ROOT = bootstrap.ROOT
ARTIFACTS = ROOT / "artifacts"
BROWSER_TESTS = "tests/e2e/browser"
CHROMIUM = Path("/usr/bin/chromium")
TOOLS = ROOT / ".data" / "tools"  # tools for the tests unpacked from Debian's packages
RUN_TIMEOUT = float(os.environ.get("ENGAGE_TEST_RUN_TIMEOUT", "1800"))
# pytest writes its junit file at the end of the session, before session
# fixtures stop what they started; a run still alive this long afterwards is
# stuck in interpreter shutdown.
EXIT_GRACE = 120.0


@dataclass
class PytestRun:
    name: str
    paths: list[str]
    options: list[str] = field(default_factory=list)
    exit_code: int | None = None
    note: str = ""

    @property
    def junit(self) -> Path:
        """Where pytest writes; private to this process, so concurrent runs in one tree do not mix."""
        return ARTIFACTS / f".junit-{self.name}-{os.getpid()}.xml"

    @property
    def published_junit(self) -> Path:
        return ARTIFACTS / f"junit-{self.name}.xml"

    def publish_junit(self) -> None:
        if self.junit.exists():
            os.replace(self.junit, self.published_junit)


@dataclass
class Totals:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def line(self) -> str:
        text = f"{self.passed} passed, {self.failed} failed"
        return text + (f", {self.skipped} skipped" if self.skipped else "")


def say(message: str) -> None:
    print(message, flush=True)


def split_arguments(args: list[str]) -> tuple[list[str], list[str]]:
    """(test paths, other options) among the user's pytest arguments."""
    paths, options = [], []
    for arg in args:
        if not arg.startswith("-") and (ROOT / arg.split("::")[0]).exists():
            paths.append(arg)
        else:
            options.append(arg)
    return paths, options


def is_browser_path(path: str) -> bool:
    normal = path.split("::")[0].rstrip("/")
    return normal == BROWSER_TESTS or normal.startswith(BROWSER_TESTS + "/")


def plan(chaos: bool, args: list[str]) -> list[PytestRun]:
    paths, options = split_arguments(args)
    if chaos:
        # tee-sys: each scenario's "[scenario] figures" line shows in the run's output (CI's log), not only on failure.
        return [PytestRun("chaos", paths or ["tests/chaos"], ["-m", "chaos_long", "--capture=tee-sys", *options])]
    if paths:
        main_paths = [path for path in paths if not is_browser_path(path)]
        browser_paths = [path for path in paths if is_browser_path(path)]
    else:
        main_paths, browser_paths = ["tests"], [BROWSER_TESTS]
    runs = []
    if main_paths:
        runs.append(PytestRun("main", main_paths, ["-m", "not chaos_long", f"--ignore={BROWSER_TESTS}", *options]))
    if browser_paths:
        # --confcutdir keeps tests/conftest.py (which monkey-patches eventlet) out of this run:
        # Playwright hangs at exit in a monkey-patched process.
        runs.append(PytestRun("browser", browser_paths,
                              ["-m", "not chaos_long", f"--confcutdir={BROWSER_TESTS}", *options]))
    return [run for run in runs if all((ROOT / path.split("::")[0]).exists() for path in run.paths)]


def ensure_test_tools(browser: bool) -> None:
    """Install what the browser and deployment-file tests need, so they run rather than skip.

    Chromium and docker-compose come from Debian's packages (as root); promtool
    is taken from Debian's prometheus package without installing it, so no
    Prometheus server is set up on the machine. A tool that cannot be had is
    reported, and the tests that need it are skipped.
    """
    from deploy.local.broker import apt_install, is_root

    can_install = is_root() and shutil.which("apt-get")
    if browser and not CHROMIUM.exists():
        if can_install:
            say("Installing chromium for the browser tests with apt-get (one time) ...")
            apt_install("chromium", ARTIFACTS / "apt-chromium.log")
        if not CHROMIUM.exists():
            say("warning: /usr/bin/chromium is missing (install it with `sudo apt-get install -y chromium`; "
                "see artifacts/apt-chromium.log); browser tests will be skipped")
    if not shutil.which("docker-compose"):
        if can_install:
            say("Installing docker-compose for the compose file check with apt-get (one time) ...")
            apt_install("docker-compose", ARTIFACTS / "apt-docker-compose.log")
        if not shutil.which("docker-compose"):
            say("warning: docker-compose is missing (`sudo apt-get install -y docker-compose`); "
                "the compose file check will be skipped")
    promtool_dir = TOOLS / "prometheus" / "usr" / "bin"
    if not shutil.which("promtool") and not (promtool_dir / "promtool").exists() and shutil.which("apt-get"):
        say("Fetching promtool from Debian's prometheus package for the alert rule checks (one time) ...")
        unpack_debian_package("prometheus", TOOLS / "prometheus", ARTIFACTS / "apt-prometheus.log")
    if (promtool_dir / "promtool").exists():
        os.environ["PATH"] = os.pathsep.join([str(promtool_dir), os.environ.get("PATH", "")])
    elif not shutil.which("promtool"):
        say("warning: promtool is missing (see artifacts/apt-prometheus.log); the alert rule checks will be skipped")


def unpack_debian_package(package: str, into: Path, log_path: Path) -> bool:
    """`apt-get download` the package and unpack its files into ``into`` (nothing is installed)."""
    download = into.parent / f"{package}-deb"
    download.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        subprocess.run(["apt-get", "download", package], cwd=download, stdout=log, stderr=subprocess.STDOUT)
        debs = sorted(download.glob(f"{package}_*.deb"))
        if not debs:
            return False
        done = subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(into)], stdout=log, stderr=subprocess.STDOUT)
    shutil.rmtree(download, ignore_errors=True)
    return done.returncode == 0


def start_infrastructure(purpose: str):
    """Start the private broker and storage server side by side; (broker, storage)."""
    from deploy.local.broker import PrivateBroker
    from deploy.local.storage import PrivateStorage

    broker, storage = PrivateBroker(purpose), PrivateStorage(purpose)
    errors: list[BaseException] = []

    def start(part) -> None:
        try:
            part.start()
        except BaseException as error:  # reported by the caller
            errors.append(error)

    threads = [threading.Thread(target=start, args=(part,), daemon=True) for part in (broker, storage)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        broker.close()
        storage.close()
        raise errors[0]
    return broker, storage


def read_junit(path: Path) -> Totals | None:
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    totals = Totals()
    for suite in suites:
        tests, failures, errors, skipped = (int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped"))
        totals.passed += tests - failures - errors - skipped
        totals.failed += failures + errors
        totals.skipped += skipped
    return totals


def run_pytest(run: PytestRun, env: dict) -> None:
    run.junit.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={run.junit}",
               *run.paths, *run.options]
    say(f"\n=== pytest ({run.name}): {' '.join(run.paths + run.options)}")
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    started = time.monotonic()
    finished_at = None
    try:
        while process.poll() is None:
            time.sleep(0.2)
            now = time.monotonic()
            if finished_at is None and run.junit.exists():
                finished_at = now
            if finished_at is not None and now - finished_at > EXIT_GRACE:
                run.note = f"pytest ({run.name}) finished its tests but did not exit; stopped it"
                processes.kill_tree(process.pid)
            elif now - started > RUN_TIMEOUT:
                run.note = f"pytest ({run.name}) ran longer than {int(RUN_TIMEOUT)} s; stopped it"
                processes.kill_tree(process.pid)
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches pytest too; SIGTERM reached only this process.
        if _terminated:
            process.send_signal(signal.SIGINT)
        # Give pytest a moment to write its summary and stop what it started.
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            processes.kill_tree(process.pid)
            process.wait()
        raise
    code = process.wait()
    if run.note and code < 0 and run.note.endswith("did not exit; stopped it"):
        totals = read_junit(run.junit)
        code = 1 if totals is None or totals.failed else 0
    run.exit_code = 0 if code == 5 else code  # 5: no tests were collected


_terminated = False


def _interrupt(signum, frame) -> None:
    global _terminated
    _terminated = True
    raise KeyboardInterrupt()


def stop_leftovers(keep: set[int]) -> None:
    """Stop processes a finished pytest run left behind (services of a killed run).

    ``keep`` are the broker's and storage server's leading processes: they and
    everything below them stay.
    """
    processes.reap_zombie_children()
    kept = set(keep)
    for pid in keep:
        kept.update(processes.descendants(pid))
    leftovers = [pid for pid in processes.descendants(os.getpid()) if pid not in kept and processes.pid_alive(pid)
                 and not kept.intersection(processes.ancestors(pid))]
    if leftovers:
        names = sorted({processes.command_of(pid)[:80] for pid in leftovers})
        say(f"warning: stopping {len(leftovers)} processes the tests left running: {'; '.join(names[:5])}")
        for pid in leftovers:
            processes.kill_tree(pid)
        time.sleep(0.2)
        processes.reap_zombie_children()


def infrastructure_leaders(*parts) -> set[int]:
    return {group for group in (part.process_group() for part in parts if part is not None) if group}


def main(argv: list[str]) -> int:
    os.chdir(ROOT)
    chaos = "--chaos" in argv
    args = [arg for arg in argv if arg != "--chaos"]
    failed = bootstrap.enter_venv("deploy.local.test", argv)
    if failed is not None:
        return failed
    signal.signal(signal.SIGTERM, _interrupt)
    processes.become_subreaper()

    from deploy.local.broker import BrokerError
    from deploy.local.storage import StorageError

    ARTIFACTS.mkdir(exist_ok=True)
    runs = plan(chaos, args)
    if not runs:
        say("No tests found to run.")
        say(Totals().line())
        return 0
    ensure_test_tools(browser=any(run.name == "browser" for run in runs))

    broker = storage = None
    interrupted = False
    try:
        began = time.monotonic()
        say("Starting a private RabbitMQ node and storage server ...")
        broker, storage = start_infrastructure("chaos" if chaos else "test")
        say(f"  broker {broker.node_name}: {redacted(broker.amqp_uri)} (management {redacted(broker.management_url)})\n"
            f"  storage: {storage.mongo_uri}\n  ready in {time.monotonic() - began:.1f} s")
        env = dict(os.environ)
        env.update({
            "ENGAGE_TEST_AMQP_URI": broker.amqp_uri,
            "ENGAGE_TEST_MANAGEMENT_URL": broker.management_url,
            "ENGAGE_TEST_MONGO_URI": storage.mongo_uri,
            "ENGAGE_TEST_BROKER_STATE": str(broker.save_state()),
            "ENGAGE_TEST_STORAGE_STATE": str(storage.save_state()),
            # Anything that falls back to the usual variables still lands on the private pair.
            "AMQP_URI": broker.amqp_uri,
            "MONGO_URI": storage.mongo_uri,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        })
        for run in runs:
            run_pytest(run, env)
            stop_leftovers(infrastructure_leaders(broker, storage))
    except KeyboardInterrupt:
        interrupted = True
        say("\nInterrupted.")
    except (BrokerError, StorageError) as error:
        say(f"error: {error}")
        for run in runs:
            run.exit_code = run.exit_code if run.exit_code is not None else 3
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for part in (broker, storage):
            if part is not None:
                part.close()
        stop_leftovers(set())

    totals = Totals()
    failed_runs = []
    for run in runs:
        if run.note:
            say(f"warning: {run.note}")
        found = read_junit(run.junit)
        run.publish_junit()
        if found:
            totals.passed += found.passed
            totals.failed += found.failed
            totals.skipped += found.skipped
        if run.exit_code is None:
            continue
        if run.exit_code not in (0, 1) or (found is None and run.exit_code != 0):
            failed_runs.append(run)
            say(f"error: pytest ({run.name}) ended with exit code {run.exit_code}")
        elif run.exit_code == 1 and found is not None and not found.failed:
            failed_runs.append(run)
            say(f"error: pytest ({run.name}) reported failures that are not in its junit file")
    say(totals.line())
    if interrupted:
        return 130
    return 1 if totals.failed or failed_runs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
