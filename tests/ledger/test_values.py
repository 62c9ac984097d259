"""The ledger's request type is a frozen dataclass like any other, whatever its ``__init__``;
each shape of request becomes its row, and a request of no single shape is refused."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import pickle

import pytest

from bankmall.core.errors import InvalidInput
from bankmall.core.ids import is_valid_id
from bankmall.core.money import Money
from bankmall.ledger import posting
from bankmall.ledger.values import TIMEOUT_SECONDS_MAX, TransferRequest


def _request() -> TransferRequest:
    return TransferRequest(
        key="k1",
        debit_account="lac_a",
        credit_account="lac_b",
        amount=Money(500, "CNY"),
        code="rent",
        metadata={"n": 1},
        value_date=dt.date(2026, 1, 2),
    )


def test_a_transfer_request_holds_what_it_was_given_and_defaults_the_rest() -> None:
    request = _request()

    assert dataclasses.astuple(request) == (
        "k1", "lac_a", "lac_b", (500, "CNY"), False, 0, "", "", "", "rent", "", {"n": 1},
        dt.date(2026, 1, 2),
    )  # fmt: skip
    assert type(request) is TransferRequest
    assert not hasattr(request, "__dict__")
    assert repr(TransferRequest("k")) == (
        "TransferRequest(key='k', debit_account='', credit_account='', amount=None,"
        " pending=False, timeout_seconds=0, post_pending='', void_pending='', reverses='',"
        " code='', reference='', metadata={}, value_date=None)"
    )
    assert TransferRequest("k").metadata is not TransferRequest("k").metadata  # Each its own.
    assert TransferRequest("k", metadata=None).metadata is None  # type: ignore[arg-type]


def test_a_transfer_request_is_frozen_and_compares_copies_and_pickles_as_a_dataclass() -> None:
    request = _request()

    with pytest.raises(dataclasses.FrozenInstanceError):
        request.key = "k2"  # type: ignore[misc]
    assert request == _request() != dataclasses.replace(request, key="k2")
    assert dataclasses.replace(request, key="k2").key == "k2"
    assert pickle.loads(pickle.dumps(request)) == copy.deepcopy(request) == request  # noqa: S301
    assert [field.name for field in dataclasses.fields(TransferRequest)] == list(
        TransferRequest.__match_args__
    )
    with pytest.raises(TypeError, match="key"):
        TransferRequest()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="amout"):
        TransferRequest("k", amout=Money(1, "CNY"))  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("fields", "kind", "reference_id"),
    [
        ({}, "single", ""),
        ({"pending": True, "timeout_seconds": 60}, "pending", ""),
        ({"post_pending": "trf_p"}, "post", "trf_p"),
        ({"void_pending": "trf_v"}, "void", "trf_v"),
        ({"reverses": "trf_r"}, "single", "trf_r"),
    ],
)
def test_each_shape_of_request_becomes_its_row(
    fields: dict[str, object], kind: str, reference_id: str
) -> None:
    request = dataclasses.replace(_request(), **fields)

    row = posting.prepare(3, request)

    assert (row.index, row.key, row.kind, row.reference_id) == (3, "k1", kind, reference_id)
    assert (row.debit_ref, row.credit_ref) == ("lac_a", "lac_b")
    assert (row.amount_minor, row.currency, row.request) == (500, "CNY", request)
    assert row.digest == posting.request_digest(request)
    assert is_valid_id("trf", row.public_id)
    assert (row.pending_pk, row.reverses_pk, row.expires_at) == (None, None, None)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"pending": True, "reverses": "trf_r"}, "pending"),
        ({"post_pending": "trf_p", "void_pending": "trf_v"}, "pending"),
        ({"timeout_seconds": 5}, "timeout_seconds"),
        ({"pending": True, "timeout_seconds": -1}, "timeout_seconds"),
        ({"pending": True, "timeout_seconds": TIMEOUT_SECONDS_MAX + 1}, "timeout_seconds"),
        ({"key": ""}, "key"),
        ({"reference": "a\x00b"}, "reference"),
    ],
)
def test_a_request_of_no_single_shape_is_refused_naming_its_field(
    fields: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        posting.prepare(2, dataclasses.replace(_request(), **fields))

    assert caught.value.extra == {"transfer_index": 2}
    assert [error.field for error in caught.value.errors] == [f"transfers.2.{field}"]
