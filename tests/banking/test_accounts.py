"""Customers and deposit accounts: numbers, ledger accounts, chart of accounts, incoming files."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from bankmall.banking import actions, chart, queries
from bankmall.banking.identifiers import is_account_number, make_account_number
from bankmall.banking.models import AccountLimit, Channel, CustomerKind, DepositAccount
from bankmall.banking.payment_files import parse_incoming
from bankmall.core.errors import InvalidInput, NotFound
from bankmall.core.models import AuditRecord
from bankmall.core.money import Money, UnknownCurrency
from bankmall.ledger import queries as ledger
from tests.banking.conftest import OpenAccount, new_customer
from tests.banking.test_payment_files import camt054

pytestmark = pytest.mark.django_db


def test_opening_an_account_creates_a_numbered_ledger_liability_with_default_limits(
    open_account: OpenAccount,
) -> None:
    account = open_account()
    assert is_account_number(account.number)
    view = ledger.get_account(account.ledger_account_id)
    assert view.code == f"deposit:{account.number}"
    assert (view.kind, view.currency, view.debits_must_not_exceed_credits) == (
        "liability",
        "CNY",
        True,
    )
    limits = {limit.channel for limit in AccountLimit.objects.filter(account=account)}
    assert limits == set(Channel.values)
    assert AuditRecord.objects.filter(action="banking.account_opened").count() == 1


def test_account_numbers_are_unique_per_branch_serial(open_account: OpenAccount) -> None:
    first, second = open_account(), open_account()
    assert first.number[:8] == second.number[:8] == "88010001"
    assert int(second.number[8:18]) == int(first.number[8:18]) + 1


def test_the_chart_of_accounts_exists_for_the_account_currency(open_account: OpenAccount) -> None:
    open_account(currency="USD")
    for purpose, (kind, _name) in chart.CHART.items():
        view = ledger.account_by_code(chart.bank_account_code(purpose, "USD"))
        assert view.kind == kind


def test_an_account_in_an_unknown_currency_or_with_a_negative_overdraft_is_refused(
    open_account: OpenAccount,
) -> None:
    customer = new_customer(CustomerKind.COMPANY)
    with pytest.raises(UnknownCurrency):
        actions.open_account(customer=customer, product="current", currency="XYZ", actor="t")
    with pytest.raises(InvalidInput):
        actions.open_account(
            customer=customer, product="current", overdraft_limit_minor=-1, actor="t"
        )
    with pytest.raises(InvalidInput):
        actions.open_account(
            customer=customer, product="savings", interest_rate_percent=Decimal(-1), actor="t"
        )
    assert DepositAccount.objects.count() == 0


def test_balances_come_from_the_ledger(open_account: OpenAccount) -> None:
    account = open_account(balance_minor=12_345)
    balance = queries.account_balance(account)
    assert balance.balance == balance.available == Money(12_345, "CNY")
    assert balance.held == Money(0, "CNY")


def test_another_customers_account_is_not_found(open_account: OpenAccount) -> None:
    mine, theirs = open_account(), open_account()
    assert queries.access_account(mine.customer, mine.public_id) == mine
    with pytest.raises(NotFound):
        queries.access_account(mine.customer, theirs.public_id)
    with pytest.raises(NotFound):
        queries.access_account(mine.customer, "not-an-id")


def test_an_incoming_camt054_credits_the_payees_and_is_booked_once(
    open_account: OpenAccount,
) -> None:
    first, second = open_account(), open_account()
    incoming = parse_incoming(camt054(creditor1=first.number, creditor2=second.number))
    result = actions.book_incoming(incoming, actor="test")
    again = actions.book_incoming(incoming, actor="test")
    assert (result.booked, result.to_suspense) == (2, 0)
    assert again.ledger_transfer_ids == result.ledger_transfer_ids
    assert queries.account_balance(first).balance == Money(120_050, "CNY")
    assert queries.account_balance(second).balance == Money(300, "CNY")
    history = queries.account_entries(first).data
    assert [(entry.description, entry.counterparty_account) for entry in history] == [
        ("退款 refund", "110011223344")
    ]


def test_a_credit_for_an_unknown_account_goes_to_suspense(open_account: OpenAccount) -> None:
    known = open_account()
    unknown = make_account_number(branch=9, serial=1)
    result = actions.book_incoming(
        parse_incoming(camt054(creditor1=known.number, creditor2=unknown)), actor="test"
    )
    assert (result.booked, result.to_suspense) == (1, 1)
    suspense = ledger.account_by_code(chart.bank_account_code("suspense", "CNY"))
    assert ledger.balance(suspense.id).posted == Money(300, "CNY")


def test_an_incoming_credit_counts_as_activity_against_dormancy(
    open_account: OpenAccount,
) -> None:
    account = open_account()
    long_ago = timezone.now() - dt.timedelta(days=400)
    DepositAccount.objects.filter(pk=account.pk).update(last_activity_at=long_ago)
    actions.book_incoming(
        parse_incoming(camt054(creditor1=account.number, creditor2=account.number)), actor="t"
    )
    assert DepositAccount.objects.get(pk=account.pk).last_activity_at > long_ago
