"""The gateway's page cache: never older than the newest event it heard on what a page depends on."""
import threading
from collections import OrderedDict

from services.web.read_cache import ReadCache


class Counter:
    def labels(self, *args):
        return self

    def inc(self):
        pass


def cache(connected=True, size=2):
    made = ReadCache.__new__(ReadCache)
    made.size, made.entries, made.tagged, made.changed = size, OrderedDict(), {}, OrderedDict()
    made.connected, made._clock, made._floor = connected, 0, 0
    made._lock, made.lookups = threading.RLock(), Counter()
    return made


def idea(held, idea_id, version, state="open", calls=None):
    def fetch():
        if calls is not None:
            calls.append(idea_id)
        return {"idea": {"state": state}, "version": version}
    return held.get(("idea", idea_id), (f"ideas:{idea_id}",), fetch, keep=lambda d: d["idea"]["state"] != "draft",
                    version=lambda d: d["version"])


def ideas_list(held, query, calls):
    return held.get(("ideas", query), ("ideas",), lambda: calls.append(query) or {"items": [query]})


def test_a_repeat_view_does_not_fetch():
    held, calls = cache(), []
    idea(held, "a", 1, calls=calls)
    idea(held, "a", 1, calls=calls)
    ideas_list(held, "top", calls)
    ideas_list(held, "top", calls)
    assert calls == ["a", "top"]


def test_any_event_on_the_exchange_drops_the_lists_but_only_its_own_ideas_page():
    held, calls = cache(size=10), []
    idea(held, "a", 1)
    idea(held, "b", 1)
    ideas_list(held, "top", calls)
    held.on_event("ideas", b'{"subject": "c1", "data": {"idea_id": "a", "version": 2}}')
    assert ("ideas", "top") not in held.entries and ("idea", "a") not in held.entries
    assert ("idea", "b") in held.entries


def test_the_event_after_the_gateways_own_write_keeps_the_page_it_already_shows():
    held, calls = cache(), []
    idea(held, "a", 1, calls=calls)
    held.announce("ideas", "a", 2)  # the gateway's own write: the writer's next read fetches
    idea(held, "a", 2, calls=calls)
    held.on_event("ideas", b'{"subject": "a", "data": {"idea_id": "a", "version": 2}}')
    idea(held, "a", 2, calls=calls)
    assert calls == ["a", "a"]


def test_an_answer_fetched_while_an_event_arrived_is_not_kept():
    held = cache()

    def slow_fetch():  # a read that started before the change and answers after it
        held.on_event("ideas", b'{"subject": "x", "data": {"idea_id": "x", "version": 5}}')
        return {"items": ["old"]}
    held.get(("ideas", "top"), ("ideas",), slow_fetch)
    assert not held.entries


def test_nothing_is_kept_while_not_subscribed_and_what_is_not_everyones_is_never_kept():
    held = cache(connected=False)
    idea(held, "a", 1)
    assert not held.entries
    held = cache()
    idea(held, "d", 1, state="draft")
    assert not held.entries


def test_an_unreadable_event_clears_everything():
    held, calls = cache(), []
    ideas_list(held, "top", calls)
    held.on_event("archive", b"not json")
    assert not held.entries


def test_the_cache_holds_at_most_its_size_dropping_the_least_recently_used():
    held, calls = cache(), []
    idea(held, "a", 1)
    idea(held, "b", 1)
    idea(held, "a", 1)
    idea(held, "c", 1)
    assert list(held.entries) == [("idea", "a"), ("idea", "c")]
    assert set(held.tagged) == {"ideas:a", "ideas:c"}


def test_forgetting_old_announcements_refuses_answers_fetched_before_them():
    held = cache(size=1)  # remembers ten announcements

    def fetch_while_many_change():
        for n in range(20):
            held.announce("archive", f"r{n}")
        return {"items": []}
    held.get(("idea", "a"), ("ideas:a",), fetch_while_many_change)
    assert not held.entries
