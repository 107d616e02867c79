"""The local run's catch-all SMTP server: every email the platform sends lands here, none leaves the machine.

    python -m deploy.local.mailcatcher [--host 127.0.0.1] [--port 1025]

Caught mail is stored in the notify service's database (collection
``caught_mail``, the same ``MONGO_URI`` and ``NOTIFY_DATABASE`` the service
uses), so the development page ``/dev/mail`` lists it. For development only:
it accepts mail for any address without authentication.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from services.common.events import utc_now
from services.common.mongo import connect

log = logging.getLogger("engage.mailcatcher")


def parse_mail(raw: bytes, envelope_from: str, envelope_to: list[str]) -> dict:
    """A caught message as stored: headers that matter, the plain and HTML bodies, and the raw bytes."""
    message: EmailMessage = message_from_bytes(raw, policy=policy.default)  # type: ignore[assignment]
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return {
        "_id": uuid.uuid4().hex, "message_id": str(message.get("Message-ID", "")), "from": str(message.get("From", "")),
        "to": str(message.get("To", "")), "envelope_from": envelope_from, "envelope_to": list(envelope_to),
        "subject": str(message.get("Subject", "")), "text": text.get_content() if text else "",
        "html": html.get_content() if html else "", "list_unsubscribe": str(message.get("List-Unsubscribe", "")),
        "raw": raw, "received_at": utc_now(),
    }


class StoreCaughtMail:
    """aiosmtpd handler: keep every message in the ``caught_mail`` collection."""

    def __init__(self, collection):
        self.collection = collection

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        record = parse_mail(envelope.original_content or envelope.content, envelope.mail_from, envelope.rcpt_tos)
        self.collection.insert_one(record)
        log.info("caught mail to %s: %s", ", ".join(envelope.rcpt_tos), record["subject"])
        return "250 Message accepted for delivery"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("MAILCATCHER_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("MAILCATCHER_PORT", "1025")))
    parser.add_argument("--mongo-uri", default=os.environ.get(
        "MONGO_URI", "mongodb://127.0.0.1:27017/?replicaSet=secantus&retryWrites=false"))
    parser.add_argument("--database", default=os.environ.get("NOTIFY_DATABASE", "engage_notify"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mailcatcher %(levelname)s %(message)s")

    client = connect(args.mongo_uri)
    controller = Controller(StoreCaughtMail(client[args.database].caught_mail), hostname=args.host, port=args.port)
    controller.start()
    log.info("catching all mail on smtp://%s:%s; see it at /dev/mail", args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        loop.run_until_complete(stop.wait())
    finally:
        controller.stop()
        client.close()
        loop.close()


if __name__ == "__main__":
    main()
