"""Factories for ledger tests: accounts by code, transfers by key, and a snapshot of everything."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from bankmall.core.models import AuditRecord, OutboxEvent
from bankmall.core.money import Money
from bankmall.ledger.actions import AccountSpec, TransferRequest, create_accounts, create_transfers
from bankmall.ledger.models import Account, AccountShard, Transfer
from bankmall.ledger.values import AccountView, TransferView

_keys = itertools.count(1)


def cny(amount_minor: int) -> Money:
    return Money(amount_minor, "CNY")


def open_account(
    code: str,
    *,
    kind: str = "liability",
    currency: str = "CNY",
    no_overdraft: bool = True,
    overdraft_limit_minor: int = 0,
) -> AccountView:
    """A customer-style account (debits may not exceed credits) or, with no_overdraft=False,
    an unrestricted one."""
    (account,) = create_accounts(
        [
            AccountSpec(
                code=code,
                currency=currency,
                kind=kind,
                debits_must_not_exceed_credits=no_overdraft,
                overdraft_limit_minor=overdraft_limit_minor,
            )
        ],
        actor="test",
    )
    return account


def transfer(
    debit: str, credit: str, amount_minor: int, *, client: str = "test", **fields: Any
) -> TransferView:
    fields.setdefault("key", f"k{next(_keys)}")
    (result,) = create_transfers(
        [
            TransferRequest(
                debit_account=debit, credit_account=credit, amount=cny(amount_minor), **fields
            )
        ],
        client=client,
        actor="test",
    )
    return result


def snapshot() -> dict[str, Any]:
    """Everything a failed operation must leave untouched."""
    return {
        "accounts": list(
            Account.objects.order_by("pk").values_list(
                "public_id",
                "status",
                "debits_posted_minor",
                "credits_posted_minor",
                "debits_pending_minor",
                "credits_pending_minor",
            )
        ),
        "shards": list(
            AccountShard.objects.order_by("pk").values_list("status", "credits_posted_minor")
        ),
        "transfers": list(Transfer.objects.order_by("pk").values_list("public_id", flat=True)),
        "audit": AuditRecord.objects.count(),
        "events": OutboxEvent.objects.count(),
    }


@pytest.fixture
def funded() -> Callable[[int], tuple[AccountView, AccountView, AccountView]]:
    """(bank equity, alice, bob): alice funded with ``amount_minor`` from the bank."""

    def make(amount_minor: int) -> tuple[AccountView, AccountView, AccountView]:
        bank = open_account("equity:bank", kind="equity", no_overdraft=False)
        alice = open_account("liability:customer:alice")
        bob = open_account("liability:customer:bob")
        if amount_minor:
            transfer(bank.id, alice.id, amount_minor)
        return bank, alice, bob

    return make
