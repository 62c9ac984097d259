"""The demo bank seed: customers, accounts and months of history through the ledger batch path."""

from __future__ import annotations

import pytest
from django.utils import timezone

from bankmall.banking import queries
from bankmall.banking.demo import seed_bank
from bankmall.banking.models import Customer, DepositAccount
from bankmall.ledger import queries as ledger

pytestmark = pytest.mark.django_db


def no_progress(label: str, done: int, total: int) -> None:
    return None


def test_seed_creates_customers_with_months_of_consistent_history() -> None:
    summary = seed_bank(customers=8, months=3, progress=no_progress)
    assert Customer.objects.count() == 8
    accounts = list(DepositAccount.objects.order_by("pk"))
    assert summary.startswith(f"8 customers, {len(accounts)} accounts, ")
    assert ledger.invariant_problems() == []
    today = timezone.localdate()
    account = accounts[0]
    entries = list(queries.all_entries(account))
    first_day = min(entry.value_date for entry in entries)
    assert (today - first_day).days >= 60
    statement = queries.statement_for(account, start=first_day, end=today, owner_name="x")
    assert statement.closing_balance == queries.account_balance(account).balance
    for each in accounts:
        assert queries.account_balance(each).balance.amount_minor >= 0


def test_seeding_again_posts_nothing_new() -> None:
    seed_bank(customers=4, months=2, progress=no_progress)
    balances = [
        queries.account_balance(account).balance for account in DepositAccount.objects.all()
    ]
    summary = seed_bank(customers=4, months=2, progress=no_progress)
    assert summary.endswith("history already seeded")
    assert [
        queries.account_balance(account).balance for account in DepositAccount.objects.all()
    ] == balances
