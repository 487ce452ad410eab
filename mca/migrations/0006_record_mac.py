# Hash version 3: each record carries the id of the MAC key it was sealed with and its HMAC-SHA256 (mca.chain).

from django.db import migrations, models

from mca.db import install_sqlite_triggers


def reinstall_sqlite_triggers(apps, schema_editor):
    # Altering a column on SQLite rebuilds the table, which drops its triggers: put the append-only ones back.
    if schema_editor.connection.vendor == "sqlite":
        install_sqlite_triggers(schema_editor.connection.cursor())


class Migration(migrations.Migration):
    dependencies = [
        ("mca", "0005_setup_retry_permission"),
    ]

    operations = [
        migrations.AddField(
            model_name="acceptancerecord",
            name="key_id",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddField(
            model_name="acceptancerecord",
            name="mac",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AlterField(
            model_name="acceptancerecord",
            name="hash_version",
            field=models.PositiveSmallIntegerField(default=3),
        ),
        migrations.RunPython(reinstall_sqlite_triggers, migrations.RunPython.noop),
    ]
