"""The embedded MongoDB-compatible storage server: kept data for `make run`, wiped data for tests.

`secantusd-py` (PyPI `secantusdb`) speaks the MongoDB wire protocol on
loopback and presents itself as the single-node replica set `secantus`, so
transactions work. Services only ever see a `mongodb://` URI. Stdlib only;
the readiness check uses pymongo when it is importable.
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deploy.local import processes

ROOT = Path(__file__).resolve().parents[2]
REPLICA_SET = "secantus"
OPLOG_MAX_ENTRIES = 50000
DIRECTORY_PREFIX = "engage-storage-"


class StorageError(RuntimeError):
    """The storage server could not be found, started or stopped; the message says what to do."""


def storage_uri(port: int, host: str = "127.0.0.1") -> str:
    # retryWrites=false: the server does not need retryable writes, and the
    # driver's retry bookkeeping costs every write a round trip.
    return f"mongodb://{host}:{port}/?replicaSet={REPLICA_SET}&retryWrites=false"


def find_server() -> str:
    """Path of `secantusd-py`: $SECANTUSD, the project's .venv, this interpreter's bin, or PATH."""
    candidates = [os.environ.get("SECANTUSD"), str(ROOT / ".venv" / "bin" / "secantusd-py"),
                  str(Path(sys.prefix) / "bin" / "secantusd-py"), shutil.which("secantusd-py")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise StorageError("secantusd-py is not installed: run `make run` or `make test` (they install it into "
                       ".venv), or `.venv/bin/pip install secantusdb`; or set MONGO_URI to a MongoDB server.")


def ping(uri: str, timeout: float = 1.0) -> bool:
    """True when the server at ``uri`` answers a ping (a TCP check when pymongo is not installed)."""
    try:
        import pymongo
    except ImportError:
        from urllib.parse import urlsplit
        parts = urlsplit(uri)
        return processes.port_is_open(parts.port or 27017, parts.hostname or "127.0.0.1", timeout)
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=int(timeout * 1000),
                                 connectTimeoutMS=int(timeout * 1000))
    try:
        client.admin.command("ping")
        return True
    except Exception:  # any failure means "not ready yet"
        return False
    finally:
        client.close()


class StorageServer(processes.ServerProcess):
    """One `secantusd-py` process on 127.0.0.1:``port`` with its data in ``data_dir``.

    ``start()`` waits until a ping answers; ``stop()`` shuts it down cleanly
    (SIGTERM, then SIGKILL after a timeout); ``kill()`` stops it at once like
    a crash; ``restart()`` does both. The data stays in ``data_dir``.
    """

    def __init__(self, data_dir: str | Path, port: int, log_path: str | Path, *,
                 config_path: str | Path | None = None, cache_size: str | None = None,
                 executable: str | None = None):
        self.data_dir = Path(data_dir)
        self.port = port
        self.log_path = Path(log_path)
        self.config_path = Path(config_path) if config_path else self.data_dir.parent / "secantusd.toml"
        self.cache_size = cache_size
        self.executable = executable
        self._process: subprocess.Popen | None = None

    @property
    def mongo_uri(self) -> str:
        return storage_uri(self.port)

    uri = mongo_uri

    @property
    def pid_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.pid"

    def command(self) -> list[str]:
        command = [self.executable or find_server(), "--config", str(self.config_path),
                   "--host", "127.0.0.1", "--port", str(self.port), "--storage-path", str(self.data_dir),
                   "--oplog-max-entries", str(OPLOG_MAX_ENTRIES)]
        if self.cache_size:
            command += ["--cache-size", self.cache_size]
        return command

    def start(self, timeout: float = 60.0) -> "StorageServer":
        """Start the server (a no-op when it runs) and wait until it answers a ping."""
        if self.is_running():
            return self
        if not processes.wait_port_free(self.port, 5):
            raise StorageError(f"port {self.port} is already in use, so the storage server cannot listen on it. "
                               "Stop what uses it, or choose another port (STORAGE_PORT) or server (MONGO_URI).")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            # An explicit (empty) configuration file keeps a stray ./secantusd.toml
            # or ~/.secantus/secantusd.toml from changing the server's settings.
            self.config_path.write_text("# secantusd settings for this data directory; flags override them.\n")
        command = self.command()
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(command, cwd=self.data_dir.parent, stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid_file.write_text(f"{self._process.pid}\n")
        deadline = time.monotonic() + timeout
        while not ping(self.mongo_uri, timeout=0.5):
            exited = self._process.poll()
            if exited is not None or time.monotonic() > deadline:
                problem = f"exited with code {exited}" if exited is not None else f"did not answer within {int(timeout)} s"
                self.kill()
                raise StorageError(f"the storage server on port {self.port} {problem}:\n"
                                   f"{processes.tail(self.log_path, 20)}")
            time.sleep(0.1)
        return self

    def process_group(self) -> int | None:
        """The server's process group (its pid) while it runs, else None."""
        return processes.read_pid(self.pid_file)

    def is_running(self) -> bool:
        pid = self.process_group()
        return bool(pid and processes.group_members(pid))

    def _stop(self, first_signal: int, timeout: float) -> None:
        pid = processes.read_pid(self.pid_file)
        if pid and processes.group_members(pid):
            child = self._process if self._process and self._process.pid == pid else None
            processes.stop_group(pid, first_signal=first_signal, timeout=timeout, child=child)
        elif self._process is not None:
            self._process.poll()
        self._process = None
        self.pid_file.unlink(missing_ok=True)


