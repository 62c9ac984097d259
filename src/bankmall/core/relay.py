"""The event relay: publish committed events to NATS JetStream, in order, at least once.

Events wait in two places (``outbox.py``): outbox rows, and audit records that announce one.

- **Outbox rows.** The relay reads the oldest unpublished rows under a row lock (so a second
  relay waits instead of publishing the same rows out of order) and marks what was
  acknowledged.
- **Audit records.** Each lane of the audit log is numbered 1, 2, 3 … without gaps in commit
  order (its head row is locked by every append until commit), so a relay that remembers the
  last record it handled in each lane (``AuditRelayCursor``, locked for the round) never skips
  a record that commits late: whatever commits later has a higher number. The lanes' new
  records are merged in ``id`` order, which is the order of dependent changes (a change that
  depends on another waits for its locks, so its record is inserted after the other
  committed), and the cursors move past what was acknowledged.

Each event goes out with its event id as the JetStream ``Nats-Msg-Id`` (the stream drops a
duplicate sent within its dedupe window, so a relay that crashes after publishing and before
marking gives no duplicate in practice). A failure stops the round at the failed event, counts
the attempt, and leaves it and everything after it for the next round: order is never broken.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any, Final, Protocol

import nats
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from bankmall.core.canonical import to_jsonable
from bankmall.core.errors import BankmallError
from bankmall.core.models import AuditChainHead, AuditRecord, AuditRelayCursor, OutboxEvent
from bankmall.core.outbox import (
    EVENT_KEY,
    RELAY_BATCH_MAX,
    cursors_behind,
    mark_published,
    waiting_announced,
)

logger = logging.getLogger(__name__)

STREAM_DEFAULT: Final = "BANKMALL"
SUBJECT_PREFIX_DEFAULT: Final = "bankmall"
DUPLICATE_WINDOW_SECONDS: Final = 2 * 60 * 60
PUBLISH_TIMEOUT_SECONDS: Final = 5.0


class PublishFailedError(BankmallError):
    """The broker did not acknowledge an event; it stays in the outbox for the next round."""

    code = "publish_failed"
    status = 503
    title = "The event broker did not acknowledge the event"


@dataclass(frozen=True, slots=True)
class Event:
    """An event as the relay publishes it, from an outbox row or an announcing audit record."""

    public_id: str
    event_type: str
    created_at: dt.datetime
    aggregate_id: str
    payload: Any

    @classmethod
    def of_outbox(cls, row: OutboxEvent) -> Event:
        return cls(row.public_id, row.event_type, row.created_at, row.aggregate_id, row.payload)


class Publisher(Protocol):
    def publish(self, event: Event) -> None:
        """Publish one event and return once the broker acknowledged it, else raise."""

    def close(self) -> None: ...


def envelope(event: Event) -> dict[str, Any]:
    """The wire form of an event, the same shape as API.md's webhooks."""
    return {
        "id": event.public_id,
        "type": event.event_type,
        "created": to_jsonable(event.created_at),
        "aggregate_id": event.aggregate_id,
        "data": event.payload,
    }


