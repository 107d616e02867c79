"""Events of one aggregate are handled one at a time, in arrival order; other aggregates do not wait."""
import eventlet

from services.common.consumer import SubjectLocks


def test_events_of_one_subject_run_in_arrival_order_and_others_do_not_wait():
    locks, seen = SubjectLocks(), []

    def handle(subject: str, name: str, pause: float) -> None:
        locks.acquire(subject)
        try:
            seen.append(f"start {name}")
            eventlet.sleep(pause)
            seen.append(f"end {name}")
        finally:
            locks.release(subject)

    pool = eventlet.GreenPool()
    pool.spawn(handle, "idea-1", "submitted", 0.05)
    pool.spawn(handle, "idea-1", "rated", 0)
    pool.spawn(handle, "idea-2", "other", 0)
    pool.waitall()
    assert seen.index("end submitted") < seen.index("start rated")
    assert seen.index("end other") < seen.index("end submitted")
    assert locks._held == {}
