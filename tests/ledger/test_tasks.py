"""The ledger's scheduled job: holds stop reserving funds about a minute after their timeout."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.utils import timezone

from bankmall.jobs import app as project_app
from bankmall.ledger import queries
from bankmall.ledger.tasks import expire_due_pending_transfers
from bankmall.ledger.values import AccountView
from tests.ledger.conftest import transfer

Funded = Callable[[int], tuple[AccountView, AccountView, AccountView]]


@pytest.mark.django_db
def test_the_job_expires_holds_whose_timeout_passed_and_keeps_the_others(funded: Funded) -> None:
    _bank, alice, bob = funded(1_000)
    hold = transfer(alice.id, bob.id, 400, pending=True, timeout_seconds=1)
    kept = transfer(alice.id, bob.id, 100, pending=True, timeout_seconds=3600)
    assert queries.balance(alice.id).available.amount_minor == 500
    assert hold.expires_at is not None
    while timezone.now() <= hold.expires_at:
        time.sleep(0.05)

    assert expire_due_pending_transfers() == 1

    assert queries.get_transfer(hold.id).status == "expired"
    assert queries.get_transfer(kept.id).status == "pending"
    assert queries.balance(alice.id).available.amount_minor == 900
    assert expire_due_pending_transfers() == 0
    assert queries.invariant_problems() == []


def test_the_job_is_scheduled_every_minute() -> None:
    entry = project_app.conf.beat_schedule["ledger-expiry"]

    assert entry["task"] == expire_due_pending_transfers.name
    assert entry["schedule"].minute == set(range(60))
    assert entry["schedule"].hour == set(range(24))