class JetStreamPublisher:
    """Publishes to a JetStream stream named ``stream`` on subjects ``<prefix>.<event type>``.

    The stream is created on first use if it does not exist (subjects ``<prefix>.>``, a two-hour
    duplicate window, file storage).
    """

    def __init__(
        self,
        url: str,
        *,
        stream: str = STREAM_DEFAULT,
        subject_prefix: str = SUBJECT_PREFIX_DEFAULT,
    ) -> None:
        self.stream = stream
        self.subject_prefix = subject_prefix
        self._loop = asyncio.new_event_loop()
        try:
            self._client = self._loop.run_until_complete(
                nats.connect(url, connect_timeout=3, allow_reconnect=True, max_reconnect_attempts=3)
            )
        except (OSError, TimeoutError, nats.errors.Error) as error:
            self._loop.close()
            raise PublishFailedError(f"cannot connect to NATS at {url}: {error}") from error
        self._jetstream = self._client.jetstream(timeout=PUBLISH_TIMEOUT_SECONDS)
        self._loop.run_until_complete(self._ensure_stream())

    async def _ensure_stream(self) -> None:
        try:
            await self._jetstream.stream_info(self.stream)
        except NotFoundError:
            await self._jetstream.add_stream(
                StreamConfig(
                    name=self.stream,
                    subjects=[f"{self.subject_prefix}.>"],
                    duplicate_window=DUPLICATE_WINDOW_SECONDS,
                )
            )

    def publish(self, event: Event) -> None:
        body = json.dumps(envelope(event), ensure_ascii=False, sort_keys=True).encode("utf-8")
        subject = f"{self.subject_prefix}.{event.event_type}"
        try:
            self._loop.run_until_complete(
                self._jetstream.publish(
                    subject, body, stream=self.stream, headers={"Nats-Msg-Id": event.public_id}
                )
            )
        except (OSError, TimeoutError, nats.errors.Error) as error:
            raise PublishFailedError(f"{event.public_id}: {error}") from error

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self._client.drain())
        finally:
            self._loop.close()


@dataclass(frozen=True, slots=True)
class RelayRound:
    """What one round did: events ``published``; the event it stopped at and why, if one
    failed; ``more``: whether events were left waiting beyond the round's batch size."""

    published: int
    failed_event: str | None = None
    error: str | None = None
    more: bool = False


def relay_once(publisher: Publisher, *, batch_size: int = 100) -> RelayRound:
    """Publish up to ``batch_size`` of the oldest unpublished outbox events, in order, then up
    to ``batch_size`` audit records' events, in order (``announced_once``).

    Effects: acknowledged outbox events get ``published_at``; the first failing event gets its
    ``publish_attempts`` incremented and the round stops there.
    """
    outbox = _outbox_once(publisher, batch_size=batch_size)
    if outbox.failed_event is not None:
        return outbox
    announced = announced_once(publisher, batch_size=batch_size)
    return RelayRound(
        outbox.published + announced.published,
        announced.failed_event,
        announced.error,
        more=outbox.more or announced.more,
    )


def _outbox_once(publisher: Publisher, *, batch_size: int) -> RelayRound:
    bounded = max(1, min(batch_size, RELAY_BATCH_MAX))
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.select_for_update()
            .filter(published_at__isnull=True)
            .order_by("id")[:bounded]
        )
        published: list[int] = []
        failure: tuple[OutboxEvent, PublishFailedError] | None = None
        for event in events:
            try:
                publisher.publish(Event.of_outbox(event))
            except PublishFailedError as error:
                failure = (event, error)
                break
            published.append(event.id)
        mark_published(published)
        if failure is not None:
            OutboxEvent.objects.filter(id=failure[0].id).update(
                publish_attempts=F("publish_attempts") + 1
            )
    if failure is not None:
        logger.warning("outbox relay stopped at %s: %s", failure[0].public_id, failure[1])
        return RelayRound(len(published), failure[0].public_id, failure[1].detail)
    return RelayRound(len(published), more=len(events) == bounded)


def announced_once(publisher: Publisher, *, batch_size: int = 100) -> RelayRound:
    """Publish the events of up to ``batch_size`` audit records past the lanes' cursors, in
    ``id`` order, and move each lane's cursor past what was handled.

    Records that announce nothing are passed over (the cursor moves past them too). A lane
    that yields a full batch bounds the round at its last record's id, so that no record of
    another lane with a higher id goes out before that lane's next ones.
    """
    bounded = max(1, min(batch_size, RELAY_BATCH_MAX))
    now = timezone.now()
    with transaction.atomic():
        cursors = _locked_cursors()
        handled, more = _records_past(cursors, bounded)
        published = 0
        moved: dict[int, tuple[int, int]] = {}  # lane: (last sequence handled, events)
        failure: tuple[int, str, PublishFailedError] | None = None
        for _id, lane, sequence, occurred_at, details in handled:
            event = _announced(details, occurred_at)
            if event is not None:
                try:
                    publisher.publish(event)
                except PublishFailedError as error:
                    failure = (lane, event.public_id, error)
                    break
                published += 1
            events = moved.get(lane, (0, 0))[1]
            moved[lane] = (sequence, events + (event is not None))
        for lane, (sequence, events) in moved.items():
            AuditRelayCursor.objects.filter(lane=lane).update(
                sequence=sequence,
                published_events=F("published_events") + events,
                failed_attempts=0,
                moved_at=now,
            )
        if failure is not None:
            AuditRelayCursor.objects.filter(lane=failure[0]).update(
                failed_attempts=F("failed_attempts") + 1
            )
    if failure is not None:
        logger.warning("audit event relay stopped at %s: %s", failure[1], failure[2])
        return RelayRound(published, failure[1], failure[2].detail, more=True)
    return RelayRound(published, more=more)


