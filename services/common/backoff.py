"""Growing pauses between tries of something that keeps failing.

Guarantee: after ``n`` failures in a row the next pause is ``first * 2**(n-1)``
seconds, never more than ``longest``; one success starts again from ``first``.
The kit's outbox relay, its consumers and its storage gate all wait this way,
so nothing retries a part that is down at full speed.
"""
from __future__ import annotations


class Backoff:
    def __init__(self, first: float, longest: float):
        self.first = first
        self.longest = longest
        self.failures = 0

    def failed(self) -> float:
        """Count a failure; the pause to wait before the next try."""
        self.failures += 1
        return self.pause

    def succeeded(self) -> None:
        self.failures = 0

    @property
    def pause(self) -> float:
        """The pause after the failures counted so far (0 while there are none)."""
        if not self.failures:
            return 0.0
        return min(self.longest, self.first * 2 ** min(self.failures - 1, 32))
