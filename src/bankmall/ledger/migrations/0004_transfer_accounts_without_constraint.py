"""Transfers keep their account ids without a foreign-key constraint (checked at every commit,
it cost about a quarter of the server's time for a batch); on PostgreSQL a trigger refuses to
delete a ledger account instead, which is what kept the ids valid."""

import django.db.models.deletion
from django.db import migrations, models

_GUARD = """
CREATE OR REPLACE FUNCTION ledger_account_never_deleted() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger accounts are never deleted (account %)', OLD.public_id
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_account_never_deleted BEFORE DELETE ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION ledger_account_never_deleted();
"""
_UNGUARD = """
DROP TRIGGER IF EXISTS ledger_account_never_deleted ON ledger_account;
DROP FUNCTION IF EXISTS ledger_account_never_deleted();
"""


def guard(apps, schema_editor):
    # PostgreSQL only: Django empties SQLite test databases with DELETE (PostgreSQL's with
    # TRUNCATE, which row triggers do not see). On SQLite the ORM's PROTECT and the invariant
    # check remain.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_GUARD, None)


def unguard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_UNGUARD, None)


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0003_lean_public_id_index"),
    ]

    operations = [
        migrations.RunPython(guard, unguard),
        migrations.AlterField(
            model_name="transfer",
            name="credit_account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="ledger.account",
            ),
        ),
        migrations.AlterField(
            model_name="transfer",
            name="debit_account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="ledger.account",
            ),
        ),
    ]
