"""Make the project's virtual environment `.venv` and install the pinned dependencies into it.

Runs under the system Python 3.11 (stdlib only). The install runs again only
when `pyproject.toml` is newer than the last successful install, so repeated
`make run` / `make test` start at once.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".engage-installed"
LOG = ROOT / ".data" / "logs" / "bootstrap.log"
REQUIRED = (3, 11)


class BootstrapError(RuntimeError):
    """The environment could not be made; the message says what to install."""


def _version_of(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=30)
        major, minor = out.stdout.split()
        return int(major), int(minor)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def find_python() -> str:
    """A Python 3.11 interpreter: `python3.11`, this one, or `python3`."""
    for candidate in (shutil.which("python3.11"), sys.executable, shutil.which("python3")):
        if candidate and _version_of(candidate) == REQUIRED:
            return candidate
    raise BootstrapError("Python 3.11 is required: install it (Debian 12: `apt-get install -y python3 python3-venv`).")


def _log(command: list[str]) -> subprocess.CompletedProcess:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG, "ab") as log:
        log.write(f"\n$ {' '.join(command)}\n".encode())
        log.flush()
        return subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                              env=dict(os.environ, DEBIAN_FRONTEND="noninteractive", PIP_DISABLE_PIP_VERSION_CHECK="1"))


def _tail() -> str:
    try:
        return "\n".join(LOG.read_text(errors="replace").splitlines()[-25:])
    except OSError:
        return ""


def _venv_works() -> bool:
    return VENV_PYTHON.exists() and _version_of(str(VENV_PYTHON)) == REQUIRED


def _make_venv(python: str) -> None:
    shutil.rmtree(VENV, ignore_errors=True)
    if _log([python, "-m", "venv", str(VENV)]).returncode == 0 and _venv_works():
        return
    shutil.rmtree(VENV, ignore_errors=True)
    # Debian ships venv/ensurepip in a separate package.
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("  python3 -m venv needs the venv module: installing python3-venv with apt-get...", flush=True)
        _log(["apt-get", "update"])
        _log(["apt-get", "install", "-y", "python3-venv"])
        if _log([python, "-m", "venv", str(VENV)]).returncode == 0 and _venv_works():
            return
        shutil.rmtree(VENV, ignore_errors=True)
    raise BootstrapError("Could not make .venv. Install the venv module "
                         "(`sudo apt-get install -y python3-venv`) and try again.\n" + _tail())


def ensure_venv(extras: str = "test") -> Path:
    """Make `.venv` when needed and install the project with ``extras`` when pyproject.toml changed; its python."""
    LOG.parent.mkdir(parents=True, exist_ok=True)
    # Two commands started at once (make run beside make test) take turns.
    with open(LOG.parent.parent / "bootstrap.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_venv(extras)


def _ensure_venv(extras: str) -> Path:
    pyproject = ROOT / "pyproject.toml"
    if not _venv_works():
        print("Making the virtual environment .venv ...", flush=True)
        _make_venv(find_python())
    if not pyproject.exists():
        print("warning: pyproject.toml not found; nothing to install into .venv", flush=True)
        return VENV_PYTHON
    if STAMP.exists() and STAMP.stat().st_mtime >= pyproject.stat().st_mtime:
        return VENV_PYTHON
    print(f"Installing the pinned dependencies into .venv (pip install -e '.[{extras}]'; log: "
          f"{LOG.relative_to(ROOT)}) ...", flush=True)
    result = _log([str(VENV_PYTHON), "-m", "pip", "install", "-e", f".[{extras}]"])
    if result.returncode != 0:
        raise BootstrapError(f"pip install -e '.[{extras}]' failed:\n{_tail()}")
    STAMP.write_text(f"{extras}\n")
    return VENV_PYTHON


def running_in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def reexec_in_venv(module: str, argv: list[str]) -> None:
    """Replace this process with ``.venv/bin/python -m module argv`` unless it already runs there."""
    if running_in_venv():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), "-m", module, *argv])


def prepare() -> int | None:
    """``ensure_venv()``, telling the user what failed; an exit code when it did, else None."""
    try:
        ensure_venv()
    except BootstrapError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return None


def enter_venv(module: str, argv: list[str]) -> int | None:
    """Make `.venv` when needed and go on as ``.venv/bin/python -m module argv``; an exit code if that failed."""
    failed = prepare()
    if failed is None:
        reexec_in_venv(module, argv)
    return failed


def main() -> int:
    return prepare() or 0


if __name__ == "__main__":
    sys.exit(main())
