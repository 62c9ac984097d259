"""The relay's cursor per audit lane, and the audit details compressed with lz4.

Audit records now carry the events of the writes they record (``outbox.announce``): a ledger
batch's record names every transfer and account it touched (~60 kB of JSON for 1,000
transfers), which PostgreSQL compresses before storing it out of line, as it did the outbox
payload (0009): lz4 instead of the default pglz. A PostgreSQL built without lz4 keeps pglz;
SQLite does not compress.
"""

import django.core.validators
from django.db import migrations, models

_TO_LZ4 = """
DO $$
BEGIN
    ALTER TABLE core_auditrecord ALTER COLUMN details SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available: the audit details keep pglz';
END
$$;
"""
_TO_DEFAULT = "ALTER TABLE core_auditrecord ALTER COLUMN details SET COMPRESSION DEFAULT"


def _forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_TO_LZ4)


def _backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_TO_DEFAULT)


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0010_append_only_ids'),
    ]

    # Records written before this migration announce no event: the relay starts each lane
    # after its last record instead of reading the whole log once.
    operations = [
        migrations.CreateModel(
            name='AuditRelayCursor',
            fields=[
                ('lane', models.SmallIntegerField(primary_key=True, serialize=False, validators=[django.core.validators.MinValueValidator(1)])),
                ('sequence', models.BigIntegerField(default=0)),
                ('published_events', models.BigIntegerField(default=0)),
                ('failed_attempts', models.IntegerField(default=0)),
                ('moved_at', models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.RunSQL(
            "INSERT INTO core_auditrelaycursor (lane, sequence, published_events,"
            " failed_attempts) SELECT id, sequence, 0, 0 FROM core_auditchainhead",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RunPython(_forwards, _backwards),
    ]
