"""SVG charts are accessible, escape their text and scale to a readable axis."""

from __future__ import annotations

import pytest

from bankmall.core.charts import Point, _nice_ceiling, bar_chart


def test_bar_chart_draws_one_bar_per_point_with_accessible_titles() -> None:
    svg = bar_chart([Point("11-24", 3), Point("11-25", 0), Point("11-26", 7)], title="Per day")

    assert svg.startswith("<svg")
    assert svg.count("<rect") == 3
    assert '<title id="chart-title">Per day</title>' in svg
    assert "<title>11-26: 7</title>" in svg


def test_bar_chart_escapes_labels_and_titles() -> None:
    svg = bar_chart([Point("<script>", 1)], title="a & b")

    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "a &amp; b" in svg


def test_bar_chart_refuses_negative_values_and_too_many_points() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        bar_chart([Point("x", -1)], title="t")
    with pytest.raises(ValueError, match="at most"):
        bar_chart([Point(str(i), i) for i in range(401)], title="t")


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (1, 1), (3, 5), (7, 10), (12, 20), (51, 100), (999, 1000)]
)
def test_axis_tops_are_round_numbers(value: int, ceiling: int) -> None:
    assert _nice_ceiling(value) == ceiling
