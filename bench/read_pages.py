"""Figure 7: the pages people read most, each at one keep-alive connection, beside the bare server's floor.

For each page (home, the ideas list and its API, the 25 KB idea page, the
archive home, an archive resource, the OpenAPI document), as a visitor and as
a logged-in member: wrk's p50 at one connection and one thread through the
gateway, ÷ wrk's p50 on ``bench.bare_bytes`` serving the very bytes the
gateway answered for that request. The ratio is what the platform adds to
the cost of sending that page at all.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench.platform import PASSWORD, World, ensure_wrk
from bench.report import Figure, Progress
from bench.system import System
from deploy.local import processes

GOAL = 2.0
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk_p50(url: str, seconds: int, progress: Progress, label: str, cookie: str | None) -> float:
    """wrk's median latency in ms at one keep-alive connection; non-2xx answers make it fail."""
    command = [ensure_wrk(progress), "-t1", "-c1", f"-d{seconds}s", "--latency", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if "Non-2xx" in result.stdout or result.returncode != 0:
        raise RuntimeError(f"{label}: wrk saw errors:\n{result.stdout}{result.stderr}")
    match = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", result.stdout, re.M)
    if not match:
        raise RuntimeError(f"{label}: no p50 in wrk's output:\n{result.stdout}")
    return float(match.group(1)) * UNITS[match.group(2)]


def archive_resource(system: System, world: World) -> str:
    """A published resource, by an administrator of an agency of its own; its id."""
    from services.common.rpc import ClusterRpcProxy
    email = "librarian@bench.example"
    with ClusterRpcProxy({"AMQP_URI": system.broker.amqp_uri}, timeout=30) as rpc:
        rpc.members.create_agency({"slug": "bench-library", "name": "Benchmark Library"},
                                  {"email": email, "display_name": "Bench Librarian", "password": PASSWORD})
    token = requests.post(f"{world.web}/api/v1/tokens", json={"email": email, "password": PASSWORD},
                          timeout=30).json()["token"]
    answer = requests.post(f"{world.web}/api/v1/archive/resources", headers={"Authorization": f"Bearer {token}"},
                           json={"kind": "tool", "title": "Workshop planning canvas", "licence": "CC-BY-4.0",
                                 "summary": "A one-page canvas for planning a co-design workshop.",
                                 "body": "Use it **before** the first meeting.\n\n" + "Plan who comes. " * 200,
                                 "attribution": "Benchmark Library", "tags": ["workshops", "co-design"]}, timeout=30)
    answer.raise_for_status()
    return answer.json()["id"]


def member_cookie(world: World) -> str:
    """The page session cookie of a member logged in through the log-in form, as a browser holds it."""
    world.member("reader")
    session = requests.Session()
    form = session.get(f"{world.web}/login", timeout=30).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = session.post(f"{world.web}/login", data={"email": "reader@bench.example", "password": PASSWORD,
                                                      "csrf_token": csrf}, allow_redirects=False, timeout=30)
    if answer.status_code != 303 or "engage_session" not in session.cookies:
        raise RuntimeError(f"the reader could not log in: {answer.status_code}")
    # The first page after log-in keeps the member's time zone in the session, as a browser's next pages send it;
    # wrk does not keep cookies, so it must start from that one.
    session.get(f"{world.web}/", timeout=30).raise_for_status()
    return f"engage_session={session.cookies['engage_session']}"


def measure_read_pages(system: System, world: World, idea_id: str, progress: Progress, seconds: int) -> list[Figure]:
    progress.say("[7] Read pages at one keep-alive connection (wrk -t1 -c1), beside a bare eventlet.wsgi server")
    resource_id = archive_resource(system, world)
    pages = [("Home", "/", "html"), ("Ideas list", "/ideas", "html"), ("Ideas API list", "/api/v1/ideas", "json"),
             ("Idea page", f"/ideas/{idea_id}", "html"), ("Archive home", "/archive", "html"),
             ("Archive resource", f"/archive/resources/{resource_id}", "html"),
             ("OpenAPI document", "/api/v1/openapi.json", "json")]
    readers = [("visitor", None), ("member", member_cookie(world))]
    figures = []
    with tempfile.TemporaryDirectory(prefix="bench-bytes-") as directory:
        files = {}
        for who, cookie in readers:
            for name, path, suffix in pages:
                answer = requests.get(world.web + path, headers={"Cookie": cookie} if cookie else {}, timeout=30)
                answer.raise_for_status()
                if cookie and suffix == "html" and 'action="/logout"' not in answer.text:
                    raise RuntimeError(f"{path} does not show the reader as logged in")
                file_name = f"{who}-{len(files)}.{suffix}"
                Path(directory, file_name).write_bytes(answer.content)
                files[(who, name)] = (file_name, len(answer.content))
        port = processes.free_port()
        floor_server = subprocess.Popen([sys.executable, "-m", "bench.bare_bytes", directory, str(port)])
        try:
            floor_base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    requests.get(f"{floor_base}/{files[('visitor', 'Home')][0]}", timeout=1).raise_for_status()
                    break
                except requests.RequestException:
                    time.sleep(0.1)
            for who, cookie in readers:
                for name, path, _ in pages:
                    file_name, size = files[(who, name)]
                    label = f"{name}, {who}"
                    wrk_p50(world.web + path, 1, progress, f"{label} warm-up", cookie)
                    gateway = wrk_p50(world.web + path, seconds, progress, label, cookie)
                    floor = wrk_p50(f"{floor_base}/{file_name}", seconds, progress, f"{label} floor", None)
                    figure = Figure("7", f"{label} p50", gateway, floor, "ms", GOAL, False,
                                    floor_name="bare eventlet.wsgi, same bytes")
                    figure.notes.append(f"{path}: {size:,} bytes")
                    progress.result(figure)
                    figures.append(figure)
        finally:
            floor_server.terminate()
            floor_server.wait(timeout=10)
    return figures
