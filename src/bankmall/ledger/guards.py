"""The database's own guards of the ledger's rows, and the check that they are in place.

Transfers are never updated or deleted, accounts and their credit shards are never deleted,
and no ledger table is ever emptied (``models.py``): triggers refuse it on both databases,
whatever connects (the ORM, raw SQL, a database shell).

- PostgreSQL: ``ledger_account_never_deleted`` (migration 0004), ``ledger_transfer_never_deleted``
  (0006), ``ledger_transfer_never_updated`` (0010), the accounts' flags rule
  ``ledger_account_flags_on_insert`` / ``…_on_update`` (0008), and (0011) a
  ``…_never_truncated`` statement trigger on each of the three tables (row triggers do not see
  ``TRUNCATE``) and ``ledger_accountshard_never_deleted``.
- SQLite: ``ledger_account_never_deleted``, ``ledger_transfer_never_deleted`` and
  ``ledger_transfer_never_updated`` (0010), ``ledger_accountshard_never_deleted`` (0011). SQLite
  has no ``TRUNCATE``: its ``DELETE`` without ``WHERE`` fires the row triggers.

Django's SQLite schema editor rebuilds a table (copy, drop, rename) for most ``AlterField``
operations, and the rebuild silently drops the table's triggers: a later migration that
rebuilds ``ledger_transfer`` or ``ledger_account`` on SQLite must create them again
(``SQLITE_GUARDS_SQL`` as it then stands, written out in the migration). ``missing_guards``
names any that is missing (or disabled, on PostgreSQL); ``bankmall check`` reports it.
"""

from __future__ import annotations

from typing import Final

from django.db import connection

#: (table, trigger) pairs every migrated database has, by vendor.
GUARD_TRIGGERS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "postgresql": (
        ("ledger_account", "ledger_account_flags_on_insert"),
        ("ledger_account", "ledger_account_flags_on_update"),
        ("ledger_account", "ledger_account_never_deleted"),
        ("ledger_account", "ledger_account_never_truncated"),
        ("ledger_accountshard", "ledger_accountshard_never_deleted"),
        ("ledger_accountshard", "ledger_accountshard_never_truncated"),
        ("ledger_transfer", "ledger_transfer_never_deleted"),
        ("ledger_transfer", "ledger_transfer_never_truncated"),
        ("ledger_transfer", "ledger_transfer_never_updated"),
    ),
    "sqlite": (
        ("ledger_account", "ledger_account_never_deleted"),
        ("ledger_accountshard", "ledger_accountshard_never_deleted"),
        ("ledger_transfer", "ledger_transfer_never_deleted"),
        ("ledger_transfer", "ledger_transfer_never_updated"),
    ),
}

#: The PostgreSQL triggers that refuse ``TRUNCATE``, by table: Django's test runner empties
#: PostgreSQL test databases with it, so the test suite disables these around its flush.
POSTGRES_TRUNCATE_GUARDS: Final = tuple(
    (table, trigger)
    for table, trigger in GUARD_TRIGGERS["postgresql"]
    if trigger.endswith("_never_truncated")
)

#: The SQLite triggers as migrations 0010 and 0011 create them. ``RAISE(ABORT, …)`` fails the
#: statement (SQLITE_CONSTRAINT_TRIGGER: Django's ``IntegrityError``) and undoes what it changed.
SQLITE_GUARDS_SQL: Final = (
    (
        "CREATE TRIGGER IF NOT EXISTS ledger_transfer_never_updated BEFORE UPDATE ON"
        " ledger_transfer BEGIN SELECT RAISE(ABORT, 'ledger transfers are never updated'); END"
    ),
    (
        "CREATE TRIGGER IF NOT EXISTS ledger_transfer_never_deleted BEFORE DELETE ON"
        " ledger_transfer BEGIN SELECT RAISE(ABORT, 'ledger transfers are never deleted'); END"
    ),
    (
        "CREATE TRIGGER IF NOT EXISTS ledger_account_never_deleted BEFORE DELETE ON"
        " ledger_account BEGIN SELECT RAISE(ABORT, 'ledger accounts are never deleted'); END"
    ),
    (
        "CREATE TRIGGER IF NOT EXISTS ledger_accountshard_never_deleted BEFORE DELETE ON"
        " ledger_accountshard BEGIN SELECT RAISE(ABORT, 'ledger account shards are never deleted');"
        " END"
    ),
)
SQLITE_UNGUARDS_SQL: Final = tuple(
    f"DROP TRIGGER IF EXISTS {trigger}" for _table, trigger in GUARD_TRIGGERS["sqlite"]
)

_POSTGRES_TRIGGERS_SQL: Final = (
    "SELECT c.relname, t.tgname, t.tgenabled::text FROM pg_trigger t"
    " JOIN pg_class c ON c.oid = t.tgrelid"
    " WHERE c.relname IN ('ledger_account', 'ledger_accountshard', 'ledger_transfer')"
    " AND NOT t.tgisinternal"
    " AND pg_catalog.pg_table_is_visible(c.oid)"
)
#: ``pg_trigger.tgenabled`` of a trigger that fires in ordinary sessions ('O': origin and
#: local, 'A': always); 'D' is disabled, 'R' fires only while replicating.
_FIRING: Final = frozenset({"O", "A"})
_SQLITE_TRIGGERS_SQL: Final = (
    "SELECT tbl_name, name, 'O' FROM sqlite_master WHERE type = 'trigger'"
    " AND tbl_name IN ('ledger_account', 'ledger_accountshard', 'ledger_transfer')"
)


def missing_guards() -> list[str]:
    """One problem per guard trigger missing on the current database (or disabled, on
    PostgreSQL: ``ALTER TABLE … DISABLE TRIGGER``, or made to fire only on replicas); empty
    when all are in place."""
    expected = GUARD_TRIGGERS.get(connection.vendor, ())
    sql = _POSTGRES_TRIGGERS_SQL if connection.vendor == "postgresql" else _SQLITE_TRIGGERS_SQL
    with connection.cursor() as cursor:
        cursor.execute(sql)
        found = {(table, trigger): enabled for table, trigger, enabled in cursor.fetchall()}
    problems = []
    for table, trigger in expected:
        enabled = found.get((table, trigger))
        if enabled is None:
            problems.append(
                f"ledger table {table} lacks its guard trigger {trigger}: its rows can be"
                " changed or deleted (see docs/ledger.md, Guarantees)"
            )
        elif enabled not in _FIRING:
            problems.append(f"ledger table {table}: its guard trigger {trigger} is disabled")
    return problems