_owned: "set[PrivateStorage]" = set()


def reap_abandoned(prefix: str = DIRECTORY_PREFIX) -> None:
    """Stop servers and remove directories left behind by runs whose process died."""
    for state_file in Path(tempfile.gettempdir()).glob(prefix + "*/state.json"):
        state = processes.read_json(state_file)
        if not state or processes.pid_alive(int(state.get("owner_pid", 0))):
            continue
        directory = state_file.parent
        pid = processes.read_pid(directory / "data.pid")
        if pid and processes.group_members(pid):
            try:
                command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                command_line = b""
            if str(directory).encode() in command_line:
                processes.stop_group(pid, first_signal=signal.SIGKILL, timeout=5)
        shutil.rmtree(directory, ignore_errors=True)


class PrivateStorage(StorageServer):
    """A storage server of its own for one test run, chaos run or benchmark: free port, wiped temp directory.

    Stop, kill, start and restart keep the data; ``close()`` (also at the end
    of a ``with`` block and at exit of the process that created it) stops the
    server and removes the directory. ``from_state(path)`` lets another
    process stop and start the same server.
    """

    def __init__(self, purpose: str = "test", *, cache_size: str | None = "256M"):
        self.purpose = purpose
        self.directory: Path | None = None
        self.owner_pid = os.getpid()
        super().__init__(Path("/nonexistent/data"), 0, Path("/nonexistent/storage.log"), cache_size=cache_size)

    def start(self, timeout: float = 60.0) -> "PrivateStorage":
        if self.directory is None:
            self._create()
        super().start(timeout)
        self.save_state()
        return self

    def close(self) -> None:
        """Stop the server and remove its directory; this instance cannot start again."""
        _owned.discard(self)
        if self.directory is None:
            return
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "PrivateStorage":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def state(self) -> dict:
        return {"purpose": self.purpose, "port": self.port, "directory": str(self.directory),
                "data_dir": str(self.data_dir), "log_path": str(self.log_path), "pid_file": str(self.pid_file),
                "cache_size": self.cache_size, "owner_pid": self.owner_pid, "mongo_uri": self.mongo_uri}

    def save_state(self, path: str | Path | None = None) -> Path:
        """Write this server's description as JSON (default: state.json in its directory); the path."""
        target = Path(path) if path else self.directory / "state.json"
        processes.write_json(target, self.state())
        return target

    @classmethod
    def from_state(cls, path: str | Path) -> "PrivateStorage":
        """Control a server another process created (``ENGAGE_TEST_STORAGE_STATE``); it stays that process's to close."""
        state = processes.read_json(Path(path))
        if not state:
            raise StorageError(f"no storage state in {path}")
        storage = cls.__new__(cls)
        StorageServer.__init__(storage, state["data_dir"], state["port"], state["log_path"],
                               cache_size=state.get("cache_size"))
        storage.purpose = state["purpose"]
        storage.directory = Path(state["directory"])
        storage.owner_pid = state["owner_pid"]
        return storage

    def _create(self) -> None:
        reap_abandoned()
        self.directory = Path(tempfile.mkdtemp(prefix=f"{DIRECTORY_PREFIX}{self.purpose}-"))
        self.data_dir = self.directory / "data"
        self.log_path = self.directory / "storage.log"
        self.config_path = self.directory / "secantusd.toml"
        self.port = processes.free_port()
        self.save_state()
        _owned.add(self)


@atexit.register
def _close_owned_storage() -> None:
    for storage in list(_owned):
        if storage.owner_pid == os.getpid():
            storage.close()


def ensure_local_storage(data_root: Path) -> tuple[str, StorageServer | None]:
    """The storage `make run` uses: (``MONGO_URI``, None) when set; else a server started now.

    The started server listens on ``STORAGE_PORT`` (default 27017) and keeps
    its data under ``data_root/storage`` between runs; the caller stops it.
    """
    configured = os.environ.get("MONGO_URI")
    if configured:
        return configured, None
    port = int(os.environ.get("STORAGE_PORT", "27017"))
    server = StorageServer(data_root / "storage", port, data_root / "logs" / "storage.log",
                           config_path=data_root / "secantusd.toml")
    return server.mongo_uri, server.start()
