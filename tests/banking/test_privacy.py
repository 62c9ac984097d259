"""Banking personal data in the data-subject export, and erasure that keeps the ledger."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from bankmall.banking import actions, queries, standing
from bankmall.banking.actions import TransferOrder
from bankmall.banking.models import (
    ApiIdempotencyRecord,
    Card,
    Channel,
    Customer,
    Frequency,
    Payee,
    StandingOrder,
    Transfer,
)
from bankmall.core.models import AuditRecord
from bankmall.core.money import Money
from bankmall.ledger.models import Transfer as LedgerTransfer
from bankmall.security import privacy
from bankmall.security.crypto import search_hash
from bankmall.security.privacy import erase_personal_data, export_subject_data
from bankmall.security.vault import reveal_card_number
from tests.banking.conftest import OpenAccount, new_customer
from tests.banking.test_api import Caller
from tests.banking.test_api_customer import step_up
from tests.signed_in import make_user

pytestmark = pytest.mark.django_db


def _customer_with_everything(open_account: OpenAccount) -> tuple[Customer, str]:
    user = make_user("subject")
    customer = new_customer(user_id=user.pk)
    account = open_account(customer, balance_minor=100_000)
    actions.issue_card(account=account, actor="t")
    actions.add_payee(
        customer=customer,
        name="李娜",
        account_number="6222020200112233445",
        bank_code="102100099996",
        actor="t",
    )
    payee = open_account()
    standing.create_standing_order(
        customer=customer,
        order=TransferOrder(
            from_account_id=account.public_id,
            to_account_number=payee.number,
            amount=Money(1, "CNY"),
        ),
        frequency=Frequency.MONTHLY,
        first_date=actions.business_date(),
        actor="t",
    )
    actions.transfer(
        customer=customer,
        order=TransferOrder(
            from_account_id=account.public_id,
            to_account_number="6222020200112233445",
            amount=Money(2_000, "CNY"),
            reference="房租 rent",
            to_name="李娜",
            to_bank_code="102100099996",
        ),
        idempotency_key="k1",
        channel=Channel.NET_BANK,
        actor="t",
    )
    return customer, user.public_id


def test_the_export_holds_kyc_accounts_cards_payees_orders_and_transfers(
    open_account: OpenAccount,
) -> None:
    customer, user_id = _customer_with_everything(open_account)
    user = customer.user
    assert user is not None
    archive = export_subject_data(user, actor="test")
    banking = archive["banking"]
    assert banking["customer"]["national_id"] == customer.national_id
    assert banking["customer"]["legal_name"] == customer.legal_name
    assert [row["balance"]["amount"] for row in banking["accounts"]] == [98_000]
    card = Card.objects.get()
    assert banking["cards"][0]["last_four"] == card.last_four
    number = reveal_card_number(card.vault_token, purpose="test", actor="test")
    assert number not in json.dumps(archive, ensure_ascii=False)
    assert banking["payees"][0]["name"] == "李娜"
    assert banking["standing_orders"][0]["frequency"] == "monthly"
    assert banking["transfers_made"][0]["to_name"] == "李娜"
    assert banking["transfers_made"][0]["amount"] == {"amount": 2_000, "currency": "CNY"}
    assert user_id == archive["subject"]


def test_a_user_without_a_bank_relationship_exports_nothing_from_banking() -> None:
    user = make_user("stranger")
    assert export_subject_data(user, actor="test")["banking"] is None


def test_erasure_anonymises_banking_personal_data_and_keeps_the_ledger(
    open_account: OpenAccount,
) -> None:
    customer, user_id = _customer_with_everything(open_account)
    national_id = customer.national_id
    ledger_rows = LedgerTransfer.objects.count()
    account = customer.accounts.get()
    balance = queries.account_balance(account).balance

    erase_personal_data(user_id=user_id, actor="test")

    erased = Customer.objects.get(pk=customer.pk)
    assert erased.legal_name == "erased"
    assert (erased.national_id, erased.phone, erased.address, erased.date_of_birth) == (
        "",
        "",
        "",
        "",
    )
    assert not Customer.objects.filter(
        national_id_index=search_hash(Customer, "national_id_index", national_id)
    ).exists()
    assert not Payee.objects.exists()
    order = StandingOrder.objects.get()
    assert (order.is_active, order.to_name) == (False, "")
    assert Card.objects.get().status == "blocked"
    made = Transfer.objects.get()
    assert (made.to_name, made.reference, made.amount_minor) == ("", "", 2_000)
    assert LedgerTransfer.objects.count() == ledger_rows
    assert queries.account_balance(account).balance == balance


def stored_response(customer: Customer, key: str) -> None:
    ApiIdempotencyRecord.objects.create(
        customer=customer,
        key=key,
        request_digest="0" * 64,
        status_code=201,
        response={"id": f"pye_{key}", "name": "李娜"},
        created_at=timezone.now(),
    )


def test_the_export_holds_the_customers_stored_api_responses_and_no_one_elses(
    client: Client, open_account: OpenAccount
) -> None:
    """A kept API answer can hold a payee's name: the export shows when, which call, the key
    and the body as stored; another customer's answers (even under the same key) stay out."""
    subject = make_user("subject")
    open_account(new_customer(user_id=subject.pk), balance_minor=1_000)
    theirs = open_account()
    caller = Caller(client, subject)
    body: dict[str, Any] = {"name": theirs.customer.legal_name, "account_number": theirs.number}
    step_up(caller, caller.post("/payees", body, HTTP_IDEMPOTENCY_KEY="p1"))
    created = caller.post("/payees", body, HTTP_IDEMPOTENCY_KEY="p1")
    assert created.status_code == 201
    stored_response(new_customer(), "p1")

    exported = export_subject_data(subject, actor="test")["banking"]["api_idempotency_responses"]

    record = ApiIdempotencyRecord.objects.get(customer__user=subject)
    when = record.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert exported == [
        {
            "created_at": when,
            "method": "POST",
            "endpoint": "/api/v1/payees",
            "idempotency_key": "p1",
            "status_code": 201,
            "response": record.response,
        }
    ]
    assert exported[0]["response"]["id"] == created.json()["id"]
    assert exported[0]["response"]["name"] == theirs.customer.legal_name
    assert "pye_p1" not in json.dumps(exported, default=str)


