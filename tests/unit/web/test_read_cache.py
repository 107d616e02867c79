"""The gateway's page cache: never older than the newest event it heard on what a page depends on."""
import threading
import time
from collections import OrderedDict
from types import SimpleNamespace

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

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
    made.reads, made.metrics = {}, SimpleNamespace(count_call=lambda *args, **kwargs: None)
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


# -- whole answers ----------------------------------------------------------------------------------------------------

class Worker:
    """A route handler's worker as the cache sees it: its request and its entrypoint's name."""

    def __init__(self, request, name="ideas_page"):
        self.args = (request,)
        self.entrypoint = SimpleNamespace(method_name=name)


def request_to(path, **headers):
    return Request(EnvironBuilder(path=path, headers=headers).get_environ())


def answers(held):
    return [key for key in held.entries if key[0] == "answer"]


def kept_page(held, request, body="<p>ideas</p>", *, member_id=None, expires=None, response=None, read=True):
    """A ``kept`` route's worker: reads the list through the cache, answers, and offers its answer."""
    worker = Worker(request)
    reads = held.reads_for(worker)
    if read:
        ideas_list(reads, "top", [])
    held.keep_answer(worker, response or Response(body, mimetype="text/html"), member_id=member_id, expires=expires)
    held.reads.pop(worker)


def test_a_kept_answer_is_sent_again_until_a_tag_it_read_is_announced():
    held = cache(size=10)
    kept_page(held, request_to("/ideas", Cookie="engage_session=a"))
    status, headers, body = held.answer(request_to("/ideas", Cookie="engage_session=a").environ)
    assert (status, body) == ("200 OK", b"<p>ideas</p>") and ("Content-Length", "12") in headers
    assert held.answer(request_to("/ideas", Cookie="engage_session=b").environ) is None, "another reader"
    assert held.answer(request_to("/ideas?sort=top", Cookie="engage_session=a").environ) is None, "another query"
    held.on_event("ideas", b'{"subject": "x", "data": {"idea_id": "x", "version": 2}}')
    assert held.answer(request_to("/ideas", Cookie="engage_session=a").environ) is None


def test_a_members_answer_ends_with_its_lifetime_and_with_their_bell():
    held = cache(size=10)
    kept_page(held, request_to("/ideas", Cookie="engage_session=m"), member_id="m1", expires=time.monotonic() - 1)
    assert held.answer(request_to("/ideas", Cookie="engage_session=m").environ) is None, "expired"
    kept_page(held, request_to("/ideas", Cookie="engage_session=m"), member_id="m1", expires=time.monotonic() + 60)
    assert held.answer(request_to("/ideas", Cookie="engage_session=m").environ) is not None
    held.forget("unread:m1")
    assert held.answer(request_to("/ideas", Cookie="engage_session=m").environ) is None


def test_answers_that_set_a_cookie_fail_or_came_with_a_bearer_are_never_kept_nor_sent():
    held = cache(size=10)
    with_cookie = Response("<p>hi</p>")
    with_cookie.set_cookie("engage_session", "new")
    kept_page(held, request_to("/ideas"), response=with_cookie)
    kept_page(held, request_to("/ideas", Accept="text/plain"), response=Response("gone", status=404))
    kept_page(held, request_to("/ideas", Authorization="Bearer t"))
    assert not answers(held)
    kept_page(held, request_to("/ideas"))
    assert held.answer(request_to("/ideas", Authorization="Bearer t").environ) is None
    head = request_to("/ideas").environ | {"REQUEST_METHOD": "HEAD"}
    assert held.answer(head) is None


def test_an_answer_that_wrote_or_read_what_is_not_everyones_is_not_kept():
    held = cache(size=10)
    worker = Worker(request_to("/ideas/d"), "idea_page")
    reads = held.reads_for(worker)
    idea(reads, "d", 1, state="draft")
    held.keep_answer(worker, Response("draft"), member_id=None, expires=None)
    worker = Worker(request_to("/ideas"))
    held.reads_for(worker).announce("ideas", "a", 3)
    held.keep_answer(worker, Response("after a write"), member_id=None, expires=None)
    assert not answers(held)


def test_an_answer_read_while_an_event_arrived_is_not_kept():
    held = cache(size=10)
    worker = Worker(request_to("/ideas"))
    reads = held.reads_for(worker)
    ideas_list(reads, "top", [])
    held.on_event("ideas", b'{"subject": "x", "data": {"idea_id": "x", "version": 2}}')  # while the page renders
    held.keep_answer(worker, Response("stale"), member_id=None, expires=None)
    assert held.answer(request_to("/ideas").environ) is None
