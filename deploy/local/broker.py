"""RabbitMQ for the local runner: the system broker for `make run`, private nodes for tests.

`ensure_system_broker()` finds or starts the broker `make run` uses, and stops
at exit only what it started itself. `PrivateBroker` is a RabbitMQ node of
its own (node name, ports, data directory, Erlang cookie) for tests, chaos
runs and benchmarks: it never touches the system broker on 5672, several can
run at once, and it can be stopped, killed and started again on the same
ports with the same data. Both carry the project's broker users
(``deploy.local.broker_users``): every service connects as its own user and
the CLI as ``operator``; a private node has no ``guest`` at all, and the
system broker's ``guest`` is never changed. Stdlib only.
"""
from __future__ import annotations

import atexit
import base64
import itertools
import json
import os
import pwd
import secrets
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from deploy.local import broker_users, processes

DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_MANAGEMENT_PORT = 15672
DIRECTORY_PREFIX = "engage-broker-"


class BrokerError(RuntimeError):
    """The broker could not be found, installed, started or stopped; the message says what to do."""


# --- finding and installing RabbitMQ -------------------------------------------------------------

def server_script() -> Path | None:
    """The real `rabbitmq-server` start script (not the Debian su wrapper), or None when not installed."""
    debian = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
    if debian.exists():
        return debian
    found = shutil.which("rabbitmq-server")
    if not found:
        return None
    real = Path(os.path.realpath(found))
    if real.name == "rabbitmq-script-wrapper":
        return real.with_name("rabbitmq-server")
    return real


def ctl_script() -> Path | None:
    server = server_script()
    return server.with_name("rabbitmqctl") if server else None


def is_root() -> bool:
    return os.geteuid() == 0


def apt_install(package: str, log_path: Path | None = None) -> bool:
    """`apt-get install -y package` (with one `apt-get update` on failure); True on success. Root only."""
    if not is_root() or not shutil.which("apt-get"):
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        command = ["apt-get", "install", "-y", "--no-install-recommends", package]
        if subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT).returncode == 0:
            return True
        subprocess.run(["apt-get", "update"], env=env, stdout=log, stderr=subprocess.STDOUT)
        return subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT).returncode == 0
    finally:
        if log_path:
            log.close()


def ensure_rabbitmq_installed(log_path: Path | None = None) -> Path:
    """The rabbitmq-server script; installs the system package first when missing and we are root."""
    script = server_script()
    if script:
        return script
    if is_root() and shutil.which("apt-get"):
        print("RabbitMQ is not installed: installing rabbitmq-server with apt-get (one time)...", flush=True)
        if apt_install("rabbitmq-server", log_path):
            script = server_script()
            if script:
                return script
        where = f" (see {log_path})" if log_path else ""
        raise BrokerError(f"apt-get install rabbitmq-server failed{where}.")
    raise BrokerError(
        "RabbitMQ is not installed. Install it with `sudo apt-get install -y rabbitmq-server` "
        "(Debian/Ubuntu), or point AMQP_URI at a running broker, "
        "for example AMQP_URI=amqp://guest:guest@127.0.0.1:5672/.")


# --- the management HTTP API ---------------------------------------------------------------------

def management_request(management_url: str, method: str, path: str, body: object = None,
                       timeout: float = 10.0) -> object:
    """Call the management API (``management_url`` may carry user:password); the parsed JSON answer or None."""
    parts = urlsplit(management_url)
    user, password = parts.username or "guest", parts.password or "guest"
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + path, "", ""))
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else None


def create_vhost(management_url: str, vhost: str, user: str | None = None) -> None:
    """Create ``vhost`` as the deploy definitions shape ``/``, and give ``user`` (default: the management user) full permissions.

    Each project user gets its permissions on the vhost and the shared
    exchanges and policies are declared, so services run there as they do in
    production (the users themselves exist since the broker started).
    """
    user = user or urlsplit(management_url).username or "guest"
    name = quote(vhost, safe="")
    management_request(management_url, "PUT", f"/api/vhosts/{name}", {})
    management_request(management_url, "PUT", f"/api/permissions/{name}/{quote(user, safe='')}",
                       {"configure": ".*", "write": ".*", "read": ".*"})
    broker_users.install(management_url, vhost, with_users=False)


def delete_vhost(management_url: str, vhost: str) -> None:
    """Delete ``vhost`` with everything in it; a vhost that does not exist is fine."""
    try:
        management_request(management_url, "DELETE", f"/api/vhosts/{quote(vhost, safe='')}")
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise


def vhost_uri(amqp_uri: str, vhost: str) -> str:
    """``amqp_uri`` pointed at ``vhost``."""
    parts = urlsplit(amqp_uri)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), parts.query, ""))


