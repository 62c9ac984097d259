"""The ledger's request type is a frozen dataclass like any other, whatever its ``__init__``."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import pickle

import pytest

from bankmall.core.money import Money
from bankmall.ledger.values import TransferRequest


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
