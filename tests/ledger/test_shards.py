"""Credit shards of a designated hot account: created with it, read by every total, kept in
step with its status (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from bankmall.core.errors import BankmallError, InvalidInput
from bankmall.ledger import queries
from bankmall.ledger.actions import (
    AccountSpec,
    close_account,
    create_accounts,
    freeze_account,
    unfreeze_account,
)
from bankmall.ledger.models import AccountShard
from bankmall.ledger.values import AccountView
from tests.ledger.conftest import open_account, transfer

pytestmark = pytest.mark.django_db


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
    AccountShard.objects.filter(account__public_id=merchant.id, shard=1).delete()
    assert len(queries.invariant_problems()) == 1
