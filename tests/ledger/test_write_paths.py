"""Every write path stores a batch's transfers with the same columns: the one-statement paths
(``fastpath`` on PostgreSQL, ``sqlitepath`` on SQLite) and the transactional path's inserts,
with and without references (``posting.transfer_values`` serves them all)."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from django.db import transaction

from bankmall.ledger import posting
from bankmall.ledger.actions import TransferRequest, create_transfers
from bankmall.ledger.models import Transfer
from tests.ledger.conftest import cny, movement, three_accounts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("in_transaction", "with_reversal"),
    [(False, False), (True, False), (True, True)],
    ids=["own write", "transaction", "transaction with a reversal"],
)
def test_every_write_path_stores_the_same_columns(
    in_transaction: bool, with_reversal: bool
) -> None:
    accounts = three_accounts()
    bank, alice, bob = accounts["bank"], accounts["alice"], accounts["bob"]
    fund = Transfer.objects.get(key="fund").public_id
    metadata = {"b": [1, {"z": None}], "a": "\u4e2d"}
    requests = [
        movement(alice, bob, 300, "plain"),
        movement(
            alice,
            bob,
            200,
            "hold",
            pending=True,
            timeout_seconds=60,
            code="c",
            reference="r \u00e9",
            metadata=metadata,
            value_date=dt.date(2026, 1, 31),
        ),
        movement(bank, alice, 5, "fee", code="fee"),
    ]
    reversal = [TransferRequest(key="undo", reverses=fund, amount=cny(1))]
    batch = [*requests, *(reversal if with_reversal else [])]

    with transaction.atomic() if in_transaction else contextlib.nullcontext():
        views = create_transfers(batch, client="paths", actor="test")

    created_at = views[0].created_at
    today = created_at.date()
    stored = {
        transfer.key: (
            transfer.public_id,
            transfer.request_digest,
            transfer.kind,
            transfer.debit_account.public_id,
            transfer.credit_account.public_id,
            transfer.amount_minor,
            transfer.currency,
            transfer.code,
            transfer.reference,
            transfer.metadata,
            transfer.value_date,
            transfer.pending_id,
            transfer.reverses_id,
            transfer.expires_at,
            transfer.created_at,
        )
        for transfer in Transfer.objects.filter(client="paths", key__in=["plain", "hold", "fee"])
    }
    digests = [posting.request_digest(request) for request in requests]
    ids = [view.id for view in views]
    assert stored == {
        "plain": (
            ids[0],
            digests[0],
            "single",
            alice,
            bob,
            300,
            "CNY",
            "",
            "",
            {},
            today,
            None,
            None,
            None,
            created_at,
        ),
        "hold": (
            ids[1],
            digests[1],
            "pending",
            alice,
            bob,
            200,
            "CNY",
            "c",
            "r \u00e9",
            metadata,
            dt.date(2026, 1, 31),
            None,
            None,
            created_at + dt.timedelta(seconds=60),
            created_at,
        ),
        "fee": (
            ids[2],
            digests[2],
            "single",
            bank,
            alice,
            5,
            "CNY",
            "fee",
            "",
            {},
            today,
            None,
            None,
            None,
            created_at,
        ),
    }
