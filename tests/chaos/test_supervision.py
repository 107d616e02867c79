"""Supervision under `make run`: the runner's own supervisor brings back every service that dies.

The services run as real `nameko run` processes against the private broker
and storage server, started and watched by ``deploy.local.run.Supervisor``
exactly as `make run` does, only on this test's ports, vhost and databases.
"""
from __future__ import annotations

import signal
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import requests

from deploy.local import processes
from deploy.local.run import PHASES, RestartPolicy, Service, Supervisor, wait_ready
from services.cli import supervised_services
from services.common.rpc import ClusterRpcProxy
from tests.chaos.conftest import report
from tests.integration.ideas_support import PASSWORD, IdeasWorld
from tests.support.processes import ServiceProcess, base_env

# A fault scenario of a minute or more: `make chaos` runs it (CI too), `make test` does not.
pytestmark = pytest.mark.chaos_long

BACK_WITHIN = 10.0  # seconds from SIGKILL to answering /ready again
ANSWER_WITHIN = 12.0  # every request through the gateway, whoever is down
SETTLE = 1.5  # traffic after a service is back, before the next one is killed


@pytest.fixture
def supervised(vhost, mongo_uri, tmp_path):
    """Every service started in `make run`'s phases and watched by its supervisor; stopped by it afterwards."""
    env = base_env(vhost, mongo_uri, f"s{uuid.uuid4().hex[:8]}")
    # ServiceProcess gives each service its port and database; the supervisor runs the processes.
    places = {name: ServiceProcess(name, env, tmp_path / f"{name}.log") for phase in PHASES for name in phase}
    shared = {"MEMBERS_JWKS_URL": f"{places['members'].url}/.well-known/jwks.json",
              "PUBLIC_BASE_URL": places["web"].url}
    services = {name: Service(name, {**place.env, **shared}, port=place.port, log_path=place.log_path, echo=False)
                for name, place in places.items()}
    for phase in PHASES:
        for name in phase:
            services[name].start()
        wait_ready([services[name] for name in phase])
    said: list[str] = []
    supervisor = Supervisor(list(services.values()), policy=RestartPolicy(ready_timeout=30),
                            state_path=tmp_path / "runner.json", report=said.append)
    supervisor.start(interval=0.1)
    running = SimpleNamespace(supervisor=supervisor, services=services, said=said, state_path=tmp_path / "runner.json",
                              web=services["web"].url)
    try:
        yield running
    finally:
        supervisor.stop()


def member_and_idea(web_url: str, vhost: str) -> tuple[str, str]:
    """An agency, a member and an idea to read: (the member's token, the idea's id)."""
    with ClusterRpcProxy({"AMQP_URI": vhost}) as rpc:
        rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency"},
                                  {"email": "mei.chen@example.gov.au", "display_name": "Mei Chen", "password": PASSWORD})
    world = IdeasWorld(SimpleNamespace(url=lambda name: web_url))
    token = world.log_in("mei.chen@example.gov.au")
    return token, world.submit(token)["id"]


