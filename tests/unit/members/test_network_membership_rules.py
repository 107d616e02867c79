"""The members service's rules for networks: open and closed, requests, administrators and guests."""
import pytest

from services.common.rules import RuleBroken
from services.members import domain


def test_joining_an_open_network_is_at_once_and_a_closed_one_waits_for_an_administrator():
    assert domain.join_outcome(closed=False, already_member=False, guest=False) == "member"
    assert domain.join_outcome(closed=True, already_member=False, guest=False) == "requested"
    assert domain.join_outcome(closed=True, already_member=True, guest=False) == "already"


def test_a_guest_joins_no_network_but_the_one_they_were_invited_to():
    with pytest.raises(RuleBroken) as refused:
        domain.join_outcome(closed=False, already_member=False, guest=True)
    assert refused.value.kind == "forbidden"
    assert domain.join_outcome(closed=True, already_member=True, guest=True) == "already"


def test_only_a_networks_administrator_manages_it():
    domain.check_network_admin("admin")
    for role in ("member", None):
        with pytest.raises(RuleBroken) as refused:
            domain.check_network_admin(role)
        assert refused.value.kind == "forbidden"


def test_a_request_is_decided_once_while_it_waits():
    domain.check_request_decision({"status": "pending"})
    for request in (None, {"status": "approved"}, {"status": "declined"}):
        with pytest.raises(RuleBroken) as refused:
            domain.check_request_decision(request)
        assert refused.value.kind == "conflict"


def test_an_administrator_is_appointed_from_the_networks_members():
    domain.check_appointment("member")
    with pytest.raises(RuleBroken, match="Only a member"):
        domain.check_appointment(None)
    with pytest.raises(RuleBroken, match="already an administrator"):
        domain.check_appointment("admin")


def test_guests_start_no_networks_and_register_with_the_guest_role():
    domain.check_may_start_network(("member", "moderator"))
    with pytest.raises(RuleBroken):
        domain.check_may_start_network(tuple(domain.guest_roles()))
    assert domain.guest_roles() == ["member", "guest"]


def test_a_closed_networks_members_are_listed_to_its_members_only():
    assert domain.may_see_members(closed=False, membership_role=None)
    assert domain.may_see_members(closed=True, membership_role="member")
    assert not domain.may_see_members(closed=True, membership_role=None)
    assert domain.network_viewer("admin", None) == {"member": True, "admin": True, "requested": False}
    assert domain.network_viewer(None, "pending") == {"member": False, "admin": False, "requested": True}


def test_a_guest_stays_a_guest_whatever_roles_an_agency_administrator_sets():
    assert domain.new_roles(["moderator"], ["member", "guest"]) == ["member", "moderator", "guest"]
    assert domain.new_roles(["moderator"], ["member"]) == ["member", "moderator"]
    with pytest.raises(RuleBroken):
        domain.new_roles(["guest"], ["member"])  # nobody is made a guest but by a network's invitation


def test_a_networks_last_administrator_appoints_another_before_leaving():
    domain.check_leave("member", 1)
    domain.check_leave("admin", 2)
    with pytest.raises(RuleBroken) as refused:
        domain.check_leave("admin", 1)
    assert refused.value.kind == "conflict"
