"""The kit's Store against the real storage server: update-and-read through the _id index, and transaction turns."""
import uuid

import eventlet
import pytest
from eventlet.semaphore import Semaphore

from services.common.mongo import connect
from services.common.storage import Store


@pytest.fixture
def store(mongo_uri):
    client = connect(mongo_uri)
    db = client[f"t{uuid.uuid4().hex[:8]}_store"]
    db.things.insert_many([{"_id": f"t{n}", "state": "pending", "n": 0} for n in range(50)])
    yield Store(db)
    client.drop_database(db.name)
    client.close()


def test_update_and_get_answers_the_document_after_the_update(store):
    assert store.update_and_get("things", {"_id": "t7"}, {"$inc": {"n": 2}}) == {"_id": "t7", "state": "pending", "n": 2}
    assert store.update_and_get("things", {"_id": "missing"}, {"$inc": {"n": 1}}) is None


def test_a_conditional_claim_succeeds_once(store):
    claims = [store.update_and_get("things", {"_id": "t3", "state": "pending"}, {"$set": {"state": "taken"}})
              for _ in range(3)]
    assert [c is not None for c in claims] == [True, False, False]
    assert claims[0]["state"] == "taken"


def test_inside_a_transaction_the_update_and_its_read_commit_or_vanish_together(store):
    def fail_after_update(tx):
        tx.update_and_get("things", {"_id": "t9"}, {"$set": {"state": "half"}})
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError):
        store.transaction(fail_after_update)
    assert store.db.things.find_one({"_id": "t9"})["state"] == "pending"
    assert store.transaction(lambda tx: tx.update_and_get("things", {"_id": "t9"}, {"$set": {"state": "done"}}))["state"] == "done"


def test_it_refuses_a_query_without_the_id(store):
    with pytest.raises(ValueError):
        store.update_and_get("things", {"state": "pending"}, {"$set": {"state": "taken"}})


def test_a_process_runs_no_more_transactions_at_once_than_it_has_turns(store):
    limited = Store(store.db, turns=Semaphore(2))
    running, most = [0], [0]

    def slow_change(number):
        def change(tx):
            running[0] += 1
            most[0] = max(most[0], running[0])
            eventlet.sleep(0.05)  # other green threads get their chance to start a transaction here
            tx.db.things.update_one({"_id": f"t{number}"}, {"$inc": {"n": 1}}, session=tx.session)
            running[0] -= 1
        limited.transaction(change)

    pool = eventlet.GreenPool()
    for number in range(8):
        pool.spawn(slow_change, number)
    pool.waitall()
    assert most[0] == 2
    assert store.db.things.count_documents({"n": 1}) == 8
