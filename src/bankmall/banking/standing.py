"""Standing and scheduled orders: created by the customer, executed by end of day."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Final

from django.db import transaction
from django.utils import timezone

from bankmall.banking import actions, queries
from bankmall.banking.models import Channel, Customer, DepositAccount, Frequency, StandingOrder
from bankmall.core.audit import record_audit
from bankmall.core.eod import StepProgress, StepSummary
from bankmall.core.errors import BankmallError, Conflict, FieldError, InvalidInput
from bankmall.core.money import Money
from bankmall.core.outbox import record_event

ERROR_LENGTH_MAX: Final = 200
DUE_MAX: Final = 10_000


# How far ahead an order may start: a year (365 days) from the open business date. Further out,
# the payee's account, the limits and the customer's circumstances are too likely to change.
HORIZON_DAYS: Final = 365


def _in_month(year: int, month: int, anchor_day: int) -> dt.date:
    return dt.date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))


def next_after(day: dt.date, frequency: str, anchor_day: int | None = None) -> dt.date | None:
    """The first execution date after ``day``.

    Weekly: seven days on. Monthly: the ``anchor_day`` (the first date's day of the month;
    ``day.day`` when not given) of the following month, clamped to the month's last day, so an
    order anchored on the 31st runs on 28/29 February and on 31 March again, never drifting.
    """
    if frequency == Frequency.WEEKLY:
        return day + dt.timedelta(days=7)
    if frequency == Frequency.MONTHLY:
        anchor = anchor_day or day.day
        candidate = _in_month(day.year, day.month, anchor)
        if candidate > day:
            return candidate
        year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)  # noqa: PLR2004
        return _in_month(year, month, anchor)
    return None


def following_date(order: StandingOrder, business_date: dt.date) -> dt.date | None:
    """The order's next date after it ran on ``business_date`` (from its anchor day)."""
    current = order.next_date or business_date
    anchor = order.anchor_day or current.day
    following = next_after(current, order.frequency, anchor)
    while following is not None and following <= business_date:
        following = next_after(following, order.frequency, anchor)
    return following


def order_problems(
    customer: Customer, order: actions.TransferOrder, first_date: dt.date
) -> DepositAccount:
    """The source account when ``order`` may be scheduled from ``first_date``, else the error.

    Checked at creation (end of day checks again when it runs): the first date is neither in
    the past nor more than ``HORIZON_DAYS`` ahead; a positive amount in the account's currency
    within its net-bank per-transaction limit; a payee that can be paid (another account of
    this bank in that currency, active, whose holder's name matches when one is given — or a
    valid account at another bank); the source is not the payee.
    Errors: ``not_found``, ``validation_error``, ``payee_account_invalid``,
    ``account_not_active``, ``limit_exceeded``.
    """
    account = queries.access_account(customer, order.from_account_id)
    today = actions.business_date()
    problems = []
    if first_date < today:
        problems.append(FieldError("first_date", "The first date is in the past."))
    elif first_date > today + dt.timedelta(days=HORIZON_DAYS):
        problems.append(
            FieldError("first_date", f"The first date is at most {HORIZON_DAYS} days ahead.")
        )
    if not order.amount.is_positive or order.amount.currency != account.currency:
        problems.append(FieldError("amount", f"A positive amount in {account.currency}."))
    if len(order.reference) > actions.REFERENCE_MAX_LENGTH:
        problems.append(FieldError("reference", "At most 140 characters."))
    if not order.to_account_number.strip():
        problems.append(FieldError("to_account_number", "The payee account is missing."))
    if problems:
        raise InvalidInput(problems[0].message, errors=problems)
    actions.require_active(account, "from_account")
    actions.destination(customer, account, order)
    actions.check_per_transaction_limit(account, Channel.NET_BANK, order.amount)
    return account


def create_standing_order(
    *,
    customer: Customer,
    order: actions.TransferOrder,
    frequency: Frequency,
    first_date: dt.date,
    actor: str,
) -> StandingOrder:
    """Schedule ``order`` from ``first_date`` (``order_problems`` says what is checked).

    A monthly order keeps ``first_date``'s day as its anchor. Audit
    ``banking.standing_order_created``, event ``standing_order.created``.
    """
    if frequency not in Frequency.values:
        raise InvalidInput(errors=[FieldError("frequency", "once, weekly or monthly.")])
    account = order_problems(customer, order, first_date)
    with transaction.atomic():
        standing = StandingOrder.objects.create(
            customer=customer,
            from_account=account,
            to_account_number="".join(order.to_account_number.split()),
            to_name=order.to_name.strip(),
            to_bank_code=order.to_bank_code.strip().upper(),
            amount_minor=order.amount.amount_minor,
            currency=order.amount.currency,
            reference=order.reference,
            frequency=frequency,
            next_date=first_date,
            anchor_day=first_date.day,
            created_at=timezone.now(),
        )
        record_audit(
            "banking.standing_order_created",
            target=standing.public_id,
            after={"amount": order.amount.amount_minor, "frequency": str(frequency)},
            actor=actor,
        )
        record_event(
            "standing_order.created",
            aggregate_id=standing.public_id,
            payload={"account_id": account.public_id, "frequency": str(frequency)},
        )
    return standing


def cancel_standing_order(*, standing: StandingOrder, actor: str) -> StandingOrder:
    """Stop an order. Errors: ``conflict`` (already cancelled or finished).
    Audit ``banking.standing_order_cancelled``, event ``standing_order.cancelled``."""
    with transaction.atomic():
        locked = StandingOrder.objects.select_for_update().get(pk=standing.pk)
        if not locked.is_active:
            raise Conflict("The order is no longer active.")
        StandingOrder.objects.filter(pk=locked.pk).update(is_active=False, next_date=None)
        record_audit("banking.standing_order_cancelled", target=locked.public_id, actor=actor)
        record_event("standing_order.cancelled", aggregate_id=locked.public_id, payload={})
    locked.is_active = False
    locked.next_date = None
    return locked


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
    following = following_date(standing, business_date)
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
