"""Replayable API responses (Idempotency-Key) are kept API_IDEMPOTENCY_RETENTION_DAYS, then a
scheduled job deletes them; transfers keep their own keys for good."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from bankmall.banking import actions
from bankmall.banking.actions import business_date, purge_api_idempotency_records
from bankmall.banking.models import (
    ApiIdempotencyRecord,
    Channel,
    Customer,
    DepositAccount,
    StandingOrder,
    Transfer,
)
from bankmall.banking.tasks import purge_expired_api_idempotency_records
from bankmall.core.models import AuditRecord
from bankmall.core.money import Money
from bankmall.jobs import app as project_app
from tests.banking.conftest import OpenAccount, new_customer
from tests.banking.test_api import Caller
from tests.signed_in import make_user

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def stored_response(customer: Customer, key: str, *, age: dt.timedelta) -> ApiIdempotencyRecord:
    return ApiIdempotencyRecord.objects.create(
        customer=customer,
        key=key,
        request_digest="0" * 64,
        status_code=201,
        response={"id": key},
        created_at=timezone.now() - age,
    )


def keys_left() -> list[str]:
    return sorted(ApiIdempotencyRecord.objects.values_list("key", flat=True))


def test_responses_older_than_the_retention_go_and_younger_ones_stay() -> None:
    customer = new_customer()
    stored_response(customer, "old", age=7 * DAY + dt.timedelta(minutes=1))
    stored_response(customer, "older", age=400 * DAY)
    stored_response(customer, "fresh", age=dt.timedelta(hours=1))
    stored_response(customer, "almost", age=7 * DAY - dt.timedelta(minutes=1))

    purged = purge_api_idempotency_records(actor="test")

    assert purged == 2
    assert keys_left() == ["almost", "fresh"]
    audit = AuditRecord.objects.get(action="banking.api_idempotency_purged")
    assert (audit.details["count"], audit.actor) == (2, "test")
    assert purge_api_idempotency_records(actor="test") == 0  # a repeat deletes nothing more


def test_the_retention_is_a_setting(settings: Any) -> None:
    settings.API_IDEMPOTENCY_RETENTION_DAYS = 2
    customer = new_customer()
    stored_response(customer, "three-days", age=3 * DAY)
    stored_response(customer, "one-day", age=DAY)

    purge_api_idempotency_records(actor="test")

    assert keys_left() == ["one-day"]


def test_a_large_backlog_goes_in_bounded_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions, "IDEMPOTENCY_PURGE_BATCH", 2)
    monkeypatch.setattr(actions, "IDEMPOTENCY_PURGE_BATCHES_MAX", 2)
    customer = new_customer()
    for index in range(5):
        stored_response(customer, f"k{index}", age=30 * DAY)

    first = purge_api_idempotency_records(actor="test")
    second = purge_api_idempotency_records(actor="test")

    assert (first, second) == (4, 1)
    assert keys_left() == []
    assert AuditRecord.objects.filter(action="banking.api_idempotency_purged").count() == 3


def standing_order_body(account: DepositAccount, payee: DepositAccount) -> dict[str, Any]:
    return {
        "from_account": account.public_id,
        "to_account_number": payee.number,
        "amount": {"amount": 12_300, "currency": "CNY"},
        "frequency": "monthly",
        "first_date": business_date().isoformat(),
    }


def test_a_replay_within_the_retention_still_gets_the_first_response(
    client: Client, open_account: OpenAccount
) -> None:
    user = make_user("bob")
    account = open_account(new_customer(user_id=user.pk), balance_minor=1_000_000)
    caller = Caller(client, user)
    body = standing_order_body(account, open_account())
    created = caller.post("/standing-orders", body, HTTP_IDEMPOTENCY_KEY="s1")
    ApiIdempotencyRecord.objects.update(created_at=timezone.now() - 6 * DAY)

    purge_expired_api_idempotency_records()
    replayed = caller.post("/standing-orders", body, HTTP_IDEMPOTENCY_KEY="s1")

    assert created.status_code == replayed.status_code == 201
    assert replayed.json() == created.json()
    assert StandingOrder.objects.count() == 1
    assert keys_left() == ["s1"]


def transfer_with_key(source: DepositAccount, payee: DepositAccount, key: str) -> Transfer:
    order = actions.TransferOrder(
        from_account_id=source.public_id,
        to_account_number=payee.number,
        amount=Money(1_000, "CNY"),
    )
    return actions.transfer(
        customer=source.customer, order=order, idempotency_key=key, channel=Channel.API, actor="t"
    )


def test_the_cleanup_never_touches_the_keys_of_transfers(open_account: OpenAccount) -> None:
    source, payee = open_account(balance_minor=100_000), open_account()
    made = transfer_with_key(source, payee, "t1")

    purged = purge_api_idempotency_records(actor="test", now=timezone.now() + 400 * DAY)
    again = transfer_with_key(source, payee, "t1")

    assert purged == 0
    assert again.public_id == made.public_id
    assert Transfer.objects.count() == 1


def test_the_worker_runs_the_cleanup_every_night() -> None:
    entry = project_app.conf.beat_schedule["api-idempotency-cleanup"]

    assert entry["task"] == purge_expired_api_idempotency_records.name
    assert entry["schedule"].hour == {3}
    assert entry["schedule"].minute == {15}
