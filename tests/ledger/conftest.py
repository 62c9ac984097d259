"""Factories for ledger tests: accounts by code, transfers by key, and a snapshot of everything."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection

from bankmall.core.models import AuditRecord
from bankmall.core.money import Money
from bankmall.core.relay import pending_count
from bankmall.ledger import actions, guards, posting
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
    credit_limited: bool = False,
) -> AccountView:
    """A customer-style account (debits may not exceed credits) or, with no_overdraft=False,
    an unrestricted one, or with credit_limited=True as well one whose credits may not exceed
    its debits."""
    (account,) = create_accounts(
        [
            AccountSpec(
                code=code,
                currency=currency,
                kind=kind,
                debits_must_not_exceed_credits=no_overdraft,
                credits_must_not_exceed_debits=credit_limited,
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


@contextlib.contextmanager
def guards_lifted() -> Iterator[None]:
    """The ledger's triggers out of the way, as someone with the database owner's rights
    could: on PostgreSQL this session replicates (``session_replication_role = replica``: its
    ordinary triggers do not fire, nothing shows it afterwards), on SQLite they are dropped and
    created again after. For tests that tamper with ledger rows or move them in time."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
            try:
                yield
            finally:
                cursor.execute("SET session_replication_role = DEFAULT")
            return
        for statement in guards.SQLITE_UNGUARDS_SQL:
            cursor.execute(statement)
        try:
            yield
        finally:
            for statement in guards.SQLITE_GUARDS_SQL:
                cursor.execute(statement)


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
        "events": pending_count(),
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


#: (case, error code) for ``broken_batch``: one broken precondition each.
BROKEN_PRECONDITIONS: list[tuple[str, str]] = [
    ("insufficient_funds", "insufficient_funds"),
    ("frozen", "account_frozen"),
    ("closed", "account_closed"),
    ("currency", "currency_mismatch"),
    ("missing", "account_not_found"),
    ("reused_key", "idempotency_key_reused"),
]


def broken_batch(accounts: dict[str, str], case: str) -> list[TransferRequest]:
    """A two-transfer batch whose second transfer (index 1) breaks ``case``; ``accounts`` holds
    a ``bank`` and ``alice`` (funded with 10,000) and ``bob``."""
    debit, credit, amount = accounts["alice"], accounts["bob"], 100
    if case == "insufficient_funds":
        amount = 10_002  # the batch first adds 1 to alice
    elif case == "frozen":
        actions.freeze_account(credit, reason="test", actor="test")
    elif case == "closed":
        actions.close_account(credit, reason="test", actor="test")
    elif case == "currency":
        credit = open_account("liability:usd", currency="USD").id
    elif case == "missing":
        credit = "lac_00000000000000000000000000"
    elif case == "reused_key":
        transfer(debit, credit, 1, key="taken")
    return [
        TransferRequest(
            key="ok", debit_account=accounts["bank"], credit_account=debit, amount=cny(1)
        ),
        TransferRequest(
            key="taken" if case == "reused_key" else "bad",
            debit_account=debit,
            credit_account=credit,
            amount=cny(amount),
        ),
    ]


def three_accounts() -> dict[str, str]:
    """Ids by name: ``bank`` (equity), ``alice`` (funded with 10,000 by the bank), ``bob``."""
    bank = open_account("equity:bank", kind="equity", no_overdraft=False)
    alice = open_account("liability:alice")
    bob = open_account("liability:bob")
    transfer(bank.id, alice.id, 10_000, key="fund")
    return {"bank": bank.id, "alice": alice.id, "bob": bob.id}


def prepared_rows(*requests: TransferRequest) -> list[posting.Row]:
    """``requests`` validated into rows, as ``create_transfers`` prepares them."""
    return [posting.prepare(index, request) for index, request in enumerate(requests)]


def movement(debit: str, credit: str, amount_minor: int, key: str, **fields: Any) -> Any:
    """A new transfer request of ``amount_minor`` CNY."""
    return TransferRequest(
        key=key, debit_account=debit, credit_account=credit, amount=cny(amount_minor), **fields
    )
