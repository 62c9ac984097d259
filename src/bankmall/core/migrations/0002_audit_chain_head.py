from django.db import migrations


def create_head(apps, schema_editor):
    head_model = apps.get_model("core", "AuditChainHead")
    head_model.objects.get_or_create(pk=1, defaults={"sequence": 0, "record_hash": ""})


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [migrations.RunPython(create_head, migrations.RunPython.noop)]