def _management_answers(management_url: str) -> bool:
    try:
        management_request(management_url, "GET", "/api/overview", timeout=2)
        return True
    except (OSError, ValueError):
        return False


# --- the broker `make run` uses ------------------------------------------------------------------

class SystemBroker:
    """The broker `make run` uses; ``stop()`` stops it only when this process started it."""

    def __init__(self, amqp_uri: str, management_url: str | None, started_here: bool, how: str):
        self.amqp_uri = amqp_uri
        self.management_url = management_url
        self.started_here = started_here
        self.how = how

    def uri_for(self, user: str) -> str:
        """The broker's address logging in as one of the project's users (a service's name, or ``operator``)."""
        return broker_users.uri_for(self.amqp_uri, user)

    def install_users(self) -> None:
        """Create the project's users and their permissions on ``/``; other users (``guest``) stay as they are."""
        host, _ = _reachable(self.amqp_uri)
        if host not in ("127.0.0.1", "localhost"):
            return  # a remote broker's operator provisions its users (deploy/README.md)
        if self.management_url:
            broker_users.install(self.amqp_admin_management_url(), "/")
            return
        ctl = _system_command("rabbitmqctl")
        if not ctl or not is_root():
            raise BrokerError("The broker has no management API and rabbitmqctl cannot be run here, so the services' "
                              "users cannot be created. Run `make run` as root, enable rabbitmq_management, or load "
                              "deploy/rabbitmq/definitions.json into the broker yourself.")
        broker_users.install_with_rabbitmqctl(ctl, "/")

    def amqp_admin_management_url(self) -> str:
        """The management URL with the credentials of ``AMQP_URI`` (the broker's administrator for this run)."""
        parts = urlsplit(self.management_url)
        user = urlsplit(self.amqp_uri)
        netloc = f"{user.username or 'guest'}:{user.password or 'guest'}@{parts.hostname}" + (
            f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def stop(self) -> None:
        if not self.started_here:
            return
        self.started_here = False
        ctl = _system_command("rabbitmqctl")
        if ctl:
            subprocess.run([ctl, "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def _system_command(name: str) -> str | None:
    """The system's own wrapper for ``name`` (it runs the tool as the rabbitmq user with the node's cookie)."""
    found = shutil.which(name)
    if found:
        return found
    fallback = Path("/usr/sbin") / name
    return str(fallback) if fallback.exists() else None


def _reachable(uri: str) -> tuple[str, int]:
    parts = urlsplit(uri)
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    return parts.hostname or "127.0.0.1", port


def _local_management_url() -> str | None:
    if processes.port_is_open(DEFAULT_MANAGEMENT_PORT):
        return f"http://127.0.0.1:{DEFAULT_MANAGEMENT_PORT}/"
    return None


def ensure_system_broker(log_path: Path | None = None, timeout: float = 90.0) -> SystemBroker:
    """Find or start the broker for `make run`.

    ``AMQP_URI`` when set (it must be reachable); else a broker already
    listening on 127.0.0.1:5672 (left running at exit); else the installed
    `rabbitmq-server`, started now and stopped by ``SystemBroker.stop()``;
    else, as root, the system package is installed first. Raises BrokerError
    with what to install or run when none of that works.
    """
    configured = os.environ.get("AMQP_URI")
    if configured:
        host, port = _reachable(configured)
        if not processes.port_is_open(port, host, timeout=3):
            raise BrokerError(f"AMQP_URI points at {host}:{port}, which does not accept connections. "
                              "Start that broker, or unset AMQP_URI to use a local one.")
        management = None
        if host in ("127.0.0.1", "localhost"):
            management = _local_management_url()
        return _with_users(SystemBroker(configured, management, False, "from AMQP_URI"))

    if processes.port_is_open(5672):
        return _with_users(SystemBroker(DEFAULT_AMQP_URI, _local_management_url(), False,
                                        "found running on 127.0.0.1:5672; left running at exit"))

    ensure_rabbitmq_installed(log_path)
    if processes.port_is_open(5672):  # the package's install scripts may have started it
        return _with_users(SystemBroker(DEFAULT_AMQP_URI, _local_management_url(), False,
                                        "installed now and running as a system service"))

    wrapper = _system_command("rabbitmq-server")
    if not wrapper or not (is_root() or pwd.getpwuid(os.geteuid()).pw_name == "rabbitmq"):
        raise BrokerError(
            "RabbitMQ is installed but not running. Start it with `sudo systemctl start rabbitmq-server` "
            "(or `sudo rabbitmq-server -detached`), or set AMQP_URI to a running broker.")
    print("Starting the local RabbitMQ (rabbitmq-server -detached)...", flush=True)
    started = subprocess.run([wrapper, "-detached"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # `-detached` returns before the node listens, and `rabbitmqctl await_startup`
    # fails until the node has registered itself, so wait for the port instead.
    deadline = time.monotonic() + timeout
    while not processes.port_is_open(5672):
        if time.monotonic() > deadline:
            logs = "\n".join(processes.tail(path, 15) for path in sorted(Path("/var/log/rabbitmq").glob("*.log")))
            raise BrokerError("rabbitmq-server did not start listening on 127.0.0.1:5672 within "
                              f"{int(timeout)} s.\n{started.stdout.strip()}\n{logs}".rstrip())
        time.sleep(0.25)
    return _with_users(SystemBroker(DEFAULT_AMQP_URI, _local_management_url(), True,
                                    "started by make run; stopped at exit"))


def _with_users(broker: SystemBroker) -> SystemBroker:
    broker.install_users()
    return broker


# --- private nodes for tests, chaos runs and benchmarks ------------------------------------------

_instance_numbers = itertools.count(1)
_owned: "set[PrivateBroker]" = set()


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) of the `rabbitmq` user when we are root: the node never runs as root."""
    if not is_root():
        return None
    try:
        entry = pwd.getpwnam("rabbitmq")
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def reap_abandoned(prefix: str = DIRECTORY_PREFIX) -> None:
    """Stop nodes and remove directories left behind by runs whose process died (killed, crashed)."""
    for state_file in Path(tempfile.gettempdir()).glob(prefix + "*/state.json"):
        state = processes.read_json(state_file)
        if not state or processes.pid_alive(int(state.get("owner_pid", 0))):
            continue
        directory = state_file.parent
        pgid = processes.read_pid(directory / "launcher.pid")
        if pgid:
            members = processes.group_members(pgid)
            if any(str(directory) in processes.environ_of(pid).get("RABBITMQ_MNESIA_BASE", "")
                   for pid in members):
                processes.stop_group(pgid, first_signal=signal.SIGKILL, timeout=5)
        shutil.rmtree(directory, ignore_errors=True)


class PrivateBroker(processes.ServerProcess):
    """A RabbitMQ node of its own, for one test run, chaos run or benchmark.

    ``start()`` boots it (about 4 s) with the management API; ``stop()``
    shuts it down gracefully and keeps its data, ``kill()`` stops it at once
    like a crash, and ``start()`` again brings it back on the same ports with
    the same data; ``restart()`` does both. ``close()`` (also at the end of a
    ``with`` block, and at exit of the process that created it) stops it and
    removes its directory. Another process can take control of the same node
    with ``PrivateBroker.from_state(path)`` on the file ``save_state()`` wrote.
    """

    stop_timeout = 30.0  # a graceful stop takes about 6 s

    def __init__(self, purpose: str = "test", *, schedulers: int | None = 2):
        number = next(_instance_numbers)
        suffix = "" if number == 1 else f"-{number}"
        safe_purpose = "".join(c if c.isalnum() or c in "-_" else "-" for c in purpose)
        self.purpose = purpose
        self.node_name = f"engage-{safe_purpose}-{os.getpid()}{suffix}@localhost"
        self.schedulers = schedulers
        self.port: int | None = None
        self.dist_port: int | None = None
        self.management_port: int | None = None
        self.directory: Path | None = None
        self.owner_pid = os.getpid()
        self._process: subprocess.Popen | None = None

    # addresses

    @property
    def amqp_uri(self) -> str:
        """amqp://operator:…@127.0.0.1:<port>/: the node's administrator (the node has no guest)."""
        self._require_created()
        return broker_users.uri_for(f"amqp://127.0.0.1:{self.port}/", broker_users.OPERATOR)

    @property
    def management_url(self) -> str:
        """http://operator:…@127.0.0.1:<management port> (no trailing slash)."""
        self._require_created()
        password = quote(broker_users.passwords()[broker_users.OPERATOR], safe="")
        return f"http://{broker_users.OPERATOR}:{password}@127.0.0.1:{self.management_port}"

    def amqp_uri_for(self, vhost: str) -> str:
        return vhost_uri(self.amqp_uri, vhost)

    def uri_for(self, user: str, vhost: str = "/") -> str:
        """The node's address on ``vhost`` logging in as one of the project's users (a service's name, or ``operator``)."""
        return broker_users.uri_for(vhost_uri(self.amqp_uri, vhost), user)

    # vhosts and the node's command line

    def create_vhost(self, vhost: str) -> str:
        """Create ``vhost`` (the project's users get their permissions, operator all); the operator's AMQP URI for it."""
        create_vhost(self.management_url, vhost)
        return self.amqp_uri_for(vhost)

    def delete_vhost(self, vhost: str) -> None:
        delete_vhost(self.management_url, vhost)

    def management(self, method: str, path: str, body: object = None) -> object:
        """Call the node's management API, e.g. ``management("GET", "/api/queues")``."""
        return management_request(self.management_url, method, path, body)

    def rabbitmqctl(self, *args: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``rabbitmqctl <args>`` against this node; the completed process with text output."""
        self._require_created()
        ctl = ctl_script()
        if ctl is None:
            raise BrokerError("rabbitmqctl is not installed")
        env = self._node_env()
        env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8")
        result = subprocess.run([str(ctl), "-n", self.node_name, *args], env=env, cwd=self.directory,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, timeout=timeout, **self._user_kwargs())
        if check and result.returncode != 0:
            raise BrokerError(f"rabbitmqctl {' '.join(args)} failed ({result.returncode}): "
                              f"{(result.stderr or result.stdout).strip()}")
        return result

    def close_connections(self, reason: str = "closed by test") -> None:
        """Close every client connection to the node (the node itself stays up)."""
        self.rabbitmqctl("close_all_connections", "--global", reason)

    # lifecycle

    def start(self, timeout: float = 60.0) -> "PrivateBroker":
        """Boot the node (a no-op when it runs) and wait until AMQP and the management API answer."""
        script = server_script()
        if script is None:
            ensure_rabbitmq_installed()
            script = server_script()
        if self.directory is None:
            self._create()
        elif self.is_running():
            return self
        for port in (self.port, self.dist_port, self.management_port):
            if not processes.wait_port_free(port, 5):
                raise BrokerError(f"port {port} of private broker {self.node_name} is taken by another process")
        (self.directory / "rabbit.pid").unlink(missing_ok=True)
        output = open(self.directory / "stdout.log", "ab")
        try:
            self._process = subprocess.Popen(
                [str(script)], env=self._node_env(), cwd=self.directory, stdin=subprocess.DEVNULL,
                stdout=output, stderr=subprocess.STDOUT, start_new_session=True, **self._user_kwargs())
        finally:
            output.close()
        (self.directory / "launcher.pid").write_text(f"{self._process.pid}\n")
        self._wait_until_ready(timeout)
        broker_users.install(self.management_url, "/")
        return self

    def is_running(self) -> bool:
        pgid = self.process_group()
        return bool(pgid and processes.group_members(pgid))

    def close(self) -> None:
        """Stop the node and remove its directory; this instance cannot start again."""
        _owned.discard(self)
        if self.directory is None:
            return
        if self.is_running():
            self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "PrivateBroker":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # state shared with other processes

    def state(self) -> dict:
        self._require_created()
        return {
            "node_name": self.node_name, "purpose": self.purpose, "schedulers": self.schedulers,
            "port": self.port, "dist_port": self.dist_port, "management_port": self.management_port,
            "directory": str(self.directory), "owner_pid": self.owner_pid,
            "amqp_uri": self.amqp_uri, "management_url": self.management_url,
            "pid_file": str(self.directory / "rabbit.pid"), "log_directory": str(self.directory / "log"),
        }

    def save_state(self, path: str | Path | None = None) -> Path:
        """Write this node's description as JSON (default: state.json in its directory); the path."""
        target = Path(path) if path else self.directory / "state.json"
        processes.write_json(target, self.state())
        return target

    @classmethod
    def from_state(cls, path: str | Path) -> "PrivateBroker":
        """Control a node another process created (``ENGAGE_TEST_BROKER_STATE``); it stays that process's to close."""
        state = processes.read_json(Path(path))
        if not state:
            raise BrokerError(f"no broker state in {path}")
        broker = cls.__new__(cls)
        broker.purpose = state["purpose"]
        broker.node_name = state["node_name"]
        broker.schedulers = state.get("schedulers")
        broker.port, broker.dist_port = state["port"], state["dist_port"]
        broker.management_port = state["management_port"]
        broker.directory = Path(state["directory"])
        broker.owner_pid = state["owner_pid"]
        broker._process = None
        return broker

    # internals

    def _require_created(self) -> None:
        if self.directory is None:
            raise BrokerError("the private broker has not been started yet")

    def process_group(self) -> int | None:
        """The node's process group (its launcher's pid) while it runs, else None."""
        return processes.read_pid(self.directory / "launcher.pid") if self.directory else None

    def _user_kwargs(self) -> dict:
        run_as = _run_as()
        if run_as is None:
            return {}
        return {"user": run_as[0], "group": run_as[1], "extra_groups": []}

    def _create(self) -> None:
        reap_abandoned()
        self.directory = Path(tempfile.mkdtemp(prefix=f"{DIRECTORY_PREFIX}{self.purpose}-"))
        self.port = processes.free_port()
        self.dist_port = processes.free_port(avoid=(self.port,))
        self.management_port = processes.free_port(avoid=(self.port, self.dist_port))
        for name in ("mnesia", "log"):
            (self.directory / name).mkdir()
        (self.directory / "rabbitmq.conf").write_text("\n".join([
            f"listeners.tcp.1 = 127.0.0.1:{self.port}",
            f"management.tcp.port = {self.management_port}",
            "management.tcp.ip = 127.0.0.1",
            # The first user is the project's operator instead of guest, so guest never exists here.
            f"default_user = {broker_users.OPERATOR}",
            f"default_pass = {broker_users.passwords()[broker_users.OPERATOR]}",
            # Fresher numbers in the management API for tests that look at queue depths.
            "collect_statistics_interval = 1000",
            "disk_free_limit.absolute = 50MB",
            "log.console = false",
            "log.file.level = info",
            "",
        ]))
        # An empty environment file keeps /etc/rabbitmq/rabbitmq-env.conf (node name, ports) out.
        (self.directory / "rabbitmq-env.conf").write_text("")
        (self.directory / "enabled_plugins").write_text("[rabbitmq_management].\n")
        cookie = self.directory / ".erlang.cookie"
        cookie.write_text("".join(secrets.choice(string.ascii_uppercase) for _ in range(32)))
        cookie.chmod(0o400)
        run_as = _run_as()
        if run_as:
            for path in [self.directory, *self.directory.rglob("*")]:
                os.chown(path, *run_as)
        self.save_state()
        _owned.add(self)

    def _node_env(self) -> dict:
        directory = self.directory
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("RABBITMQ_", "ERL_")) and key not in ("HOME", "PYTHONPATH")}
        erl_args = ["-kernel", "inet_dist_use_interface", "{127,0,0,1}",
                    "+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none"]
        if self.schedulers:
            erl_args += ["+S", f"{self.schedulers}:{self.schedulers}"]
        env.update({
            # HOME holds this node's own Erlang cookie, which rabbitmqctl reads too.
            "HOME": str(directory),
            "RABBITMQ_NODENAME": self.node_name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(directory / "log"),
            "RABBITMQ_PID_FILE": str(directory / "rabbit.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(directory / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": " ".join(erl_args),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        })
        return env

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if processes.port_is_open(self.port) and _management_answers(self.management_url):
                self.save_state()
                return
            exited = self._process.poll() if self._process else None
            if exited is not None or time.monotonic() > deadline:
                problem = f"exited with code {exited}" if exited is not None else f"did not answer within {int(timeout)} s"
                details = self._diagnostics()
                self._stop(signal.SIGKILL, 10)
                raise BrokerError(f"private broker {self.node_name} {problem}.\n{details}")
            time.sleep(0.1)

    def _diagnostics(self) -> str:
        parts = [processes.tail(self.directory / "stdout.log", 20)]
        parts += [processes.tail(log, 20) for log in sorted((self.directory / "log").glob("*.log"))]
        return "\n".join(part for part in parts if part)

    def _stop(self, first_signal: int, timeout: float) -> None:
        pgid = self.process_group()
        if pgid and processes.group_members(pgid):
            beam = processes.read_pid(self.directory / "rabbit.pid")
            processes.stop_group(pgid, first_signal=first_signal, first_pid=beam, timeout=timeout,
                                 child=self._process if self._process and self._process.pid == pgid else None)
        elif self._process is not None:
            self._process.poll()
        self._process = None
        if self.directory is not None:
            (self.directory / "launcher.pid").unlink(missing_ok=True)
            processes.wait_port_free(self.port, 10)


@atexit.register
def _close_owned_brokers() -> None:
    for broker in list(_owned):
        if broker.owner_pid == os.getpid():
            broker.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m deploy.local.broker [purpose]`: run a private node until Ctrl-C (for manual checks)."""
    args = sys.argv[1:] if argv is None else argv
    purpose = args[0] if args else "manual"
    broker = PrivateBroker(purpose)
    try:
        broker.start()
        print(f"{broker.node_name}\n  AMQP:       {broker_users.redacted(broker.amqp_uri)}\n"
              f"  management: {broker_users.redacted(broker.management_url)}\n"
              f"  state:      {broker.directory / 'state.json'}\nCtrl-C stops it.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        broker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
