"""Tamper evidence: each batch's audit record seals its transfers' contents, and the check
(``queries.contents_problems``, run by ``bankmall check``) names a batch whose rows changed
after it was written; the guard triggers' absence is named too."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from bankmall.core.integrity import run_checks
from bankmall.core.models import AuditRecord
from bankmall.ledger import contents, guards, queries
from bankmall.ledger.actions import TransferRequest, create_transfers, expire_pending_transfers
from bankmall.ledger.committing import commit_rows
from bankmall.ledger.models import Transfer
from tests.ledger.conftest import guards_lifted, movement, prepared_rows, three_accounts

pytestmark = pytest.mark.django_db


def _record_of(transfer_id: str) -> AuditRecord:
    return AuditRecord.objects.get(action="ledger.transfers_created", target=transfer_id)


def _sealed_batch() -> list[str]:
    """A batch of two transfers (one with metadata and a reference); their ids."""
    accounts = three_accounts()
    views = create_transfers(
        [
            movement(accounts["alice"], accounts["bob"], 300, "rent", reference="March"),
            movement(
                accounts["bank"], accounts["alice"], 5, "fee", metadata={"description": "fee"}
            ),
        ],
        client="test",
        actor="test",
    )
    return [view.id for view in views]


def _edit(assignment: str, public_id: str) -> None:
    with guards_lifted(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE ledger_transfer SET {assignment} WHERE public_id = %s",  # noqa: S608
            [public_id],
        )


def _name(transfer_id: str) -> str:
    record = _record_of(transfer_id)
    return f"#{record.sequence}" if record.lane == 1 else f"#{record.lane}.{record.sequence}"


def _problem(*first_ids: str) -> str:
    """The check's line for the batches whose first transfers are ``first_ids``."""
    names = ", ".join(f"{first_id} (audit record {_name(first_id)})" for first_id in first_ids)
    return (
        f"ledger transfer batch {names}: its transfers differ from what its audit record"
        " sealed (a transfer was changed, added or removed)"
    )


def test_every_kind_of_write_is_sealed_and_the_check_passes() -> None:
    """Posted and pending transfers, posts, voids, reversals and expiries (each batch's audit
    record, whichever path wrote it) all add up to their digests."""
    accounts = three_accounts()
    alice, bob = accounts["alice"], accounts["bob"]
    post_me, void_me, expire_me, reverse_me = create_transfers(
        [
            movement(alice, bob, 10, "p1", pending=True),
            movement(alice, bob, 20, "p2", pending=True),
            movement(alice, bob, 30, "p3", pending=True, timeout_seconds=1),
            movement(alice, bob, 40, "s1", metadata={"n": 1.5, "big": 1e16, "x": [True, None]}),
        ],
        client="test",
    )
    create_transfers(
        [
            TransferRequest(key="post", post_pending=post_me.id, amount=post_me.amount),
            TransferRequest(key="void", void_pending=void_me.id),
            TransferRequest(key="undo", reverses=reverse_me.id),
        ],
        client="test",
    )
    (expired,) = expire_pending_transfers(now=timezone.now() + dt.timedelta(seconds=2))

    assert expired.pending_id == expire_me.id
    records = AuditRecord.objects.filter(action="ledger.transfers_created")
    assert all(contents.DETAILS_KEY in record.details for record in records)
    assert queries.contents_problems() == []
    assert queries.invariant_problems() == []


@pytest.mark.parametrize(
    "assignment",
    [
        "reference = 'April'",
        "code = 'other'",
        'metadata = \'{"description": "refund"}\'',
        "value_date = '2020-01-01'",
        "key = 'another-key'",
        "amount_minor = 299",
        "kind = 'pending'",
    ],
)
def test_a_transfer_edited_behind_the_triggers_fails_the_check(assignment: str) -> None:
    first, second = _sealed_batch()

    _edit(assignment, second)

    assert queries.contents_problems() == [_problem(first)]


def test_a_transfer_edited_together_with_its_accounts_totals_fails_the_check() -> None:
    """Totals that still match the transfers are no cover: the batch no longer adds up."""
    first, _second = _sealed_batch()
    _edit("amount_minor = 301", first)
    with guards_lifted(), connection.cursor() as cursor:
        for column, side in (("debits_posted_minor", "debit"), ("credits_posted_minor", "credit")):
            cursor.execute(
                f"UPDATE ledger_account SET {column} = {column} + 1"  # noqa: S608
                f" WHERE id = (SELECT {side}_account_id FROM ledger_transfer WHERE public_id = %s)",
                [first],
            )

    assert queries.invariant_problems() == []
    assert queries.contents_problems() == [_problem(first)]


