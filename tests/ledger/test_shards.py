"""Credit shards of a designated hot account: created with it, read by every total, kept in
step with its status (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from bankmall.core.errors import BankmallError, InvalidInput
from bankmall.ledger import fastpath, posting, queries
from bankmall.ledger.actions import (
    AccountSpec,
    TransferRequest,
    close_account,
    create_accounts,
    create_transfers,
    freeze_account,
    unfreeze_account,
)
from bankmall.ledger.models import Account, AccountShard
from bankmall.ledger.values import AccountView
from tests.ledger.conftest import cny, guards_lifted, open_account, snapshot, transfer

pytestmark = pytest.mark.django_db(transaction=True)  # PostgreSQL: the fast path runs


def sharded_account(
    code: str = "liability:merchant:hot", *, shards: int = 4, no_overdraft: bool = False
) -> AccountView:
    (account,) = create_accounts(
        [
            AccountSpec(
                code=code,
                currency="CNY",
                kind="liability",
                debits_must_not_exceed_credits=no_overdraft,
                credit_shards=shards,
            )
        ],
        actor="test",
    )
    return account


def _shards(account_id: str) -> list[tuple[int, int, str]]:
    return list(
        AccountShard.objects.filter(account__public_id=account_id)
        .order_by("shard")
        .values_list("shard", "credits_posted_minor", "status")
    )


def test_a_sharded_account_is_created_with_one_row_per_shard() -> None:
    merchant = sharded_account(shards=4)

    assert merchant.credit_shards == 4
    assert _shards(merchant.id) == [(n, 0, "active") for n in range(4)]
    assert queries.get_account(merchant.id).credit_shards == 4
    # The same spec again is the same account; other shards are other attributes.
    assert sharded_account(shards=4) == merchant
    with pytest.raises(BankmallError) as raised:
        sharded_account(shards=8)
    assert raised.value.code == "account_code_conflict"
    assert queries.invariant_problems() == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"credit_shards": -1}, "an int from 0 to 64"),
        ({"credit_shards": 65}, "an int from 0 to 64"),
        ({"credit_shards": True}, "an int from 0 to 64"),
        (
            {"credit_shards": 4, "credits_must_not_exceed_debits": True},
            "not with credits_must_not_exceed_debits",
        ),
    ],
)
def test_credit_shards_are_validated(fields: dict[str, object], message: str) -> None:
    spec = AccountSpec(code="asset:hot", currency="CNY", kind="asset", **fields)  # type: ignore[arg-type]

    with pytest.raises(InvalidInput) as raised:
        create_accounts([spec])

    (problem,) = raised.value.errors
    assert problem.field == "accounts.0.credit_shards"
    assert problem.message.startswith(message)
    assert not AccountShard.objects.exists()


def test_freeze_unfreeze_and_close_change_the_shards_status_with_the_account() -> None:
    merchant = sharded_account(shards=3)

    freeze_account(merchant.id, reason="review")
    assert {status for _shard, _credits, status in _shards(merchant.id)} == {"frozen"}
    unfreeze_account(merchant.id, reason="cleared")
    assert {status for _shard, _credits, status in _shards(merchant.id)} == {"active"}
    assert close_account(merchant.id, reason="gone").status == "closed"
    assert {status for _shard, _credits, status in _shards(merchant.id)} == {"closed"}
    assert queries.invariant_problems() == []


def test_credits_in_shards_count_in_every_total() -> None:
    bank = open_account("equity:bank", kind="equity", no_overdraft=False)
    merchant = sharded_account(shards=2)
    transfer(bank.id, merchant.id, 700)
    transfer(bank.id, merchant.id, 300)
    transfer(merchant.id, bank.id, 100)

    view = queries.get_account(merchant.id)
    assert (view.debits_posted.amount_minor, view.credits_posted.amount_minor) == (100, 1_000)
    assert queries.account_by_code(merchant.code).credits_posted == view.credits_posted
    assert queries.balance(merchant.id).posted.amount_minor == 900
    assert queries.invariant_problems() == []
    with pytest.raises(BankmallError) as raised:
        close_account(merchant.id, reason="gone")
    assert raised.value.code == "account_balance_not_zero"


def test_check_names_a_shard_whose_status_or_rows_were_tampered_with() -> None:
    merchant = sharded_account(shards=2)
    AccountShard.objects.filter(account__public_id=merchant.id, shard=1).update(status="frozen")

    assert queries.invariant_problems() == [
        f"ledger account {merchant.id}: its shard rows differ from its credit shards or its status"
    ]

    AccountShard.objects.filter(account__public_id=merchant.id, shard=1).update(status="active")
    with guards_lifted():  # Shard rows are never deleted: only behind the triggers.
        AccountShard.objects.filter(account__public_id=merchant.id, shard=1).delete()
    assert len(queries.invariant_problems()) == 1


# ------------------------------------------------------------------ the write paths


def _row_credits(account_id: str) -> int:
    return Account.objects.get(public_id=account_id).credits_posted_minor


def _in_shards(account_id: str) -> int:
    return sum(amount for _shard, amount, _status in _shards(account_id))


def _request(debit: str, credit: str, amount_minor: int, key: str, **fields: object) -> Any:
    return TransferRequest(
        key=key,
        debit_account=debit,
        credit_account=credit,
        amount=cny(amount_minor),
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture
def hot() -> dict[str, str]:
    """A bank, a customer funded with 1,000 and a sharded merchant (debits limited)."""
    bank = open_account("equity:bank", kind="equity", no_overdraft=False)
    alice = open_account("liability:customer:alice")
    merchant = sharded_account(shards=4, no_overdraft=True)
    transfer(bank.id, alice.id, 1_000)
    return {"bank": bank.id, "alice": alice.id, "merchant": merchant.id}


def _assert_credited_through_shards(hot: dict[str, str], amount_minor: int) -> None:
    assert _row_credits(hot["merchant"]) == 0
    assert _in_shards(hot["merchant"]) == amount_minor
    view = queries.get_account(hot["merchant"])
    assert view.credits_posted.amount_minor == amount_minor
    assert queries.balance(hot["merchant"]).available.amount_minor == amount_minor
    later = timezone.now()
    assert queries.balance(hot["merchant"], as_of=later).posted.amount_minor == amount_minor
    assert queries.invariant_problems() == []


def test_one_posted_credit_goes_to_a_shard_on_either_path(hot: dict[str, str]) -> None:
    # PostgreSQL: the one-transfer statement; SQLite: the transactional path (shard 0).
    transfer(hot["alice"], hot["merchant"], 300)
    _assert_credited_through_shards(hot, 300)
    with transaction.atomic():  # The transactional path on PostgreSQL too.
        transfer(hot["alice"], hot["merchant"], 200)
    _assert_credited_through_shards(hot, 500)


def test_a_batch_credits_a_shard_and_a_debited_sharded_account_takes_credits_on_its_row(
    hot: dict[str, str],
) -> None:
    requests = [
        _request(hot["alice"], hot["merchant"], 100, "b1"),
        _request(hot["alice"], hot["merchant"], 150, "b2"),
    ]
    create_transfers(requests, client="test")
    _assert_credited_through_shards(hot, 250)

    # Credited and debited in one batch: the row is locked anyway and takes both.
    create_transfers(
        [
            _request(hot["alice"], hot["merchant"], 50, "b3"),
            _request(hot["merchant"], hot["bank"], 280, "b4"),
        ],
        client="test",
    )
    assert (_row_credits(hot["merchant"]), _in_shards(hot["merchant"])) == (50, 250)
    assert queries.balance(hot["merchant"]).posted.amount_minor == 20
    assert queries.invariant_problems() == []


def test_pending_credits_and_their_resolutions_stay_on_the_account_row(
    hot: dict[str, str],
) -> None:
    hold = transfer(hot["alice"], hot["merchant"], 400, pending=True)
    create_transfers([TransferRequest(key="capture", post_pending=hold.id)], client="test")

    assert (_row_credits(hot["merchant"]), _in_shards(hot["merchant"])) == (400, 0)
    assert queries.invariant_problems() == []


def test_a_reversal_crediting_a_sharded_account_goes_to_a_shard(hot: dict[str, str]) -> None:
    transfer(hot["alice"], hot["merchant"], 300)
    refund = transfer(hot["merchant"], hot["alice"], 120)

    create_transfers([TransferRequest(key="undo", reverses=refund.id)], client="test")

    assert _in_shards(hot["merchant"]) == 420
    assert queries.balance(hot["merchant"]).posted.amount_minor == 300
    assert queries.invariant_problems() == []


@pytest.mark.parametrize("in_transaction", [False, True])
def test_a_debit_covered_only_by_shard_credits_succeeds_and_one_beyond_them_changes_nothing(
    hot: dict[str, str], in_transaction: bool
) -> None:
    transfer(hot["alice"], hot["merchant"], 600)
    assert _row_credits(hot["merchant"]) == 0

    def debit(amount_minor: int, key: str) -> None:
        if in_transaction:
            with transaction.atomic():
                transfer(hot["merchant"], hot["bank"], amount_minor, key=key)
        else:
            transfer(hot["merchant"], hot["bank"], amount_minor, key=key)

    debit(450, "d1")
    before = snapshot()
    with pytest.raises(BankmallError) as raised:
        debit(151, "d2")

    assert raised.value.code == "insufficient_funds"
    assert snapshot() == before
    debit(150, "d3")
    assert queries.balance(hot["merchant"]).posted.amount_minor == 0
    assert queries.invariant_problems() == []


def test_a_frozen_or_closed_sharded_account_refuses_credits_and_close_sees_the_shards(
    hot: dict[str, str],
) -> None:
    transfer(hot["alice"], hot["merchant"], 300)
    freeze_account(hot["merchant"], reason="review")
    before = snapshot()
    for requests in (
        [_request(hot["alice"], hot["merchant"], 10, "f1")],
        [
            _request(hot["alice"], hot["merchant"], 10, "f2"),
            _request(hot["bank"], hot["merchant"], 5, "f3"),
        ],
    ):
        with pytest.raises(BankmallError) as raised:
            create_transfers(requests, client="test")
        assert raised.value.code == "account_frozen"
    assert snapshot() == before

    unfreeze_account(hot["merchant"], reason="cleared")
    with pytest.raises(BankmallError) as raised:
        close_account(hot["merchant"], reason="gone")
    assert raised.value.code == "account_balance_not_zero"
    transfer(hot["merchant"], hot["bank"], 300)
    close_account(hot["merchant"], reason="gone")
    with pytest.raises(BankmallError) as raised:
        transfer(hot["alice"], hot["merchant"], 10)
    assert raised.value.code == "account_closed"
    assert queries.invariant_problems() == []


def test_the_fast_batch_statement_credits_one_shard_per_account(
    requires_postgres: None, hot: dict[str, str]
) -> None:
    other = sharded_account("liability:merchant:other", shards=2)
    rows = [
        posting.prepare(index, request)
        for index, request in enumerate(
            [
                _request(hot["alice"], hot["merchant"], 100, "f1"),
                _request(hot["alice"], other.id, 50, "f2"),
                _request(hot["alice"], hot["merchant"], 25, "f3"),
            ]
        )
    ]
    assert fastpath.applies(rows)

    assert fastpath.try_post(rows, client="test", actor="test", now=timezone.now())

    chosen = posting.shard_chooser()
    assert _shards(hot["merchant"])[chosen % 4][1] == 125
    assert _shards(other.id)[chosen % 2][1] == 50
    assert _in_shards(hot["merchant"]) == 125
    assert _row_credits(other.id) == 0
    assert queries.invariant_problems() == []

    # One transfer: its own statement, the same shard.
    single = [posting.prepare(0, _request(hot["alice"], hot["merchant"], 5, "f4"))]
    assert fastpath.try_post(single, client="test", actor="test", now=timezone.now())
    assert _shards(hot["merchant"])[chosen % 4][1] == 130
    assert _row_credits(hot["merchant"]) == 0
    assert queries.invariant_problems() == []


def test_the_fast_single_statement_counts_shard_credits_when_a_sharded_account_is_debited(
    requires_postgres: None, hot: dict[str, str]
) -> None:
    # Only statements that update a sharded account's row add its shards' credits (the others
    # leave that part out): a debit covered only by shard credits is written by the fast
    # statement itself, one beyond them writes nothing.
    transfer(hot["alice"], hot["merchant"], 600)
    covered = [posting.prepare(0, _request(hot["merchant"], hot["bank"], 450, "s1"))]
    assert fastpath.try_post(covered, client="test", actor="test", now=timezone.now())
    before = snapshot()

    beyond = [posting.prepare(0, _request(hot["merchant"], hot["bank"], 151, "s2"))]
    assert not fastpath.try_post(beyond, client="test", actor="test", now=timezone.now())

    assert snapshot() == before
    pending_credit = [
        posting.prepare(0, _request(hot["alice"], hot["merchant"], 7, "s3", pending=True))
    ]
    assert fastpath.try_post(pending_credit, client="test", actor="test", now=timezone.now())
    assert queries.balance(hot["merchant"]).posted.amount_minor == 150
    assert queries.invariant_problems() == []


def test_the_fast_statements_write_nothing_when_a_shard_row_is_missing(
    requires_postgres: None, hot: dict[str, str]
) -> None:
    # Tampering, behind the triggers that refuse it (migration 0011).
    with guards_lifted(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM ledger_accountshard WHERE shard = %s",
            [posting.shard_chooser() % 4],
        )
    single = [posting.prepare(0, _request(hot["alice"], hot["merchant"], 100, "lost"))]
    batch = [*single, posting.prepare(1, _request(hot["bank"], hot["merchant"], 7, "lost2"))]
    before = snapshot()

    assert not fastpath.try_post(single, client="test", actor="test", now=timezone.now())
    assert not fastpath.try_post(batch, client="test", actor="test", now=timezone.now())
    assert snapshot() == before


@pytest.mark.parametrize("size", [1, 2])
def test_a_wrongly_remembered_sharded_account_writes_nothing_and_is_looked_up_again(
    requires_postgres: None, hot: dict[str, str], size: int
) -> None:
    # The remembered id of the merchant names another sharded account (as if the database
    # were replaced under the process): the shard statement checks the account's public id,
    # refuses, and the next write looks the merchant up again.
    other = sharded_account("liability:merchant:other", shards=4)
    transfer(hot["alice"], hot["merchant"], 10, key="learn")
    fastpath._KNOWN[hot["merchant"]] = fastpath._KNOWN[hot["merchant"]]._replace(
        pk=Account.objects.get(public_id=other.id).pk
    )
    requests = [_request(hot["alice"], hot["merchant"], 20 + n, f"wrong-{n}") for n in range(size)]
    rows = [posting.prepare(index, request) for index, request in enumerate(requests)]
    before = snapshot()

    assert not fastpath.try_post(rows, client="test", actor="test", now=timezone.now())

    assert snapshot() == before
    assert hot["merchant"] not in fastpath._KNOWN
    create_transfers(requests, client="test")
    assert _in_shards(hot["merchant"]) == 10 + sum(20 + n for n in range(size))
    assert _in_shards(other.id) == 0
    assert queries.invariant_problems() == []
