"""Growing pauses and the storage gate: how the kit waits for a part that is down instead of spinning."""
import time

import eventlet

from services.common import mongo
from services.common.backoff import Backoff
from services.common.mongo import StorageGate


def test_pauses_double_up_to_the_longest_and_a_success_starts_them_again():
    backoff = Backoff(0.5, 5.0)
    assert backoff.pause == 0
    assert [backoff.failed() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.succeeded()
    assert backoff.pause == 0 and backoff.failed() == 0.5


def test_an_open_gate_lets_everyone_through_without_a_ping():
    pings = []
    gate = StorageGate(lambda: pings.append(1) or True)
    assert gate.wait(1) and pings == []


def test_a_closed_gate_pings_one_at_a_time_however_many_wait_and_opens_at_the_first_answer(monkeypatch):
    monkeypatch.setattr(mongo, "GATE_FIRST_PAUSE", 0.05)
    answers = iter([False, False, True])
    gate = StorageGate(lambda: next(answers))
    gate.close()
    began = time.monotonic()
    waiters = [eventlet.spawn(gate.wait, 10) for _ in range(50)]
    assert all(waiter.wait() for waiter in waiters)
    assert gate.pings == 3 and gate.is_open
    assert time.monotonic() - began >= 0.05 + 0.1 + 0.2  # the pauses grew between the pings


def test_a_waiter_gives_up_after_its_limit_while_storage_stays_down(monkeypatch):
    monkeypatch.setattr(mongo, "GATE_FIRST_PAUSE", 0.05)
    gate = StorageGate(lambda: False)
    gate.close()
    began = time.monotonic()
    assert gate.wait(0.5) is False
    assert 0.45 <= time.monotonic() - began < 1.5
