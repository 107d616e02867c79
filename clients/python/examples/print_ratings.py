"""Print every rating made on an Engagement Network instance, as it happens.

    engage subscriber create my-system        # prints the account's amqp:// URI, once
    AMQP_URI=amqp://subscriber-my-system:…@broker:5672/ python examples/print_ratings.py

It uses a named durable queue on purpose, ``subscriber.<name>.print-ratings``
(the only names a subscriber account may declare): ratings made while the
script is stopped wait there and are printed when it starts again. Delete
the queue, or revoke the account, when you are done with it. Ctrl-C stops it.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from urllib.parse import unquote, urlsplit

from engage_subscriber import Event, Subscriber


def print_rating(event: Event) -> None:
    data = event.data
    change = f" (was {data['previous_stars']})" if data.get("previous_stars") else ""
    average = "-" if data.get("average") is None else f"{data['average']:.2f}"
    print(f"{event.time.isoformat()}  idea {data['idea_id']} rated {data['stars']} stars{change} by member "
          f"{data['member_id']}; average {average} from {data['count']} ratings", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI"),
                        help="a subscriber account's URI (engage subscriber create NAME)")
    parser.add_argument("--queue", help="your durable queue (default: subscriber.<name>.print-ratings)")
    args = parser.parse_args(argv)
    if not args.amqp_uri:
        parser.error("give the URI `engage subscriber create NAME` printed (--amqp-uri or AMQP_URI)")
    user = unquote(urlsplit(args.amqp_uri).username or "")
    queue = args.queue or f"subscriber.{user[len('subscriber-'):] if user.startswith('subscriber-') else user}" \
                          f".print-ratings"
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")

    subscriber = Subscriber(args.amqp_uri, queue, bindings=[("ideas.events", "idea.rated")])
    signal.signal(signal.SIGTERM, lambda *_: subscriber.stop())
    print(f"Waiting for ratings on queue {queue} (Ctrl-C to stop)", flush=True)
    try:
        subscriber.run(print_rating)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
