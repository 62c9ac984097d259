"""Monthly standing orders remember the day of the month they were anchored on."""

from django.db import migrations, models


def anchor_existing(apps, schema_editor):  # type: ignore[no-untyped-def]
    order_model = apps.get_model("banking", "StandingOrder")
    for order in order_model.objects.filter(next_date__isnull=False).only("pk", "next_date"):
        order_model.objects.filter(pk=order.pk).update(anchor_day=order.next_date.day)


class Migration(migrations.Migration):
    dependencies = [
        ("banking", "0007_standing_orders"),
    ]

    operations = [
        migrations.AddField(
            model_name="standingorder",
            name="anchor_day",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.RunPython(anchor_existing, migrations.RunPython.noop),
    ]
