"""Payees: adding one needs a one-time code; a saved payee fills the transfer form."""

from __future__ import annotations

import re

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


def field_errors(page: str) -> dict[str, list[str]]:
    """Each field's messages, read the way a person reads the form: label, input, messages."""
    found: dict[str, list[str]] = {}
    for field in ("name", "account_number", "bank_code"):
        label = page.split(f'<label for="id_{field}">', 1)[1].split("</label>", 1)[0]
        found[field] = re.findall(r'<small class="field-error" role="alert">([^<]*)</small>', label)
    return found


@pytest.mark.parametrize(
    ("entered", "field", "message"),
    [
        ({"name": "  "}, "name", "Enter the payee&#x27;s name as their bank knows it."),
        ({"account_number": "8801 0001 0000 0000 0109"}, "account_number", "check digits"),
        ({"account_number": "6222-0202-0011"}, "account_number", "only digits and letters"),
        ({"bank_code": "10210009999"}, "bank_code", "12 digits (CNAPS) or a BIC"),
        ({"bank_code": ""}, "bank_code", "not an account of our bank"),
    ],
)
def test_a_payee_mistake_is_named_at_its_field_before_any_code_is_asked(
    client: Client, open_account: OpenAccount, entered: dict[str, str], field: str, message: str
) -> None:
    user = make_user("payer")
    open_account(new_customer(user_id=user.pk))
    sign_in(client, user)

    response = client.post("/bank/payees/", {**LI_NA, **entered})

    assert response.status_code == 200  # the form again, no redirect to the code page
    errors = field_errors(response.content.decode())
    assert message in " ".join(errors[field])
    assert [name for name, messages in errors.items() if messages] == [field]
    assert 'aria-invalid="true"' in response.content.decode()
    assert not StepUpChallenge.objects.filter(user=user).exists()
    assert not Payee.objects.exists()


def test_payee_messages_are_in_chinese_on_a_chinese_page(
    client: Client, open_account: OpenAccount
) -> None:
    user = make_user("payer")
    open_account(new_customer(user_id=user.pk))
    sign_in(client, user)

    response = client.post(
        "/bank/payees/",
        {**LI_NA, "account_number": "88010001000000000109"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    assert "该账号的校验位不符" in response.content.decode()


def test_an_account_of_this_bank_needs_no_bank_code(
    client: Client, open_account: OpenAccount
) -> None:
    user = make_user("payer")
    open_account(new_customer(user_id=user.pk))
    payee_account = open_account()
    sign_in(client, user)
    spaced = " ".join(payee_account.number[i : i + 4] for i in range(0, 20, 4))

    asked = client.post(
        "/bank/payees/",
        {
            "name": payee_account.customer.legal_name,
            "account_number": spaced,
            "bank_code": "BKCHCNBJ",
        },
    )
    confirm_step_up(user)
    client.get("/bank/payees/")

    assert asked["Location"].startswith("/security/step-up/")
    payee = Payee.objects.get()
    assert (payee.account_number, payee.bank_code) == (payee_account.number, "")
