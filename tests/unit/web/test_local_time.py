"""Dates on pages are shown in the reader's time zone; a missing or unknown zone falls back to Canberra time."""
from services.web.i18n import local_time

INSTANT = "2026-03-01T02:30:00.000+00:00"


def test_an_instant_is_shown_in_the_named_time_zone():
    assert local_time(INSTANT, "Australia/Perth") == "1 March 2026 at 10:30 am"
    assert local_time(INSTANT, "Australia/Sydney") == "1 March 2026 at 1:30 pm"


def test_no_zone_or_an_unknown_zone_means_canberra_time():
    assert local_time(INSTANT) == local_time(INSTANT, "Not/AZone") == "1 March 2026 at 1:30 pm"
    assert local_time(None) == ""
