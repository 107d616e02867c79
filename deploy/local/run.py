"""`make run`: the whole Engagement Network on this machine.

Makes `.venv`, finds or starts RabbitMQ, starts the embedded storage server
(data kept in `.data/storage`), starts every service that exists, waits until
each answers `/ready`, loads the demonstration content and prints the URLs.
From then on it supervises the services: one that exits is started again
after a back-off, each restart is said on the console and counted in
`.data/runner.json` (shown by `engage status`), and one that keeps exiting is
reported with the last lines of its log. Ctrl-C (or SIGTERM) stops the
services (nothing is restarted from then on), then the storage server and a
broker it started itself; a broker that was already running is left running.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from deploy.local import bootstrap, processes
from deploy.local.broker_users import SECRETS, redacted

ROOT = bootstrap.ROOT
DATA = ROOT / ".data"
LOGS = DATA / "logs"
# What the supervisor last knew of each service; `engage status` reads it.
RUNNER_STATE = DATA / "runner.json"
# Start order: members serves the keys every other service checks tokens with;
# the gateway calls all the others.
PHASES = (("members",), ("ideas", "notify", "archive"), ("web",))
PORTS = {"web": ("WEB_PORT", 8000), "members": ("MEMBERS_PORT", 8001), "ideas": ("IDEAS_PORT", 8002),
         "notify": ("NOTIFY_PORT", 8003), "archive": ("ARCHIVE_PORT", 8004)}
READY_TIMEOUT = float(os.environ.get("ENGAGE_READY_TIMEOUT", "90"))
STOP_TIMEOUT = 8.0
STARTED = time.monotonic()


class Stop(Exception):
    """Ctrl-C or SIGTERM: stop what was started."""


def port_of(name: str) -> int:
    variable, default = PORTS[name]
    return int(os.environ.get(variable, default))


def url_of(name: str, path: str = "") -> str:
    return f"http://127.0.0.1:{port_of(name)}{path}"


class Service:
    """One `nameko run` process; its output goes to its log file and (with ``echo``) prefixed to the terminal."""

    print_lock = threading.Lock()

    def __init__(self, name: str, env: dict, *, port: int | None = None, log_path: Path | None = None,
                 echo: bool = True):
        self.name = name
        self.env = env
        self.port = port_of(name) if port is None else port
        self.log_path = LOGS / f"{name}.log" if log_path is None else log_path
        self.echo = echo
        self.process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [str(bootstrap.VENV / "bin" / "nameko"), "run", "--config", f"services/{self.name}/config.yml",
                   f"services.{self.name}.service"]
        self.process = subprocess.Popen(command, cwd=ROOT, env={**self.env, "ENGAGE_SERVICE": self.name},
                                        stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        # A restart appends, so the lines that explain the last exit stay in the log.
        mode = "ab" if self.starts else "wb"
        self.starts += 1
        self._reader = threading.Thread(target=self._copy_output, args=(self.process, mode),
                                        name=f"log-{self.name}", daemon=True)
        self._reader.start()

    def _copy_output(self, process: subprocess.Popen, mode: str) -> None:
        prefix = f"{self.name:>8} | "
        with open(self.log_path, mode) as log:
            for line in iter(process.stdout.readline, b""):
                log.write(line)
                log.flush()
                if self.echo:
                    with Service.print_lock:
                        sys.stdout.write(prefix + line.decode(errors="replace").rstrip("\n") + "\n")
                        sys.stdout.flush()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def exited(self) -> int | None:
        return self.process.poll() if self.process else None

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ready", timeout=2) as answer:
                return answer.status == 200
        except (OSError, ValueError):
            return False

    def last_lines(self, count: int = 30) -> str:
        if self._reader:
            self._reader.join(timeout=1)
        return processes.tail(self.log_path, count)

    def signal(self, sig: int) -> None:
        if self.process and self.process.poll() is None:
            processes.signal_group(self.process.pid, sig)


def shown_path(path: Path) -> str:
    """``path`` relative to the project when it is inside it (as the console shows log files)."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def describe_exit(code: int) -> str:
    """A return code as people read it: 'signal 9' for a killed process, 'code 1' otherwise."""
    return f"signal {-code}" if code < 0 else f"code {code}"


