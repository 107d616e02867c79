"""The event path's floor: the same writes and publishes with no framework, only pika and pymongo.

``produce`` makes each change in one transaction (the member document and its
outbox row), publishes the envelope with a publisher confirm, then marks the
row sent. ``consume`` takes each delivery, writes the dedupe mark and one
effect document in one transaction, then acks. Run as two processes:

    python -m bench.bare_event_path consume AMQP_URI MONGO_URI DATABASE
    python -m bench.bare_event_path produce AMQP_URI MONGO_URI DATABASE COUNT
"""
from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime, timezone

import pika
import pymongo
from pymongo.errors import DuplicateKeyError

EXCHANGE = "bare.events"
QUEUE = "bare.effects"
ROUTING_KEY = "member.registered"


def connect(amqp_uri: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(amqp_uri))


def declare(channel) -> None:
    channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
    channel.queue_declare(QUEUE, durable=True)
    channel.queue_bind(QUEUE, EXCHANGE, routing_key=ROUTING_KEY)


def envelope(member_id: str, number: int) -> dict:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "urn:engage:bench:bare",
            "type": "au.gov.engage.member.registered.v1", "time": datetime.now(timezone.utc).isoformat(),
            "datacontenttype": "application/json", "subject": member_id,
            "data": {"member_id": member_id, "display_name": f"Bench member {number}", "agency": "bench",
                     "version": 1}}


def produce(amqp_uri: str, mongo_uri: str, database: str, count: int) -> None:
    client = pymongo.MongoClient(mongo_uri, tz_aware=True)
    db = client[database]
    connection = connect(amqp_uri)
    channel = connection.channel()
    declare(channel)
    channel.confirm_delivery()
    properties = pika.BasicProperties(delivery_mode=2, content_type="application/cloudevents+json")
    for number in range(count):
        member_id = uuid.uuid4().hex
        event = envelope(member_id, number)
        def write(session):
            db.members.insert_one({"_id": member_id, "display_name": f"Bench member {number}",
                                   "agency": "bench", "version": 1, "created_at": datetime.now(timezone.utc)},
                                  session=session)
            return db.outbox.insert_one({"event_id": event["id"], "envelope": event, "state": "pending",
                                         "created_at": datetime.now(timezone.utc)}, session=session)

        with client.start_session() as session:  # with_transaction retries transient conflicts, as the kit does
            row = session.with_transaction(write)
        channel.basic_publish(EXCHANGE, ROUTING_KEY, json.dumps(event).encode(), properties)  # waits for the confirm
        db.outbox.update_one({"_id": row.inserted_id}, {"$set": {"state": "sent"}})
    connection.close()
    client.close()


def consume(amqp_uri: str, mongo_uri: str, database: str) -> None:
    client = pymongo.MongoClient(mongo_uri, tz_aware=True)
    db = client[database]
    connection = connect(amqp_uri)
    channel = connection.channel()
    declare(channel)
    channel.basic_qos(prefetch_count=10)

    def handle(channel, method, properties, body) -> None:
        event = json.loads(body)
        try:
            def write(session):
                db.processed_events.insert_one({"_id": f"{event['source']}|{event['id']}"}, session=session)
                db.effects.insert_one({"_id": event["id"], "member_id": event["data"]["member_id"],
                                       "at": datetime.now(timezone.utc)}, session=session)

            with client.start_session() as session:
                session.with_transaction(write)
        except DuplicateKeyError:
            pass  # already handled: the effect is stored
        channel.basic_ack(method.delivery_tag)

    channel.basic_consume(QUEUE, handle)
    try:
        channel.start_consuming()
    except KeyboardInterrupt:
        pass


def main(argv: list[str]) -> int:
    command, amqp_uri, mongo_uri, database, *rest = argv
    if command == "produce":
        produce(amqp_uri, mongo_uri, database, int(rest[0]))
    else:
        consume(amqp_uri, mongo_uri, database)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
