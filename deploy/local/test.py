"""`make test` and `make chaos`: the suite against a private RabbitMQ node and storage server.

Both are started here, wiped, on free ports, so a running `make run` is never
disturbed and several test runs can share the machine. pytest runs in three
stages: the main suite in pieces, `ENGAGE_TEST_WORKERS` (3) processes side by
side; then the tests marked `alone` with nothing beside them (the fault
scenarios of `tests/chaos`, which restart the broker and storage, and tests
that measure time); then the browser tests on their own (Playwright does not exit
cleanly inside an eventlet-patched process). The last line printed is the sum
over every run: `N passed, N failed[, N skipped]`. The exit status is non-zero
when a test failed or errored or pytest crashed.

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
import tempfile
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
FAULT_TESTS = "tests/chaos"
# pytest processes running the main suite side by side (`make test` on a 2-core machine: 3 keeps both busy).
WORKERS = max(1, int(os.environ.get("ENGAGE_TEST_WORKERS", "3")))
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
    stage: str = "main"  # runs of one stage go side by side; stages follow one another
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
        return [PytestRun("chaos", paths or ["tests/chaos"], ["-m", "chaos_long", "--capture=tee-sys", *options],
                          stage="chaos")]
    runs = []
    if paths:
        main_paths = [path for path in paths if not is_browser_path(path)]
        browser_paths = [path for path in paths if is_browser_path(path)]
        if main_paths:
            runs.append(PytestRun("main", main_paths, ["-m", "not chaos_long", f"--ignore={BROWSER_TESTS}", *options]))
    else:
        browser_paths = [BROWSER_TESTS]
        runs += shards(options)
        # Tests marked `alone` restart the broker and storage every other run uses, or measure time: no run beside them.
        runs.append(PytestRun("alone", ["tests"], ["-m", "alone and not chaos_long", f"--ignore={BROWSER_TESTS}",
                                                  *options], stage="alone"))
    if browser_paths:
        # --confcutdir keeps tests/conftest.py (which monkey-patches eventlet) out of this run:
        # Playwright hangs at exit in a monkey-patched process.
        runs.append(PytestRun("browser", browser_paths,
                              ["-m", "not chaos_long", f"--confcutdir={BROWSER_TESTS}", *options], stage="browser"))
    return [run for run in runs if all((ROOT / path.split("::")[0]).exists() for path in run.paths)]


def shards(options: list[str]) -> list[PytestRun]:
    """The main suite (all but the browser tests) as pieces of about equal weight; ``alone`` tests left out.

    Most of a test's time is spent waiting (for a container to start, an
    event to arrive), so ``WORKERS`` pytest processes side by side finish
    the suite in a fraction of the time one takes. A piece holds whole files
    (module fixtures stay whole); the heaviest pieces start first and a
    worker takes the next piece when it is free, so an estimate that is off
    evens out.
    """
    files = sorted(path for path in (ROOT / "tests").rglob("test_*.py")
                   if not path.is_relative_to(ROOT / BROWSER_TESTS) and not path.is_relative_to(ROOT / FAULT_TESTS))
    # tests/chaos holds fault scenarios only (every one `alone`): its files would make empty pieces.
    pieces: list[list[float | list[str]]] = [[0.0, []] for _ in range(min(len(files), WORKERS * 3))]
    for weight, path in sorted(((file_weight(path), path) for path in files), reverse=True):
        lightest = min(pieces, key=lambda piece: piece[0])
        lightest[0] += weight
        lightest[1].append(str(path.relative_to(ROOT)))
    pieces.sort(key=lambda piece: piece[0], reverse=True)
    return [PytestRun(f"main-{number:02d}", sorted(paths), ["-m", "not chaos_long and not alone", *options])
            for number, (_, paths) in enumerate(pieces, start=1) if paths]


def file_weight(path: Path) -> float:
    """A rough cost of a test file: its tests, each heavy when it starts services (seconds) and light when not."""
    text = path.read_text()
    tests = max(1, text.count("def test_"))
    starts_services = any(marker in text for marker in ("platform", "ServiceProcess", "shared_platform", "Cluster("))
    return tests * (4.0 if starts_services else 0.05)


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


class Running:
    """One pytest process: started, watched for a hang, and finished with its exit code on its run."""

    def __init__(self, run: PytestRun, env: dict, output: Path | None):
        run.junit.unlink(missing_ok=True)
        self.run = run
        self.output = output
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={run.junit}",
                   *run.paths, *run.options]
        if output is None:
            say(f"\n=== pytest ({run.name}): {' '.join(run.paths + run.options)}")
            self.process = subprocess.Popen(command, cwd=ROOT, env=env)
        else:
            # Side by side runs would mix their lines; each writes its own file, shown whole when it ends.
            # Each has its own temporary directory: pytest prunes old ones it believes are its own.
            command.append(f"--basetemp={output.with_suffix('.tmp')}")
            with output.open("wb") as out:
                self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.started = time.monotonic()
        self.finished_at: float | None = None

    def poll(self) -> bool:
        """True once the process has ended (its exit code is then on the run)."""
        if self.process.poll() is None:
            now = time.monotonic()
            if self.finished_at is None and self.run.junit.exists():
                self.finished_at = now
            if self.finished_at is not None and now - self.finished_at > EXIT_GRACE:
                self.run.note = f"pytest ({self.run.name}) finished its tests but did not exit; stopped it"
                processes.kill_tree(self.process.pid)
            elif now - self.started > RUN_TIMEOUT:
                self.run.note = f"pytest ({self.run.name}) ran longer than {int(RUN_TIMEOUT)} s; stopped it"
                processes.kill_tree(self.process.pid)
            return False
        code = self.process.wait()
        if self.run.note and code < 0 and self.run.note.endswith("did not exit; stopped it"):
            totals = read_junit(self.run.junit)
            code = 1 if totals is None or totals.failed else 0
        self.run.exit_code = 0 if code == 5 else code  # 5: no tests were collected
        if self.output is not None:
            say(f"\n=== pytest ({self.run.name}, {time.monotonic() - self.started:.0f} s): {' '.join(self.run.paths)}")
            sys.stdout.write(self.output.read_text(errors="replace"))
            sys.stdout.flush()
        return True

    def interrupt(self) -> None:
        # Ctrl-C in a terminal reaches pytest too; SIGTERM reached only this process.
        if _terminated:
            self.process.send_signal(signal.SIGINT)
        # Give pytest a moment to write its summary and stop what it started.
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            processes.kill_tree(self.process.pid)
            self.process.wait()


def run_stage(runs: list[PytestRun], env: dict) -> None:
    """Run one stage's pytest runs: a lone run in the foreground, several ``WORKERS`` at a time."""
    if len(runs) == 1:
        running = [Running(runs[0], env, None)]
        waiting: list[PytestRun] = []
    else:
        say(f"\n=== {len(runs)} pytest runs, {WORKERS} side by side; each run's output shows when it ends")
        outputs = Path(tempfile.mkdtemp(prefix="engage-test-"))
        waiting, running = list(runs), []
    try:
        while running or waiting:
            while waiting and len(running) < WORKERS:
                run = waiting.pop(0)
                running.append(Running(run, env, outputs / f"{run.name}.log"))
            running = [each for each in running if not each.poll()]
            time.sleep(0.2)
    except KeyboardInterrupt:
        for each in running:
            each.interrupt()
        raise
    finally:
        if len(runs) > 1:
            shutil.rmtree(outputs, ignore_errors=True)


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
    for earlier in ARTIFACTS.glob("junit-*.xml"):
        earlier.unlink()  # what is left in artifacts/ after a run is that run's alone
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
        for stage in dict.fromkeys(run.stage for run in runs):
            run_stage([run for run in runs if run.stage == stage], env)
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
