"""The outbox relay publishes committed events in order, at least once, to NATS JetStream."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import nats
import pytest
from django.db import transaction

from bankmall.core.models import OutboxEvent
from bankmall.core.outbox import record_event
from bankmall.core.relay import JetStreamPublisher, PublishFailedError, relay_once

NATS_URL = os.environ.get("TEST_NATS_URL", "nats://127.0.0.1:4222")


class RecordingPublisher:
    """An in-process broker for the relay's ordering and failure rules."""

    def __init__(self, *, fail_on: str | None = None) -> None:
        self.published: list[str] = []
        self.fail_on = fail_on

    def publish(self, event: OutboxEvent) -> None:
        if event.public_id == self.fail_on:
            raise PublishFailedError("broker unavailable")
        self.published.append(event.public_id)

    def close(self) -> None:
        return None


def _record(count: int) -> list[str]:
    with transaction.atomic():
        return [
            record_event("thing.created", aggregate_id=f"thg_{n}", payload={"n": n})
            for n in range(count)
        ]


def _nats_reachable() -> bool:
    address = urlparse(NATS_URL)
    try:
        with socket.create_connection((address.hostname, address.port or 4222), timeout=1):
            return True
    except OSError:
        return False


requires_nats = pytest.mark.skipif(
    not _nats_reachable(), reason=f"needs a NATS server with JetStream at {NATS_URL}"
)


@pytest.mark.django_db
def test_relay_publishes_oldest_first_and_marks_them() -> None:
    event_ids = _record(3)
    publisher = RecordingPublisher()

    result = relay_once(publisher, batch_size=10)

    assert result.published == 3
    assert publisher.published == event_ids
    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_failed_publish_stops_the_round_and_keeps_order() -> None:
    event_ids = _record(3)
    publisher = RecordingPublisher(fail_on=event_ids[1])

    result = relay_once(publisher, batch_size=10)

    assert (result.published, result.failed_event) == (1, event_ids[1])
    waiting = OutboxEvent.objects.filter(published_at__isnull=True).order_by("id")
    assert [event.public_id for event in waiting] == event_ids[1:]
    assert [event.publish_attempts for event in waiting] == [1, 0]


@pytest.mark.django_db
def test_rounds_respect_the_batch_size() -> None:
    _record(5)
    publisher = RecordingPublisher()

    first = relay_once(publisher, batch_size=2)
    second = relay_once(publisher, batch_size=2)

    assert (first.published, second.published) == (2, 2)
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 1


@pytest.fixture
def stream() -> Iterator[tuple[str, str]]:
    name = f"BANKMALL_TEST_{secrets.token_hex(4).upper()}"
    prefix = f"bankmalltest{secrets.token_hex(4)}"
    yield name, prefix

    async def delete() -> None:
        client = await nats.connect(NATS_URL)
        try:
            await client.jetstream().delete_stream(name)
        finally:
            await client.close()

    asyncio.run(delete())


def _stream_messages(name: str, count: int) -> list[dict[str, object]]:
    async def read() -> list[dict[str, object]]:
        client = await nats.connect(NATS_URL)
        try:
            jetstream = client.jetstream()
            info = await jetstream.stream_info(name)
            messages = []
            for sequence in range(1, min(info.state.messages, count) + 1):
                message = await jetstream.get_msg(name, sequence)
                messages.append(json.loads(message.data or b"{}"))
            return [*messages, {"total": info.state.messages}]
        finally:
            await client.close()

    return asyncio.run(read())


@requires_nats
@pytest.mark.django_db
def test_events_reach_jetstream_once_even_when_published_twice(
    stream: tuple[str, str],
) -> None:
    name, prefix = stream
    event_ids = _record(2)
    publisher = JetStreamPublisher(NATS_URL, stream=name, subject_prefix=prefix)
    try:
        relay_once(publisher, batch_size=10)
        # A relay that crashed before marking would publish the same events again.
        for event in OutboxEvent.objects.order_by("id"):
            publisher.publish(event)
    finally:
        publisher.close()

    *messages, state = _stream_messages(name, 10)
    assert state == {"total": 2}
    assert [message["id"] for message in messages] == event_ids
    assert messages[0]["type"] == "thing.created"
    assert messages[0]["data"] == {"n": 0}
    assert str(messages[0]["created"]).endswith("Z")


def test_relay_command_without_a_server_fails_on_one_line(tmp_path: Path) -> None:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "BANKMALL_DATA_DIR", "NATS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    result = subprocess.run(
        [sys.executable, "-m", "bankmall.cli", "--data-dir", str(tmp_path), "relay", "--once"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr == "bankmall: error: no NATS server: pass --nats-url or set NATS_URL\n"


@requires_nats
def test_relay_command_publishes_a_seeded_demo_and_reports(
    tmp_path: Path, stream: tuple[str, str]
) -> None:
    name, prefix = stream
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "BANKMALL_DATA_DIR", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    } | {"NATS_URL": NATS_URL, "NATS_STREAM": name, "NATS_SUBJECT_PREFIX": prefix}
    command = [sys.executable, "-m", "bankmall.cli", "--data-dir", str(tmp_path)]
    seed = [*command, "seed", "--customers", "2", "--months", "1"]  # fits one relay round
    subprocess.run(seed, env=environment, timeout=120, check=True)

    result = subprocess.run(
        [*command, "relay", "--once"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("published ")
    assert result.stdout.endswith(" events; 0 waiting\n")
