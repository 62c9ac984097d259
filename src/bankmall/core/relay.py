"""The outbox relay: publish committed events to NATS JetStream, in order, at least once.

The relay reads the oldest unpublished outbox rows under a row lock (so a second relay waits
instead of publishing the same rows out of order), publishes each one with its event id as the
JetStream ``Nats-Msg-Id`` (the stream drops a duplicate sent within its dedupe window, so a
relay that crashes after publishing and before marking gives no duplicate in practice), and
marks what was acknowledged. A failure stops the batch at the failed event, counts the attempt,
and leaves it and everything after it for the next round: order is never broken.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Final, Protocol

import nats
from django.db import transaction
from django.db.models import F
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from bankmall.core.canonical import to_jsonable
from bankmall.core.errors import BankmallError
from bankmall.core.models import OutboxEvent
from bankmall.core.outbox import RELAY_BATCH_MAX, mark_published

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


class Publisher(Protocol):
    def publish(self, event: OutboxEvent) -> None:
        """Publish one event and return once the broker acknowledged it, else raise."""

    def close(self) -> None: ...


def envelope(event: OutboxEvent) -> dict[str, Any]:
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

    def publish(self, event: OutboxEvent) -> None:
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
    published: int
    failed_event: str | None = None
    error: str | None = None


def relay_once(publisher: Publisher, *, batch_size: int = 100) -> RelayRound:
    """Publish up to ``batch_size`` of the oldest unpublished events, in order.

    Effects: acknowledged events get ``published_at``; the first failing event gets its
    ``publish_attempts`` incremented and the round stops there.
    """
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
                publisher.publish(event)
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
    return RelayRound(len(published))


def pending_count() -> int:
    return OutboxEvent.objects.filter(published_at__isnull=True).count()
