"""Server-drawn charts and the monthly counts behind them."""
from datetime import datetime, timezone

from services.common.timeseries import count_by_month, last_months
from services.web.charts import bar_chart


def at(year: int, month: int, day: int = 15) -> datetime:
    return datetime(year, month, day, tzinfo=timezone.utc)


def test_the_last_months_cross_the_year_oldest_first():
    assert last_months(at(2026, 2), 4) == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert last_months(at(2026, 12, 31), 1) == ["2026-12"]


def test_moments_are_counted_in_their_month_and_others_left_out():
    months = last_months(at(2026, 3), 3)
    moments = [at(2026, 1), at(2026, 3, 1), at(2026, 3, 31), at(2025, 12), None, at(2026, 4)]
    assert count_by_month(moments, months) == [1, 0, 2]


def test_bars_are_scaled_to_the_largest_and_labels_are_escaped():
    svg = str(bar_chart("Ideas <shared>", ["2026-01", "2026-02", "<b>"], [2, 4, 0]))
    assert svg.startswith('<svg class="chart"') and 'role="img"' in svg
    assert 'aria-label="Ideas &lt;shared&gt;"' in svg and "<b>" not in svg
    heights = [float(part.split('"')[0]) for part in svg.split('height="')[1:]]
    assert heights == [71.0, 142.0, 0.0]
    assert "<title>2026-02: 4</title>" in svg


def test_an_empty_series_draws_no_bar_and_does_not_divide_by_zero():
    assert "<rect" not in str(bar_chart("Nothing", [], []))
    assert 'height="0.0"' in str(bar_chart("Quiet", ["2026-01"], [0]))
