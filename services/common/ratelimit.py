"""Rate limits on failures and writes, backed by the ``limits`` library.

Counters live in Redis when ``REDIS_URL`` is set (shared by replicas) and in
memory otherwise. Only what the caller asks to count is counted, so successful
log-ins never use up an account's allowance.
"""
from __future__ import annotations

import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from services.common.errors import TooManyRequests


class RateLimits:
    def __init__(self, redis_url: str | None = None):
        self.limiter = MovingWindowRateLimiter(storage_from_string(redis_url or "memory://"))

    def check(self, rule: str, *keys: str, message: str) -> None:
        """Raise ``TooManyRequests`` (with ``Retry-After``) when ``rule`` is used up for ``keys``."""
        limit = parse(rule)
        if not self.limiter.test(limit, *keys):
            reset_at, _remaining = self.limiter.get_window_stats(limit, *keys)
            raise TooManyRequests(message, retry_after=max(1, int(reset_at - time.time()) + 1))

    def count(self, rule: str, *keys: str) -> None:
        self.limiter.hit(parse(rule), *keys)

    def take(self, rule: str, *keys: str, message: str) -> None:
        """Count one use of ``rule`` for ``keys``; raise ``TooManyRequests`` (with ``Retry-After``) when none is left."""
        limit = parse(rule)
        if not self.limiter.hit(limit, *keys):
            reset_at, _remaining = self.limiter.get_window_stats(limit, *keys)
            raise TooManyRequests(message, retry_after=max(1, int(reset_at - time.time()) + 1))
