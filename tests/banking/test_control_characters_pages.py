"""Pages refuse control characters (core.text): a form says which field and why, a path or
query parameter gets a 400 page, and nothing is written. Multi-line text keeps line breaks
and tabs."""

from __future__ import annotations

from typing import Final

import pytest
from axes.models import AccessAttempt
from django.contrib.messages import get_messages
from django.test import Client

from bankmall.banking.models import Customer, KycStatus, Payee, Transfer
from bankmall.security.models import ApprovalRequest, LoginEvent, User, UserKind
from tests.banking.conftest import OpenAccount, new_customer
from tests.signed_in import PASSWORD, make_user, sign_in

pytestmark = pytest.mark.django_db

SINGLE_LINE: Final = "Enter this on one line, without control characters."
MULTI_LINE: Final = "Enter this without control characters (line breaks and tabs are allowed)."


def _staff(client: Client, name: str, role: str) -> User:
    user = make_user(name, kind=UserKind.STAFF, roles=(role,))
    sign_in(client, user)
    return user


@pytest.mark.parametrize("username", ["li\x00lei", "li\nlei", "li\x7flei"])
def test_the_sign_in_form_refuses_a_username_with_a_control_character(
    client: Client, username: str
) -> None:
    make_user("lilei")

    response = client.post("/login/", {"username": username, "password": PASSWORD})

    assert response.status_code == 200
    assert response.context["form"].errors == {"username": [SINGLE_LINE]}
    assert not AccessAttempt.objects.exists()
    assert not LoginEvent.objects.exists()


def test_the_sign_in_form_says_it_in_chinese(client: Client) -> None:
    response = client.post(
        "/login/", {"username": "li\x00lei", "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )

    assert response.context["form"].errors == {"username": ["请在一行内输入，不要包含控制字符。"]}


@pytest.mark.parametrize("field", ["to_account_number", "to_name", "to_bank_code", "reference"])
@pytest.mark.parametrize("value", ["a\x00b", "a\nb", "a\x7fb"])
def test_the_transfer_form_refuses_control_characters_and_sends_nothing(
    client: Client, open_account: OpenAccount, field: str, value: str
) -> None:
    user = make_user("alice")
    account = open_account(new_customer(user_id=user.pk), balance_minor=100_000)
    sign_in(client, user)
    data = {
        "from_account": account.public_id,
        "to_account_number": "6222020200112233445",
        "to_name": "Wang Fang",
        "to_bank_code": "102100099996",
        "amount": "10.00",
        "reference": "rent",
    }

    response = client.post("/bank/transfers/new/", {**data, field: value})

    assert response.status_code == 200
    assert response.context["form"].errors[field] == [SINGLE_LINE]
    assert not Transfer.objects.exists()


@pytest.mark.parametrize("field", ["name", "account_number", "bank_code"])
def test_the_payee_form_refuses_a_nul(client: Client, field: str) -> None:
    user = make_user("alice")
    new_customer(user_id=user.pk)
    sign_in(client, user)
    data = {"name": "Wang Fang", "account_number": "6222020200112233445", "bank_code": ""}

    response = client.post("/bank/payees/", {**data, field: "a\x00b"})

    assert response.status_code == 200
    assert response.context["form"].errors[field] == [SINGLE_LINE]
    assert not Payee.objects.exists()


def test_a_page_path_parameter_with_a_nul_answers_400_before_any_lookup(client: Client) -> None:
    user = make_user("alice")
    new_customer(user_id=user.pk)
    sign_in(client, user)

    response = client.get("/bank/transfers/trf_%00/")

    assert response.status_code == 400
    assert SINGLE_LINE in response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/bank/?q=a%00b",
        "/login/?next=%2Fbank%2F%0A",
        "/backoffice/banking/customers/?q=%00",
        "/admin/security/user/?q=%00",
    ],
)
def test_a_query_parameter_with_a_control_character_answers_400(client: Client, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 400
    assert SINGLE_LINE in response.content.decode()


def test_a_kyc_rejection_note_keeps_line_breaks_and_tabs(
    client: Client, open_account: OpenAccount
) -> None:
    customer = open_account().customer
    _staff(client, "k1", "kyc_reviewer")
    note = "ID card photo unreadable\r\n\tand the address differs"

    response = client.post(
        f"/backoffice/banking/kyc/{customer.public_id}/decide",
        {"decision": "reject", "note": note},
    )

    assert response.status_code == 302
    reviewed = Customer.objects.get(pk=customer.pk)
    assert reviewed.kyc_status == KycStatus.REJECTED
    assert reviewed.kyc_review_note == note.strip()


@pytest.mark.parametrize("note", ["bad\x00note here", "bad\x01note here", "bad\x7fnote here"])
def test_a_kyc_rejection_note_with_another_control_character_is_refused(
    client: Client, open_account: OpenAccount, note: str
) -> None:
    customer = open_account().customer
    _staff(client, "k1", "kyc_reviewer")

    response = client.post(
        f"/backoffice/banking/kyc/{customer.public_id}/decide",
        {"decision": "reject", "note": note},
    )

    assert response.status_code == 422
    assert response.context["form"].errors == {"note": [MULTI_LINE]}
    assert Customer.objects.get(pk=customer.pk).kyc_status == KycStatus.PENDING


def test_a_role_grant_reason_with_a_nul_is_refused_with_its_reason(client: Client) -> None:
    _staff(client, "admin.one", "administrator")
    teller = make_user("teller.wu", kind=UserKind.STAFF, roles=("teller",))

    response = client.post(
        "/backoffice/staff/propose-role",
        {"user_id": teller.public_id, "role": "auditor", "reason": "cover\x00for leave"},
    )

    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [MULTI_LINE]
    assert not ApprovalRequest.objects.exists()


def test_an_account_status_proposal_with_a_nul_reason_is_refused(
    client: Client, open_account: OpenAccount
) -> None:
    account = open_account()
    _staff(client, "t1", "teller")

    response = client.post(
        f"/backoffice/banking/accounts/{account.public_id}/status",
        {"status": "frozen", "reason": "fraud\x00report"},
    )

    assert response.status_code == 302
    assert not ApprovalRequest.objects.exists()


@pytest.mark.parametrize("name", ["Lei\x07", "Lei\nLi", "Lei\x00"])
def test_the_admin_refuses_a_user_name_with_a_control_character(client: Client, name: str) -> None:
    superuser = make_user("root.admin", kind=UserKind.STAFF, roles=("administrator",))
    User.objects.filter(pk=superuser.pk).update(is_superuser=True)
    sign_in(client, superuser)
    target = make_user("zhang.wei")
    page = client.get(f"/admin/security/user/{target.pk}/change/")
    assert page.status_code == 200
    data = {
        "username": target.username,
        "first_name": name,
        "last_name": "",
        "email": "",
        "is_active": "on",
        "kind": target.kind,
        "date_joined_0": "2026-11-28",
        "date_joined_1": "10:00:00",
    }

    response = client.post(f"/admin/security/user/{target.pk}/change/", data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["first_name"] == [SINGLE_LINE]
    assert User.objects.get(pk=target.pk).first_name == target.first_name
