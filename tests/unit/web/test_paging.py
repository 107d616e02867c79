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


def test_search_results_are_numbered_by_their_cursor_and_stop_where_a_cursor_can_go():
    from services.web.search_routes import result_pages, search_address

    assert result_pages({"cursor": 40, "limit": 20}, 95) == (3, 5)
    assert result_pages({}, 0) == (1, 1)
    assert result_pages({"limit": 20}, 100_000)[1] == 26, "a cursor goes at most to 500"
    assert search_address({"q": "panels", "state": "open", "cursor": 20, "limit": 10}) == \
        "/search?q=panels&state=open&cursor=20&limit=10"
