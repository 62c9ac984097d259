"""The banking API in the authorisation matrix: customer A owns an account; customer B is a
customer of the bank too, so A's ids must answer B with 404."""

from __future__ import annotations

import random

from bankmall.banking import actions
from bankmall.banking.demo import demo_kyc
from bankmall.banking.models import AccountProduct, CustomerKind
from tests.authz import (
    CUSTOMER_A,
    CUSTOMER_B,
    Endpoint,
    PathOf,
    World,
    api_for,
    owned_by,
    page_for,
    staff_page,
)

GUESSED_TRANSFER = "trf_00000000000000000000000000"
GUESSED_CARD = "dbc_00000000000000000000000000"
GUESSED_PAYEE = "pye_00000000000000000000000000"
GUESSED_ORDER = "sto_00000000000000000000000000"
LIMITS = {
    "per_transaction_limit": {"amount": 100, "currency": "CNY"},
    "daily_limit": {"amount": 200, "currency": "CNY"},
}


def prepare(world: World) -> None:
    for index, principal in enumerate((CUSTOMER_A, CUSTOMER_B), start=9001):
        customer = actions.open_customer(
            kind=CustomerKind.INDIVIDUAL,
            kyc=demo_kyc(index, CustomerKind.INDIVIDUAL, random.Random(index)),
            user_id=world.users[principal].pk,
            actor="test",
        )
        account = actions.open_account(
            customer=customer, product=AccountProduct.CURRENT, actor="test"
        )
        world.ids[f"account_{principal}"] = account.public_id
        world.ids[f"customer_{principal}"] = customer.public_id
        world.ids[f"card_{principal}"] = actions.issue_card(account=account, actor="test").public_id


def _account(suffix: str = "") -> PathOf:
    return lambda world: f"api/v1/accounts/{world.ids['account_' + CUSTOMER_A]}{suffix}"


