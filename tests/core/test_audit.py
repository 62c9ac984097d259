"""The audit chain detects an edited, a deleted, an inserted and a truncated record."""

from __future__ import annotations

import json

import pytest
from django.db import connection, transaction

from bankmall.core.audit import (
    GENESIS_HASH,
    OutsideTransactionError,
    audit_context,
    export_lines,
    record_audit,
    verify_chain,
)
from bankmall.core.models import AuditChainHead, AuditRecord

pytestmark = pytest.mark.django_db


def _write_chain(count: int) -> list[AuditRecord]:
    records = []
    for index in range(count):
        with transaction.atomic():
            records.append(
                record_audit(
                    "test.thing_changed",
                    target=f"thg_{index}",
                    before={"state": "old", "n": index},
                    after={"state": "new", "n": index},
                    details={"reason": "test"},
                    actor="tester",
                )
            )
    return records


def _raw(sql: str, params: list[object]) -> None:
    # Tampering goes around the ORM, as an attacker with database access would.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_an_untouched_chain_verifies() -> None:
    records = _write_chain(5)

    report = verify_chain()

    assert report.is_intact
    assert report.records_checked == 5
    assert [r.sequence for r in records] == [1, 2, 3, 4, 5]
    assert records[0].previous_hash == GENESIS_HASH
    assert records[1].previous_hash == records[0].record_hash
    assert AuditChainHead.objects.get(pk=1).sequence == 5


def test_before_and_after_are_stored_only_as_digests() -> None:
    (record,) = _write_chain(1)

    assert len(record.before_digest) == 64
    assert record.before_digest != record.after_digest
    assert "old" not in json.dumps(record.details)


def test_an_edited_record_is_detected() -> None:
    _write_chain(5)
    _raw("UPDATE core_auditrecord SET actor = %s WHERE sequence = %s", ["mallory", 3])

    report = verify_chain()

    assert not report.is_intact
    assert report.problems == ["audit record #3 was altered (hash mismatch)"]


def test_a_deleted_record_is_detected() -> None:
    _write_chain(5)
    _raw("DELETE FROM core_auditrecord WHERE sequence = %s", [3])

    report = verify_chain()

    assert not report.is_intact
    assert report.problems[0] == (
        "audit record #4 found where #3 was expected (a record was deleted or inserted)"
    )
    assert "audit record #4 does not link to the record before it" in report.problems


def test_an_inserted_record_is_detected() -> None:
    records = _write_chain(3)
    forged = AuditRecord(
        sequence=4,
        occurred_at=records[-1].occurred_at,
        actor="mallory",
        action="test.forged",
        previous_hash=records[-1].record_hash,
        record_hash="f" * 64,
    )
    forged.save(force_insert=True)

    report = verify_chain()

    assert not report.is_intact
    assert "audit record #4 was altered (hash mismatch)" in report.problems
    assert any("head names #3" in problem for problem in report.problems)


def test_a_truncated_tail_is_detected() -> None:
    _write_chain(4)
    _raw("DELETE FROM core_auditrecord WHERE sequence = %s", [4])

    report = verify_chain()

    assert report.problems == [
        (
            "audit lane 1 ends at #3 but its head names #4"
            " (records were removed from or added to the end)"
        )
    ]


@pytest.mark.django_db(transaction=True)
def test_record_audit_outside_a_transaction_is_refused_and_writes_nothing() -> None:
    with pytest.raises(OutsideTransactionError):
        record_audit("test.thing_changed", actor="tester")

    assert AuditRecord.objects.count() == 0
    assert not AuditChainHead.objects.filter(sequence__gt=0).exists()


def test_a_rolled_back_action_leaves_no_audit_record() -> None:
    def action_that_fails_after_auditing() -> None:
        with transaction.atomic():
            record_audit("test.thing_changed", actor="tester")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        action_that_fails_after_auditing()

    assert AuditRecord.objects.count() == 0
    assert verify_chain().is_intact


def test_context_supplies_actor_request_id_and_ip() -> None:
    with (
        audit_context(actor=lambda: "user:7", request_id="req-12345678", ip_address="10.1.2.3"),
        transaction.atomic(),
    ):
        record = record_audit("test.thing_changed")

    assert (record.actor, record.request_id, record.ip_address) == (
        "user:7",
        "req-12345678",
        "10.1.2.3",
    )
    assert verify_chain().is_intact


def test_export_writes_one_json_line_per_record_in_order() -> None:
    _write_chain(3)

    lines = [json.loads(line) for line in export_lines(after={1: 1})]

    assert [line["sequence"] for line in lines] == [2, 3]
    assert lines[0]["action"] == "test.thing_changed"
    assert len(lines[0]["record_hash"]) == 64
