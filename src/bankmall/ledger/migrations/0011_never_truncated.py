"""No ledger table can be emptied, nor a credit shard deleted: triggers refuse it.

- PostgreSQL: a BEFORE TRUNCATE statement trigger on ``ledger_transfer``, ``ledger_account``
  and ``ledger_accountshard`` (row triggers do not see TRUNCATE, so 0004, 0006 and 0010 left
  it open), and a BEFORE DELETE row trigger on ``ledger_accountshard``: an account's shard rows
  hold part of its posted credits and live as long as the account. Django's test runner empties
  PostgreSQL test databases with TRUNCATE: the test suite disables the three truncate triggers
  around its flush (``tests/conftest.py``), nothing else truncates ledger tables.
- SQLite (no TRUNCATE there; ``DELETE`` without a ``WHERE`` fires row triggers): BEFORE DELETE on
  ``ledger_accountshard``, ``RAISE(ABORT, …)`` as in 0010.
"""

from django.db import migrations

# Written out here rather than imported: a migration stays as it was run.
_POSTGRES_GUARD = """
CREATE OR REPLACE FUNCTION ledger_never_truncated() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger table % is never truncated', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_transfer_never_truncated BEFORE TRUNCATE ON ledger_transfer
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_never_truncated();
CREATE TRIGGER ledger_account_never_truncated BEFORE TRUNCATE ON ledger_account
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_never_truncated();
CREATE TRIGGER ledger_accountshard_never_truncated BEFORE TRUNCATE ON ledger_accountshard
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_never_truncated();
CREATE OR REPLACE FUNCTION ledger_accountshard_never_deleted() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger account shards are never deleted (shard % of account %)',
        OLD.shard, OLD.account_id USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_accountshard_never_deleted BEFORE DELETE ON ledger_accountshard
    FOR EACH ROW EXECUTE FUNCTION ledger_accountshard_never_deleted();
"""
_POSTGRES_UNGUARD = """
DROP TRIGGER IF EXISTS ledger_accountshard_never_deleted ON ledger_accountshard;
DROP FUNCTION IF EXISTS ledger_accountshard_never_deleted();
DROP TRIGGER IF EXISTS ledger_accountshard_never_truncated ON ledger_accountshard;
DROP TRIGGER IF EXISTS ledger_account_never_truncated ON ledger_account;
DROP TRIGGER IF EXISTS ledger_transfer_never_truncated ON ledger_transfer;
DROP FUNCTION IF EXISTS ledger_never_truncated();
"""
_SQLITE_GUARDS = (
    "CREATE TRIGGER IF NOT EXISTS ledger_accountshard_never_deleted BEFORE DELETE ON"
    " ledger_accountshard BEGIN SELECT RAISE(ABORT, 'ledger account shards are never deleted');"
    " END",
)
_SQLITE_UNGUARDS = ("DROP TRIGGER IF EXISTS ledger_accountshard_never_deleted",)


def _run(schema_editor, by_vendor):
    for statement in by_vendor.get(schema_editor.connection.vendor, ()):
        schema_editor.execute(statement, None)


def guard(apps, schema_editor):
    _run(schema_editor, {"postgresql": (_POSTGRES_GUARD,), "sqlite": _SQLITE_GUARDS})


def unguard(apps, schema_editor):
    _run(schema_editor, {"postgresql": (_POSTGRES_UNGUARD,), "sqlite": _SQLITE_UNGUARDS})


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0010_transfers_never_updated"),
    ]

    operations = [
        migrations.RunPython(guard, unguard),
    ]
