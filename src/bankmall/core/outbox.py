"""The transactional outbox: ``record_event`` writes an event in the caller's transaction.

An event exists if and only if the change it describes committed. A relay (see
docs/ARCHITECTURE.md) reads unpublished rows in ``id`` order and publishes them to the broker;
consumers must tolerate duplicates, because delivery is at least once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from bankmall.core.audit import OutsideTransactionError
from bankmall.core.canonical import stored_json, to_jsonable
from bankmall.core.datetimes import sqlite_text
from bankmall.core.ids import new_id
from bankmall.core.models import OutboxEvent

RELAY_BATCH_MAX: Final = 500


def record_event(event_type: str, *, aggregate_id: str = "", payload: dict[str, Any]) -> str:
    """Write one event in the current transaction and return its public id (``evt_…``).

    ``event_type`` is ``<noun>.<past-tense verb>`` (``transfer.posted``). Raises
    ``OutsideTransactionError`` when there is no transaction to join: an event written on its own
    could announce a change that then rolls back.
    """
    database = transaction.get_connection()
    if not database.in_atomic_block:
        raise OutsideTransactionError("record_event must run inside the action's transaction")
    # One plain INSERT: the ORM's save costs more than the rest of a ledger transfer.
    public_id = new_id("evt")
    cast = "::jsonb" if database.vendor == "postgresql" else ""
    with database.cursor() as cursor:
        cursor.execute(
            "INSERT INTO core_outboxevent (public_id, event_type, aggregate_id, payload,"  # noqa: S608
            f" created_at, publish_attempts) VALUES (%s, %s, %s, %s{cast}, %s, 0)",
            [
                public_id,
                event_type,
                aggregate_id,
                stored_json(to_jsonable(payload)),
                database.ops.adapt_datetimefield_value(timezone.now()),
            ],
        )
    return public_id


_EVENT_SQL: Final = (
    "outbox_row AS (INSERT INTO core_outboxevent (public_id, event_type, aggregate_id,"
    " payload, created_at, publish_attempts) VALUES (%s, %s, %s, %s::jsonb, %s, 0) RETURNING id)"
)


def prepare_event(
    event_type: str,
    *,
    aggregate_id: str = "",
    payload: dict[str, Any],
    now: dt.datetime | None = None,
) -> tuple[str, list[Any], str]:
    """An event for a write that is one statement (PostgreSQL): (CTE ``outbox_row``, its
    parameters, the event's public id). The event commits exactly when that statement does.
    ``now``: the event's time (the write's own; the current time when not given)."""
    public_id = new_id("evt")
    params: list[Any] = [
        public_id,
        event_type,
        aggregate_id,
        stored_json(to_jsonable(payload)),
        timezone.now() if now is None else now,
    ]
    return _EVENT_SQL, params, public_id


SQLITE_EVENT_SQL: Final = (
    "INSERT INTO core_outboxevent (public_id, event_type, aggregate_id, payload, created_at,"
    " publish_attempts) VALUES (?, ?, ?, ?, ?, 0)"
)


def prepare_sqlite_event(
    event_type: str,
    *,
    aggregate_id: str = "",
    payload: dict[str, Any],
    now: dt.datetime | None = None,
    database: BaseDatabaseWrapper | None = None,
) -> list[Any]:
    """The parameters of ``SQLITE_EVENT_SQL`` for an event of a SQLite write that runs its own
    transaction (built before it takes the write lock); the event commits exactly with it.
    ``now``: the event's time (the write's own; the current time when not given);
    ``database``: the connection's wrapper, when the caller has it (each lookup costs ~10k
    instructions)."""
    if database is None:
        database = transaction.get_connection()
    return [
        new_id("evt"),
        event_type,
        aggregate_id,
        stored_json(to_jsonable(payload)),
        sqlite_text(database, timezone.now() if now is None else now),
    ]


def unpublished_events(*, limit: int = 100) -> list[OutboxEvent]:
    """The oldest events not yet published, at most ``limit`` (capped at RELAY_BATCH_MAX)."""
    bounded = max(1, min(limit, RELAY_BATCH_MAX))
    return list(OutboxEvent.objects.filter(published_at__isnull=True).order_by("id")[:bounded])


def mark_published(event_ids: list[int], *, published_at: dt.datetime | None = None) -> int:
    """Mark events as published by the relay; returns how many rows changed."""
    return OutboxEvent.objects.filter(id__in=event_ids, published_at__isnull=True).update(
        published_at=published_at or timezone.now()
    )