def test_an_api_response_stored_before_its_call_was_recorded_is_exported_without_it() -> None:
    subject = make_user("subject")
    stored_response(new_customer(user_id=subject.pk), "old")

    exported = export_subject_data(subject, actor="test")["banking"]["api_idempotency_responses"]

    assert [(row["method"], row["endpoint"], row["response"]) for row in exported] == [
        ("", "", {"id": "pye_old", "name": "李娜"})
    ]


def test_erasure_deletes_the_customers_stored_api_responses_and_counts_them() -> None:
    """Replayable API answers can hold payee names: the subject's go, another customer's stay."""
    subject = make_user("subject")
    customer = new_customer(user_id=subject.pk)
    stored_response(customer, "p1")
    stored_response(customer, "p2")
    other = new_customer()
    stored_response(other, "p1")

    erase_personal_data(user_id=subject.public_id, actor="test")

    left = ApiIdempotencyRecord.objects.values_list("customer_id", "key")
    assert list(left) == [(other.pk, "p1")]
    audit = AuditRecord.objects.get(action="banking.customer_erased")
    assert (audit.target, audit.details) == (
        customer.public_id,
        {"api_idempotency_records_deleted": 2},
    )


def test_a_failed_erasure_keeps_the_stored_api_responses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The responses are deleted in the erasure's own transaction: all of it or nothing."""
    subject = make_user("subject")
    customer = new_customer(user_id=subject.pk)
    stored_response(customer, "p1")

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(privacy, "record_audit", refuse)
    with pytest.raises(RuntimeError):
        erase_personal_data(user_id=subject.public_id, actor="test")

    assert list(ApiIdempotencyRecord.objects.values_list("key", flat=True)) == ["p1"]
    assert Customer.objects.get(pk=customer.pk).legal_name == customer.legal_name
    assert not AuditRecord.objects.filter(action="banking.customer_erased").exists()
