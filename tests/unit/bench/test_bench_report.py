"""The benchmark's arithmetic: ratios, which way a goal points, percentiles and the table."""
from bench.platform import percentile
from bench.report import Figure, table


def test_a_rate_meets_its_goal_when_the_ratio_is_at_least_the_goal():
    figure = Figure("1", "Event path", 75.0, 100.0, "events/s", 0.70, True)
    assert figure.ratio == 0.75
    assert figure.met


def test_a_latency_misses_its_goal_when_the_ratio_is_above_the_goal():
    figure = Figure("2", "p99", 300.0, 100.0, "ms", 2.0, False)
    assert figure.ratio == 3.0
    assert not figure.met


def test_percentile_picks_the_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([5.0], 0.99) == 5.0


def test_the_table_shows_figure_floor_ratio_goal_and_whether_it_is_met():
    text = table([Figure("3", "Idea page", 60.0, 100.0, "req/s", 0.5, True, floor_name="bare page")])
    row = text.splitlines()[-1]
    assert "60.0 req/s" in row and "100 req/s (bare page)" in row
    assert "0.60" in row and "≥ 0.5" in row and row.endswith("yes |")
