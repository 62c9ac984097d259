"""Banking's end-of-day steps: interest accrual and posting, dormancy, monthly statements."""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from bankmall.banking import actions, queries
from bankmall.banking.models import (
    AccountProduct,
    DepositAccount,
    DepositAccountStatus,
    InterestAccrual,
    MonthlyStatement,
)
from bankmall.core.actions import open_business_day, run_end_of_day
from bankmall.core.money import Money
from tests.banking.conftest import OpenAccount, fund

pytestmark = pytest.mark.django_db


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def savings(open_account: OpenAccount, balance_minor: int) -> DepositAccount:
    holder = open_account()
    account = actions.open_account(
        customer=holder.customer,
        product=AccountProduct.SAVINGS,
        interest_rate_percent=Decimal("3.65"),
        actor="test",
    )
    fund(account, balance_minor)
    return account


def test_interest_accrues_daily_and_is_posted_once_at_month_end(
    open_account: OpenAccount,
) -> None:
    account = savings(open_account, 100_000_000)  # 1,000,000.00 at 3.65%: 100.00 a day
    first = open_business_day().business_date
    last = month_end(first)
    days = (last - first).days + 1

    run_end_of_day(through=last, actor="test")

    assert InterestAccrual.objects.filter(account=account).count() == days
    assert queries.account_balance(account).balance == Money(100_000_000 + days * 10_000, "CNY")
    assert not InterestAccrual.objects.filter(posted_transfer_id="").exists()
    interest = [entry for entry in queries.all_entries(account) if entry.code == "interest.credit"]
    assert [(entry.amount.amount_minor, entry.value_date) for entry in interest] == [
        (days * 10_000, last)
    ]


def test_running_end_of_day_again_for_a_closed_date_changes_nothing(
    open_account: OpenAccount,
) -> None:
    account = savings(open_account, 100_000_000)
    day = open_business_day().business_date
    run_end_of_day(through=day, actor="test")
    before = (queries.account_balance(account).balance, InterestAccrual.objects.count())

    report = run_end_of_day(through=day, actor="test")

    assert report.already_closed == [day]
    assert (queries.account_balance(account).balance, InterestAccrual.objects.count()) == before


def test_accounts_without_activity_for_a_year_become_dormant(open_account: OpenAccount) -> None:
    quiet, busy = open_account(), open_account()
    DepositAccount.objects.filter(pk=quiet.pk).update(
        last_activity_at=timezone.now() - dt.timedelta(days=400)
    )
    run_end_of_day(actor="test")
    statuses = dict(DepositAccount.objects.values_list("pk", "status"))
    assert statuses == {quiet.pk: DepositAccountStatus.DORMANT, busy.pk: "active"}


def test_month_end_issues_one_statement_per_account_with_ledger_balances(
    open_account: OpenAccount,
) -> None:
    account = open_account(balance_minor=4_200)
    last = month_end(open_business_day().business_date)
    run_end_of_day(through=last, actor="test")
    (statement,) = MonthlyStatement.objects.filter(account=account)
    assert (statement.period_start, statement.period_end) == (last.replace(day=1), last)
    assert statement.opening_balance_minor == 0
    assert statement.closing_balance_minor == 4_200
    assert statement.entry_count == 1
