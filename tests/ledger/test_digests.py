"""A transfer's request digest is stored and compared on every replay: its bytes never change.

The digests below were computed by the code that wrote the transfers already stored (commit
c8d618d); a change to ``posting.request_digest`` that alters any of them would make every
retry of an existing key look like a reused key.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bankmall.core.money import Money
from bankmall.ledger import posting
from bankmall.ledger.actions import TransferRequest, create_transfers
from bankmall.ledger.models import Transfer
from tests.ledger.conftest import open_account

DEBIT = "lac_01jdq3v7k2m9x4c8r5t6w0y1za"
CREDIT = "lac_01jdq3v7k2m9x4c8r5t6w0y1zb"
PENDING = "trf_01jdq3v7k2m9x4c8r5t6w0y1zc"
PENDING_BY_CODE = TransferRequest(
    key="k8",
    debit_account="asset:cash",
    credit_account="liability:alice",
    amount=Money(250, "USD"),
    pending=True,
    timeout_seconds=60,
    code="pin",
    reference="r",
    metadata={"b": 2, "a": "\u4e2d"},
    value_date=dt.date(2026, 1, 31),
)
PINNED = [
    (
        TransferRequest(
            key="k1",
            debit_account=DEBIT,
            credit_account=CREDIT,
            amount=Money(12345, "CNY"),
            code="bench",
        ),
        "61c6f93b310294d023bb97bfa6392c5e3629d599022982e8d1a6814d17fa103e",
    ),
    (
        TransferRequest(
            key="k2",
            debit_account="asset:cash",
            credit_account="liability:alice",
            amount=Money(1, "USD"),
        ),
        "c1f833ae8af5c17fa10476d222d8551e89cabe1204f5da617b0309b9a6200e8f",
    ),
    (
        TransferRequest(
            key="k3",
            debit_account=DEBIT,
            credit_account=CREDIT,
            amount=Money(10**15, "EUR"),
            pending=True,
            timeout_seconds=3600,
            code="hold",
            reference="order 42 \u00e9\u4e2d",
            metadata={"z": [1, 2, {"b": None, "a": True}], "a": "\u00fc\u4e2d", "n": 1.5},
            value_date=dt.date(2026, 11, 27),
        ),
        "4fbd360deed3181380d6b96addcb6cd49015a555787073f8101add54f1a750ee",
    ),
    (PENDING_BY_CODE, "b29c9a48a969701d2746f978b93462211bcd812af61f533039de271513dd39d4"),
    (
        TransferRequest(key="k4", post_pending=PENDING, amount=Money(500, "CNY")),
        "79699cc609507db958c8d86a184d86b70dfe7e9abf6a64818d258d5de7e020d6",
    ),
    (
        TransferRequest(key="k5", post_pending=PENDING),
        "8d29b26dd1e75063a12bcf091cbd32856609df5478db78a3e86f0f824f2e7cb9",
    ),
    (
        TransferRequest(key="k6", void_pending=PENDING, debit_account=DEBIT, credit_account=CREDIT),
        "e7bb1417eeb3954cc1e87c59f13d03b0ff0cef59a90cf072bc5b4730456f9dfd",
    ),
    (
        TransferRequest(
            key="k7",
            reverses=PENDING,
            amount=Money(7, "JPY"),
            reference="refund",
            metadata={"reason": "x"},
        ),
        "0a332f11398191f5c1a5ee359b78a31f50d56553bc7d00e079f1f56738573e51",
    ),
]


@pytest.mark.parametrize(("request_", "digest"), PINNED, ids=[r.key for r, _ in PINNED])
def test_every_shape_of_request_keeps_its_digest(request_: TransferRequest, digest: str) -> None:
    assert posting.request_digest(request_) == digest
    assert posting.prepare(0, request_).digest == digest


@pytest.mark.django_db
def test_a_written_transfer_stores_the_pinned_digest() -> None:
    open_account("asset:cash", kind="asset", currency="USD", no_overdraft=False)
    open_account("liability:alice", currency="USD")

    (view,) = create_transfers([PENDING_BY_CODE], client="test", actor="test")

    stored = Transfer.objects.get(public_id=view.id).request_digest
    assert stored == "b29c9a48a969701d2746f978b93462211bcd812af61f533039de271513dd39d4"