def test_a_transfer_deleted_behind_the_triggers_fails_the_check() -> None:
    first, second = _sealed_batch()

    with guards_lifted(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_transfer WHERE public_id = %s", [second])

    assert queries.contents_problems() == [_problem(first)]


def test_a_batch_whose_first_transfer_is_gone_is_named() -> None:
    first, _second = _sealed_batch()
    name = _name(first)

    with guards_lifted(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_transfer WHERE public_id = %s", [first])

    assert queries.contents_problems()[0] == (
        f"ledger audit record {name}: its batch's first transfer {first} is missing"
    )


def test_batches_of_one_client_in_the_same_microsecond_are_checked_together() -> None:
    accounts = three_accounts()
    alice, bob = accounts["alice"], accounts["bob"]
    now = timezone.now()
    first = commit_rows(
        prepared_rows(movement(alice, bob, 1, "a1"), movement(alice, bob, 2, "a2")),
        client="same",
        actor="test",
        now=now,
    )
    second = commit_rows(
        prepared_rows(movement(bob, alice, 3, "b1")), client="same", actor="test", now=now
    )
    assert queries.contents_problems() == []

    _edit("reference = 'edited'", first[1].id)

    assert queries.contents_problems() == [_problem(first[0].id, second[0].id)]


def test_a_transfer_no_audit_record_covers_is_named() -> None:
    first, second = _sealed_batch()
    with guards_lifted():
        Transfer.objects.filter(public_id=second).update(
            created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        )

    assert queries.contents_problems() == [
        (
            f"ledger transfer {second} is in no batch's audit record (1 transfers of client"
            " 'test' written at 2020-01-01T00:00:00+00:00)"
        ),
        _problem(first),
    ]


def test_batches_sealed_before_the_digest_existed_are_skipped() -> None:
    _first, second = _sealed_batch()
    with connection.cursor() as cursor:  # As an audit record written before this change.
        cursor.execute(
            "UPDATE core_auditrecord SET details = %s WHERE action = 'ledger.transfers_created'",
            ['{"client": "test", "count": 2, "first_key": "rent"}'],
        )

    _edit("reference = 'edited'", second)

    assert queries.contents_problems() == []


def test_a_missing_or_disabled_guard_trigger_is_named() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "ALTER TABLE ledger_transfer DISABLE TRIGGER ledger_transfer_never_updated"
            )
            cursor.execute("DROP TRIGGER ledger_account_never_deleted ON ledger_account")
        else:
            cursor.execute("DROP TRIGGER ledger_transfer_never_updated")
            cursor.execute("DROP TRIGGER ledger_account_never_deleted")

    problems = guards.missing_guards()

    assert problems == [
        (
            "ledger table ledger_account lacks its guard trigger ledger_account_never_deleted:"
            " its rows can be changed or deleted (see docs/ledger.md, Guarantees)"
        ),
        (
            "ledger table ledger_transfer: its guard trigger ledger_transfer_never_updated is"
            " disabled"
            if connection.vendor == "postgresql"
            else "ledger table ledger_transfer lacks its guard trigger"
            " ledger_transfer_never_updated: its rows can be changed or deleted (see"
            " docs/ledger.md, Guarantees)"
        ),
    ]
    assert queries.invariant_problems() == problems


def test_the_migrated_database_has_every_guard_and_bankmall_check_runs_the_contents_check() -> None:
    _sealed_batch()

    results = {result.name: result.problems for result in run_checks()}

    assert guards.missing_guards() == []
    assert results["ledger_invariants"] == []
    assert results["ledger_transfer_contents"] == []


def test_the_stored_rows_give_the_digest_the_record_carries() -> None:
    first, _second = _sealed_batch()
    record = _record_of(first)
    rows = Transfer.objects.filter(created_at=Transfer.objects.get(public_id=first).created_at)

    assert rows.count() == 2
    assert contents.parse_digest(record.details[contents.DETAILS_KEY]) is not None
    assert queries.contents_problems() == []
