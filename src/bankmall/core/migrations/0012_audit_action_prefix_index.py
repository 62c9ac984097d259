"""The audit log's action index with pattern operators on PostgreSQL.

The back office filters the audit log by an action prefix (``action__startswith``, a
``LIKE 'x%'``). With the server's collation (here ``C.UTF-8``) a plain b-tree serves only
equality, so that search read the whole log; ``varchar_pattern_ops`` makes it an index range
and still serves equality. The index is rebuilt once; SQLite's is the same as before.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0011_audit_relay_cursor'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='auditrecord',
            name='audit_action_idx',
        ),
        migrations.AddIndex(
            model_name='auditrecord',
            index=models.Index(fields=['action', 'id'], name='audit_action_idx', opclasses=['varchar_pattern_ops', 'int8_ops']),
        ),
    ]
