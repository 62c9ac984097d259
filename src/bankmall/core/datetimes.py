"""How people read an instant: local date and time with the name of the time zone.

Instants are stored in UTC and shown in the active time zone (``TIME_ZONE``, default
Asia/Shanghai): ``2026-11-27 14:05 CST``. The zone's name is always written, so a reader
abroad, an exported screenshot or a support call never has to guess which clock is meant.
Business dates (value date, settlement date) are ``date`` values and are shown as dates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
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


def sqlite_text(database: BaseDatabaseWrapper, value: dt.datetime) -> Any:
    """``database.ops.adapt_datetimefield_value(value)``: what is bound for an instant.

    On SQLite Django converts an aware value to the connection's zone and writes the naive
    result as text (a settings read, ``make_naive``, ``replace`` and ``str``: ~28k
    instructions). For a value in UTC on a connection in UTC (``timezone.now()`` on
    bankmall's connections) that text is the value's ISO form without its ``+00:00``: ~12k.
    """
    if value.tzinfo is dt.UTC and database.vendor == "sqlite" and database.timezone is dt.UTC:
        return value.isoformat(" ")[:-6]
    return database.ops.adapt_datetimefield_value(value)