def test_each_service_killed_in_turn_is_back_within_seconds_and_the_gateway_never_hangs_or_fails(supervised, vhost):
    token, idea_id = member_and_idea(supervised.web, vhost)
    reads = [("/api/v1/ideas", None), (f"/ideas/{idea_id}", None), (f"/api/v1/ideas/{idea_id}", None),
             ("/api/v1/agencies", None), ("/api/v1/me", token), ("/api/v1/notifications", token),
             ("/api/v1/archive/search?q=network", None)]
    down = {"service": None}
    seen: list[tuple[str | None, str, object, float]] = []  # (service down, path, status, seconds)
    stop_at = [float("inf")]

    def read(worker: int) -> None:
        turn = worker
        while time.monotonic() < stop_at[0]:
            path, bearer = reads[turn % len(reads)]
            turn += 1
            during, began = down["service"], time.monotonic()
            try:
                status = requests.get(f"{supervised.web}{path}", timeout=ANSWER_WITHIN, allow_redirects=False,
                                      headers={"Authorization": f"Bearer {bearer}"} if bearer else {}).status_code
            except requests.Timeout:
                status = "timeout"
            except requests.ConnectionError:
                status = "no connection"
            # A request the gateway's own death cut short counts as made while the gateway was down.
            during = "web" if "web" in (during, down["service"]) else during or down["service"]
            seen.append((during, path, status, time.monotonic() - began))
            time.sleep(0.05)

    pool = ThreadPoolExecutor(max_workers=3)
    readers = [pool.submit(read, n) for n in range(3)]
    back_after: dict[str, float] = {}
    try:
        time.sleep(SETTLE)
        for phase in PHASES:
            for name in phase:
                service = supervised.services[name]
                old_pid = service.pid
                down["service"] = name
                killed_at = time.monotonic()
                processes.signal_group(old_pid, signal.SIGKILL)  # as the OOM killer would
                while not (service.pid != old_pid and service.ready()):
                    assert time.monotonic() - killed_at < BACK_WITHIN + 20, f"{name} did not come back"
                    time.sleep(0.05)
                back_after[name] = round(time.monotonic() - killed_at, 1)
                time.sleep(SETTLE)
                down["service"] = None
    finally:
        stop_at[0] = 0
        for reader in readers:
            reader.result()
        pool.shutdown()

    restarts = {name: entry["restarts"] for name, entry in supervised_services(supervised.state_path).items()}
    for name, seconds in back_after.items():
        statuses = Counter(status for during, _, status, _ in seen if during == name)
        slowest = max((took for during, _, _, took in seen if during == name), default=0)
        print(f"\n  {name}: ready {seconds} s after SIGKILL; while down and just after: "
              f"{dict(sorted(statuses.items(), key=str))}, slowest answer {slowest:.1f} s", end="")
    report("services killed in turn", requests=len(seen), statuses=dict(Counter(entry[2] for entry in seen)),
           slowest_answer_s=round(max(entry[3] for entry in seen), 1), restarts=restarts)

    for name in back_after:
        assert f"{name} exited (signal 9); restarting in 0.5 s, restart 1" in "\n".join(supervised.said)
    assert restarts == {name: 1 for name in supervised.services}, "engage status would show these restart counts"
    assert all(seconds <= BACK_WITHIN for seconds in back_after.values()), back_after
    hangs = [(during, path, round(took, 1)) for during, path, status, took in seen
             if status == "timeout" or took >= ANSWER_WITHIN]
    assert not hangs, f"requests that hung while a service was down: {hangs}"
    # Only while the gateway itself is down may a request find no one to connect to; otherwise it is answered.
    unacceptable = [(during, path, status) for during, path, status, _ in seen
                    if not (status == "no connection" and during == "web")
                    and not (isinstance(status, int) and (200 <= status < 300 or status in (503, 504)))]
    assert not unacceptable, f"answers other than 2xx, 503 or 504: {unacceptable}"

    # Then Ctrl-C, as `make run` handles it: every service stops and none is started again.
    groups = [service.pid for service in supervised.services.values()]
    said_before = len(supervised.said)
    supervised.supervisor.stop()
    assert all(not processes.group_members(group) for group in groups)
    killed = [name for name, service in supervised.services.items() if service.exited() == -signal.SIGKILL]
    assert not killed, f"{killed} did not stop when asked (SIGTERM) and had to be killed"
    assert supervised.said[said_before:] == [], "nothing is restarted once stopping has begun"
    assert not supervised.state_path.exists(), "engage status must not show a runner that has stopped"


def test_a_service_that_keeps_exiting_is_reported_with_its_last_log_lines_and_still_retried(tmp_path):
    # No services/absent/config.yml: `nameko run` exits with an error every time it starts.
    service = Service("absent", base_env("amqp://unused", "mongodb://unused", "unused"), port=processes.free_port(),
                      log_path=tmp_path / "absent.log", echo=False)
    said: list[str] = []
    supervisor = Supervisor([service], policy=RestartPolicy(first_delay=0.1, max_delay=0.5, burst=3, window=60),
                            state_path=tmp_path / "runner.json", report=said.append)
    service.start()
    supervisor.start(interval=0.05)
    try:
        deadline = time.monotonic() + 60
        while not any("it keeps exiting, trying again in 0.5 s" in line for line in said):
            assert time.monotonic() < deadline, said
            time.sleep(0.1)
    finally:
        supervisor.stop()
    print("\n" + "\n".join(said))

    assert said[0].startswith("absent exited (code 1); restarting in 0.1 s, restart 1 (1 of 3 exits allowed in 60 s)")
    assert said[1].startswith("absent exited (code 1) before it was ready again; restarting in 0.2 s, restart 2")
    loud = said[2]
    assert loud.startswith("error: absent keeps exiting: 3 times in 60 s (last: code 1); still trying every 0.5 s. "
                           "Last lines of ")
    assert "absent" in loud.split("Last lines of ", 1)[1].split("\n", 1)[1], "the log lines say why it exits"
    assert said[3].startswith("absent exited (code 1) before it was ready again; it keeps exiting, "
                              "trying again in 0.5 s (restart 4)")
