"""Every write path stores a batch's transfers with the same columns: the one-statement paths
(``fastpath`` on PostgreSQL, ``sqlitepath`` on SQLite) and the transactional path's inserts,
with and without references (``posting.transfer_values`` serves them all)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import pickle
from typing import Any

import pytest
from django.db import connection, transaction

from bankmall.core.models import AuditRecord
from bankmall.ledger import committing, contents, fastpath, posting, queries, sqlitepath
from bankmall.ledger.actions import TransferRequest, create_transfers
from bankmall.ledger.models import Account, Transfer
from bankmall.ledger.values import TransferView, transfer_view
from tests.ledger.conftest import cny, movement, open_account, prepared_rows, three_accounts

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
    return [*_movements(alice, bob, bank, METADATA), *(reversal if with_reversal else [])]


def _movements(
    payer: str, payee: str, fee_payer: str, metadata: dict[str, object]
) -> list[TransferRequest]:
    """Posted, pending with a timeout and every text, and a fee crediting ``payer``."""
    return [
        movement(payer, payee, 300, "plain"),
        movement(
            payer,
            payee,
            200,
            "hold",
            pending=True,
            timeout_seconds=60,
            code="c",
            reference="r \u00e9",
            metadata=metadata,
            value_date=dt.date(2026, 1, 31),
        ),
        movement(fee_payer, payer, 5, "fee", code="fee"),
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
    # And the batch's audit record seals what was stored.
    assert queries.contents_problems() == []


#: A batch's content and time, fixed: every path must seal it with ``PINNED_DIGEST``.
PINNED_NOW = dt.datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=dt.UTC)
PINNED_METADATA = {**METADATA, "rate": 1.5, "whole": 2.0, "big": 1e16, "huge": 2**70}
#: ``contents_digest`` of ``_pinned_rows`` under the key "pinned", on either database.
PINNED_DIGEST = "9bb1d248e93c7812ac19a9d8ccb504093eb8c3c77e2674ee23795582154523f6"


class _RolledBack(Exception):
    pass


def _pinned_rows() -> list[posting.Row]:
    rows = prepared_rows(
        *_movements("lac_pinnedalice", "lac_pinnedbob", "lac_pinnedbob", PINNED_METADATA)
    )
    for number, row in enumerate(rows):
        row.public_id = f"trf_pinned{number}"
    committing.set_expiry(rows, PINNED_NOW)
    return rows


def _sealed_digest() -> str:
    record = AuditRecord.objects.get(action="ledger.transfers_created", target="trf_pinned0")
    return str(record.details[contents.DETAILS_KEY])


def _write_and_roll_back(sealed: list[str]) -> None:
    """The pinned batch through the transactional path, its digest into ``sealed``, and
    everything rolled back (``_RolledBack``)."""
    with transaction.atomic():
        rows = _pinned_rows()
        posting.post_batch(rows, client="paths", now=PINNED_NOW)
        committing.record_batch(rows, client="paths", actor="test", now=PINNED_NOW)
        assert queries.contents_problems() == []
        sealed.append(_sealed_digest())
        raise _RolledBack


def test_every_write_path_seals_the_same_content_with_the_same_digest(
    settings: Any,
) -> None:
    """The transactional path (``posting``) and the database's own one-write path
    (``fastpath`` on PostgreSQL, ``sqlitepath`` on SQLite) give one batch the same digest, the
    one pinned here on both databases, and the check recomputes it from the stored rows."""
    settings.AUDIT_CHAIN_KEY = "pinned"
    open_account("equity:other")  # Its audit record starts the lane sqlitepath appends to.
    for name in ("alice", "bob"):
        Account.objects.create(
            public_id=f"lac_pinned{name}",
            code=f"equity:pinned:{name}",
            currency="CNY",
            kind="equity",
            created_at=PINNED_NOW,
        )
    fastpath._KNOWN.clear()  # Ids of earlier tests' accounts may be remembered.
    sqlitepath._known.clear()

    sealed: list[str] = []
    with pytest.raises(_RolledBack):
        _write_and_roll_back(sealed)
    (in_transaction,) = sealed
    own_write = fastpath if connection.vendor == "postgresql" else sqlitepath
    assert own_write.try_post(_pinned_rows(), client="paths", actor="test", now=PINNED_NOW)

    assert _sealed_digest() == in_transaction == PINNED_DIGEST
    assert queries.contents_problems() == []


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
