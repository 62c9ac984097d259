"""Core banking's end-of-day steps (registered in ``BankingConfig.ready``).

Each step does the work of the ``business_date`` it is given, inside the runner's transaction
(see ``core.eod``), so it runs once per date and a failure keeps nothing.

- ``banking.accrue_interest`` (200): each active savings account with a positive closing
  balance for the date (the ledger's balance at the end of that day, so a catch-up over
  several dates uses each date's own balance) accrues ``balance × rate / 100 / 365``
  (Decimal, six places, half-even) for the date; on the last day of the month the month's
  accruals are summed, rounded half-even to minor units and posted from interest expense to
  the account.
- ``banking.mark_dormant`` (300): active accounts without activity for
  ``BANKING_DORMANT_AFTER_DAYS`` (default 365) become dormant.
- ``banking.monthly_statements`` (400): on the last day of the month, one ``MonthlyStatement``
  per open account for that month, with the ledger's balances.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from bankmall.banking import chart, queries
from bankmall.banking.models import (
    AccountProduct,
    DepositAccount,
    DepositAccountStatus,
    InterestAccrual,
    MonthlyStatement,
)
from bankmall.core.audit import record_audit
from bankmall.core.eod import StepProgress, StepSummary
from bankmall.core.money import Money
from bankmall.ledger import queries as ledger_queries
from bankmall.ledger.actions import TransferRequest, create_transfers

LEDGER_CLIENT: Final = "banking.eod"
DAYS_PER_YEAR: Final = Decimal(365)
ACCRUAL_PLACES: Final = Decimal("0.000001")
BATCH: Final = 1_000


def _is_month_end(day: dt.date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def closing_instant(business_date: dt.date) -> dt.datetime:
    """When ``business_date`` closed for interest: the end of that day in the bank's time zone,
    or now when that is still ahead (end of day run for the current or a future date)."""
    zone = timezone.get_default_timezone()
    end = dt.datetime.combine(business_date + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return min(timezone.now(), end - dt.timedelta(microseconds=1))


def accrue_interest(business_date: dt.date, progress: StepProgress) -> StepSummary:
    """Accrue the day's interest on that date's closing balance (``closing_instant``: a run
    that catches up several past dates accrues each on its own balance, not today's); at month
    end post the month's rounded interest."""
    accounts = list(
        DepositAccount.objects.filter(
            product=AccountProduct.SAVINGS,
            status=DepositAccountStatus.ACTIVE,
            interest_rate_percent__gt=0,
        ).order_by("pk")
    )
    rows = []
    close = closing_instant(business_date)
    for index, account in enumerate(accounts, start=1):
        balance = ledger_queries.balance(account.ledger_account_id, as_of=close).posted.amount_minor
        if balance > 0:
            daily = Decimal(balance) * account.interest_rate_percent / 100 / DAYS_PER_YEAR
            rows.append(
                InterestAccrual(
                    account=account,
                    business_date=business_date,
                    balance_minor=balance,
                    rate_percent=account.interest_rate_percent,
                    accrued_minor=daily.quantize(ACCRUAL_PLACES, rounding=ROUND_HALF_EVEN),
                )
            )
        progress(index, len(accounts))
    InterestAccrual.objects.bulk_create(rows)
    posted = _post_month_interest(business_date) if _is_month_end(business_date) else 0
    return {"accounts": len(rows), "posted": posted}


def _post_month_interest(business_date: dt.date) -> int:
    month_start = business_date.replace(day=1)
    pending = InterestAccrual.objects.filter(
        business_date__gte=month_start, business_date__lte=business_date, posted_transfer_id=""
    )
    sums = pending.values("account").annotate(total=Sum("accrued_minor")).order_by("account")
    accounts = DepositAccount.objects.in_bulk([row["account"] for row in sums])
    requests = []
    for row in sums:
        account = accounts[row["account"]]
        amount_minor = int(Decimal(row["total"]).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        if amount_minor <= 0:
            continue
        requests.append(
            TransferRequest(
                key=f"interest:{account.number}:{month_start:%Y-%m}",
                debit_account=chart.bank_account_code("interest_expense", account.currency),
                credit_account=account.ledger_account_id,
                amount=Money(amount_minor, account.currency),
                code="interest.credit",
                metadata={"description": f"利息 Interest {month_start:%Y-%m}"},
                value_date=business_date,
            )
        )
    posted = 0
    for start in range(0, len(requests), BATCH):
        for view in create_transfers(requests[start : start + BATCH], client=LEDGER_CLIENT):
            account_number = view.key.split(":")[1]
            pending.filter(account__number=account_number).update(posted_transfer_id=view.id)
            posted += 1
    return posted


def mark_dormant(business_date: dt.date, progress: StepProgress) -> StepSummary:
    """Active accounts with no activity for the configured number of days become dormant."""
    days = int(getattr(settings, "BANKING_DORMANT_AFTER_DAYS", 365))
    cutoff = dt.datetime.combine(
        business_date - dt.timedelta(days=days), dt.time.min, tzinfo=timezone.get_default_timezone()
    )
    stale = DepositAccount.objects.filter(
        status=DepositAccountStatus.ACTIVE, last_activity_at__lt=cutoff
    )
    ids = list(stale.values_list("public_id", flat=True))
    count = stale.update(status=DepositAccountStatus.DORMANT)
    for account_id in ids:
        record_audit(
            "banking.account_dormant",
            target=account_id,
            before={"status": "active"},
            after={"status": "dormant"},
            details={"business_date": business_date.isoformat()},
            actor="eod",
        )
    progress(count, count)
    return {"dormant": count}


def monthly_statements(business_date: dt.date, progress: StepProgress) -> StepSummary:
    """On the month's last business date, issue each open account's statement for the month."""
    if not _is_month_end(business_date):
        return {"statements": 0}
    start = business_date.replace(day=1)
    accounts = list(
        DepositAccount.objects.exclude(status=DepositAccountStatus.CLOSED)
        .exclude(statements__period_start=start)
        .order_by("pk")
    )
    now = timezone.now()
    rows = []
    for index, account in enumerate(accounts, start=1):
        statement = queries.statement_for(account, start=start, end=business_date, owner_name="")
        rows.append(
            MonthlyStatement(
                account=account,
                period_start=start,
                period_end=business_date,
                opening_balance_minor=statement.opening_balance.amount_minor,
                closing_balance_minor=statement.closing_balance.amount_minor,
                entry_count=len(statement.entries),
                created_at=now,
            )
        )
        progress(index, len(accounts))
    MonthlyStatement.objects.bulk_create(rows)
    return {"statements": len(rows)}
