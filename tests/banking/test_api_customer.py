"""The customer API for cards, payees and standing orders: bearer token, problem+json, 404 for
another customer's ids, idempotency keys, step-up for limits and new payees."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from bankmall.banking import actions, standing
from bankmall.banking.actions import business_date
from bankmall.banking.models import Card, DepositAccount, Frequency, Payee, StandingOrder
from bankmall.core.money import Money
from bankmall.security.models import Authenticator
from tests.banking.conftest import OpenAccount, new_customer
from tests.banking.test_api import Caller
from tests.signed_in import current_code, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(client: Client, open_account: OpenAccount) -> tuple[Caller, DepositAccount]:
    user = make_user("bob")
    account = open_account(new_customer(user_id=user.pk), balance_minor=1_000_000)
    return Caller(client, user), account


def step_up(caller: Caller, challenged: Any) -> None:
    assert challenged.status_code == 401
    assert challenged.json()["code"] == "step_up_required"
    Authenticator.objects.filter(user=caller.user).update(last_t=-1)
    confirmed = caller.post(
        "/auth/step-up",
        {"challenge_id": challenged.json()["challenge_id"], "otp": current_code(caller.user)},
    )
    assert confirmed.status_code == 200


def test_cards_are_listed_frozen_unfrozen_and_limited_with_a_code(
    bob: Any, open_account: OpenAccount
) -> None:
    caller, account = bob
    card = actions.issue_card(account=account, actor="t")
    listed = caller.get("/cards").json()
    assert [row["id"] for row in listed["data"]] == [card.public_id]
    assert listed["data"][0]["last_four"] == card.last_four
    assert "vault" not in str(listed)
    assert caller.post(f"/cards/{card.public_id}/freeze", {}).json()["status"] == "frozen"
    again = caller.post(f"/cards/{card.public_id}/freeze", {})
    assert again.status_code == 409
    assert again["Content-Type"].startswith("application/problem+json")
    assert caller.post(f"/cards/{card.public_id}/unfreeze", {}).json()["status"] == "active"

    limits = {
        "per_transaction_limit": {"amount": 100_000, "currency": "CNY"},
        "daily_limit": {"amount": 300_000, "currency": "CNY"},
    }
    challenged = caller.post(f"/cards/{card.public_id}/limits", limits)
    assert Card.objects.get().daily_limit_minor == 5_000_000
    step_up(caller, challenged)
    changed = caller.post(f"/cards/{card.public_id}/limits", limits)
    assert changed.status_code == 200
    assert changed.json()["daily_limit"] == {"amount": 300_000, "currency": "CNY"}
    too_high = dict(limits, per_transaction_limit={"amount": 300_001, "currency": "CNY"})
    refused = caller.post(f"/cards/{card.public_id}/limits", too_high)
    assert refused.status_code == 422
    assert Card.objects.get().per_transaction_limit_minor == 100_000


def test_another_customers_card_payee_and_order_are_not_found(
    bob: Any, open_account: OpenAccount
) -> None:
    caller, _account = bob
    theirs = open_account(balance_minor=1_000)
    card = actions.issue_card(account=theirs, actor="t")
    payee = actions.add_payee(
        customer=theirs.customer,
        name="李娜",
        account_number="6222020200112233445",
        bank_code="102100099996",
        actor="t",
    )
    other = open_account()
    order = actions_standing(theirs, other)
    assert caller.get(f"/cards/{card.public_id}").status_code == 404
    assert caller.post(f"/cards/{card.public_id}/freeze", {}).status_code == 404
    removed = caller.client.delete(f"/api/v1/payees/{payee.public_id}", **caller.headers)
    assert removed.status_code == 404
    assert caller.post(f"/standing-orders/{order.public_id}/cancel", {}).status_code == 404
    assert Card.objects.get().status == "active"
    assert Payee.objects.count() == 1
    assert StandingOrder.objects.get().is_active


def actions_standing(source: DepositAccount, payee: DepositAccount) -> StandingOrder:
    return standing.create_standing_order(
        customer=source.customer,
        order=actions.TransferOrder(
            from_account_id=source.public_id,
            to_account_number=payee.number,
            amount=Money(100, "CNY"),
        ),
        frequency=Frequency.MONTHLY,
        first_date=business_date(),
        actor="t",
    )


def test_payees_are_created_with_a_code_once_per_key_and_deleted(
    bob: Any, open_account: OpenAccount
) -> None:
    caller, _account = bob
    theirs = open_account()
    theirs.customer.legal_name = "王芳"
    theirs.customer.save()
    body = {"name": "王 芳", "account_number": theirs.number}
    step_up(caller, caller.post("/payees", body, HTTP_IDEMPOTENCY_KEY="p1"))
    first = caller.post("/payees", body, HTTP_IDEMPOTENCY_KEY="p1")
    again = caller.post("/payees", body, HTTP_IDEMPOTENCY_KEY="p1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert Payee.objects.count() == 1
    reused = caller.post("/payees", {**body, "name": "王芳"}, HTTP_IDEMPOTENCY_KEY="p1")
    assert (reused.status_code, reused.json()["code"]) == (409, "idempotency_key_reused")

    close = caller.post("/payees", {"name": "王芬", "account_number": theirs.number})
    assert close.status_code == 422
    assert close.json()["code"] == "payee_name_mismatch"
    assert Payee.objects.count() == 1

    assert caller.get("/payees").json()["data"][0]["id"] == first.json()["id"]
    deleted = caller.client.delete(f"/api/v1/payees/{first.json()['id']}", **caller.headers)
    assert deleted.status_code == 204
    assert not Payee.objects.exists()


def test_standing_orders_are_created_listed_and_cancelled(
    bob: Any, open_account: OpenAccount
) -> None:
    caller, account = bob
    payee = open_account()
    body = {
        "from_account": account.public_id,
        "to_account_number": payee.number,
        "amount": {"amount": 12_300, "currency": "CNY"},
        "frequency": "monthly",
        "first_date": business_date().isoformat(),
    }
    assert caller.post("/standing-orders", body).status_code == 422  # the key is required
    created = caller.post("/standing-orders", body, HTTP_IDEMPOTENCY_KEY="s1")
    assert created.status_code == 201
    replayed = caller.post("/standing-orders", body, HTTP_IDEMPOTENCY_KEY="s1")
    assert replayed.json() == created.json()
    assert StandingOrder.objects.count() == 1
    to_itself = {**body, "to_account_number": account.number}
    refused = caller.post("/standing-orders", to_itself, HTTP_IDEMPOTENCY_KEY="s2")
    assert refused.status_code == 422
    assert refused["Content-Type"].startswith("application/problem+json")
    assert StandingOrder.objects.count() == 1
    order_id = created.json()["id"]
    assert [row["id"] for row in caller.get("/standing-orders").json()["data"]] == [order_id]
    cancelled = caller.post(f"/standing-orders/{order_id}/cancel", {})
    assert cancelled.json()["is_active"] is False
    assert caller.post(f"/standing-orders/{order_id}/cancel", {}).status_code == 409


def test_the_new_operations_are_in_the_openapi_document(client: Client) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/cards",
        "/api/v1/cards/{card_id}",
        "/api/v1/cards/{card_id}/freeze",
        "/api/v1/cards/{card_id}/unfreeze",
        "/api/v1/cards/{card_id}/limits",
        "/api/v1/payees",
        "/api/v1/payees/{payee_id}",
        "/api/v1/standing-orders",
        "/api/v1/standing-orders/{order_id}/cancel",
    ):
        assert path in paths, path
