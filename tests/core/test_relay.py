"""The outbox relay publishes committed events in order, at least once, to NATS JetStream."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import nats
import pytest
from django.db import connection, transaction

from bankmall.core import audit
from bankmall.core.audit import Lane, record_audit
from bankmall.core.models import AuditChainHead, AuditRelayCursor, OutboxEvent
from bankmall.core.outbox import announce, record_event
from bankmall.core.relay import (
    Event,
    JetStreamPublisher,
    PublishFailedError,
    pending_count,
    relay_once,
    waiting_events,
)

NATS_URL = os.environ.get("TEST_NATS_URL", "nats://127.0.0.1:4222")


class RecordingPublisher:
    """An in-process broker for the relay's ordering and failure rules."""

    def __init__(self, *, fail_on: str | None = None) -> None:
        self.published: list[str] = []
        self.fail_on = fail_on

    def publish(self, event: Event) -> None:
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


# ------------------------------------------------------------------ events in audit records


def _announce(lane: int, name: str | None, monkeypatch: pytest.MonkeyPatch) -> str:
    """Append a record to audit ``lane``, announcing a ``thing.<name>`` event unless ``name``
    is ``None``; the event's id (or the record's action)."""
    monkeypatch.setattr(audit, "current_lane", lambda: Lane(number=lane, leased=True))
    details = (
        {}
        if name is None
        else announce({}, f"thing.{name}", aggregate_id=f"thg_{name}", payload={"name": name})
    )
    with transaction.atomic():
        record_audit("thing.touched", target=f"thg_{name}", details=details, actor="tester")
    return str(details["event"]["id"]) if name is not None else "plain"


def _three_events_in_two_lanes(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    """Events a (lane 2), b (lane 1, after a plain record there) and c (lane 2), in order."""
    first = _announce(2, "a", monkeypatch)
    _announce(1, None, monkeypatch)
    return first, _announce(1, "b", monkeypatch), _announce(2, "c", monkeypatch)


def _heads() -> dict[int, int]:
    return dict(AuditChainHead.objects.values_list("id", "sequence"))


def _cursors() -> dict[int, int]:
    return dict(AuditRelayCursor.objects.values_list("lane", "sequence"))


@pytest.mark.django_db
def test_announced_events_go_out_in_the_order_written_across_lanes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second, third = _three_events_in_two_lanes(monkeypatch)
    assert [event.public_id for event in waiting_events()] == [first, second, third]
    assert pending_count() == 3
    publisher = RecordingPublisher()

    result = relay_once(publisher, batch_size=10)

    assert (result.published, result.failed_event, result.more) == (3, None, False)
    assert publisher.published == [first, second, third]
    assert _cursors() == _heads()  # Past the plain record as well.
    assert dict(AuditRelayCursor.objects.values_list("lane", "published_events")) == {1: 1, 2: 2}
    assert (pending_count(), waiting_events()) == (0, [])
    assert relay_once(publisher, batch_size=10).published == 0


@pytest.mark.django_db
def test_an_announced_event_carries_the_records_time_and_the_envelope() -> None:
    with transaction.atomic():
        record = record_audit(
            "thing.touched",
            target="thg_1",
            details=announce({"n": 1}, "thing.made", aggregate_id="thg_1", payload={"n": 1}),
            actor="tester",
        )
    publisher = RecordingPublisher()
    events: list[Event] = []
    publisher.publish = events.append  # type: ignore[method-assign]

    relay_once(publisher)

    (event,) = events
    assert (event.event_type, event.aggregate_id, event.payload) == (
        "thing.made",
        "thg_1",
        {"n": 1},
    )
    assert event.created_at == record.occurred_at
    assert event.public_id == record.details["event"]["id"]


@pytest.mark.django_db
def test_a_failed_announced_event_stops_the_round_and_is_retried_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second, third = _three_events_in_two_lanes(monkeypatch)
    heads = _heads()

    failed = relay_once(RecordingPublisher(fail_on=second), batch_size=10)

    assert (failed.published, failed.failed_event) == (1, second)
    # Lane 2 past its first record, lane 1 past the plain record only: the failed event and
    # everything after it wait.
    assert _cursors() == {1: heads[1] - 1, 2: heads[2] - 1}
    assert AuditRelayCursor.objects.get(lane=1).failed_attempts == 1
    assert relay_once(RecordingPublisher(fail_on=second)).failed_event == second
    assert AuditRelayCursor.objects.get(lane=1).failed_attempts == 2
    publisher = RecordingPublisher()

    retried = relay_once(publisher, batch_size=10)

    assert publisher.published == [second, third]
    assert (retried.published, retried.failed_event) == (2, None)
    assert _cursors() == heads
    assert AuditRelayCursor.objects.get(lane=1).failed_attempts == 0
    assert first not in publisher.published


@pytest.mark.django_db
def test_a_full_lane_bounds_the_round_so_that_order_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written = [
        _announce(lane, name, monkeypatch)
        for lane, name in [(1, "r1"), (2, "r2"), (1, "r3"), (1, "r4"), (2, "r5")]
    ]
    publisher = RecordingPublisher()

    rounds = [relay_once(publisher, batch_size=2) for _ in range(4)]

    assert publisher.published == written
    assert [(round_.published, round_.more) for round_ in rounds] == [
        (2, True),
        (2, True),
        (1, False),
        (0, False),
    ]


@pytest.mark.django_db
def test_outbox_events_go_first_and_a_failure_there_holds_the_announced_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    announced = _announce(1, "a", monkeypatch)
    (stored,) = _record(1)

    stopped = relay_once(RecordingPublisher(fail_on=stored))
    publisher = RecordingPublisher()
    both = relay_once(publisher)

    assert (stopped.published, stopped.failed_event) == (0, stored)
    assert publisher.published == [stored, announced]
    assert both.published == 2


@pytest.mark.django_db(transaction=True)
def test_a_record_that_commits_late_is_not_skipped(requires_postgres: None) -> None:
    """A record is published only once its transaction commits, however long it takes, and
    the lane's cursor never passes it meanwhile (the lane's later records wait for it)."""
    appended, release, done = threading.Event(), threading.Event(), threading.Event()
    holder: list[str] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                details = announce({}, "thing.late", aggregate_id="thg_late", payload={})
                record_audit("thing.touched", target="thg_late", details=details, actor="t")
                holder.append(details["event"]["id"])
                appended.set()
                release.wait(30)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert appended.wait(30)
    publisher = RecordingPublisher()
    try:
        before = relay_once(publisher)
    finally:
        release.set()
        thread.join(30)
    after = relay_once(publisher)

    assert before.published == 0
    assert after.published == 1
    assert publisher.published == holder


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
            publisher.publish(Event.of_outbox(event))
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
