"""Log-in and password reset say nothing about whether an address has an account, in words or in time."""
from __future__ import annotations

import statistics
import time

import pytest
import requests

from tests.integration.ideas_support import PASSWORD
from tests.support.platform import production_settings

pytestmark = pytest.mark.alone  # it compares times: another test process beside it would skew them

ATTEMPTS_PER_ADDRESS = 10  # under the 10-failures-per-account limit, so every attempt reaches the password check


def _start_with_production_hashing(platform, directory) -> str:
    # ENGAGE_ENV=production gives members the real argon2id cost; cheap test hashing would hide the difference
    platform.start("members", **production_settings("members", directory))
    platform.start("web")
    with platform.rpc() as rpc:
        rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency"},
                                  {"email": "ada@example.gov.au", "display_name": "Ada Admin", "password": PASSWORD})
        rpc.members.create_agency({"slug": "ato", "name": "Australian Taxation Office"},
                                  {"email": "otto@example.gov.au", "display_name": "Otto Admin", "password": PASSWORD})
    return platform.url("web")


def test_a_wrong_password_and_an_unknown_account_take_the_same_time_and_get_the_same_answer(platform, tmp_path):
    url = _start_with_production_hashing(platform, tmp_path)
    known = ["ada@example.gov.au", "otto@example.gov.au"]
    unknown = ["nobody@example.gov.au", "noone@example.gov.au"]
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    answers = set()
    for round_ in range(ATTEMPTS_PER_ADDRESS):
        for kind, emails in (("known", known), ("unknown", unknown)):  # interleaved, so drift hits both alike
            for email in emails:
                started = time.perf_counter()
                answer = requests.post(f"{url}/api/v1/tokens", json={"email": email, "password": "not the password"},
                                       timeout=30)
                timings[kind].append(time.perf_counter() - started)
                answers.add((answer.status_code, answer.json()["error"]["message"]))
    known_median, unknown_median = statistics.median(timings["known"]), statistics.median(timings["unknown"])
    assert len(timings["known"]) == len(timings["unknown"]) == 20
    assert answers == {(401, "The email or password is not right.")}
    assert abs(known_median - unknown_median) / max(known_median, unknown_median) < 0.20, \
        (known_median, unknown_median)


def test_a_reset_request_answers_alike_for_known_and_unknown_addresses_and_is_limited_per_account(platform):
    platform.start("members", "web")
    with platform.rpc() as rpc:
        rpc.members.create_agency({"slug": "dta", "name": "Digital Transformation Agency"},
                                  {"email": "ada@example.gov.au", "display_name": "Ada Admin", "password": PASSWORD})
    url = platform.url("web")

    def ask(email: str) -> requests.Response:
        return requests.post(f"{url}/api/v1/password-resets", json={"email": email}, timeout=10)

    known, unknown = ask("ada@example.gov.au"), ask("nobody@example.gov.au")
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json()) == (202, known.json())
    for email in ("ada@example.gov.au", "nobody@example.gov.au"):
        statuses = [ask(email).status_code for _ in range(3)]
        assert statuses == [202, 202, 429], (email, statuses)  # three an hour, whether or not anyone has the address
    assert platform.db("members").reset_tokens.count_documents({}) == 3


def test_reset_requests_from_one_caller_are_limited_across_addresses(platform):
    platform.start("members", "web")
    url = platform.url("web")
    statuses = [requests.post(f"{url}/api/v1/password-resets", json={"email": f"person{n}@example.gov.au"},
                              timeout=10).status_code for n in range(21)]
    assert statuses == [202] * 20 + [429]