@dataclass(frozen=True)
class RestartPolicy:
    """When the supervisor starts an exited service again, and when it calls that a service keeps exiting."""

    first_delay: float = 0.5  # after an exit out of a steady run
    max_delay: float = 30.0  # the back-off doubles up to this; a service that keeps exiting is tried this often
    burst: int = 5  # this many exits ...
    window: float = 60.0  # ... within this many seconds, and it keeps exiting; up this long, and it has recovered
    ready_timeout: float = READY_TIMEOUT  # a restart not ready by then is reported (and left to come up)


@dataclass
class Supervised:
    """What the supervisor knows of one service."""

    service: Service
    up_since: float
    state: str = "running"  # running | waiting (to be restarted) | starting (restarted, not ready yet)
    restarts: int = 0
    streak: int = 0  # exits since it last stayed up for a whole window; sets the back-off
    exits: deque = field(default_factory=deque)  # when it exited within the last window
    keeps_exiting: bool = False
    restart_at: float = 0.0
    down_since: float = 0.0
    slow_start_reported: bool = False
    last_exit: str | None = None
    last_exit_at: str | None = None
    last_seconds_down: float | None = None


class Supervisor:
    """Restarts services that exit, with back-off, and says so.

    ``start()`` checks every service in a thread of its own until ``stop()``,
    which ends restarting before it stops the services. The checks run off
    the main thread so that Ctrl-C, which Python delivers to the main thread,
    never lands between starting a process and keeping track of it. Restart
    counts and states are written to ``state_path`` for ``engage status``.
    """

    def __init__(self, services: list[Service], *, policy: RestartPolicy = RestartPolicy(),
                 state_path: Path | None = RUNNER_STATE, report=None, clock=time.monotonic):
        self.policy = policy
        self.state_path = state_path
        self.report = report or say
        self.clock = clock
        now = clock()
        self.supervised = {service.name: Supervised(service, up_since=now) for service in services}
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._write_state()

    @property
    def services(self) -> list[Service]:
        return [entry.service for entry in self.supervised.values()]

    def start(self, interval: float = 0.25) -> None:
        self._watcher = threading.Thread(target=self._watch, args=(interval,), name="supervisor", daemon=True)
        self._watcher.start()

    def is_watching(self) -> bool:
        return self._watcher is not None and self._watcher.is_alive()

    def _watch(self, interval: float) -> None:
        while not self.stopping.is_set():
            self.check()
            self.stopping.wait(interval)

    def check(self) -> None:
        with self._lock:
            if self.stopping.is_set():
                return
            changed = False
            for entry in self.supervised.values():
                changed = self._check(entry, self.clock()) or changed
            if changed:
                self._write_state()

    def stop(self) -> None:
        """Restart nothing from now on (a check under way finishes first), then stop every service."""
        self.stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
        with self._lock:
            stop_services(self.services)
        if self.state_path is not None:
            self.state_path.unlink(missing_ok=True)

    def _check(self, entry: Supervised, now: float) -> bool:
        service, policy = entry.service, self.policy
        if entry.state == "waiting":
            if now < entry.restart_at:
                return False
            service.start()
            entry.restarts += 1
            entry.state, entry.slow_start_reported = "starting", False
            return True
        code = service.exited()
        if code is not None:
            self._exited(entry, code, now)
            return True
        if entry.state == "starting":
            if service.ready():
                entry.state, entry.up_since = "running", now
                entry.last_seconds_down = round(now - entry.down_since, 1)
                self.report(f"{service.name} is ready again on {service.url}, {entry.last_seconds_down:g} s after "
                            f"it exited (restart {entry.restarts})")
                return True
            if not entry.slow_start_reported and now - entry.restart_at > policy.ready_timeout:
                entry.slow_start_reported = True
                self.report(f"warning: {service.name} was restarted {policy.ready_timeout:g} s ago and does not "
                            f"answer {service.url}/ready yet. Last lines of {shown_path(service.log_path)}:\n"
                            f"{processes.tail(service.log_path, 15)}")
            return False
        if entry.streak and now - entry.up_since >= policy.window:
            # Up for a whole window: whatever made it exit has passed, and the back-off starts over.
            entry.streak = 0
            if entry.keeps_exiting:
                entry.keeps_exiting = False
                self.report(f"{service.name} has stayed up for {policy.window:g} s; should it exit again, it is "
                            f"restarted after {policy.first_delay:g} s")
            return True
        return False

    def _exited(self, entry: Supervised, code: int, now: float) -> None:
        service, policy = entry.service, self.policy
        entry.exits.append(now)
        while now - entry.exits[0] > policy.window:
            entry.exits.popleft()
        entry.streak += 1
        entry.down_since = now
        entry.last_exit = describe_exit(code)
        entry.last_exit_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        what = f"{service.name} exited ({entry.last_exit})"
        if entry.state == "starting":
            what += " before it was ready again"
        restart = entry.restarts + 1
        if len(entry.exits) >= policy.burst and not entry.keeps_exiting:
            entry.keeps_exiting = True
            delay = policy.max_delay
            self.report(f"error: {service.name} keeps exiting: {len(entry.exits)} times in {policy.window:g} s "
                        f"(last: {entry.last_exit}); still trying every {delay:g} s. "
                        f"Last lines of {shown_path(service.log_path)}:\n{service.last_lines(15)}")
        elif entry.keeps_exiting:
            delay = policy.max_delay
            self.report(f"{what}; it keeps exiting, trying again in {delay:g} s (restart {restart})")
        else:
            delay = min(policy.first_delay * 2 ** (entry.streak - 1), policy.max_delay)
            self.report(f"{what}; restarting in {delay:g} s, restart {restart} "
                        f"({len(entry.exits)} of {policy.burst} exits allowed in {policy.window:g} s)")
        entry.state, entry.restart_at = "waiting", now + delay

    def state(self) -> dict:
        return {
            "runner_pid": os.getpid(),
            "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "services": {name: {"state": entry.state, "pid": entry.service.pid, "port": entry.service.port,
                                "restarts": entry.restarts, "keeps_exiting": entry.keeps_exiting,
                                "last_exit": entry.last_exit, "last_exit_at": entry.last_exit_at,
                                "last_seconds_down": entry.last_seconds_down}
                         for name, entry in self.supervised.items()},
        }

    def _write_state(self) -> None:
        if self.state_path is not None:
            processes.write_json(self.state_path, self.state())


