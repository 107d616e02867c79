"""The gateway's idea cache: never older than the newest version it heard of."""
import threading

from services.web.read_cache import IdeaReadCache


class Counter:
    def labels(self, *args):
        return self

    def inc(self):
        pass


def cache(connected=True):
    made = IdeaReadCache.__new__(IdeaReadCache)
    from collections import OrderedDict
    made.size, made.pages, made.viewers, made.announced = 2, OrderedDict(), {}, OrderedDict()
    made.connected, made._generation, made._lock, made.lookups = connected, 0, threading.RLock(), Counter()
    return made


def page(version, state="open"):
    return {"idea": {"state": state}, "comments": [], "version": version}


def test_a_repeat_view_does_not_fetch():
    held, calls = cache(), []
    fetch = lambda: calls.append(1) or page(1)  # noqa: E731
    held.page("a", fetch)
    held.page("a", fetch)
    assert len(calls) == 1


def test_an_event_drops_an_older_page_and_refuses_a_stale_fetch():
    held = cache()
    held.page("a", lambda: page(1))
    held.on_event(b'{"subject": "a", "data": {"idea_id": "a", "version": 3}}')
    assert "a" not in held.pages
    held.page("a", lambda: page(2))  # a slow read that started before the change
    assert "a" not in held.pages
    held.page("a", lambda: page(3))
    assert held.pages["a"]["version"] == 3


def test_nothing_is_kept_while_not_subscribed_and_drafts_are_never_kept():
    held = cache(connected=False)
    held.page("a", lambda: page(1))
    assert not held.pages
    held = cache()
    held.page("d", lambda: page(1, state="draft"))
    assert not held.pages


def test_the_cache_holds_at_most_its_size():
    held = cache()
    for idea_id in "abc":
        held.page(idea_id, lambda: page(1))
    assert list(held.pages) == ["b", "c"]
