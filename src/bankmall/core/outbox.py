"""Events, written in the transaction of the change they announce, in one of two places.

- ``record_event`` writes an outbox row in the caller's transaction.
- ``announce`` puts the event into the details of the audit record that the change appends
  anyway (``EVENT_KEY``): no row of its own. High-volume writes (the ledger's) use this.

Either way an event exists if and only if the change it describes committed. The relay
(``relay.py``, docs/ARCHITECTURE.md) reads unpublished outbox rows in ``id`` order and each
audit lane from its cursor in sequence order, and publishes both to the broker with the same
envelope; consumers must tolerate duplicates, because delivery is at least once. All events of
one aggregate come from one place, so their order is kept.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone

from bankmall.core.audit import OutsideTransactionError
from bankmall.core.canonical import stored_json, to_jsonable
from bankmall.core.ids import new_id
from bankmall.core.models import AuditChainHead, AuditRecord, AuditRelayCursor, OutboxEvent

RELAY_BATCH_MAX: Final = 500
#: The key of an audit record's details under which it announces an event (``announce``).
EVENT_KEY: Final = "event"


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


def announce(
    details: dict[str, Any], event_type: str, *, aggregate_id: str = "", payload: dict[str, Any]
) -> dict[str, Any]:
    """``details`` of an audit record with an event added (``EVENT_KEY``): the record, appended
    in the change's transaction, is then the event's only copy, covered by the audit chain's
    hash, and the relay publishes it with the record's time as the event's. ``event_type`` and
    ``aggregate_id`` as for ``record_event``; ``payload``: JSON-ready values (the event's
    ``data``), kept as long as the audit log, which is never edited or erased: ids and
    codes only, no personal data in clear. Returns a new dict; ``details`` must not already
    announce one."""
    if EVENT_KEY in details:
        raise ValueError(f"audit details already carry an {EVENT_KEY!r}")
    return {
        **details,
        EVENT_KEY: {
            "id": new_id("evt"),
            "type": event_type,
            "aggregate_id": aggregate_id,
            "data": payload,
        },
    }


def unpublished_events(*, limit: int = 100) -> list[OutboxEvent]:
    """The oldest events not yet published, at most ``limit`` (capped at RELAY_BATCH_MAX)."""
    bounded = max(1, min(limit, RELAY_BATCH_MAX))
    return list(OutboxEvent.objects.filter(published_at__isnull=True).order_by("id")[:bounded])


def mark_published(event_ids: list[int], *, published_at: dt.datetime | None = None) -> int:
    """Mark events as published by the relay; returns how many rows changed."""
    return OutboxEvent.objects.filter(id__in=event_ids, published_at__isnull=True).update(
        published_at=published_at or timezone.now()
    )


def cursors_behind() -> dict[int, int]:
    """The audit lanes that have records past the relay's cursor, and the last sequence
    relayed in each."""
    relayed = dict(AuditRelayCursor.objects.values_list("lane", "sequence"))
    return {
        lane: relayed.get(lane, 0)
        for lane, sequence in AuditChainHead.objects.values_list("id", "sequence")
        if sequence > relayed.get(lane, 0)
    }


def waiting_announced(*, since: dt.datetime | None = None) -> tuple[int, dt.datetime | None]:
    """How many audit records past the relay's cursors announce an event (only those since
    ``since``, when given), and the oldest's time (a range of the lane-and-sequence index per
    lane that has moved)."""
    count, oldest = 0, None
    for lane, sequence in cursors_behind().items():
        records = AuditRecord.objects.filter(
            lane=lane, sequence__gt=sequence, details__has_key=EVENT_KEY
        )
        if since is not None:
            records = records.filter(occurred_at__gte=since)
        waiting = records.aggregate(count=Count("id"), oldest=Min("occurred_at"))
        count += waiting["count"]
        if waiting["oldest"] is not None and (oldest is None or waiting["oldest"] < oldest):
            oldest = waiting["oldest"]
    return count, oldest


def announced_since(moment: dt.datetime) -> int:
    """How many audit records since ``moment`` announce an event (a scan of the audit log's
    records since then, as the dashboard's activity chart makes)."""
    return AuditRecord.objects.filter(occurred_at__gte=moment, details__has_key=EVENT_KEY).count()
