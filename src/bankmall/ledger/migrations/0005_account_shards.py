"""Credit shards for designated hot accounts: ``Account.credit_shards`` and the
``ledger_accountshard`` rows that hold their posted credits (with free page space on
PostgreSQL, as for accounts, so their updates stay HOT)."""

import django.db.models.deletion
from django.db import migrations, models


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE ledger_accountshard SET (fillfactor = 50)")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE ledger_accountshard RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0004_transfer_accounts_without_constraint'),
    ]

    operations = [
        migrations.CreateModel(
            name='AccountShard',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('shard', models.PositiveSmallIntegerField()),
                ('credits_posted_minor', models.BigIntegerField(default=0)),
                ('status', models.CharField(choices=[('active', 'Active'), ('frozen', 'Frozen'), ('closed', 'Closed')], default='active', max_length=16)),
            ],
        ),
        migrations.AddField(
            model_name='account',
            name='credit_shards',
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddConstraint(
            model_name='account',
            constraint=models.CheckConstraint(condition=models.Q(('credit_shards__lte', 64), models.Q(('credit_shards__gt', 0), ('credits_must_not_exceed_debits', True), _negated=True)), name='ledger_account_credit_shards'),
        ),
        migrations.AddField(
            model_name='accountshard',
            name='account',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='shards', to='ledger.account'),
        ),
        migrations.AddConstraint(
            model_name='accountshard',
            constraint=models.UniqueConstraint(fields=('account', 'shard'), name='ledger_accountshard_unique'),
        ),
        migrations.AddConstraint(
            model_name='accountshard',
            constraint=models.CheckConstraint(condition=models.Q(('credits_posted_minor__gte', 0)), name='ledger_accountshard_credits_not_negative'),
        ),
        migrations.RunPython(set_fillfactor, reset_fillfactor),
    ]
