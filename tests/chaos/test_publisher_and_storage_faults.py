"""Scenarios 6 and 7: a publisher killed between its state write and the publish; storage stopped under load."""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from services.common.mongo import connect
from tests.chaos.conftest import report
from tests.support.bus import Subscriber
from tests.support.platform import Platform, wait_for

PASSWORD = "a long enough password"


def _vhost_name(vhost_uri: str) -> str:
    return vhost_uri.rsplit("/", 1)[1]


def _set_permissions(management_url: str, vhost: str, user: str, write: str) -> None:
    requests.put(f"{management_url}/api/permissions/{vhost}/{user}",
                 json={"configure": ".*", "write": write, "read": ".*"}, timeout=10).raise_for_status()


def test_a_publisher_killed_between_its_write_and_the_publish_publishes_from_the_outbox_after_restart(
        cluster, vhost, controls, mongo_uri):
    # The members process connects as a user of its own that may not write to
    # members.events or members.private yet: every commit lands in the outbox, no publish gets through.
    vhost_name, user, password = _vhost_name(vhost), f"chaos-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    management = controls.management_url
    requests.put(f"{management}/api/users/{user}", json={"password": password, "tags": ""}, timeout=10).raise_for_status()
    try:
        _set_permissions(management, vhost_name, user, write=r"^(?!members\.(events|private)$).*")
        port = vhost.split("@", 1)[1].split("/", 1)[0]
        members = cluster.start("members", AMQP_URI=f"amqp://{user}:{password}@{port}/{vhost_name}")
        subscriber = Subscriber(vhost, "members.events", "#")
        outbox = connect(mongo_uri)[cluster.database_name("members")].outbox

        with Platform(amqp_uri=vhost, mongo_uri=mongo_uri, prefix="unused").rpc() as rpc:
            rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency"})
            for n in range(5):
                rpc.members.register({"email": f"crash{n}@example.gov.au", "display_name": f"Crash {n}",
                                      "password": PASSWORD, "agency": "dta"})
        pending = outbox.count_documents({"state": "pending"})
        # agency.created, five member.registered and their five member.verification_requested, none published
        assert pending == outbox.count_documents({}) == 11
        # The verification links go to notify on members.private; the public events are what subscribers see.
        written = [row["event_id"] for row in outbox.find({"private": {"$ne": True}}, {"event_id": 1})]
        assert len(written) == 6

        members.kill()
        _set_permissions(management, vhost_name, user, write=".*")
        cluster.start("members", replica=2, AMQP_URI=f"amqp://{user}:{password}@{port}/{vhost_name}")
        received = []
        began = time.monotonic()
        # Rows the killed relay could not publish were given back; any it still held stay leased for up to 10 s.
        while len(received) < len(written):
            received.append(subscriber.next(timeout=45)[0]["id"])
        republished_after = time.monotonic() - began
        time.sleep(1)  # anything published twice would arrive within this second
        while True:
            method, _, body = subscriber.channel.basic_get(subscriber.queue, auto_ack=True)
            if method is None:
                break
            received.append(body)
        subscriber.close()
        report("publisher killed before publish", events_written=len(written), pending_at_kill=pending,
               published_after_restart=len(received), published_within_s=round(republished_after, 1), duplicates=len(received) - len(set(received)),
               lost=len(set(written) - set(received)))
        assert sorted(received) == sorted(written)
        assert outbox.count_documents({"state": "sent"}) == pending
    finally:
        requests.delete(f"{management}/api/users/{user}", timeout=10)


def test_storage_stopped_under_load_answers_503_then_recovers_with_nothing_half_written(platform, controls):
    platform.start("members", REGISTRATION_LIMIT="100000 per hour")  # this load comes from one address on purpose
    platform.start("web")
    with platform.rpc() as rpc:
        rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency"})
    url = platform.url("web")
    outcomes: list[tuple[str, int, str, float]] = []
    phase = {"now": "before"}
    stop_at = time.monotonic() + 300

    def register(n: int) -> None:
        while time.monotonic() < stop_at:
            email = f"load{n}.{uuid.uuid4().hex[:8]}@example.gov.au"
            began, during = time.monotonic(), phase["now"]
            try:
                if n % 2:  # half the load writes, half reads
                    answer = requests.post(f"{url}/api/v1/members", json={
                        "email": email, "display_name": f"Load {n}", "password": PASSWORD, "agency": "dta"},
                        timeout=60)
                else:
                    email = ""
                    answer = requests.get(f"{url}/api/v1/agencies", timeout=60)
                status = answer.status_code
                message = answer.json().get("error", {}).get("message", "") if status >= 400 else ""
            except requests.RequestException as exc:
                status, message = 0, str(exc)
            outcomes.append((email, 201 if status == 200 else status, message, time.monotonic() - began, during))
            if status >= 400:
                time.sleep(0.2)

    pool = ThreadPoolExecutor(max_workers=4)
    workers = [pool.submit(register, n) for n in range(4)]
    wait_for(lambda: sum(1 for o in outcomes if o[1] == 201) >= 10, timeout=30, message="load to flow")
    phase["now"] = "down"
    controls.storage.stop()
    down_began = time.monotonic()
    time.sleep(8)
    phase["now"] = "recovering"
    controls.storage.start()
    down_for = time.monotonic() - down_began
    recovered = len(outcomes)
    wait_for(lambda: sum(1 for o in outcomes[recovered:] if o[1] == 201) >= 10, timeout=60,
             message="registrations to succeed again")
    stop_at = 0
    for worker in workers:
        worker.result()
    pool.shutdown()

    during = [o for o in outcomes if o[4] == "down"]
    statuses = sorted({o[1] for o in outcomes})
    members = platform.db("members")
    stored = {m["email"] for m in members.members.find({"email": {"$regex": "^load"}}, {"email": 1})}
    events = {row["envelope"]["data"]["member_id"] for row in members.outbox.find({"type": "member.registered"})}
    ids = {m["_id"] for m in members.members.find({"email": {"$regex": "^load"}}, {"_id": 1})}
    created = {o[0] for o in outcomes if o[1] == 201 and o[0]}
    refused = [o for o in outcomes if o[1] == 503]
    report("storage stopped", requests=len(outcomes), created=len(created), answered_503=len(refused),
           other_statuses=[s for s in statuses if s not in (201, 503)], storage_down_s=round(down_for, 1),
           slowest_answer_while_down_s=round(max((o[3] for o in during), default=0), 1),
           members_stored=len(stored), registered_events=len(events & ids), half_written=len(ids ^ (events & ids)))
    assert set(statuses) <= {201, 503}, f"only 201 and 503 are acceptable answers, got {statuses}"
    assert refused, "requests made while storage was down should have been refused"
    assert all("Storage is unavailable" in o[2] for o in refused)
    assert max(o[3] for o in during) < 10, "while storage is down, answers should come within seconds"
    assert created <= stored, "a member answered 201 is missing"
    assert ids == events & ids, "a member was stored without its member.registered event"
    assert members.outbox.count_documents({"state": "pending"}) == 0 or wait_for(
        lambda: members.outbox.count_documents({"state": "pending"}) == 0, timeout=20)
