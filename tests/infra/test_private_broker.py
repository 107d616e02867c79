"""The private broker and storage server that `make test` starts answer like the real thing."""
import os
import uuid

import pika
import pymongo
import pytest

AMQP_URI = os.environ.get("ENGAGE_TEST_AMQP_URI")
MONGO_URI = os.environ.get("ENGAGE_TEST_MONGO_URI")


@pytest.mark.skipif(not AMQP_URI, reason="run through `make test` (ENGAGE_TEST_AMQP_URI)")
def test_a_message_published_to_the_private_broker_can_be_got_back():
    queue = f"infra-{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URI))
    try:
        channel = connection.channel()
        channel.queue_declare(queue, auto_delete=True)
        channel.basic_publish("", queue, b"hello")
        method, _, body = channel.basic_get(queue, auto_ack=True)
        for _ in range(50):
            if method:
                break
            connection.sleep(0.05)
            method, _, body = channel.basic_get(queue, auto_ack=True)
        assert body == b"hello"
    finally:
        connection.close()


@pytest.mark.skipif(not MONGO_URI, reason="run through `make test` (ENGAGE_TEST_MONGO_URI)")
def test_the_private_storage_server_commits_a_transaction():
    client = pymongo.MongoClient(MONGO_URI, serverSelectionTimeoutMS=5000)
    collection = client[f"infra_{uuid.uuid4().hex[:8]}"]["notes"]
    try:
        assert client.admin.command("ping")["ok"] == 1
        with client.start_session() as session:
            with session.start_transaction():
                collection.insert_one({"n": 1}, session=session)
                collection.insert_one({"n": 2}, session=session)
        assert collection.count_documents({}) == 2
    finally:
        client.drop_database(collection.database.name)
        client.close()
