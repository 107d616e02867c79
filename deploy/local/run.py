"""`make run`: the whole Engagement Network on this machine.

Makes `.venv`, finds or starts RabbitMQ, starts the embedded storage server
(data kept in `.data/storage`), starts every service that exists, waits until
each answers `/ready`, loads the demonstration content and prints the URLs.
Ctrl-C (or SIGTERM) stops the services, then the storage server and a broker
it started itself; a broker that was already running is left running.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from deploy.local import bootstrap, processes

ROOT = bootstrap.ROOT
DATA = ROOT / ".data"
LOGS = DATA / "logs"
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
    """One `nameko run` process; its output goes to `.data/logs/NAME.log` and, prefixed, to the terminal."""

    print_lock = threading.Lock()

    def __init__(self, name: str, env: dict):
        self.name = name
        self.env = env
        self.log_path = LOGS / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self.reported_exit = False

    def start(self) -> None:
        command = [str(bootstrap.VENV / "bin" / "nameko"), "run", "--config", f"services/{self.name}/config.yml",
                   f"services.{self.name}.service"]
        self.process = subprocess.Popen(command, cwd=ROOT, env={**self.env, "ENGAGE_SERVICE": self.name},
                                        stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self._reader = threading.Thread(target=self._copy_output, name=f"log-{self.name}", daemon=True)
        self._reader.start()

    def _copy_output(self) -> None:
        prefix = f"{self.name:>8} | "
        with open(self.log_path, "wb") as log:
            for line in iter(self.process.stdout.readline, b""):
                log.write(line)
                log.flush()
                with Service.print_lock:
                    sys.stdout.write(prefix + line.decode(errors="replace").rstrip("\n") + "\n")
                    sys.stdout.flush()

    def exited(self) -> int | None:
        return self.process.poll() if self.process else None

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(url_of(self.name, "/ready"), timeout=2) as answer:
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
                                   f"Last lines of {service.log_path.relative_to(ROOT)}:\n{service.last_lines()}")
            if service.ready():
                say(f"  {service.name} is ready on {url_of(service.name)}")
                waiting.remove(service)
        if waiting and time.monotonic() > deadline:
            service = waiting[0]
            raise RuntimeError(f"{service.name} did not answer {url_of(service.name, '/ready')} within "
                               f"{int(READY_TIMEOUT)} s. Last lines of {service.log_path.relative_to(ROOT)}:\n"
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
    lines.append(f"  RabbitMQ:   {broker.amqp_uri}   ({broker.how})")
    if broker.management_url:
        lines.append(f"  Management: {broker.management_url}")
    lines.append(f"  Storage:    {mongo_uri}")
    lines.append(f"  Mail:       {url_of('web', '/dev/mail')}   (every email the platform sends, caught)")
    lines.append(f"  Logs:       {LOGS.relative_to(ROOT)}/<service>.log")
    lines.append("Press Ctrl-C to stop.")
    say("\n".join(lines))


MAIL_CATCHER_PORT = int(os.environ.get("MAIL_CATCHER_PORT", "1025"))


def start_mail_catcher(env: dict) -> subprocess.Popen:
    """A catch-all SMTP server: every email the platform sends shows at /dev/mail instead of leaving the machine."""
    if not processes.port_is_free(MAIL_CATCHER_PORT, "127.0.0.1"):
        raise RuntimeError(f"port {MAIL_CATCHER_PORT} for the mail catcher is in use; set MAIL_CATCHER_PORT=... "
                           "or point SMTP_URL at your own SMTP server")
    log = open(LOGS / "mailcatcher.log", "ab")
    catcher = subprocess.Popen([str(bootstrap.VENV / "bin" / "python"), "-m", "services.notify.mailcatcher",
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
    mail_catcher = None
    code = 0
    try:
        broker = ensure_system_broker(log_path=LOGS / "apt.log")
        say(f"RabbitMQ: {broker.amqp_uri} ({broker.how})")
        mongo_uri, storage = ensure_local_storage(DATA)
        say(f"Storage: {mongo_uri}" + (f" (data in {storage.data_dir.relative_to(ROOT)})"
                                       if storage else " (MONGO_URI)"))
        phases = discover_services()
        if not phases:
            say("No services found (services/<name>/service.py); the broker and storage are running. "
                "Press Ctrl-C to stop.")
            while True:
                time.sleep(3600)
        env = dict(os.environ, AMQP_URI=broker.amqp_uri, MONGO_URI=mongo_uri)
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
            started = [Service(name, env) for name in phase]
            for service in started:
                service.start()
            services += started
            wait_ready(started)
        seed_demo(env)
        print_urls(services, broker, mongo_uri)
        while True:
            time.sleep(1)
            for service in services:
                code_now = service.exited()
                if code_now is not None and not service.reported_exit:
                    service.reported_exit = True
                    say(f"warning: {service.name} exited with code {code_now}; "
                        f"see {service.log_path.relative_to(ROOT)}")
    except Stop:
        say("")
    except (BrokerError, StorageError, RuntimeError, OSError) as error:
        say(f"error: {error}")
        code = 1
    finally:
        # Finish stopping even when Ctrl-C is pressed again.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
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
