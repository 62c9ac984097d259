"""Instants are shown in the configured time zone, always with the zone's name."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.template import Context, Template
from django.test import override_settings
from django.utils import timezone

from bankmall.core.datetimes import format_datetime, sqlite_text

INSTANT = dt.datetime(2026, 11, 27, 6, 5, 9, tzinfo=dt.UTC)


def test_an_instant_is_shown_in_china_standard_time_by_default() -> None:
    assert format_datetime(INSTANT) == "2026-11-27 14:05 CST"
    assert format_datetime(INSTANT, seconds=True) == "2026-11-27 14:05:09 CST"


@override_settings(TIME_ZONE="Europe/Berlin")
def test_another_configured_zone_names_itself() -> None:
    assert format_datetime(INSTANT) == "2026-11-27 07:05 CET"


def test_a_zone_without_an_abbreviation_is_written_as_an_offset() -> None:
    with timezone.override("Asia/Singapore"):
        assert format_datetime(INSTANT) == "2026-11-27 14:05 UTC+08"


def test_the_template_filter_renders_the_zone_and_nothing_for_no_value() -> None:
    template = Template(
        '{% load datetimes %}{{ when|datetime_tz }}|{{ missing|datetime_tz|default:"—" }}'
    )
    rendered = template.render(Context({"when": INSTANT, "missing": None}))
    assert rendered == "2026-11-27 14:05 CST|—"


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2026, 11, 27, 6, 5, 9, 123456, tzinfo=dt.UTC),
        INSTANT,  # Whole seconds: no fraction.
        dt.datetime(2026, 11, 27, 14, 5, 9, 7, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        dt.datetime(9, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        INSTANT.replace(tzinfo=None),  # Naive.
    ],
    ids=["utc", "whole-second", "other-zone", "small-year", "naive"],
)
def test_an_instant_is_bound_as_django_binds_it(value: dt.datetime) -> None:
    assert sqlite_text(connection, value) == connection.ops.adapt_datetimefield_value(value)
