"""Finding an agency's members for its administrators: by name or address, in pages, same names told apart."""
from services.members import domain

MEMBERS = [
    {"id": "1", "display_name": "Sam Lee", "email": "sam.lee@dta.gov.au"},
    {"id": "2", "display_name": "Zoë Park", "email": "zoe.park@dta.gov.au"},
    {"id": "3", "display_name": "Sam Lee", "email": "samuel.lee@dta.gov.au"},
    {"id": "4", "display_name": "Ana Lima", "email": "ana@dta.gov.au"},
]


def test_every_word_must_be_in_the_name_or_the_address_ignoring_case_and_accents():
    assert [m["id"] for m in domain.find_members(MEMBERS, "ZOE")] == ["2"]
    assert [m["id"] for m in domain.find_members(MEMBERS, "lee samuel")] == ["3"]
    assert domain.find_members(MEMBERS, "lee nobody") == []


def test_members_come_in_name_order_and_one_name_in_address_order():
    assert [m["id"] for m in domain.find_members(MEMBERS, "")] == ["4", "1", "3", "2"]


def test_a_page_says_which_it_is_of_how_many_and_the_total():
    page = domain.page_of(list(range(7)), 2, 3)
    assert page == {"items": [3, 4, 5], "page": 2, "pages": 3, "total": 7}
    assert domain.page_of([], 1, 25) == {"items": [], "page": 1, "pages": 1, "total": 0}
