"""``{{ value|datetime_tz }}``: every instant a page shows carries its time zone.

``{% load datetimes %}`` then ``{{ record.occurred_at|datetime_tz }}`` →
``2026-11-27 14:05 CST``; ``|datetime_tz:"seconds"`` adds the seconds. ``None`` and empty
values render as an empty string, so ``|default:"—"`` still works after it. Business dates
keep ``|date:"Y-m-d"``.
"""

from __future__ import annotations

import datetime as dt

from django import template

from bankmall.core.datetimes import format_datetime

register = template.Library()


@register.filter
def datetime_tz(value: dt.datetime | None, precision: str = "") -> str:
    if not isinstance(value, dt.datetime):
        return ""
    return format_datetime(value, seconds=precision == "seconds")
