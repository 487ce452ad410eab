from django.db import migrations

from mca.db_roles import DROP_FUNCTIONS_SQL, functions_sql


def install(apps, schema_editor):
    # PostgreSQL only: the functions through which a runtime role without UPDATE rights locks and moves the head.
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            schema = cursor.fetchone()[0]
        schema_editor.execute(functions_sql(schema), params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_FUNCTIONS_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [("mca", "0007_log_indexes_used_by_queries")]
    operations = [migrations.RunPython(install, uninstall)]