def say(message: str) -> None:
    with Service.print_lock:
        print(message, flush=True)


def discover_services() -> list[list[str]]:
    """The start phases, keeping only services whose services/NAME/service.py exists."""
    phases = []
    for phase in PHASES:
        present = [name for name in phase if (ROOT / "services" / name / "service.py").exists()]
        if present:
            phases.append(present)
    return phases


def wait_ready(services: list[Service]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    waiting = list(services)
    while waiting:
        for service in list(waiting):
            code = service.exited()
            if code is not None:
                raise RuntimeError(f"{service.name} exited with code {code} before it was ready. "
                                   f"Last lines of {shown_path(service.log_path)}:\n{service.last_lines()}")
            if service.ready():
                say(f"  {service.name} is ready on {service.url}")
                waiting.remove(service)
        if waiting and time.monotonic() > deadline:
            service = waiting[0]
            raise RuntimeError(f"{service.name} did not answer {service.url}/ready within "
                               f"{int(READY_TIMEOUT)} s. Last lines of {shown_path(service.log_path)}:\n"
                               f"{service.last_lines()}")
        time.sleep(0.25)


def stop_services(services: list[Service]) -> None:
    running = [service for service in services if service.exited() is None]
    if not running:
        return
    say(f"Stopping {', '.join(service.name for service in running)} ...")
    for service in running:
        service.signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(service.exited() is None for service in running) and time.monotonic() < deadline:
        time.sleep(0.1)
    for service in running:
        if service.exited() is None:
            say(f"  {service.name} did not stop within {int(STOP_TIMEOUT)} s: killing it")
            service.signal(signal.SIGKILL)
    for service in running:
        try:
            service.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def seed_demo(env: dict) -> None:
    engage = bootstrap.VENV / "bin" / "engage"
    log_path = LOGS / "seed-demo.log"
    if not engage.exists():
        say("warning: the engage command is not installed yet; skipping the demonstration content")
        return
    say("Loading the demonstration content (engage seed-demo) ...")
    with open(log_path, "wb") as log:
        try:
            result = subprocess.run([str(engage), "seed-demo"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, timeout=300)
            code = result.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    if code != 0:
        say(f"warning: engage seed-demo failed ({code}); the system runs without demonstration content. "
            f"Last lines of {log_path.relative_to(ROOT)}:\n{processes.tail(log_path, 15)}")
    else:
        last = processes.tail(log_path, 1)
        say(f"  {last}" if last else "  done")


def print_urls(services: list[Service], broker, mongo_uri: str) -> None:
    names = [service.name for service in services]
    lines = ["", f"Engagement Network is running (started in {time.monotonic() - STARTED:.0f} s)."]
    if "web" in names:
        lines += [f"  Pages:      {url_of('web', '/')}", f"  API:        {url_of('web', '/api/v1')}"]
    for name in names:
        lines.append(f"  {name + ':':<11} {url_of(name, '/metrics')}   (also /health, /ready)")
    lines.append(f"  RabbitMQ:   {redacted(broker.amqp_uri)}   ({broker.how}; service users' passwords in "
                 f"{SECRETS.relative_to(ROOT)})")
    if broker.management_url:
        lines.append(f"  Management: {broker.management_url}")
    lines.append(f"  Storage:    {mongo_uri}")
    lines.append(f"  Mail:       {url_of('web', '/dev/mail')}   (every email the platform sends, caught)")
    lines.append(f"  Logs:       {LOGS.relative_to(ROOT)}/<service>.log")
    lines.append("  Restarts:   a service that exits is started again; `.venv/bin/engage status` counts the restarts")
    lines.append("Press Ctrl-C to stop.")
    say("\n".join(lines))


MAIL_CATCHER_PORT = int(os.environ.get("MAIL_CATCHER_PORT", "1025"))


def start_mail_catcher(env: dict) -> subprocess.Popen:
    """A catch-all SMTP server: every email the platform sends shows at /dev/mail instead of leaving the machine."""
    if not processes.port_is_free(MAIL_CATCHER_PORT, "127.0.0.1"):
        raise RuntimeError(f"port {MAIL_CATCHER_PORT} for the mail catcher is in use; set MAIL_CATCHER_PORT=... "
                           "or point SMTP_URL at your own SMTP server")
    log = open(LOGS / "mailcatcher.log", "ab")
    catcher = subprocess.Popen([str(bootstrap.VENV / "bin" / "python"), "-m", "deploy.local.mailcatcher",
                                "--port", str(MAIL_CATCHER_PORT)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    say(f"Mail catcher: smtp://127.0.0.1:{MAIL_CATCHER_PORT} (caught mail at {url_of('web', '/dev/mail')})")
    return catcher


def _raise_stop(signum, frame) -> None:
    raise Stop()


def run() -> int:
    from deploy.local.broker import BrokerError, ensure_system_broker
    from deploy.local.storage import StorageError, ensure_local_storage

    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    LOGS.mkdir(parents=True, exist_ok=True)
    broker = storage = None
    services: list[Service] = []
    supervisor: Supervisor | None = None
    mail_catcher = None
    code = 0
    try:
        broker = ensure_system_broker(log_path=LOGS / "apt.log")
        say(f"RabbitMQ: {redacted(broker.amqp_uri)} ({broker.how}); each service logs in as its own user")
        mongo_uri, storage = ensure_local_storage(DATA)
        say(f"Storage: {mongo_uri}" + (f" (data in {storage.data_dir.relative_to(ROOT)})"
                                       if storage else " (MONGO_URI)"))
        phases = discover_services()
        if not phases:
            say("No services found (services/<name>/service.py); the broker and storage are running. "
                "Press Ctrl-C to stop.")
            while True:
                time.sleep(3600)
        # The CLI (engage seed-demo) is the operator on the bus; each service gets its own user below.
        env = dict(os.environ, AMQP_URI=broker.uri_for("operator"), MONGO_URI=mongo_uri)
        env.setdefault("ENGAGE_ENV", "development")
        env.setdefault("MEMBERS_JWKS_URL", url_of("members", "/.well-known/jwks.json"))
        env.setdefault("PUBLIC_BASE_URL", url_of("web"))
        env["PYTHONUNBUFFERED"] = "1"
        # The local run reads well in a terminal; LOG_FORMAT=json gives the JSON lines production writes.
        env.setdefault("LOG_FORMAT", "text")
        # The local run may deliver webhooks to receivers on this machine (production refuses private targets).
        env.setdefault("ALLOW_PRIVATE_WEBHOOK_TARGETS", "true")
        # Deprecation notices from nameko's dependencies say nothing about this system.
        env.setdefault("PYTHONWARNINGS", "ignore:pkg_resources is deprecated:UserWarning,ignore::DeprecationWarning")
        for name in (name for phase in phases for name in phase):
            if not processes.port_is_free(port_of(name), "0.0.0.0"):
                variable = PORTS[name][0]
                raise RuntimeError(f"port {port_of(name)} for {name} is already in use (is another `make run` "
                                   f"running?). Stop it, or choose another port with {variable}=...")
        if "SMTP_URL" not in os.environ and (ROOT / "services" / "notify" / "service.py").exists():
            mail_catcher = start_mail_catcher(env)
            env["SMTP_URL"] = f"smtp://127.0.0.1:{MAIL_CATCHER_PORT}"
        for phase in phases:
            say(f"Starting {', '.join(phase)} ...")
            started = [Service(name, {**env, "AMQP_URI": broker.uri_for(name)}) for name in phase]
            for service in started:
                service.start()
            services += started
            wait_ready(started)
        seed_demo(env)
        print_urls(services, broker, mongo_uri)
        supervisor = Supervisor(services)
        supervisor.start()
        while supervisor.is_watching():
            time.sleep(1)
        raise RuntimeError("the supervisor stopped unexpectedly (its error is above); stopping everything")
    except Stop:
        say("")
    except (BrokerError, StorageError, RuntimeError, OSError) as error:
        say(f"error: {error}")
        code = 1
    finally:
        # Finish stopping even when Ctrl-C is pressed again.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if supervisor is not None:
            supervisor.stop()
        else:
            stop_services(services)
        if mail_catcher is not None:
            mail_catcher.terminate()
            mail_catcher.wait(timeout=10)
        if storage is not None:
            say("Stopping the storage server ...")
            storage.stop()
        if broker is not None and broker.started_here:
            say("Stopping the RabbitMQ node started by make run ...")
            broker.stop()
        say("Stopped.")
    return code


def main(argv: list[str]) -> int:
    os.chdir(ROOT)
    failed = bootstrap.enter_venv("deploy.local.run", argv)
    if failed is not None:
        return failed
    return run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
