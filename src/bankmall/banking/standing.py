"""Standing and scheduled orders: created by the customer, executed by end of day."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Final

from django.db import transaction
from django.utils import timezone

from bankmall.banking import actions, queries
from bankmall.banking.models import Channel, Customer, Frequency, StandingOrder
from bankmall.core.audit import record_audit
from bankmall.core.eod import StepProgress, StepSummary
from bankmall.core.errors import BankmallError, FieldError, InvalidInput
from bankmall.core.money import Money

ERROR_LENGTH_MAX: Final = 200
DUE_MAX: Final = 10_000


def next_after(day: dt.date, frequency: str) -> dt.date | None:
    """The following execution date (the same day next month, clamped to the month's end)."""
    if frequency == Frequency.WEEKLY:
        return day + dt.timedelta(days=7)
    if frequency == Frequency.MONTHLY:
        year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)  # noqa: PLR2004
        return day.replace(
            year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
        )
    return None


def create_standing_order(
    *,
    customer: Customer,
    order: actions.TransferOrder,
    frequency: Frequency,
    first_date: dt.date,
    actor: str,
) -> StandingOrder:
    """Schedule ``order`` from ``first_date`` (not in the past). Errors: ``not_found`` (not the
    customer's account), ``validation_error``."""
    account = queries.access_account(customer, order.from_account_id)
    problems = []
    if first_date < actions.business_date():
        problems.append(FieldError("first_date", "The first date is in the past."))
    if not order.amount.is_positive or order.amount.currency != account.currency:
        problems.append(FieldError("amount", f"A positive amount in {account.currency}."))
    if not order.to_account_number.strip():
        problems.append(FieldError("to_account_number", "The payee account is missing."))
    if problems:
        raise InvalidInput(problems[0].message, errors=problems)
    with transaction.atomic():
        standing = StandingOrder.objects.create(
            customer=customer,
            from_account=account,
            to_account_number="".join(order.to_account_number.split()),
            to_name=order.to_name,
            to_bank_code=order.to_bank_code,
            amount_minor=order.amount.amount_minor,
            currency=order.amount.currency,
            reference=order.reference,
            frequency=frequency,
            next_date=first_date,
            created_at=timezone.now(),
        )
        record_audit(
            "banking.standing_order_created",
            target=standing.public_id,
            after={"amount": order.amount.amount_minor, "frequency": str(frequency)},
            actor=actor,
        )
    return standing


def cancel_standing_order(*, standing: StandingOrder, actor: str) -> None:
    with transaction.atomic():
        StandingOrder.objects.filter(pk=standing.pk).update(is_active=False, next_date=None)
        record_audit("banking.standing_order_cancelled", target=standing.public_id, actor=actor)


def _execute(standing: StandingOrder, business_date: dt.date) -> bool:
    order = actions.TransferOrder(
        from_account_id=standing.from_account.public_id,
        to_account_number=standing.to_account_number,
        amount=Money(standing.amount_minor, standing.currency),
        reference=standing.reference,
        to_name=standing.to_name,
        to_bank_code=standing.to_bank_code,
    )
    error = ""
    try:
        actions.transfer(
            customer=standing.customer,
            order=order,
            idempotency_key=f"standing:{standing.public_id}:{business_date.isoformat()}",
            channel=Channel.NET_BANK,
            actor="eod",
        )
    except BankmallError as failure:  # recorded on the order; the day goes on
        error = f"{failure.code}: {failure.detail}"[:ERROR_LENGTH_MAX]
    following = next_after(business_date, standing.frequency)
    StandingOrder.objects.filter(pk=standing.pk).update(
        last_error=error, next_date=following, is_active=following is not None
    )
    return not error


def execute_due_orders(business_date: dt.date, progress: StepProgress) -> StepSummary:
    """End-of-day step: run every active order due on or before ``business_date``."""
    due = list(
        StandingOrder.objects.select_related("customer", "from_account")
        .filter(is_active=True, next_date__lte=business_date)
        .order_by("pk")[:DUE_MAX]
    )
    done = 0
    for index, standing in enumerate(due, start=1):
        done += _execute(standing, business_date)
        progress(index, len(due))
    return {"due": len(due), "executed": done, "failed": len(due) - done}