def _locked_cursors() -> dict[int, int]:
    """The lanes that have records past their cursor and the last sequence relayed in each,
    their cursors locked for the round in lane order (created at 0 for a lane not read
    before). A lane that moves meanwhile is read in the next round."""
    heads = dict(AuditChainHead.objects.filter(sequence__gt=0).values_list("id", "sequence"))
    AuditRelayCursor.objects.bulk_create(
        [AuditRelayCursor(lane=lane) for lane in heads], ignore_conflicts=True
    )
    locked = AuditRelayCursor.objects.select_for_update().filter(lane__in=heads).order_by("lane")
    return {
        lane: sequence
        for lane, sequence in locked.values_list("lane", "sequence")
        if heads[lane] > sequence
    }


def _records_past(
    cursors: dict[int, int], bounded: int
) -> tuple[list[tuple[int, int, int, dt.datetime, Any]], bool]:
    """At most ``bounded`` audit records past the lanes' ``cursors``, as (id, lane, sequence,
    occurred_at, details) in ``id`` order, and whether more are waiting. A lane that yields
    ``bounded`` records bounds the result at its last record's id, so that no record of
    another lane with a higher id comes before that lane's next ones."""
    read: list[tuple[int, int, int, dt.datetime, Any]] = []
    horizon: int | None = None
    for lane, sequence in cursors.items():
        rows = list(
            AuditRecord.objects.filter(lane=lane, sequence__gt=sequence)
            .order_by("sequence")
            .values_list("id", "lane", "sequence", "occurred_at", "details")[:bounded]
        )
        read += rows
        if len(rows) == bounded:
            horizon = rows[-1][0] if horizon is None else min(horizon, rows[-1][0])
    read.sort()
    more = horizon is not None or len(read) > bounded
    return [row for row in read if horizon is None or row[0] <= horizon][:bounded], more


def waiting_events(*, limit: int = 100) -> list[Event]:
    """The events the relay would publish next, without publishing them: at most ``limit``
    (capped at RELAY_BATCH_MAX) outbox events in order, then the events announced by at most
    ``limit`` audit records past the lanes' cursors, in order."""
    bounded = max(1, min(limit, RELAY_BATCH_MAX))
    events = [
        Event.of_outbox(row)
        for row in OutboxEvent.objects.filter(published_at__isnull=True).order_by("id")[:bounded]
    ]
    records, _more = _records_past(cursors_behind(), bounded)
    for _id, _lane, _sequence, occurred_at, details in records:
        event = _announced(details, occurred_at)
        if event is not None:
            events.append(event)
    return events


def _announced(details: Any, occurred_at: dt.datetime) -> Event | None:
    """The event an audit record's ``details`` announce, if any."""
    if not isinstance(details, dict):
        return None
    event = details.get(EVENT_KEY)
    if not isinstance(event, dict):
        return None
    return Event(
        str(event["id"]),
        str(event["type"]),
        occurred_at,
        str(event.get("aggregate_id", "")),
        event.get("data", {}),
    )


def pending_count() -> int:
    """Events waiting for the relay, in the outbox and in audit records."""
    return OutboxEvent.objects.filter(published_at__isnull=True).count() + waiting_announced()[0]
