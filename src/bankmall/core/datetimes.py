"""How people read an instant: local date and time with the name of the time zone.

Instants are stored in UTC and shown in the active time zone (``TIME_ZONE``, default
Asia/Shanghai): ``2026-11-27 14:05 CST``. The zone's name is always written, so a reader
abroad, an exported screenshot or a support call never has to guess which clock is meant.
Business dates (value date, settlement date) are ``date`` values and are shown as dates.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def zone_name(value: dt.datetime) -> str:
    """The zone's abbreviation (``CST``, ``UTC``); ``UTC+08`` where the zone has none."""
    name = value.tzname() or "UTC"
    return f"UTC{name}" if name[:1] in {"+", "-"} else name


def format_datetime(value: dt.datetime, *, seconds: bool = False) -> str:
    """``2026-11-27 14:05 CST`` in the active time zone (naive values are taken as UTC)."""
    if timezone.is_naive(value):
        value = value.replace(tzinfo=dt.UTC)
    local = timezone.localtime(value)
    clock = "%H:%M:%S" if seconds else "%H:%M"
    return f"{local.strftime('%Y-%m-%d ' + clock)} {zone_name(local)}"
