"""Every write path stores a batch's transfers with the same columns: the one-statement paths
(``fastpath`` on PostgreSQL, ``sqlitepath`` on SQLite) and the transactional path's inserts,
with and without references (``posting.transfer_values`` serves them all)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import pickle

import pytest
from django.db import transaction

from bankmall.ledger import posting, queries
from bankmall.ledger.actions import TransferRequest, create_transfers
from bankmall.ledger.models import Transfer
from bankmall.ledger.values import TransferView, transfer_view
from tests.ledger.conftest import cny, movement, three_accounts

pytestmark = pytest.mark.django_db(transaction=True)


#: The fast path (own write), the transactional path, and the latter with a reference.
EVERY_PATH = pytest.mark.parametrize(
    ("in_transaction", "with_reversal"),
    [(False, False), (True, False), (True, True)],
    ids=["own write", "transaction", "transaction with a reversal"],
)
METADATA = {"b": [1, {"z": None}], "a": "\u4e2d"}


def _batch(accounts: dict[str, str], *, with_reversal: bool) -> list[TransferRequest]:
    """Three new transfers of every shape the one-write paths take (posted, pending with a
    timeout and every text, another posted), and a reversal when ``with_reversal``."""
    bank, alice, bob = accounts["bank"], accounts["alice"], accounts["bob"]
    fund = Transfer.objects.get(key="fund").public_id
    reversal = [TransferRequest(key="undo", reverses=fund, amount=cny(1))]
    return [
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
            metadata=METADATA,
            value_date=dt.date(2026, 1, 31),
        ),
        movement(bank, alice, 5, "fee", code="fee"),
        *(reversal if with_reversal else []),
    ]


@EVERY_PATH
def test_every_write_path_stores_the_same_columns(
    in_transaction: bool, with_reversal: bool
) -> None:
    accounts = three_accounts()
    bank, alice, bob = accounts["bank"], accounts["alice"], accounts["bob"]
    batch = _batch(accounts, with_reversal=with_reversal)
    requests, metadata = batch[:3], METADATA

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


@EVERY_PATH
def test_every_write_path_returns_the_views_read_back(
    in_transaction: bool, with_reversal: bool
) -> None:
    """The views a write returns (built by ``values.transfer_view``) are ``TransferView``s
    equal, field by field, to the ones read from storage, and as immutable."""
    batch = _batch(three_accounts(), with_reversal=with_reversal)

    with transaction.atomic() if in_transaction else contextlib.nullcontext():
        views = create_transfers(batch, client="paths", actor="test")

    read = [queries.get_transfer(view.id) for view in views]
    assert views == read
    assert [dataclasses.asdict(view) for view in views] == [
        dataclasses.asdict(view) for view in read
    ]
    for view in views:
        assert type(view) is TransferView
        with pytest.raises(dataclasses.FrozenInstanceError):
            view.status = "voided"  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            del view.key  # type: ignore[misc]
        assert view == TransferView(**{field.name: getattr(view, field.name) for field in FIELDS})
        assert view == dataclasses.replace(view)
        assert view != dataclasses.replace(view, status="other")


FIELDS = dataclasses.fields(TransferView)


def test_a_transfer_view_built_by_position_is_the_dataclass_built_by_keyword() -> None:
    values = {
        "id": "trf_1",
        "key": "k",
        "client": "c",
        "kind": "pending",
        "status": "pending",
        "debit_account": "lac_a",
        "credit_account": "lac_b",
        "amount": cny(7),
        "code": "code",
        "reference": "ref",
        "metadata": {"a": [1]},
        "value_date": dt.date(2026, 1, 31),
        "pending_id": None,
        "reverses_id": "trf_0",
        "expires_at": dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
        "created_at": dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC),
    }
    by_keyword = TransferView(**values)
    by_position = transfer_view(*values.values())
    assert type(by_position) is TransferView
    assert by_position == by_keyword
    assert repr(by_position) == repr(by_keyword)
    assert tuple(getattr(by_position, field.name) for field in FIELDS) == tuple(values.values())
    assert not hasattr(by_position, "__dict__")
    with pytest.raises(TypeError, match="unhashable"):  # As the dataclass (a dict field).
        hash(by_position)
    with pytest.raises(dataclasses.FrozenInstanceError):
        by_position.amount = cny(8)  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(by_position)) == by_keyword  # noqa: S301
