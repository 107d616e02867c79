"""Ports and process groups for the servers the local runner starts.

Every server is started in a session of its own, so Ctrl-C in the terminal
reaches only the runner, which then stops the servers in order; and a server
is stopped as a whole process group, so no helper process outlives it.
Stdlib only: this runs under the system Python before the virtual
environment exists.
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"


class ServerProcess:
    """stop, kill and restart for a server class that defines ``start(timeout)`` and ``_stop(signal, timeout)``.

    The data stays in every case, so ``start()`` brings back the same server.
    """

    stop_timeout = 15.0

    def stop(self, timeout: float | None = None) -> None:
        """Shut the server down gracefully."""
        self._stop(signal.SIGTERM, self.stop_timeout if timeout is None else timeout)

    def kill(self) -> None:
        """Stop the server at once with SIGKILL, as a crash would."""
        self._stop(signal.SIGKILL, 10)

    def restart(self, graceful: bool = True, timeout: float = 60.0):
        """Stop (gracefully, or by killing it) and start again on the same ports with the same data."""
        if graceful:
            self.stop()
        else:
            self.kill()
        return self.start(timeout)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when nothing listens on ``host:port`` and it can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return not port_is_open(port, host)


def free_port(avoid: tuple[int, ...] = ()) -> int:
    """A free loopback port below the kernel's ephemeral range.

    Ports are drawn at random below the ephemeral range so that a server
    restarted on the same port does not find it taken by some client's
    outgoing connection, and so that concurrent runs rarely draw the same one.
    """
    ephemeral_low, _ = _ephemeral_range()
    low, high = 20000, ephemeral_low - 1
    if high - low < 1000:
        low, high = 10000, ephemeral_low - 1
    for _ in range(200):
        port = random.randint(low, high)
        if port not in avoid and port_is_free(port):
            return port
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def port_is_open(port: int, host: str = LOOPBACK, timeout: float = 0.3) -> bool:
    """True when a TCP connection to ``host:port`` is accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces.
    return raw[raw.rindex(")") + 2:].split()


def _exited(pid: int, state: str) -> bool:
    if state not in ("Z", "X"):
        return False
    # A thread group leader shows as a zombie while its other threads are
    # still exiting and holding its files (listening sockets among them).
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return True
    for task in tasks:
        try:
            raw = (task / "stat").read_text()
        except OSError:
            continue
        if raw[raw.rindex(")") + 2:].split()[0] not in ("Z", "X"):
            return False
    return True


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` exists and has not finished exiting."""
    fields = _stat_fields(pid)
    if fields is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return not _exited(pid, fields[0])


def group_members(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` that have not finished exiting."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        fields = _stat_fields(pid)
        if fields and int(fields[2]) == pgid and not _exited(pid, fields[0]):
            members.append(pid)
    return members


def wait_port_free(port: int, timeout: float) -> bool:
    """Wait until ``port`` can be listened on again (a stopped server may release it a moment late)."""
    deadline = time.monotonic() + timeout
    while not port_is_free(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` in the process tree (children first, then theirs)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


def ancestors(pid: int) -> list[int]:
    """The parent, grandparent, ... of ``pid`` up to init."""
    found = []
    fields = _stat_fields(pid)
    while fields and int(fields[1]) > 1 and int(fields[1]) not in found:
        found.append(int(fields[1]))
        fields = _stat_fields(found[-1])
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and everything it started, so nothing it spawned outlives it."""
    for member in [pid, *descendants(pid)]:
        try:
            os.kill(member, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux), so what a killed child started can still be found and stopped."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def reap_zombie_children(keep: tuple[int, ...] = ()) -> None:
    """Collect the exit status of adopted children that have exited (except ``keep``)."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in keep:
            continue
        fields = _stat_fields(int(entry.name))
        if fields and fields[0] == "Z" and int(fields[1]) == me:
            try:
                os.waitpid(int(entry.name), os.WNOHANG)
            except ChildProcessError:
                pass



def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_group_gone(pgid: int, timeout: float, child: subprocess.Popen | None = None) -> bool:
    """Wait until no live process is left in ``pgid``; reap ``child`` if it is ours."""
    deadline = time.monotonic() + timeout
    while True:
        if child is not None:
            child.poll()
        if not group_members(pgid):
            if child is not None:
                try:
                    child.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def stop_group(pgid: int, *, first_signal: int = signal.SIGTERM, first_pid: int | None = None,
               timeout: float = 10.0, child: subprocess.Popen | None = None) -> None:
    """Stop a process group: ``first_signal`` (to ``first_pid`` or the group), then SIGKILL after ``timeout``."""
    if first_pid is not None and pid_alive(first_pid):
        try:
            os.kill(first_pid, first_signal)
        except ProcessLookupError:
            pass
    else:
        signal_group(pgid, first_signal)
    if not wait_group_gone(pgid, timeout, child):
        signal_group(pgid, signal.SIGKILL)
        wait_group_gone(pgid, 10, child)


def environ_of(pid: int) -> dict[str, str]:
    """The environment of a running process, or {} when it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(errors="replace"): value.decode(errors="replace") for key, value in pairs}


def tail(path: Path | str, lines: int = 30) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically, so a concurrent reader never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(partial, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def read_pid(path: Path) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None
