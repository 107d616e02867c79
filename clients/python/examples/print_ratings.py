"""Print every rating made on an Engagement Network instance, as it happens.

    python examples/print_ratings.py                       # the local run's broker
    AMQP_URI=amqp://user:pass@broker:5672/ python examples/print_ratings.py --queue my-system.ratings

The queue is durable and yours: ratings made while this script is stopped
are printed when it starts again. Ctrl-C stops it.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from engage_subscriber import Event, Subscriber


def print_rating(event: Event) -> None:
    data = event.data
    change = f" (was {data['previous_stars']})" if data.get("previous_stars") else ""
    average = "-" if data.get("average") is None else f"{data['average']:.2f}"
    print(f"{event.time.isoformat()}  idea {data['idea_id']} rated {data['stars']} stars{change} by member "
          f"{data['member_id']}; average {average} from {data['count']} ratings", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--queue", default="example.print-ratings", help="your durable queue's name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")

    subscriber = Subscriber(args.amqp_uri, args.queue, bindings=[("ideas.events", "idea.rated")])
    signal.signal(signal.SIGTERM, lambda *_: subscriber.stop())
    print(f"Waiting for ratings on queue {args.queue} (Ctrl-C to stop)", flush=True)
    try:
        subscriber.run(print_rating)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
