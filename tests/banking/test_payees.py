"""Payees: adding one needs a one-time code; a saved payee fills the transfer form."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from bankmall.banking.models import Payee
from bankmall.security.models import StepUpChallenge, User
from tests.banking.conftest import OpenAccount, new_customer
from tests.signed_in import make_user, sign_in

pytestmark = pytest.mark.django_db
LI_NA = {"name": "李娜", "account_number": "6222020200112233445", "bank_code": "102100099996"}


def confirm_step_up(user: User) -> None:
    """What the step-up page does once the code is right."""
    StepUpChallenge.objects.filter(user=user).update(confirmed_at=timezone.now())


def test_adding_a_payee_asks_for_a_code_then_saves_it(
    client: Client, open_account: OpenAccount
) -> None:
    user = make_user("payer")
    open_account(new_customer(user_id=user.pk))
    sign_in(client, user)

    asked = client.post("/bank/payees/", LI_NA)
    assert asked["Location"].startswith("/security/step-up/")
    assert not Payee.objects.exists()

    confirm_step_up(user)
    client.get("/bank/payees/")

    payee = Payee.objects.get()
    assert (payee.name, payee.bank_code) == ("李娜", "102100099996")
    form = client.get("/bank/transfers/new/", {"payee": payee.public_id}).content.decode()
    assert 'value="6222020200112233445"' in form


def test_a_cancelled_code_saves_nothing_and_does_not_loop(
    client: Client, open_account: OpenAccount
) -> None:
    user = make_user("payer")
    open_account(new_customer(user_id=user.pk))
    sign_in(client, user)
    client.post("/bank/payees/", LI_NA)
    page = client.get("/bank/payees/")
    assert page.status_code == 200
    assert not Payee.objects.exists()


def test_a_payee_at_another_bank_needs_its_bank_code(
    client: Client, open_account: OpenAccount
) -> None:
    user = make_user("payer")
    open_account(new_customer(user_id=user.pk))
    sign_in(client, user)
    client.post("/bank/payees/", {**LI_NA, "bank_code": ""})
    confirm_step_up(user)
    client.post("/bank/payees/", {**LI_NA, "bank_code": ""})
    assert not Payee.objects.exists()


def test_another_customers_payee_is_not_found(client: Client, open_account: OpenAccount) -> None:
    owner = new_customer()
    payee = Payee.objects.create(
        customer=owner, name="x", account_number="1", created_at=timezone.now()
    )
    user = make_user("other")
    open_account(new_customer(user_id=user.pk))
    sign_in(client, user)
    assert client.post(f"/bank/payees/{payee.public_id}/remove").status_code == 404
    assert client.get("/bank/transfers/new/", {"payee": payee.public_id}).status_code == 404
    assert Payee.objects.count() == 1
