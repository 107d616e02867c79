"""Counts per calendar month, for the insights pages: pure, so every service counts the same way."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable


def last_months(now: datetime, count: int) -> list[str]:
    """The ``count`` calendar months up to and including ``now``'s, oldest first, as ``YYYY-MM``."""
    year, month = now.year, now.month
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def count_by_month(moments: Iterable[datetime | None], months: list[str]) -> list[int]:
    """How many of ``moments`` fall in each of ``months`` (others, and missing moments, are not counted)."""
    counts = dict.fromkeys(months, 0)
    for moment in moments:
        if moment is not None:
            key = f"{moment.year:04d}-{moment.month:02d}"
            if key in counts:
                counts[key] += 1
    return [counts[month] for month in months]
