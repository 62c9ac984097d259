"""Transfers: own accounts, other customers, other banks; limits, status, idempotency."""

from __future__ import annotations

import pytest

from bankmall.banking import actions, chart, queries
from bankmall.banking.actions import TransferOrder
from bankmall.banking.errors import AccountNotActive, LimitExceeded, PayeeAccountInvalid
from bankmall.banking.models import (
    AccountLimit,
    Channel,
    DepositAccount,
    Transfer,
    TransferKind,
    TransferStatus,
)
from bankmall.core.errors import IdempotencyKeyReused, InvalidInput, NotFound
from bankmall.core.models import OutboxEvent
from bankmall.core.money import Money
from bankmall.ledger import queries as ledger
from bankmall.ledger.errors import InsufficientFunds
from tests.banking.conftest import OpenAccount

pytestmark = pytest.mark.django_db


def cny(amount_minor: int) -> Money:
    return Money(amount_minor, "CNY")


def send(
    source: DepositAccount,
    to_number: str,
    amount_minor: int,
    *,
    key: str = "k1",
    **extra: str,
) -> Transfer:
    return actions.transfer(
        customer=source.customer,
        order=TransferOrder(
            from_account_id=source.public_id,
            to_account_number=to_number,
            amount=cny(amount_minor),
            reference="房租 rent",
            **extra,
        ),
        idempotency_key=key,
        channel=Channel.NET_BANK,
        actor="test",
    )


def balances(*accounts: DepositAccount) -> list[int]:
    return [queries.account_balance(account).balance.amount_minor for account in accounts]


def test_transfer_to_another_customer_moves_money_at_once(open_account: OpenAccount) -> None:
    source, payee = open_account(balance_minor=10_000), open_account()
    made = send(source, payee.number, 2_500)
    assert (made.kind, made.status) == (TransferKind.INTERNAL, TransferStatus.COMPLETED)
    assert balances(source, payee) == [7_500, 2_500]
    assert ledger.get_transfer(made.ledger_transfer_id).reference == made.public_id
    assert OutboxEvent.objects.filter(event_type="transfer.completed").count() == 1


def test_transfer_between_own_accounts_is_an_own_transfer(open_account: OpenAccount) -> None:
    source = open_account(balance_minor=10_000)
    savings = open_account(source.customer, product="savings")
    made = send(source, savings.number, 100)
    assert made.kind == TransferKind.OWN
    assert balances(source, savings) == [9_900, 100]


def test_transfer_to_another_bank_waits_on_the_clearing_account(
    open_account: OpenAccount,
) -> None:
    source = open_account(balance_minor=10_000)
    made = send(source, "6222020200112233445", 4_000, to_name="李娜", to_bank_code="102100099996")
    assert (made.kind, made.status) == (TransferKind.INTERBANK, TransferStatus.AWAITING_CLEARING)
    clearing = ledger.account_by_code(chart.bank_account_code("clearing", "CNY"))
    assert ledger.get_transfer(made.ledger_transfer_id).credit_account == clearing.id
    assert balances(source) == [6_000]


def test_the_same_key_returns_the_first_transfer_and_moves_money_once(
    open_account: OpenAccount,
) -> None:
    source, payee = open_account(balance_minor=10_000), open_account()
    first = send(source, payee.number, 1_000)
    again = send(source, payee.number, 1_000)
    assert again.public_id == first.public_id
    assert balances(source, payee) == [9_000, 1_000]
    with pytest.raises(IdempotencyKeyReused):
        send(source, payee.number, 1_001)
    assert Transfer.objects.count() == 1


def assert_nothing_moved(source: DepositAccount, payee: DepositAccount, before: list[int]) -> None:
    assert balances(source, payee) == before
    assert Transfer.objects.count() == 0
    assert not OutboxEvent.objects.filter(event_type__startswith="transfer.").exists()


def test_insufficient_funds_changes_nothing(open_account: OpenAccount) -> None:
    source, payee = open_account(balance_minor=1_000), open_account()
    with pytest.raises(InsufficientFunds):
        send(source, payee.number, 1_001)
    assert_nothing_moved(source, payee, [1_000, 0])


def test_a_frozen_account_can_neither_send_nor_receive(open_account: OpenAccount) -> None:
    source, payee = open_account(balance_minor=1_000), open_account(balance_minor=5)
    DepositAccount.objects.filter(pk=payee.pk).update(status="frozen")
    with pytest.raises(AccountNotActive):
        send(source, payee.number, 10)
    with pytest.raises(AccountNotActive):
        send(DepositAccount.objects.get(pk=payee.pk), source.number, 1)
    assert_nothing_moved(source, payee, [1_000, 5])


def test_the_per_transaction_and_daily_limits_are_enforced(open_account: OpenAccount) -> None:
    source, payee = open_account(balance_minor=100_000), open_account()
    AccountLimit.objects.filter(account=source, channel=Channel.NET_BANK).update(
        per_transaction_minor=30_000, daily_minor=50_000
    )
    with pytest.raises(LimitExceeded, match="per-transaction"):
        send(source, payee.number, 30_001)
    send(source, payee.number, 30_000, key="a")
    with pytest.raises(LimitExceeded, match="daily limit") as raised:
        send(source, payee.number, 20_001, key="b")
    assert raised.value.extra["used"] == 30_000
    send(source, payee.number, 20_000, key="c")
    assert balances(source, payee) == [50_000, 50_000]


def test_another_customers_account_cannot_be_debited(open_account: OpenAccount) -> None:
    mine, theirs = open_account(), open_account(balance_minor=1_000)
    with pytest.raises(NotFound):
        actions.transfer(
            customer=mine.customer,
            order=TransferOrder(
                from_account_id=theirs.public_id, to_account_number=mine.number, amount=cny(1)
            ),
            idempotency_key="x",
            channel=Channel.API,
            actor="test",
        )
    assert_nothing_moved(theirs, mine, [1_000, 0])


@pytest.mark.parametrize(
    ("number", "extra", "field"),
    [
        ("88010001000000009999", {}, "to_account_number"),  # our bank code, bad check digits
        ("6222020200112233445", {"to_bank_code": "102100099996"}, "to_name"),
        ("6222020200112233445", {"to_name": "李娜", "to_bank_code": "12"}, "to_bank_code"),
        ("62-22", {"to_name": "李娜", "to_bank_code": "102100099996"}, "to_account_number"),
    ],
)
def test_payees_that_cannot_be_paid_are_refused(
    open_account: OpenAccount, number: str, extra: dict[str, str], field: str
) -> None:
    source = open_account(balance_minor=1_000)
    with pytest.raises(PayeeAccountInvalid) as raised:
        send(source, number, 10, **extra)
    assert raised.value.errors[0].field == field
    assert balances(source) == [1_000]


def test_paying_yourself_the_same_account_or_a_non_positive_amount_is_refused(
    open_account: OpenAccount,
) -> None:
    source = open_account(balance_minor=1_000)
    with pytest.raises(PayeeAccountInvalid):
        send(source, source.number, 10)
    with pytest.raises(InvalidInput):
        send(source, source.number, 0)
    assert balances(source) == [1_000]
