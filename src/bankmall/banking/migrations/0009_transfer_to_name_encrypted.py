"""A transfer's payee name is personal data: store it encrypted, and encrypt the names stored
in clear so far (in place, with the same context the field uses)."""

from django.db import migrations

import bankmall.security.crypto

CONTEXT = "banking.transfer.to_name"


def _is_encrypted(value: str) -> bool:
    try:
        bankmall.security.crypto.decrypt(value, context=CONTEXT)
    except bankmall.security.crypto.DecryptionFailed:
        return False
    return True


def encrypt_names(apps, schema_editor):  # type: ignore[no-untyped-def]
    table = apps.get_model("banking", "Transfer")._meta.db_table
    connection = schema_editor.connection
    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, to_name FROM {quoted} WHERE to_name <> ''")  # noqa: S608
        rows = cursor.fetchall()
        for pk, name in rows:
            if _is_encrypted(name):
                continue
            sealed = bankmall.security.crypto.encrypt(name, context=CONTEXT)
            cursor.execute(f"UPDATE {quoted} SET to_name = %s WHERE id = %s", [sealed, pk])  # noqa: S608


def decrypt_names(apps, schema_editor):  # type: ignore[no-untyped-def]
    table = apps.get_model("banking", "Transfer")._meta.db_table
    connection = schema_editor.connection
    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, to_name FROM {quoted} WHERE to_name <> ''")  # noqa: S608
        for pk, stored in cursor.fetchall():
            if _is_encrypted(stored):
                plain = bankmall.security.crypto.decrypt(stored, context=CONTEXT)[:140]
                cursor.execute(f"UPDATE {quoted} SET to_name = %s WHERE id = %s", [plain, pk])  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [
        ("banking", "0008_standing_anchor_day"),
    ]

    operations = [
        migrations.AlterField(
            model_name="transfer",
            name="to_name",
            field=bankmall.security.crypto.EncryptedTextField(blank=True, default=""),
        ),
        migrations.RunPython(encrypt_names, decrypt_names),
    ]
