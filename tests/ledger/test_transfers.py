"""Posting, two-phase transfers, linked batches, reversals, idempotency and reads."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable

import pytest
from django.db import IntegrityError, connection, transaction

from bankmall.core.models import AuditRecord, OutboxEvent
from bankmall.core.relay import Event, pending_count, relay_once, waiting_events
from bankmall.ledger import actions, posting, queries
from bankmall.ledger import eod as ledger_eod
from bankmall.ledger.actions import TransferRequest, create_transfers
from bankmall.ledger.models import Transfer
from bankmall.ledger.values import AccountView
from tests.ledger.conftest import cny, guards_lifted, open_account, snapshot, transfer

pytestmark = pytest.mark.django_db

Funded = Callable[[int], tuple[AccountView, AccountView, AccountView]]


def _posted(account_id: str) -> int:
    return queries.balance(account_id).posted.amount_minor


def test_a_linked_batch_writes_every_transfer_with_one_audit_record_and_one_event(
    funded: Funded,
) -> None:
    bank, alice, bob = funded(1_000)
    audit_before, events_before = AuditRecord.objects.count(), OutboxEvent.objects.count()

    results = create_transfers(
        [
            TransferRequest(
                key="pay", debit_account=alice.id, credit_account=bob.id, amount=cny(300)
            ),
            TransferRequest(
                key="fee", debit_account=alice.id, credit_account=bank.id, amount=cny(5)
            ),
        ],
        client="payments",
        actor="test",
    )

    assert [r.status for r in results] == ["posted", "posted"]
    assert (_posted(alice.id), _posted(bob.id)) == (695, 300)
    assert AuditRecord.objects.count() == audit_before + 1
    assert OutboxEvent.objects.count() == events_before  # The audit record announces it.
    event = waiting_events(limit=500)[-1]
    assert event.event_type == "ledger.transfers_created"
    assert event.aggregate_id == results[0].id
    assert event.payload == {
        "client": "payments",
        "transfer_ids": [r.id for r in results],
        "account_ids": sorted([alice.id, bob.id, bank.id]),
    }
    assert event.created_at == AuditRecord.objects.latest("id").occurred_at
    assert queries.invariant_problems() == []


def test_a_hot_account_is_updated_once_per_batch(
    funded: Funded, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank, _alice, _bob = funded(0)
    merchants = [open_account(f"liability:merchant:{n}", no_overdraft=False) for n in range(3)]
    updates: list[dict[str, list[int]]] = []
    aggregate = posting.aggregate

    def spy(rows: list[posting.Row]) -> dict[str, list[int]]:
        # The deltas are what the one UPDATE statement applies: one entry per account.
        updates.append(aggregate(rows))
        return updates[-1]

    monkeypatch.setattr(posting, "aggregate", spy)

    create_transfers(
        [
            TransferRequest(
                key=f"k{n}", debit_account=bank.id, credit_account=m.id, amount=cny(n + 1)
            )
            for n, m in enumerate(merchants * 10)
        ],
        client="test",
    )

    assert len(updates) == 1
    assert len(updates[0]) == 4
    assert updates[0][bank.id] == [sum(range(1, 31)), 0, 0, 0]
    assert queries.balance(bank.id).posted.amount_minor == -sum(range(1, 31))
    assert queries.invariant_problems() == []


def test_a_retry_with_the_same_key_returns_the_original_and_changes_nothing(funded: Funded) -> None:
    _bank, alice, bob = funded(1_000)
    first = transfer(alice.id, bob.id, 100, key="retry-me")
    before = snapshot()

    (again,) = create_transfers(
        [
            TransferRequest(
                key="retry-me", debit_account=alice.id, credit_account=bob.id, amount=cny(100)
            )
        ],
        client="test",
    )

    assert again == first
    assert snapshot() == before


def test_keys_are_scoped_per_client(funded: Funded) -> None:
    _bank, alice, bob = funded(1_000)
    first = transfer(alice.id, bob.id, 100, key="order-1", client="payments")

    second = transfer(alice.id, bob.id, 100, key="order-1", client="banking")

    assert first.id != second.id
    assert _posted(bob.id) == 200


def test_a_retried_batch_posts_only_the_transfers_not_yet_written(funded: Funded) -> None:
    _bank, alice, bob = funded(1_000)
    first = transfer(alice.id, bob.id, 100, key="a")

    results = create_transfers(
        [
            TransferRequest(
                key="a", debit_account=alice.id, credit_account=bob.id, amount=cny(100)
            ),
            TransferRequest(key="b", debit_account=alice.id, credit_account=bob.id, amount=cny(50)),
        ],
        client="test",
    )

    assert results[0] == first
    assert _posted(bob.id) == 150


def test_pending_reserves_and_a_partial_post_releases_the_rest(funded: Funded) -> None:
    _bank, alice, bob = funded(1_000)
    hold = transfer(alice.id, bob.id, 400, pending=True, timeout_seconds=3600)

    assert queries.balance(alice.id).available.amount_minor == 600
    assert queries.balance(alice.id).posted.amount_minor == 1_000
    (posted,) = create_transfers(
        [TransferRequest(key="capture", post_pending=hold.id, amount=cny(250))], client="test"
    )

    assert (posted.kind, posted.pending_id) == ("post", hold.id)
    assert queries.get_transfer(hold.id).status == "posted"
    alice_balance = queries.balance(alice.id)
    assert (alice_balance.posted.amount_minor, alice_balance.available.amount_minor) == (750, 750)
    assert alice_balance.debits_pending.amount_minor == 0
    assert _posted(bob.id) == 250
    assert queries.invariant_problems() == []


def test_void_releases_the_reservation(funded: Funded) -> None:
    _bank, alice, bob = funded(1_000)
    hold = transfer(alice.id, bob.id, 400, pending=True)

    create_transfers([TransferRequest(key="void", void_pending=hold.id)], client="test")

    assert queries.get_transfer(hold.id).status == "voided"
    assert queries.balance(alice.id).available.amount_minor == 1_000
    assert queries.invariant_problems() == []


def test_expiry_releases_reservations_whose_timeout_passed(funded: Funded) -> None:
    _bank, alice, bob = funded(1_000)
    hold = transfer(alice.id, bob.id, 400, pending=True, timeout_seconds=60)
    kept = transfer(alice.id, bob.id, 100, pending=True, timeout_seconds=3600)

    expired = actions.expire_pending_transfers(now=hold.created_at + dt.timedelta(seconds=61))

    assert [e.pending_id for e in expired] == [hold.id]
    assert queries.get_transfer(hold.id).status == "expired"
    assert queries.get_transfer(kept.id).status == "pending"
    assert queries.balance(alice.id).available.amount_minor == 900
    assert actions.expire_pending_transfers(now=hold.created_at + dt.timedelta(seconds=62)) == []
    assert queries.invariant_problems() == []


def test_a_reversal_moves_the_amount_back_and_links_to_the_original(funded: Funded) -> None:
    _bank, alice, bob = funded(1_000)
    paid = transfer(alice.id, bob.id, 300)

    (reversal,) = create_transfers([TransferRequest(key="refund", reverses=paid.id)], client="test")

    assert reversal.reverses_id == paid.id
    assert (reversal.debit_account, reversal.credit_account) == (bob.id, alice.id)
    assert (_posted(alice.id), _posted(bob.id)) == (1_000, 0)
    assert queries.invariant_problems() == []


def test_accounts_can_be_named_by_code(funded: Funded) -> None:
    funded(1_000)

    result = transfer("liability:customer:alice", "liability:customer:bob", 10)

    assert result.debit_account == queries.account_by_code("liability:customer:alice").id


def test_create_accounts_is_idempotent_by_code() -> None:
    first = open_account("liability:customer:dora")
    audit_before = AuditRecord.objects.count()

    again = open_account("liability:customer:dora")

    assert again.id == first.id
    assert AuditRecord.objects.count() == audit_before


def test_balance_at_a_past_instant_counts_only_what_existed_then(funded: Funded) -> None:
    _bank, alice, bob = funded(1_000)
    first = transfer(alice.id, bob.id, 100)
    hold = transfer(alice.id, bob.id, 200, pending=True)
    create_transfers([TransferRequest(key="v", void_pending=hold.id)], client="test")
    _move_created_at(first.id, hold.id, base=first.created_at)

    then = queries.balance(alice.id, as_of=first.created_at + dt.timedelta(seconds=1.5))

    assert then.posted.amount_minor == 900
    assert then.debits_pending.amount_minor == 200
    assert queries.balance(alice.id).debits_pending.amount_minor == 0


def _move_created_at(first_id: str, hold_id: str, *, base: dt.datetime) -> None:
    # Spread the rows over time so "as of" falls between them: hold at +1 s, the void at +2 s.
    with guards_lifted():
        _move(first_id, hold_id, base=base)


def _move(first_id: str, hold_id: str, *, base: dt.datetime) -> None:
    Transfer.objects.filter(public_id=hold_id).update(created_at=base + dt.timedelta(seconds=1))
    Transfer.objects.filter(pending__public_id=hold_id).update(
        created_at=base + dt.timedelta(seconds=2)
    )
    Transfer.objects.exclude(public_id__in=[first_id, hold_id]).filter(
        created_at__gt=base, pending__isnull=True
    ).update(created_at=base)


def test_history_pages_through_an_accounts_transfers_in_order(funded: Funded) -> None:
    _bank, alice, bob = funded(1_000)
    made = [transfer(alice.id, bob.id, n + 1).id for n in range(5)]

    first = queries.account_history(bob.id, limit=3)
    second = queries.account_history(bob.id, limit=3, starting_after=first.next_cursor)

    assert [t.id for t in first.data + second.data] == made
    assert (first.has_more, second.has_more) == (True, False)


def test_lookup_by_key(funded: Funded) -> None:
    _bank, alice, bob = funded(1_000)
    made = transfer(alice.id, bob.id, 7, key="order-77", client="mall")

    assert queries.transfer_by_key("mall", "order-77") == queries.get_transfer(made.id)


def test_invariants_name_a_tampered_transfer(funded: Funded) -> None:
    _bank, alice, bob = funded(1_000)
    made = transfer(alice.id, bob.id, 100)
    with guards_lifted(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_transfer SET amount_minor = 150 WHERE public_id = %s", [made.id]
        )

    problems = queries.invariant_problems()

    assert problems[0] == (
        f"ledger account {alice.id}: stored totals 100/1000/0/0 differ from the sums of its"
        " transfers 150/1000/0/0"
    )


def test_invariants_name_a_transfer_whose_account_is_missing(funded: Funded) -> None:
    # Transfers carry account ids without a foreign-key constraint; a row pointed elsewhere by
    # hand is found by the check.
    _bank, alice, bob = funded(1_000)
    made = transfer(alice.id, bob.id, 100)
    with guards_lifted(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_transfer SET credit_account_id = -5 WHERE public_id = %s", [made.id]
        )

    problems = queries.invariant_problems()

    assert _shape_problem(made.id) in problems


def _shape_problem(transfer_id: str) -> str:
    return (
        f"ledger transfer {transfer_id} does not match its accounts or the transfer it resolves"
        " or reverses"
    )


@pytest.mark.parametrize("column", ["pending_id", "reverses_id"])
def test_invariants_name_a_transfer_whose_reference_is_missing(funded: Funded, column: str) -> None:
    # The references to the resolved or reversed transfer carry no foreign-key constraint
    # either; a dangling one set by hand is found by the check.
    _bank, alice, bob = funded(1_000)
    if column == "pending_id":
        hold = transfer(alice.id, bob.id, 100, pending=True)
        (made,) = create_transfers(
            [TransferRequest(key="post-it", post_pending=hold.id)], client="test"
        )
    else:
        original = transfer(alice.id, bob.id, 100)
        (made,) = create_transfers(
            [TransferRequest(key="reverse-it", reverses=original.id)], client="test"
        )
    with guards_lifted(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE ledger_transfer SET {column} = -7 WHERE public_id = %s",  # noqa: S608
            [made.id],
        )

    assert _shape_problem(made.id) in queries.invariant_problems()


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("DELETE FROM ledger_account WHERE public_id = %s", "ledger accounts are never deleted"),
        ("DELETE FROM ledger_transfer WHERE public_id = %s", "ledger transfers are never deleted"),
        (
            "UPDATE ledger_transfer SET reference = 'edited' WHERE public_id = %s",
            "ledger transfers are never updated",
        ),
        (
            "UPDATE ledger_transfer SET amount_minor = amount_minor WHERE public_id = %s",
            "ledger transfers are never updated",
        ),
    ],
    ids=["delete an account", "delete a transfer", "edit a transfer", "rewrite a transfer"],
)
def test_the_database_refuses_to_update_or_delete_ledger_rows(
    funded: Funded, statement: str, refusal: str
) -> None:
    """Triggers refuse it on both databases (migrations 0004, 0006, 0010), whoever asks."""
    _bank, alice, bob = funded(1_000)
    made = transfer(alice.id, bob.id, 100)
    public_id = alice.id if "ledger_account" in statement else made.id
    before = snapshot()

    with (
        pytest.raises(IntegrityError, match=refusal),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [public_id])

    assert snapshot() == before
    assert queries.get_transfer(made.id) == made
    assert queries.invariant_problems() == []


def test_the_orm_cannot_update_or_delete_ledger_rows(funded: Funded) -> None:
    _bank, alice, bob = funded(1_000)
    made = transfer(alice.id, bob.id, 100)
    before = snapshot()

    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.filter(public_id=made.id).update(reference="edited")
    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.filter(public_id=made.id).delete()

    assert snapshot() == before
    assert queries.get_transfer(made.id) == made


@pytest.mark.parametrize(
    ("table", "assignment"),
    [
        ("ledger_account", "debits_posted_minor = -1"),
        ("ledger_account", "credits_pending_minor = credits_pending_minor - 1"),
        ("ledger_account", "overdraft_limit_minor = -5"),
        (
            "ledger_account",
            "debits_must_not_exceed_credits = TRUE, credits_must_not_exceed_debits = TRUE",
        ),
        ("ledger_account", "credit_shards = 65"),
        ("ledger_account", "credit_shards = 2, credits_must_not_exceed_debits = TRUE"),
        ("ledger_transfer", "amount_minor = 0"),
        ("ledger_transfer", "amount_minor = -100"),
        ("ledger_transfer", "credit_account_id = debit_account_id"),
    ],
)
def test_the_database_refuses_rows_that_break_the_ledgers_rules(
    funded: Funded, table: str, assignment: str
) -> None:
    # On PostgreSQL the amounts' rules live in their columns' types (domains, migration 0007)
    # and the accounts' flags in a trigger (0008); on SQLite all of them are CHECK constraints.
    # Transfers are never updated (a trigger refuses it first): with it lifted, the column
    # rules still refuse these. (On PostgreSQL lifting would lift the accounts' flags trigger.)
    _bank, alice, bob = funded(1_000)
    public_id = alice.id if table == "ledger_account" else transfer(alice.id, bob.id, 100).id
    before = snapshot()

    with (
        guards_lifted() if table == "ledger_transfer" else contextlib.nullcontext(),
        pytest.raises(IntegrityError),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            f"UPDATE {table} SET {assignment} WHERE public_id = %s",  # noqa: S608
            [public_id],
        )

    assert snapshot() == before


def test_the_end_of_day_step_expires_holds_whose_timeout_passed_that_day(funded: Funded) -> None:
    _bank, alice, bob = funded(1_000)
    hold = transfer(alice.id, bob.id, 400, pending=True, timeout_seconds=60)
    with guards_lifted():
        Transfer.objects.filter(public_id=hold.id).update(
            expires_at=hold.created_at - dt.timedelta(days=1)
        )
    yesterday = (hold.created_at - dt.timedelta(days=1)).date()

    summary = ledger_eod.expire_pending(yesterday, lambda done, total: None)

    assert summary == {"expired": 1}
    assert queries.get_transfer(hold.id).status == "expired"
    assert queries.invariant_problems() == []


def test_the_relay_publishes_a_batchs_event_from_its_audit_record(funded: Funded) -> None:
    _bank, alice, bob = funded(1_000)

    class Recording:
        def __init__(self) -> None:
            self.events: list[Event] = []

        def publish(self, event: Event) -> None:
            self.events.append(event)

        def close(self) -> None:
            return None

    relay_once(Recording(), batch_size=500)  # the accounts' and the funding's events
    results = create_transfers(
        [TransferRequest(key="one", debit_account=alice.id, credit_account=bob.id, amount=cny(1))],
        client="payments",
        actor="test",
    )
    publisher = Recording()

    relay_once(publisher)

    (event,) = publisher.events
    assert (event.event_type, event.payload["transfer_ids"]) == (
        "ledger.transfers_created",
        [results[0].id],
    )
    assert pending_count() == 0
