"""Subscribe to Engagement Network events from outside the platform, with nothing but pika.

    from engage_subscriber import Subscriber

    def on_event(event):
        print(event.type, event.subject, event.data)

    Subscriber("amqp://guest:guest@127.0.0.1:5672/", "my-system.ratings",
               bindings=[("ideas.events", "idea.rated")]).run(on_event)

Each event is acked only after ``on_event`` returns; if it raises, the
message goes back to the queue and comes again. Delivery is at least once:
keep ``event.dedupe_key`` of what you have handled and drop repeats.
"""
from engage_subscriber.envelope import Event, InvalidEnvelope, read_event
from engage_subscriber.signatures import SignatureInvalid, verify_signature
from engage_subscriber.subscriber import Subscriber
from engage_subscriber.trust import UntrustedPublisher, check_publisher

__all__ = ["Event", "InvalidEnvelope", "read_event", "Subscriber", "SignatureInvalid", "verify_signature",
           "UntrustedPublisher", "check_publisher"]
__version__ = "1.0.0"
