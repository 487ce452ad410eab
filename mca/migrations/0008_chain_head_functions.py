from django.db import migrations

from mca.db_roles import DROP_FUNCTIONS_SQL, FUNCTIONS_SQL


def install(apps, schema_editor):
    # PostgreSQL only: the functions through which a runtime role without UPDATE rights locks and moves the head.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTIONS_SQL, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_FUNCTIONS_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [("mca", "0007_log_indexes_used_by_queries")]
    operations = [migrations.RunPython(install, uninstall)]
