"""Scheduled and standing orders: created in the net bank, executed by end of day."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from bankmall.banking import queries, standing
from bankmall.banking.actions import TransferOrder, business_date
from bankmall.banking.errors import AccountNotActive, LimitExceeded, PayeeAccountInvalid
from bankmall.banking.identifiers import make_account_number
from bankmall.banking.models import DepositAccount, Frequency, StandingOrder, Transfer
from bankmall.core.actions import run_end_of_day
from bankmall.core.errors import InvalidInput
from bankmall.core.models import AuditRecord
from bankmall.core.money import Money
from tests.banking.conftest import OpenAccount, new_customer
from tests.signed_in import make_user, sign_in

pytestmark = pytest.mark.django_db


def schedule(source: object, to: str, amount_minor: int, frequency: Frequency) -> StandingOrder:
    assert hasattr(source, "customer")
    return standing.create_standing_order(
        customer=source.customer,
        order=TransferOrder(
            from_account_id=source.public_id,
            to_account_number=to,
            amount=Money(amount_minor, "CNY"),
            reference="房租 rent",
        ),
        frequency=frequency,
        first_date=business_date(),
        actor="test",
    )


def test_a_monthly_order_is_paid_by_end_of_day_and_moves_a_month_on(
    open_account: OpenAccount,
) -> None:
    source, payee = open_account(balance_minor=10_000), open_account()
    today = business_date()
    order = schedule(source, payee.number, 3_000, Frequency.MONTHLY)

    run_end_of_day(actor="test")

    assert queries.account_balance(payee).balance.amount_minor == 3_000
    stored = StandingOrder.objects.get(pk=order.pk)
    assert stored.next_date == standing.next_after(today, Frequency.MONTHLY)
    assert (stored.is_active, stored.last_error) == (True, "")


def test_an_order_that_cannot_be_paid_records_why_and_moves_nothing(
    open_account: OpenAccount,
) -> None:
    source, payee = open_account(balance_minor=100), open_account()
    order = schedule(source, payee.number, 3_000, Frequency.ONCE)

    report = run_end_of_day(actor="test")

    assert report.closed
    assert queries.account_balance(source).balance.amount_minor == 100
    assert not Transfer.objects.exists()
    stored = StandingOrder.objects.get(pk=order.pk)
    assert stored.last_error.startswith("insufficient_funds")
    assert (stored.is_active, stored.next_date) == (False, None)


def test_an_order_cannot_start_in_the_past(open_account: OpenAccount) -> None:
    source = open_account()
    with pytest.raises(InvalidInput):
        standing.create_standing_order(
            customer=source.customer,
            order=TransferOrder(
                from_account_id=source.public_id,
                to_account_number=source.number,
                amount=Money(1, "CNY"),
            ),
            frequency=Frequency.ONCE,
            first_date=business_date() - dt.timedelta(days=1),
            actor="test",
        )
    assert not StandingOrder.objects.exists()


def test_monthly_dates_clamp_to_the_end_of_a_shorter_month() -> None:
    assert standing.next_after(dt.date(2027, 1, 31), Frequency.MONTHLY) == dt.date(2027, 2, 28)
    assert standing.next_after(dt.date(2026, 12, 5), Frequency.MONTHLY) == dt.date(2027, 1, 5)
    assert standing.next_after(dt.date(2026, 12, 5), Frequency.ONCE) is None


def test_the_net_bank_schedules_and_cancels_an_order(
    client: Client, open_account: OpenAccount
) -> None:
    user = make_user("planner")
    source = open_account(new_customer(user_id=user.pk), balance_minor=10_000)
    payee = open_account()
    sign_in(client, user)
    client.post(
        "/bank/standing/",
        {
            "from_account": source.public_id,
            "to_account_number": payee.number,
            "amount": "12.00",
            "frequency": "weekly",
            "first_date": business_date().isoformat(),
        },
    )
    order = StandingOrder.objects.get()
    assert order.amount == Money(1_200, "CNY")
    client.post(f"/bank/standing/{order.public_id}/cancel")
    assert StandingOrder.objects.get().is_active is False

    other = make_user("other")
    open_account(new_customer(user_id=other.pk))
    sign_in(client, other)
    assert client.post(f"/bank/standing/{order.public_id}/cancel").status_code == 404


def _create(source: DepositAccount, to: str, *, first: dt.date | None = None, **kw: Any) -> Any:
    return standing.create_standing_order(
        customer=source.customer,
        order=TransferOrder(
            from_account_id=source.public_id,
            to_account_number=to,
            amount=Money(kw.pop("amount_minor", 100), "CNY"),
            **kw,
        ),
        frequency=Frequency.MONTHLY,
        first_date=first or business_date(),
        actor="test",
    )


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("to_itself", PayeeAccountInvalid),
        ("too_far_ahead", InvalidInput),
        ("above_limit", LimitExceeded),
        ("unknown_payee", PayeeAccountInvalid),
        ("bad_bank_code", PayeeAccountInvalid),
        ("frozen_payee", AccountNotActive),
    ],
)
def test_an_order_is_validated_when_it_is_created_and_nothing_is_stored(
    open_account: OpenAccount, case: str, error: type[Exception]
) -> None:
    source, payee = open_account(balance_minor=100), open_account()
    to, extra = payee.number, {}
    first = business_date()
    if case == "to_itself":
        to = source.number
    elif case == "too_far_ahead":
        first = business_date() + dt.timedelta(days=standing.HORIZON_DAYS + 1)
    elif case == "above_limit":
        extra = {"amount_minor": 5_000_001}
    elif case == "unknown_payee":
        to = make_account_number(branch=9, serial=999)
    elif case == "bad_bank_code":
        to, extra = "6222020200112233445", {"to_name": "李娜", "to_bank_code": "NOPE"}
    elif case == "frozen_payee":
        DepositAccount.objects.filter(pk=payee.pk).update(status="frozen")
    with pytest.raises(error):
        _create(source, to, first=first, **extra)
    assert not StandingOrder.objects.exists()
    assert not AuditRecord.objects.filter(action="banking.standing_order_created").exists()


def test_an_order_may_start_up_to_a_year_ahead(open_account: OpenAccount) -> None:
    source, payee = open_account(), open_account()
    last = business_date() + dt.timedelta(days=standing.HORIZON_DAYS)
    assert _create(source, payee.number, first=last).next_date == last


def test_a_monthly_order_on_the_31st_stays_on_the_month_end_and_returns_to_the_31st() -> None:
    dates = [dt.date(2027, 1, 31)]
    for _ in range(4):
        following = standing.next_after(dates[-1], Frequency.MONTHLY, 31)
        assert following is not None
        dates.append(following)
    assert dates == [
        dt.date(2027, 1, 31),
        dt.date(2027, 2, 28),
        dt.date(2027, 3, 31),
        dt.date(2027, 4, 30),
        dt.date(2027, 5, 31),
    ]
    leap = standing.next_after(dt.date(2028, 1, 30), Frequency.MONTHLY, 30)
    assert leap == dt.date(2028, 2, 29)
    assert standing.next_after(leap, Frequency.MONTHLY, 30) == dt.date(2028, 3, 30)


def test_end_of_day_moves_a_month_end_order_by_its_anchor(open_account: OpenAccount) -> None:
    source, payee = open_account(balance_minor=10_000), open_account()
    order = _create(source, payee.number)
    StandingOrder.objects.filter(pk=order.pk).update(anchor_day=31)
    order.refresh_from_db()
    feb = dt.date(2027, 2, 28)
    StandingOrder.objects.filter(pk=order.pk).update(next_date=feb)
    order.refresh_from_db()
    assert standing.following_date(order, feb) == dt.date(2027, 3, 31)
    # Days missed are skipped to the first date after the run, still from the anchor.
    assert standing.following_date(order, dt.date(2027, 4, 2)) == dt.date(2027, 4, 30)
