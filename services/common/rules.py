"""How a domain rule says no: one exception, raised by every service's ``domain`` module.

It carries what a caller needs to act on (the message, the input at fault, the
sort of refusal) and imports nothing of nameko, pymongo or pika, so pure rules
can raise it; ``services.common.errors.refusal`` turns it into the error the
caller receives.
"""
from __future__ import annotations


class RuleBroken(ValueError):
    """A rule said no. ``field`` names the input at fault (or None); ``kind`` is the sort of refusal:
    ``forbidden`` (not this caller), ``conflict`` (not in the present state) or ``invalid``.

    Both are keyword-only, so a field can never be passed where a kind was meant.
    """

    def __init__(self, message: str, *, field: str | None = None, kind: str = "invalid"):
        super().__init__(message)
        self.field = field
        self.kind = kind
