"""Transfers are never updated, and on SQLite never deleted, nor are accounts: triggers refuse it.

- PostgreSQL: a BEFORE UPDATE row trigger on ``ledger_transfer`` (deletes of transfers and
  accounts were refused since 0006 and 0004). Transfers are only ever inserted, so no write of the
  ledger fires it; it does not see TRUNCATE, which Django's test runner empties tables with.
- SQLite: BEFORE UPDATE and BEFORE DELETE on ``ledger_transfer``, BEFORE DELETE on
  ``ledger_account``, each ``RAISE(ABORT, …)`` (Django's ``IntegrityError``). Django empties
  SQLite test databases with DELETE: the test suite lifts these triggers around its flush
  (``tests/conftest.py``), nothing else deletes ledger rows.

Django's SQLite schema editor rebuilds a table for most ``AlterField`` operations and the
rebuild drops the table's triggers: a later migration that rebuilds ``ledger_transfer`` or
``ledger_account`` on SQLite must create these again after it (``bankmall check`` names a
missing one, ``ledger/guards.py``).
"""

from django.db import migrations

# Written out here rather than imported: a migration stays as it was run.
_POSTGRES_GUARD = """
CREATE OR REPLACE FUNCTION ledger_transfer_never_updated() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger transfers are never updated (transfer %)', OLD.public_id
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_transfer_never_updated BEFORE UPDATE ON ledger_transfer
    FOR EACH ROW EXECUTE FUNCTION ledger_transfer_never_updated();
"""
_POSTGRES_UNGUARD = """
DROP TRIGGER IF EXISTS ledger_transfer_never_updated ON ledger_transfer;
DROP FUNCTION IF EXISTS ledger_transfer_never_updated();
"""
_SQLITE_GUARDS = (
    "CREATE TRIGGER IF NOT EXISTS ledger_transfer_never_updated BEFORE UPDATE ON ledger_transfer"
    " BEGIN SELECT RAISE(ABORT, 'ledger transfers are never updated'); END",
    "CREATE TRIGGER IF NOT EXISTS ledger_transfer_never_deleted BEFORE DELETE ON ledger_transfer"
    " BEGIN SELECT RAISE(ABORT, 'ledger transfers are never deleted'); END",
    "CREATE TRIGGER IF NOT EXISTS ledger_account_never_deleted BEFORE DELETE ON ledger_account"
    " BEGIN SELECT RAISE(ABORT, 'ledger accounts are never deleted'); END",
)
_SQLITE_UNGUARDS = (
    "DROP TRIGGER IF EXISTS ledger_transfer_never_updated",
    "DROP TRIGGER IF EXISTS ledger_transfer_never_deleted",
    "DROP TRIGGER IF EXISTS ledger_account_never_deleted",
)


def _run(schema_editor, by_vendor):
    for statement in by_vendor.get(schema_editor.connection.vendor, ()):
        schema_editor.execute(statement, None)


def guard(apps, schema_editor):
    _run(schema_editor, {"postgresql": (_POSTGRES_GUARD,), "sqlite": _SQLITE_GUARDS})


def unguard(apps, schema_editor):
    _run(schema_editor, {"postgresql": (_POSTGRES_UNGUARD,), "sqlite": _SQLITE_UNGUARDS})


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0009_append_only_ids"),
    ]

    operations = [
        migrations.RunPython(guard, unguard),
    ]