ENDPOINTS = [
    Endpoint("GET", "api/v1/accounts", api_for("customer")),
    Endpoint(
        "GET",
        "api/v1/accounts/<account_id>",
        owned_by(CUSTOMER_A, 200, api_for("customer")),
        path=_account(),
    ),
    Endpoint(
        "GET",
        "api/v1/accounts/<account_id>/transactions",
        owned_by(CUSTOMER_A, 200, api_for("customer")),
        path=_account("/transactions"),
    ),
    Endpoint(
        "GET",
        "api/v1/accounts/<account_id>/statement",
        owned_by(CUSTOMER_A, 200, api_for("customer")),
        path=_account("/statement?from=2026-01-01&to=2026-01-31&format=csv"),
    ),
    # Input is validated before the kind check, so every signed-in caller sees the 422.
    Endpoint("POST", "api/v1/transfers", api_for(ok=422), body={}, is_json=True),
    Endpoint(
        "GET",
        "api/v1/transfers/<transfer_id>",
        owned_by(CUSTOMER_A, 404, api_for("customer")),
        path=f"api/v1/transfers/{GUESSED_TRANSFER}",
    ),
    # Cards, payees and standing orders. Reads of A's card answer A and 404 for everyone
    # else; changes are tried on ids nobody owns (404), bodies valid so ownership decides.
    Endpoint("GET", "api/v1/cards", api_for("customer")),
    Endpoint(
        "GET",
        "api/v1/cards/<card_id>",
        owned_by(CUSTOMER_A, 200, api_for("customer")),
        path=lambda world: f"api/v1/cards/{world.ids['card_' + CUSTOMER_A]}",
    ),
    Endpoint(
        "POST",
        "api/v1/cards/<card_id>/freeze",
        owned_by("nobody", 404, api_for("customer")),
        path=f"api/v1/cards/{GUESSED_CARD}/freeze",
        body={},
        is_json=True,
    ),
    Endpoint(
        "POST",
        "api/v1/cards/<card_id>/unfreeze",
        owned_by("nobody", 404, api_for("customer")),
        path=f"api/v1/cards/{GUESSED_CARD}/unfreeze",
        body={},
        is_json=True,
    ),
    Endpoint(
        "POST",
        "api/v1/cards/<card_id>/limits",
        owned_by("nobody", 404, api_for("customer")),
        path=f"api/v1/cards/{GUESSED_CARD}/limits",
        body=LIMITS,
        is_json=True,
    ),
    Endpoint("GET", "api/v1/payees", api_for("customer")),
    # Input is validated before the kind check, so every signed-in caller sees the 422.
    Endpoint("POST", "api/v1/payees", api_for(ok=422), body={}, is_json=True),
    Endpoint(
        "DELETE",
        "api/v1/payees/<payee_id>",
        owned_by("nobody", 404, api_for("customer")),
        path=f"api/v1/payees/{GUESSED_PAYEE}",
    ),
    Endpoint("GET", "api/v1/standing-orders", api_for("customer")),
    Endpoint("POST", "api/v1/standing-orders", api_for(ok=422), body={}, is_json=True),
    Endpoint(
        "POST",
        "api/v1/standing-orders/<order_id>/cancel",
        owned_by("nobody", 404, api_for("customer")),
        path=f"api/v1/standing-orders/{GUESSED_ORDER}/cancel",
        body={},
        is_json=True,
    ),
    # The net bank's pages.
    Endpoint("GET", "bank/", page_for("customer")),
    Endpoint(
        "GET",
        "bank/accounts/<str:account_id>/",
        owned_by(CUSTOMER_A, 200, page_for("customer")),
        path=lambda world: f"bank/accounts/{world.ids['account_' + CUSTOMER_A]}/",
    ),
    Endpoint(
        "GET",
        "bank/accounts/<str:account_id>/statement/",
        owned_by(CUSTOMER_A, 200, page_for("customer")),
        path=lambda world: (
            f"bank/accounts/{world.ids['account_' + CUSTOMER_A]}/statement/"
            "?period_start=2026-01-01&period_end=2026-01-31&statement_format=csv"
        ),
    ),
    Endpoint("GET", "bank/transfers/new/", page_for("customer")),
    # A confirmation token lives only in its own session: any other is not found.
    Endpoint(
        "GET",
        "bank/transfers/confirm/<str:token>/",
        owned_by("nobody", 404, page_for("customer")),
        path="bank/transfers/confirm/guessed-token/",
    ),
    Endpoint(
        "GET",
        "bank/transfers/<str:transfer_id>/",
        owned_by("nobody", 404, page_for("customer")),
        path=f"bank/transfers/{GUESSED_TRANSFER}/",
    ),
    # Core banking in the back office.
    Endpoint("GET", "backoffice/banking/customers/", staff_page("security.access_backoffice")),
    Endpoint(
        "GET",
        "backoffice/banking/customers/<str:customer_id>/",
        staff_page("security.access_backoffice"),
        path=lambda world: f"backoffice/banking/customers/{world.ids['customer_' + CUSTOMER_A]}/",
    ),
    Endpoint("GET", "backoffice/banking/kyc/", staff_page("security.review_kyc")),
    # An unknown customer is not found; bad or missing form fields redirect back with a
    # message and change nothing.
    Endpoint(
        "POST",
        "backoffice/banking/kyc/<str:customer_id>/decide",
        staff_page("security.review_kyc", ok=404),
        path="backoffice/banking/kyc/cus_00000000000000000000000000/decide",
        body={"decision": "verify"},
    ),
    # The confirmation page of a KYC decision.
    Endpoint(
        "GET",
        "backoffice/banking/kyc/<str:customer_id>/decide",
        staff_page("security.review_kyc"),
        path=lambda world: (
            f"backoffice/banking/kyc/{world.ids['customer_' + CUSTOMER_A]}/decide?decision=reject"
        ),
    ),
    Endpoint(
        "POST",
        "backoffice/banking/accounts/<str:account_id>/status",
        staff_page("security.teller_operations", ok=302),
        path=lambda world: (
            f"backoffice/banking/accounts/{world.ids['account_' + CUSTOMER_A]}/status"
        ),
        body={"status": "frozen", "reason": ""},
    ),
    Endpoint(
        "POST",
        "backoffice/banking/accounts/<str:account_id>/limit",
        staff_page("security.teller_operations", ok=302),
        path=lambda world: (
            f"backoffice/banking/accounts/{world.ids['account_' + CUSTOMER_A]}/limit"
        ),
        body={},
    ),
    Endpoint(
        "POST",
        "backoffice/banking/accounts/<str:account_id>/cash",
        staff_page("security.teller_operations", ok=302),
        path=lambda world: f"backoffice/banking/accounts/{world.ids['account_' + CUSTOMER_A]}/cash",
        body={},
    ),
    Endpoint("GET", "bank/cards/", page_for("customer")),
    Endpoint(
        "POST",
        "bank/cards/<str:card_id>/freeze",
        owned_by("nobody", 404, page_for("customer")),
        path="bank/cards/dbc_00000000000000000000000000/freeze",
        body={"frozen": "1"},
    ),
    Endpoint(
        "POST",
        "bank/cards/<str:card_id>/limits",
        owned_by("nobody", 404, page_for("customer")),
        path="bank/cards/dbc_00000000000000000000000000/limits",
        body={},
    ),
    Endpoint(
        "GET",
        "bank/cards/<str:card_id>/limits",
        owned_by("nobody", 404, page_for("customer")),
        path="bank/cards/dbc_00000000000000000000000000/limits",
    ),
    Endpoint("GET", "bank/payees/", page_for("customer")),
    Endpoint(
        "POST",
        "bank/payees/<str:payee_id>/remove",
        owned_by("nobody", 404, page_for("customer")),
        path="bank/payees/pye_00000000000000000000000000/remove",
    ),
    Endpoint("GET", "bank/standing/", page_for("customer")),
    Endpoint(
        "POST",
        "bank/standing/<str:order_id>/cancel",
        owned_by("nobody", 404, page_for("customer")),
        path="bank/standing/sto_00000000000000000000000000/cancel",
    ),
    Endpoint("GET", "backoffice/banking/clearing/", staff_page("security.settle_payments")),
    Endpoint(
        "GET",
        "backoffice/banking/clearing/<str:batch_id>/pain001.xml",
        staff_page("security.settle_payments", ok=404),
        path="backoffice/banking/clearing/pbt_00000000000000000000000000/pain001.xml",
    ),
]
