"""Banking's end-of-day steps: interest accrual and posting, dormancy, monthly statements."""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone
from lxml import etree

from bankmall.banking import actions, iso20022, queries
from bankmall.banking.models import (
    AccountProduct,
    ClearingBatch,
    DepositAccount,
    DepositAccountStatus,
    InterestAccrual,
    MonthlyStatement,
    Transfer,
    TransferStatus,
)
from bankmall.core.actions import open_business_day, run_end_of_day
from bankmall.core.models import BusinessDay
from bankmall.core.money import Money
from bankmall.ledger import committing
from tests.banking.conftest import OpenAccount, fund
from tests.banking.test_transfers import send

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


def test_end_of_day_sends_interbank_transfers_in_one_valid_pain001(
    open_account: OpenAccount,
) -> None:
    source = open_account(balance_minor=100_000)
    made = send(source, "6222020200112233445", 4_000, to_name="李娜", to_bank_code="102100099996")
    internal = send(source, open_account().number, 100, key="k2")

    run_end_of_day(actor="test")

    batch = ClearingBatch.objects.get()
    assert batch.transfer_count == 1
    document = etree.fromstring(bytes(batch.document))
    assert iso20022.schema(iso20022.PAIN001).validate(document)
    namespaces = {"p": iso20022.namespace(iso20022.PAIN001)}
    assert document.xpath("//p:EndToEndId/text()", namespaces=namespaces) == [made.public_id]
    assert Transfer.objects.get(pk=made.pk).status == TransferStatus.SENT
    assert Transfer.objects.get(pk=internal.pk).status == TransferStatus.COMPLETED


def test_a_catch_up_accrues_each_past_date_on_that_dates_closing_balance(
    open_account: OpenAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End of day did not run for three days: each of them accrues on its own balance."""
    today = timezone.localdate()
    first = today - dt.timedelta(days=3)
    three_days_ago = timezone.now() - dt.timedelta(days=3)
    with monkeypatch.context() as patch:  # The ledger's clock only: funded three days ago.
        patch.setattr(committing, "timezone", SimpleNamespace(now=lambda: three_days_ago))
        account = savings(open_account, 100_000_000)  # 1,000,000.00 at 3.65%: 100.00 a day
    BusinessDay.objects.filter(pk=open_business_day().pk).update(business_date=first)
    fund(account, 100_000_000)  # today: the balance doubles

    run_end_of_day(through=today, actor="test")

    accrued = dict(
        InterestAccrual.objects.filter(account=account).values_list(
            "business_date", "balance_minor"
        )
    )
    days = [first + dt.timedelta(days=offset) for offset in range(4)]
    assert [accrued[day] for day in days[:3]] == [100_000_000] * 3
    # Today closes on today's balance (plus any month-end interest posted during the run).
    assert accrued[today] >= 200_000_000
