from django.db import migrations

from mca.db import drop_sqlite_triggers_sql, install_sqlite_triggers


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        install_sqlite_triggers(schema_editor.connection.cursor())
    apps.get_model("mca", "ChainHead").objects.get_or_create(id=1)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        cursor = schema_editor.connection.cursor()
        for sql in drop_sqlite_triggers_sql():
            cursor.execute(sql)


class Migration(migrations.Migration):
    # PostgreSQL gets its triggers from pgtrigger in 0001; SQLite gets equivalent RAISE(ABORT) triggers here.
    dependencies = [("mca", "0001_initial")]
    operations = [migrations.RunPython(install, uninstall)]
