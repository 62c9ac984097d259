"""Scheduled and standing orders: created in the net bank, executed by end of day."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from bankmall.banking import queries, standing
from bankmall.banking.actions import TransferOrder, business_date
from bankmall.banking.models import Frequency, StandingOrder, Transfer
from bankmall.core.actions import run_end_of_day
from bankmall.core.errors import InvalidInput
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
