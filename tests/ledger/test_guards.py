"""The database's guards that migration 0011 added: no ledger table can be emptied (PostgreSQL's
``TRUNCATE``, which row triggers do not see) and no credit shard deleted, on both databases;
``bankmall check`` names a missing one. (Transfers and accounts: ``test_transfers.py``.)"""

from __future__ import annotations

import importlib

import pytest
from django.db import IntegrityError, connection, transaction

from bankmall.core.money import Money
from bankmall.ledger import guards, queries
from bankmall.ledger.actions import AccountSpec, TransferRequest, create_accounts, create_transfers
from bankmall.ledger.models import AccountShard
from tests.ledger.conftest import open_account, snapshot

pytestmark = pytest.mark.django_db


def _sharded_merchant_paid() -> str:
    """A merchant account with four credit shards, paid twice; its id."""
    payer = open_account("equity:bank", kind="equity", no_overdraft=False)
    (merchant,) = create_accounts(
        [AccountSpec(code="liability:merchant", currency="CNY", kind="liability", credit_shards=4)]
    )
    create_transfers(
        [
            TransferRequest(
                key=f"pay:{n}",
                debit_account=payer.id,
                credit_account=merchant.id,
                amount=Money(100 + n, "CNY"),
            )
            for n in range(2)
        ],
        client="test",
    )
    return merchant.id


def test_a_credit_shard_is_never_deleted() -> None:
    merchant = _sharded_merchant_paid()
    before = snapshot()
    shards = AccountShard.objects.filter(account__public_id=merchant)

    with pytest.raises(IntegrityError, match="shards are never deleted"), transaction.atomic():
        shards.filter(shard=0).delete()
    with pytest.raises(IntegrityError, match="shards are never deleted"), transaction.atomic():
        shards.delete()

    assert snapshot() == before
    assert shards.count() == 4
    assert queries.balance(merchant).posted.amount_minor == 201
    assert queries.invariant_problems() == []


@pytest.mark.usefixtures("requires_postgres")
@pytest.mark.parametrize(
    "tables",
    [
        "ledger_transfer",
        "ledger_accountshard",
        # Alone it is refused by the shards' foreign key before any trigger runs.
        "ledger_account, ledger_accountshard",
        "ledger_account CASCADE",
    ],
)
def test_no_ledger_table_can_be_truncated(tables: str) -> None:
    _sharded_merchant_paid()
    before = snapshot()

    with transaction.atomic(), connection.cursor() as cursor:
        # The shard rows' deferred foreign key checks, pending in the test's transaction,
        # would make PostgreSQL refuse the TRUNCATE before any trigger runs.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        with (
            pytest.raises(IntegrityError, match=r"ledger table ledger_\w+ is never truncated"),
            transaction.atomic(),
        ):
            cursor.execute(f"TRUNCATE {tables}")

    assert snapshot() == before
    assert queries.invariant_problems() == []


@pytest.mark.usefixtures("requires_postgres")
def test_a_missing_or_disabled_truncate_guard_is_named() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER ledger_transfer_never_truncated ON ledger_transfer")
        cursor.execute(
            "ALTER TABLE ledger_accountshard DISABLE TRIGGER ledger_accountshard_never_truncated"
        )

    assert guards.missing_guards() == [
        (
            "ledger table ledger_accountshard: its guard trigger"
            " ledger_accountshard_never_truncated is disabled"
        ),
        (
            "ledger table ledger_transfer lacks its guard trigger ledger_transfer_never_truncated:"
            " its rows can be changed or deleted (see docs/ledger.md, Guarantees)"
        ),
    ]


def test_a_missing_shard_guard_is_named() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER ledger_accountshard_never_deleted ON ledger_accountshard")
        else:
            cursor.execute("DROP TRIGGER ledger_accountshard_never_deleted")

    assert guards.missing_guards() == [
        (
            "ledger table ledger_accountshard lacks its guard trigger"
            " ledger_accountshard_never_deleted: its rows can be changed or deleted (see"
            " docs/ledger.md, Guarantees)"
        ),
    ]


def test_the_guards_module_creates_the_triggers_the_migrations_create() -> None:
    """``guards.SQLITE_GUARDS_SQL`` (the test suite's flush, the model's docstring) is what
    migrations 0010 and 0011 ran, and every trigger they create is one ``missing_guards``
    looks for."""
    ran = [
        importlib.import_module(f"bankmall.ledger.migrations.{name}")
        for name in ("0010_transfers_never_updated", "0011_never_truncated")
    ]
    assert tuple(s for m in ran for s in m._SQLITE_GUARDS) == guards.SQLITE_GUARDS_SQL
    assert sorted(s for m in ran for s in m._SQLITE_UNGUARDS) == sorted(guards.SQLITE_UNGUARDS_SQL)
    # The older PostgreSQL triggers (0004, 0006, 0008, 0010) were created by their own
    # migrations; 0011 creates every truncate guard and the shard rows' delete guard.
    added = [
        trigger
        for _table, trigger in guards.GUARD_TRIGGERS["postgresql"]
        if trigger.endswith("_never_truncated") or trigger.startswith("ledger_accountshard")
    ]
    assert len(added) == 4
    assert all(f"CREATE TRIGGER {trigger} " in ran[1]._POSTGRES_GUARD for trigger in added)
