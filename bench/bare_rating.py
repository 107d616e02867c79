"""The rating-to-notification floor: the same chain with no framework, only an HTTP server, pika and pymongo.

``serve`` answers ``PUT /ideas/<id>/rating``: the rating, the idea's new
totals and the outbox row in one transaction, the ``idea.rated`` envelope
published with a publisher confirm, the row marked sent, then 200. ``consume``
writes the author's notification with the event's dedupe mark in one
transaction, then acks.

    python -m bench.bare_rating serve PORT AMQP_URI MONGO_URI DATABASE
    python -m bench.bare_rating consume AMQP_URI MONGO_URI DATABASE
"""
from __future__ import annotations

import json
import queue
import sys
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pika
import pymongo
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

EXCHANGE = "bare.ratings"
QUEUE = "bare.notifications"
ROUTING_KEY = "idea.rated"


def declare(channel) -> None:
    channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
    channel.queue_declare(QUEUE, durable=True)
    channel.queue_bind(QUEUE, EXCHANGE, routing_key=ROUTING_KEY)


def serve(port: int, amqp_uri: str, mongo_uri: str, database: str) -> None:
    client = pymongo.MongoClient(mongo_uri, tz_aware=True)
    db = client[database]
    setup = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    declare(setup.channel())
    setup.close()
    # A pika connection belongs to one thread at a time: request threads borrow one from this pool.
    idle: queue.SimpleQueue = queue.SimpleQueue()

    def borrow():
        try:
            return idle.get_nowait()
        except queue.Empty:
            connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
            channel = connection.channel()
            channel.confirm_delivery()
            return connection, channel

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_PUT(self) -> None:
            idea_id = self.path.split("/")[2]
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            member_id = self.headers["X-Member"]
            stars = int(body["stars"])
            def write(session):
                db.ratings.insert_one({"_id": f"{idea_id}|{member_id}", "stars": stars}, session=session)
                idea = db.ideas.find_one_and_update(
                    {"_id": idea_id}, {"$inc": {"sum": stars, "count": 1, "version": 1}},
                    return_document=pymongo.ReturnDocument.AFTER, session=session)
                event = {"id": str(uuid.uuid4()), "source": "urn:engage:bench:bare", "type": ROUTING_KEY,
                         "subject": idea_id, "data": {"idea_id": idea_id, "member_id": member_id, "stars": stars,
                                                      "author_id": idea["author_id"], "count": idea["count"],
                                                      "average": idea["sum"] / idea["count"]}}
                row = db.outbox.insert_one({"event_id": event["id"], "envelope": event, "state": "pending"},
                                           session=session)
                return idea, event, row

            with client.start_session() as session:  # with_transaction retries transient conflicts, as the kit does
                idea, event, row = session.with_transaction(write)
            connection, channel = borrow()
            channel.basic_publish(EXCHANGE, ROUTING_KEY, json.dumps(event).encode(),
                                  pika.BasicProperties(delivery_mode=2))  # waits for the confirm
            idle.put((connection, channel))
            db.outbox.update_one({"_id": row.inserted_id}, {"$set": {"state": "sent"}})
            answer = json.dumps({"average": event["data"]["average"], "count": idea["count"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def consume(amqp_uri: str, mongo_uri: str, database: str) -> None:
    client = pymongo.MongoClient(mongo_uri, tz_aware=True)
    db = client[database]
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    channel = connection.channel()
    declare(channel)
    channel.basic_qos(prefetch_count=10)

    def handle(channel, method, properties, body) -> None:
        event = json.loads(body)
        data = event["data"]
        try:
            def write(session):
                db.processed_events.insert_one({"_id": f"{event['source']}|{event['id']}"}, session=session)
                db.notifications.insert_one({"_id": ObjectId(), "event_id": event["id"],
                                             "recipient": data["author_id"], "idea_id": data["idea_id"],
                                             "created_at": datetime.now(timezone.utc)}, session=session)

            with client.start_session() as session:
                session.with_transaction(write)
        except DuplicateKeyError:
            pass
        channel.basic_ack(method.delivery_tag)

    channel.basic_consume(QUEUE, handle)
    channel.start_consuming()


def main(argv: list[str]) -> int:
    if argv[0] == "serve":
        serve(int(argv[1]), *argv[2:5])
    else:
        consume(*argv[1:4])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
