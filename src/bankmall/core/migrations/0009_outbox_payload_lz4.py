"""The outbox payload compressed with lz4 instead of PostgreSQL's default pglz.

A ledger batch's event names every transfer and account it touched (~95 kB of JSON for 1,000
transfers), which PostgreSQL compresses before storing it out of line: pglz spent ~6 % of the
server's work on a batch (callgrind: 245k -> 231k instructions per transfer with lz4). A
PostgreSQL built without lz4 keeps pglz; SQLite does not compress.
"""

from django.db import migrations

_TO_LZ4 = """
DO $$
BEGIN
    ALTER TABLE core_outboxevent ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available: the outbox payload keeps pglz';
END
$$;
"""
_TO_DEFAULT = "ALTER TABLE core_outboxevent ALTER COLUMN payload SET COMPRESSION DEFAULT"


def _forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_TO_LZ4)


def _backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_TO_DEFAULT)


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0008_lean_checks"),
    ]

    operations = [migrations.RunPython(_forwards, _backwards)]
