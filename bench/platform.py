"""Figures 2, 3, 4 and 8: the platform's own services under load, each beside a bare floor measured in the same run.

2. Rating to notification: paced ratings through the gateway's API; the time
   from each request to the author's notification being stored by notify,
   and the storage operations each rating costs.
3. Idea page: requests per second for an idea page (rating histogram and 50
   comments) at 10 connections with wrk, beside ``bench.bare_page``.
4. Flat cost: idea page and archive search p50 at a large size ÷ a small one.
8. Sustainable rating rate: the highest pace at which that p99 stays under
   250 ms, beside the bare chain's.
"""
from __future__ import annotations

import copy
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlsplit

import requests

from bench.report import Figure, Progress
from bench.system import ROOT, System
from deploy.local import processes
from deploy.local.broker import apt_install
from services.common.events import utc_now

PASSWORD = "bench-password-123"
STORAGE_OPERATIONS_GOAL = 12.0  # per rating, from the request to the author's notification
SUSTAINABLE_P99_MS = 250
RATE_STEPS = (10, 20, 40, 60, 80, 100, 120, 160, 200)


class Api:
    """The gateway's JSON API as one member (or a visitor) sees it."""

    def __init__(self, base: str, token: str | None = None):
        self.base = base
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body: dict | None = None, expect: tuple = (200, 201)) -> dict:
        answer = self.session.request(method, self.base + path, json=body, timeout=30)
        if answer.status_code not in expect:
            raise RuntimeError(f"{method} {path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()


class World:
    """An agency and its members on a running platform, with a token each."""

    def __init__(self, system: System):
        self.system = system
        self.web = system.url("web")
        self.slug = "bench"
        from services.common.rpc import ClusterRpcProxy
        with ClusterRpcProxy({"AMQP_URI": system.broker.amqp_uri}, timeout=30) as rpc:
            rpc.members.create_agency({"slug": self.slug, "name": "Benchmark Agency"},
                                      {"email": "admin@bench.example", "display_name": "Bench Admin",
                                       "password": PASSWORD})
        visitor = Api(self.web)
        self.admin = Api(self.web, visitor.call("POST", "/api/v1/tokens", {"email": "admin@bench.example",
                                                                           "password": PASSWORD})["token"])
        self.members: dict[str, Api] = {}

    def member(self, name: str) -> Api:
        """A member invited by the agency's administrator, so they log in without a mailbox to confirm from."""
        if name not in self.members:
            email = f"{name}@bench.example"
            invite_url = self.admin.call("POST", "/api/v1/invites", {"email": email})["invite_url"]
            visitor = Api(self.web)
            visitor.call("POST", "/api/v1/members", {"email": email, "display_name": name.replace("-", " ").title(),
                                                     "password": PASSWORD, "agency": self.slug,
                                                     "invite": parse_qs(urlsplit(invite_url).query)["invite"][0]})
            token = visitor.call("POST", "/api/v1/tokens", {"email": email, "password": PASSWORD})["token"]
            self.members[name] = Api(self.web, token)
        return self.members[name]

    def idea(self, author: str, title: str) -> str:
        return self.member(author).call("POST", "/api/v1/ideas", {
            "title": title, "description": "A way to hear from more people.\nAnd to tell them what changed.",
            "what_it_might_look_like": "Short sessions in libraries, with a summary posted after each.",
            "why_it_matters": "People who never come to meetings still have views worth hearing.",
            "prompts": ["Who would you invite?", "What would make you come?"], "tags": ["engagement", "bench"]})["id"]


def storage_operations(system: System) -> float:
    """The storage server's operation count so far (serverStatus opcounters, every client)."""
    counters = system.mongo().admin.command("serverStatus").get("opcounters", {})
    return float(sum(value for value in counters.values() if isinstance(value, (int, float))))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# -- figure 2 ---------------------------------------------------------------------------------------

def paced(count: int, per_second: float, send, progress: Progress, label: str) -> dict[str, float]:
    """Call ``send(i)`` for i in range(count) at ``per_second``; the wall-clock send time of each key returned."""
    sent: dict[str, float] = {}
    errors: list = []
    start = time.monotonic() + 0.2

    wall_start = time.time() + (start - time.monotonic())

    def one(i: int) -> None:
        delay = start + i / per_second - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        # Latency counts from the moment the request was due, so a system that falls behind the pace
        # shows its backlog instead of hiding it (no coordinated omission).
        at = wall_start + i / per_second
        try:
            key = send(i)
            sent[key] = at
        except Exception as exc:
            errors.append(exc)

    with ThreadPoolExecutor(32) as pool:
        futures = [pool.submit(one, i) for i in range(count)]
        while not all(f.done() for f in futures):
            progress.tick(f"{label}: {len(sent)}/{count} answered")
            time.sleep(0.2)
    achieved = count / (time.monotonic() - start)
    progress.say(f"  {label}: {count} requests answered at {achieved:.0f}/s against a pace of {per_second:g}/s")
    paced.achieved = achieved
    if errors:
        raise RuntimeError(f"{label}: {len(errors)} requests failed, the first: {errors[0]}")
    return sent


def latencies(collection, sent: dict[str, float], progress: Progress, label: str, timeout: float = 120) -> list[float]:
    """Seconds from each send to the notification stored for that idea, once all have arrived.

    Each notification's own ``created_at`` is its arrival time, so the
    collection is read only every two seconds: each read scans it on the
    embedded storage server, which is busy with the path being measured.
    """
    deadline = time.monotonic() + timeout
    while True:
        stored = {doc["idea_id"]: doc["created_at"].timestamp()
                  for doc in collection.find({"idea_id": {"$in": list(sent)}}, {"idea_id": 1, "created_at": 1})}
        progress.tick(f"{label}: {len(stored)}/{len(sent)} notifications stored")
        if len(stored) >= len(sent):
            return [stored[key] - at for key, at in sent.items()]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{label}: {len(stored)} of {len(sent)} notifications after {timeout:.0f} s")
        time.sleep(2.0)


class BareRatingChain:
    """``bench.bare_rating``'s server and consumer on a database of its own, with ideas to rate one each."""

    def __init__(self, system: System, database: str):
        self.system = system
        self.db = system.mongo()[database]
        self.port = processes.free_port()
        uris = [system.broker.amqp_uri, system.storage.mongo_uri, database]
        self.server = subprocess.Popen([sys.executable, "-m", "bench.bare_rating", "serve", str(self.port), *uris],
                                       cwd=ROOT, env=system.env, stderr=subprocess.PIPE)
        self.consumer = subprocess.Popen([sys.executable, "-m", "bench.bare_rating", "consume", *uris], cwd=ROOT,
                                         env=system.env, stderr=subprocess.PIPE)
        self.local = threading.local()

    def __enter__(self) -> "BareRatingChain":
        deadline = time.monotonic() + 15
        while not processes.port_is_open(self.port):
            if time.monotonic() > deadline or self.server.poll() is not None:
                raise RuntimeError(f"the bare rating server did not start: {self.server.stderr.read().decode()[-1500:]}")
            time.sleep(0.1)
        time.sleep(1.0)
        return self

    def __exit__(self, *exc) -> None:
        for process in (self.server, self.consumer):
            process.terminate()
            process.wait(10)

    def ideas(self, count: int) -> list[str]:
        ids = [uuid.uuid4().hex for _ in range(count)]
        self.db.ideas.insert_many([{"_id": i, "author_id": "author", "sum": 0, "count": 0, "version": 1} for i in ids])
        return ids

    def rate(self, idea_id: str, stars: int) -> str:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        answer = self.local.session.put(f"http://127.0.0.1:{self.port}/ideas/{idea_id}/rating", json={"stars": stars},
                                        headers={"X-Member": "rater"}, timeout=30)
        answer.raise_for_status()
        return idea_id


class PlatformRatings:
    """Ratings through the gateway's API by one member, each on an idea of its own, notified to the author."""

    def __init__(self, system: System, world: World):
        self.system = system
        self.world = world
        self.notifications = system.mongo()["engage_notify"].notifications
        world.member("idea-author")
        self.token = world.member("rater").session.headers["Authorization"].split()[1]
        self.local = threading.local()  # one keep-alive connection per sending thread, as for the floor
        self.made = 0

    def ideas(self, count: int, progress: Progress) -> list[str]:
        first = self.made
        self.made += count
        with ThreadPoolExecutor(8) as pool:
            ideas = list(pool.map(lambda i: self.world.idea("idea-author", f"Rated idea {i}"),
                                  range(first, first + count)))
        known = self.system.mongo()["engage_notify"].ideas
        while known.count_documents({"_id": {"$in": ideas}}) < count:
            progress.tick(f"notify has heard of {known.count_documents({'_id': {'$in': ideas}})}/{count} ideas")
            time.sleep(0.5)
        return ideas

    def rate(self, idea_id: str, stars: int) -> str:
        if not hasattr(self.local, "api"):
            self.local.api = Api(self.world.web, self.token)
        self.local.api.call("PUT", f"/api/v1/ideas/{idea_id}/rating", {"stars": stars})
        return idea_id


def measure_rating_path(system: System, world: World, progress: Progress, count: int,
                        per_second: float = 100.0) -> list[Figure]:
    progress.say(f"[2] Rating to notification: {count} ratings at {per_second:g}/s through the API, then the bare chain")
    platform = PlatformRatings(system, world)
    ideas = platform.ideas(count, progress)
    before = storage_operations(system)
    sent = paced(count, per_second, lambda i: platform.rate(ideas[i], 1 + i % 5), progress, "platform")
    framework = latencies(platform.notifications, sent, progress, "platform")
    platform_ops = (storage_operations(system) - before) / count
    platform_rate = paced.achieved

    with BareRatingChain(system, "bench_bare_rating") as bare:
        bare_ids = bare.ideas(count)
        before = storage_operations(system)
        bare_sent = paced(count, per_second, lambda i: bare.rate(bare_ids[i], 1 + i % 5), progress, "floor")
        floor = latencies(bare.db.notifications, bare_sent, progress, "floor")
        floor_ops = (storage_operations(system) - before) / count
        floor_rate = paced.achieved
    figures = [
        Figure("2", "Rating → notification p50", percentile(framework, 0.5) * 1000,
               percentile(floor, 0.5) * 1000, "ms", 2.0, False, floor_name="bare chain"),
        Figure("2", "Rating → notification p99", percentile(framework, 0.99) * 1000,
               percentile(floor, 0.99) * 1000, "ms", 2.0, False, floor_name="bare chain"),
        Figure("2", "Storage operations per rating", platform_ops, STORAGE_OPERATIONS_GOAL, "operations", 1.0, False,
               floor_name="goal"),
    ]
    figures[0].notes.append("p50 is shown for reference; the goal is on p99")
    figures[1].notes.append(f"requests answered per second against the pace of {per_second:g}/s: platform "
                            f"{platform_rate:.0f}, bare chain {floor_rate:.0f}")
    figures[2].notes.append(f"server opcounters, all clients, over the paced run: platform {platform_ops:.1f}, "
                            f"bare chain {floor_ops:.1f}")
    for figure in figures:
        progress.result(figure)
    return figures


# -- figure 8 ---------------------------------------------------------------------------------------

def sustainable_rate(name: str, make_ideas, rate, notifications, progress: Progress, seconds: float) -> tuple[float, list[str]]:
    """The highest of ``RATE_STEPS`` at which paced ratings keep their p99 (request due → notification stored)
    under ``SUSTAINABLE_P99_MS``; each step runs ``seconds`` of ratings, stopping at the first step that fails."""
    best, notes = 0.0, []
    for per_second in RATE_STEPS:
        count = max(10, int(per_second * seconds))
        ideas = make_ideas(count)
        sent = paced(count, per_second, lambda i: rate(ideas[i], 1 + i % 5), progress, f"{name} at {per_second}/s")
        p99 = percentile(latencies(notifications, sent, progress, name), 0.99) * 1000
        notes.append(f"{per_second}/s: p99 {p99:,.0f} ms")
        progress.say(f"  {name} at {per_second}/s: p99 {p99:,.0f} ms")
        if p99 >= SUSTAINABLE_P99_MS:
            break
        best = float(per_second)
    return best, notes


def measure_sustainable_rate(system: System, world: World, progress: Progress, seconds: float) -> Figure:
    progress.say(f"[8] Sustainable rating rate: the highest pace whose p99 stays under {SUSTAINABLE_P99_MS} ms, "
                 "platform then bare chain")
    platform = PlatformRatings(system, world)
    platform_best, platform_notes = sustainable_rate(
        "platform", lambda count: platform.ideas(count, progress), platform.rate, platform.notifications, progress,
        seconds)
    with BareRatingChain(system, "bench_bare_sustained") as bare:
        bare_best, bare_notes = sustainable_rate("bare chain", bare.ideas, bare.rate, bare.db.notifications, progress,
                                                 seconds)
    figure = Figure("8", f"Sustainable rating rate (p99 < {SUSTAINABLE_P99_MS} ms)", platform_best, bare_best,
                    "ratings/s", 0.9, True, floor_name="bare chain")
    figure.notes.append("platform " + ", ".join(platform_notes) + "; bare chain " + ", ".join(bare_notes))
    progress.result(figure)
    return figure


# -- figure 3 ---------------------------------------------------------------------------------------

def ensure_wrk(progress: Progress) -> str:
    found = shutil.which("wrk")
    if found:
        return found
    progress.say("wrk is not installed: installing it with apt-get (Debian package wrk) ...")
    if apt_install("wrk") and shutil.which("wrk"):
        return shutil.which("wrk")
    raise RuntimeError("wrk is needed for the idea page figure: install it with `sudo apt-get install -y wrk`.")


def wrk_rate(url: str, seconds: int, connections: int, progress: Progress, label: str) -> float:
    """Requests per second wrk reaches on ``url``; non-2xx answers make it fail."""
    wrk = ensure_wrk(progress)
    progress.say(f"  {label}: wrk -t2 -c{connections} -d{seconds}s {url}")
    result = subprocess.run([wrk, "-t2", f"-c{connections}", f"-d{seconds}s", url], capture_output=True, text=True,
                            timeout=seconds + 60)
    if "Non-2xx" in result.stdout or result.returncode != 0:
        raise RuntimeError(f"{label}: wrk saw errors:\n{result.stdout}{result.stderr}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if not match:
        raise RuntimeError(f"{label}: no rate in wrk's output:\n{result.stdout}")
    return float(match.group(1))


def build_idea_page(world: World, progress: Progress) -> str:
    """An idea rated by five members (every star value) with 50 comments; its id."""
    progress.say("  building the idea page: 5 ratings and 50 comments")
    idea_id = world.idea("idea-author", "Community panels in every library")
    for stars in range(1, 6):
        world.member(f"rater-{stars}").call("PUT", f"/api/v1/ideas/{idea_id}/rating", {"stars": stars})
    commenter = world.member("commenter")
    for number in range(50):
        commenter.call("POST", f"/api/v1/ideas/{idea_id}/comments",
                       {"body": f"Comment {number}: we tried something like this in our region and it worked."})
    return idea_id


def measure_idea_page(system: System, world: World, idea_id: str, progress: Progress, seconds: int) -> Figure:
    progress.say("[3] Idea page through the gateway at 10 connections, then a bare nameko page")
    page_url = f"{world.web}/ideas/{idea_id}"
    page = requests.get(page_url, timeout=10)
    page.raise_for_status()
    if page.text.count("Comment ") < 50:
        raise RuntimeError("the idea page does not show its 50 comments")
    from services.common.rpc import ClusterRpcProxy
    with ClusterRpcProxy({"AMQP_URI": system.broker.amqp_uri}, timeout=30) as rpc:
        data = rpc.ideas.idea_page(idea_id)
    system.mongo()["bench_bare_page"].pages.replace_one(
        {"_id": idea_id}, {"_id": idea_id, "idea": data["idea"], "comments": data["comments"],
                           "size": len(page.content)}, upsert=True)
    system.start_services(["bare_page"])
    bare_url = f"{system.url('bare_page')}/pages/{idea_id}"
    bare = requests.get(bare_url, timeout=10)
    bare.raise_for_status()
    wrk_rate(page_url, 2, 10, progress, "warm-up")
    framework = wrk_rate(page_url, seconds, 10, progress, "gateway")
    floor = wrk_rate(bare_url, seconds, 10, progress, "floor")
    system.stop_services(["bare_page"])
    figure = Figure("3", "Idea page", framework, floor, "req/s", 0.50, True, floor_name="bare nameko page")
    figure.notes.append(f"page {len(page.content):,} bytes, floor page {len(bare.content):,} bytes")
    progress.result(figure)
    return figure


# -- figure 4 ---------------------------------------------------------------------------------------

def p50_of(call, times: int) -> float:
    call()
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def idea_page_p50(system: System, world: World, idea_id: str, times: int) -> tuple[float, float]:
    """(gateway page p50, ideas service read p50 without the gateway's cache), in seconds."""
    session = requests.Session()
    url = f"{world.web}/ideas/{idea_id}"
    page = p50_of(lambda: session.get(url, timeout=10).raise_for_status(), times)
    from services.common.rpc import ClusterRpcProxy
    with ClusterRpcProxy({"AMQP_URI": system.broker.amqp_uri}, timeout=30) as rpc:
        read = p50_of(lambda: rpc.ideas.idea_page(idea_id), times)
    return page, read


def insert_in_batches(collection, documents, total: int, progress: Progress, label: str, size: int = 1000) -> None:
    """Insert ``documents`` (an iterable of ``total``) ``size`` at a time, showing progress after each batch."""
    batch, done = [], 0
    for document in documents:
        batch.append(document)
        if len(batch) == size:
            collection.insert_many(batch)
            done += len(batch)
            batch = []
            progress.tick(f"{label}: {done}/{total}")
    if batch:
        collection.insert_many(batch)


def seed_ideas(system: System, template_id: str, ideas: int, comments: int, progress: Progress) -> None:
    """Copies of the measured idea and its first comment, inserted straight into the ideas service's database.

    Only the database size matters here, so the copies skip the API (10 000
    ideas through it would take longer than the whole benchmark).
    """
    db = system.mongo()["engage_ideas"]
    idea = db.ideas.find_one({"_id": template_id})
    comment = db.comments.find_one({"idea_id": template_id})

    def idea_copies():
        for number in range(ideas):
            copy_ = copy.deepcopy(idea)
            copy_["_id"] = str(uuid.uuid4())
            copy_["title"] = f"Seeded idea {number}"
            for key, value in list(copy_.items()):
                if key.startswith("sort_") and isinstance(value, str):
                    copy_[key] = value.replace(template_id, copy_["_id"])
            yield copy_

    insert_in_batches(db.ideas, idea_copies(), ideas, progress, "seeded ideas")
    others = [doc["_id"] for doc in db.ideas.find({"_id": {"$ne": template_id}}, {"_id": 1}).limit(ideas)]

    def comment_copies():
        for number in range(comments):
            copy_ = copy.deepcopy(comment)
            copy_["_id"] = str(uuid.uuid4())
            copy_["idea_id"] = others[number % len(others)]
            yield copy_

    insert_in_batches(db.comments, comment_copies(), comments, progress, "seeded comments")


WORDS = ("budget library youth panel survey rural transport housing health water school council forum digital "
         "access trust map story elder coast river migrant language festival garden climate safety")


def seed_archive(system: System, total: int, matching: int, progress: Progress) -> None:
    """Search entries made by the archive's own ``resource_search_entry``: ``matching`` hold the query's terms."""
    from services.archive import domain
    db = system.mongo()["engage_archive"]
    words = WORDS.split()
    already = db.search_entries.estimated_document_count()
    # Entries the platform made itself (the idea page's world) are there too: count the hits, not the entries.
    hits_wanted = matching - db.search_entries.count_documents({"title": {"$regex": "^Flatness benchmark guide"}})
    now = utc_now()

    def entries():
        for number in range(already, total):
            chosen = " ".join(words[(number * 7 + k * 11) % len(words)] for k in range(6))
            hit = number - already < hits_wanted
            title = f"Flatness benchmark guide {number}" if hit else f"{chosen.title()} note {number}"
            resource = {"_id": str(uuid.uuid4()), "kind": "tool", "title": title,
                        "summary": f"A resource about {chosen}.",
                        "body": f"How we worked on {chosen} with our community. " * 3, "licence": "CC-BY-4.0",
                        "agency": "bench", "tags": [words[number % len(words)]],
                        "published_at": now - timedelta(minutes=number), "updated_at": None}
            yield domain.resource_search_entry(resource)

    insert_in_batches(db.search_entries, entries(), total - already, progress, "archive search entries", size=2000)


def search_p50(world: World, times: int) -> float:
    session = requests.Session()
    url = f"{world.web}/api/v1/archive/search?q={quote('flatness benchmark')}"
    found = session.get(url, timeout=10).json()
    if found.get("total") != SEARCH_MATCHES:
        raise RuntimeError(f"archive search found {found.get('total')} entries, not {SEARCH_MATCHES}")
    return p50_of(lambda: session.get(url, timeout=10).raise_for_status(), times)


SEARCH_MATCHES = 20
