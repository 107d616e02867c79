"""Browser tests: the whole system as real processes, driven through headless Chromium.

This run is separate from the rest of the suite and never imports eventlet
(Playwright hangs at exit in a monkey-patched process); ``make test`` runs it
with ``--confcutdir tests/e2e/browser``. Every service runs as its own
``nameko run`` process against the private broker and storage server.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from deploy.local import broker_users  # noqa: E402  (stdlib only: this run never imports eventlet)

ARTIFACTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
SERVICES = [name for name in ("members", "ideas", "notify", "archive", "web")
            if (ROOT / "services" / name / "service.py").exists()]
PORT_VARIABLES = {"web": "WEB_PORT", "members": "MEMBERS_PORT", "ideas": "IDEAS_PORT", "notify": "NOTIFY_PORT",
                  "archive": "ARCHIVE_PORT"}
PASSWORD = "a browser test password"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningSystem:
    """The services as processes on free ports, plus small helpers to set the scene through the API."""

    def __init__(self, amqp_uri: str, mongo_uri: str, logs: Path):
        self.ports = {name: _free_port() for name in PORT_VARIABLES}
        self.prefix = f"b{uuid.uuid4().hex[:6]}"
        self.env = {**os.environ, "AMQP_URI": amqp_uri, "MONGO_URI": mongo_uri, "ENGAGE_ENV": "test",
                    "LOG_FORMAT": "text", "OUTBOX_SWEEP_SECONDS": "0.2", "ALLOW_PRIVATE_WEBHOOK_TARGETS": "true",
                    # Every test registers its members from 127.0.0.1; the limit has tests of its own.
                    "REGISTRATION_LIMIT": "100000 per hour",
                    "MEMBERS_JWKS_URL": f"http://127.0.0.1:{self.ports['members']}/.well-known/jwks.json",
                    "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.ports['web']}",
                    "SMTP_URL": f"smtp://127.0.0.1:{_free_port()}"}
        for name, variable in PORT_VARIABLES.items():
            self.env[variable] = str(self.ports[name])
            self.env[f"{name.upper()}_DATABASE"] = f"{self.prefix}_{name}"
        self.logs = logs
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['web']}"

    def start(self) -> None:
        nameko = str(Path(sys.executable).with_name("nameko"))
        for name in SERVICES:
            log = (self.logs / f"{name}.log").open("wb")
            self.processes[name] = subprocess.Popen(
                [nameko, "run", "--config", f"services/{name}/config.yml", f"services.{name}.service"],
                cwd=ROOT, env=self.service_env(name), stdout=log, stderr=subprocess.STDOUT)
        for name in SERVICES:
            self._wait_ready(name)

    def service_env(self, name: str) -> dict:
        """Each service logs in to the broker as its own user, as in production: consumers trust no other publisher."""
        if broker_users.user_of(self.env["AMQP_URI"]) != broker_users.OPERATOR:
            return self.env  # a broker user given by the caller is taken at its word
        return {**self.env, "AMQP_URI": broker_users.uri_for(self.env["AMQP_URI"], name)}

    def _wait_ready(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited; see {self.logs / (name + '.log')}")
            try:
                if requests.get(f"http://127.0.0.1:{self.ports[name]}/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{name} was not ready within {timeout} s; see {self.logs / (name + '.log')}")

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    def engage(self, *args: str) -> str:
        """Run the operator CLI against this system."""
        engage = str(Path(sys.executable).with_name("engage"))
        done = subprocess.run([engage, *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"engage {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def create_agency(self, slug: str, name: str, admin_email: str | None = None,
                      admin_password: str = PASSWORD, admin_name: str | None = None) -> None:
        """Create the agency unless it exists already (tests in one session share the system)."""
        existing = requests.get(f"{self.web_url}/api/v1/agencies", timeout=20).json()["items"]
        if any(agency["slug"] == slug for agency in existing):
            return
        args = ["agency", "create", "--slug", slug, "--name", name]
        if admin_email:
            args += ["--admin-email", admin_email, "--admin-password", admin_password,
                     "--admin-name", admin_name or admin_email.split("@")[0].title()]
        self.engage(*args)

    def register(self, email: str, display_name: str, password: str = PASSWORD, agency: str = "dta") -> str:
        created = requests.post(f"{self.web_url}/api/v1/members", json={
            "email": email, "display_name": display_name, "password": password, "agency": agency}, timeout=20)
        if created.status_code not in (201, 409):
            created.raise_for_status()
        if created.status_code == 201:
            self.confirm(email)
        return self.token(email, password)

    def verification_link(self, email: str) -> str:
        """The link notify mails to a new account, read from the mail it queued (members' outbox keeps no secret)."""
        from pymongo import MongoClient

        with MongoClient(self.env["MONGO_URI"]) as client:
            member = client[self.env["MEMBERS_DATABASE"]].members.find_one({"email": email.lower()})
            outgoing = client[self.env["NOTIFY_DATABASE"]].outgoing_mail
            deadline = time.monotonic() + 20
            while (row := outgoing.find_one({"recipient": member["_id"], "template": "verify_email"})) is None:
                assert time.monotonic() < deadline, f"no confirmation mail for {email}"
                time.sleep(0.1)
        return row["context"]["verify_url"]

    def confirm(self, email: str) -> None:
        """Confirm a new member's address, so a journey starts from a member who can log in.

        The mailed link itself is proven end to end by tests/security/test_accounts.py and
        tests/security/test_private_route.py.
        """
        from pymongo import MongoClient

        with MongoClient(self.env["MONGO_URI"]) as client:
            client[self.env["MEMBERS_DATABASE"]].members.update_one(
                {"email": email.lower(), "status": "unverified"}, {"$set": {"status": "active"}})

    def token(self, email: str, password: str = PASSWORD) -> str:
        answer = requests.post(f"{self.web_url}/api/v1/tokens", json={"email": email, "password": password}, timeout=20)
        answer.raise_for_status()
        return answer.json()["token"]

    def api(self, token: str | None = None) -> "ApiSession":
        return ApiSession(self.web_url, token)


class ApiSession(requests.Session):
    """``requests`` with the gateway's base URL and, when given, a member's token."""

    def __init__(self, base_url: str, token: str | None):
        super().__init__()
        self.base_url = base_url
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 20)
        return super().request(method, self.base_url + url if url.startswith("/") else url, *args, **kwargs)


@pytest.fixture(scope="session")
def system(tmp_path_factory):
    amqp, mongo = os.environ.get("ENGAGE_TEST_AMQP_URI"), os.environ.get("ENGAGE_TEST_MONGO_URI")
    started = []
    if not (amqp and mongo):
        from deploy.local.broker import PrivateBroker
        from deploy.local.storage import PrivateStorage

        broker, storage = PrivateBroker(purpose="browser"), PrivateStorage()
        broker.start()
        storage.start()
        started = [broker, storage]
        amqp, mongo = broker.amqp_uri, storage.mongo_uri
    running = RunningSystem(amqp, mongo, tmp_path_factory.mktemp("service-logs"))
    try:
        running.start()
        yield running
    finally:
        running.stop()
        for part in started:
            part.stop()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-AU", timezone_id="Australia/Sydney")
    opened = context.new_page()
    opened.set_default_timeout(15000)
    yield opened
    context.close()


def screenshot(page, name: str) -> Path:
    """Save a screenshot as a test artifact (``artifacts/screenshots/<name>.png``)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def unique_email(name: str) -> str:
    """A fresh address at the DTA's domain: ``seed-demo`` limits its agencies to their own domains."""
    return f"{name}.{uuid.uuid4().hex[:6]}@dta.example.gov.au"


