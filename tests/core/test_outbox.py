"""An outbox event exists if and only if its transaction commits."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from bankmall.core.audit import OutsideTransactionError, record_audit
from bankmall.core.models import AuditRecord, OutboxEvent
from bankmall.core.money import Money
from bankmall.core.outbox import announce, mark_published, record_event, unpublished_events


@pytest.mark.django_db(transaction=True)
def test_event_is_visible_after_its_transaction_commits() -> None:
    with transaction.atomic():
        event_id = record_event(
            "thing.created", aggregate_id="thg_1", payload={"amount": Money(100, "CNY")}
        )

    event = OutboxEvent.objects.get(public_id=event_id)
    assert event.event_type == "thing.created"
    assert event.payload == {"amount": {"amount": 100, "currency": "CNY"}}
    assert event.published_at is None


@pytest.mark.django_db(transaction=True)
def test_event_vanishes_when_its_transaction_rolls_back() -> None:
    def action_that_fails_after_recording() -> None:
        with transaction.atomic():
            record_event("thing.created", aggregate_id="thg_1", payload={})
            raise RuntimeError("the action fails after recording")

    with pytest.raises(RuntimeError, match="fails"):
        action_that_fails_after_recording()

    assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_event_outside_a_transaction_is_refused() -> None:
    with pytest.raises(OutsideTransactionError):
        record_event("thing.created", payload={})

    assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_relay_reads_oldest_first_and_marks_published_once() -> None:
    with transaction.atomic():
        first = record_event("thing.created", payload={"n": 1})
        second = record_event("thing.created", payload={"n": 2})

    pending = unpublished_events(limit=10)
    changed = mark_published([event.id for event in pending[:1]])
    changed_again = mark_published([event.id for event in pending[:1]])

    assert [event.public_id for event in pending] == [first, second]
    assert (changed, changed_again) == (1, 0)
    assert [event.public_id for event in unpublished_events()] == [second]


@pytest.mark.django_db(transaction=True)
def test_payloads_refuse_floats() -> None:
    with pytest.raises(TypeError, match="floats"), transaction.atomic():
        record_event("thing.created", payload={"amount": 1.5})

    assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_large_payload_is_stored_lz4_compressed_and_read_back_whole(
    requires_postgres: None,
) -> None:
    # A ledger batch's event names up to 8,190 transfers; lz4 compresses it much more cheaply
    # than PostgreSQL's default pglz (migration core 0009).
    ids = [f"trf_{n:026d}" for n in range(2_000)]
    with transaction.atomic():
        event_id = record_event("ledger.transfers_created", payload={"transfer_ids": ids})

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_compression(payload) FROM core_outboxevent WHERE public_id = %s",
            [event_id],
        )
        assert cursor.fetchone() == ("lz4",)
    assert OutboxEvent.objects.get(public_id=event_id).payload == {"transfer_ids": ids}


@pytest.mark.django_db(transaction=True)
def test_large_audit_details_are_stored_lz4_compressed_and_read_back_whole(
    requires_postgres: None,
) -> None:
    # A ledger batch's audit record announces its event, which names up to 8,190 transfers
    # (migration core 0011).
    ids = [f"trf_{n:026d}" for n in range(2_000)]
    details = announce({"count": len(ids)}, "ledger.transfers_created", payload={"ids": ids})
    with transaction.atomic():
        record = record_audit("ledger.transfers_created", details=details, actor="tester")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_compression(details) FROM core_auditrecord WHERE id = %s",
            [record.id],
        )
        assert cursor.fetchone() == ("lz4",)
    assert AuditRecord.objects.get(id=record.id).details == details


@pytest.mark.django_db(transaction=True)
def test_append_only_tables_take_ids_in_order_without_a_sequence_table_on_sqlite() -> None:
    # SQLite: no AUTOINCREMENT (no sqlite_sequence row read and written by every insert);
    # PostgreSQL: still an identity column. Either way new rows get increasing ids.
    tables = ("core_outboxevent", "core_auditrecord", "ledger_transfer")
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for table in tables:
                cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [table])
                (sql,) = cursor.fetchone()
                assert '"id" integer NOT NULL PRIMARY KEY,' in sql
                assert "AUTOINCREMENT" not in sql
        else:
            for table in tables:
                cursor.execute(
                    "SELECT is_identity FROM information_schema.columns"
                    " WHERE table_name = %s AND column_name = 'id'",
                    [table],
                )
                assert cursor.fetchone() == ("YES",)
    with transaction.atomic():
        first = record_event("thing.created", payload={})
        second = record_event("thing.created", payload={})
    assert (
        OutboxEvent.objects.get(public_id=first).id < OutboxEvent.objects.get(public_id=second).id
    )
