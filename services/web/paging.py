"""Numbered pagination as pages show it: which page numbers to offer around the current one.

Presentation only: the service that owns a list says how many pages it has;
this picks the links, so every paged list shows the same kind of bar.
"""
from __future__ import annotations

#: The page sizes a reader may choose on paged lists.
PAGE_SIZES = (10, 20, 50, 100)


def page_links(page: int, pages: int, around: int = 2) -> list[int | None]:
    """The page numbers to link, in order: the first, the last and ``around`` either side of ``page``;
    ``None`` stands where numbers are left out (shown as "…")."""
    wanted = sorted({1, pages, *range(max(1, page - around), min(pages, page + around) + 1)})
    links: list[int | None] = []
    for number in wanted:
        if links and number - links[-1] > 1:
            links.append(None)
        links.append(number)
    return links
