"""The page numbers a paged list offers: first, last, and a few around the current page, gaps marked."""
from services.web.paging import page_links


def test_a_short_list_offers_every_page():
    assert page_links(2, 4) == [1, 2, 3, 4]


def test_a_long_list_offers_the_ends_and_the_neighbours_with_gaps_between():
    assert page_links(10, 30) == [1, None, 8, 9, 10, 11, 12, None, 30]


def test_no_gap_is_marked_where_no_number_is_left_out():
    assert page_links(4, 30) == [1, 2, 3, 4, 5, 6, None, 30]


def test_one_page_is_one_link():
    assert page_links(1, 1) == [1]
