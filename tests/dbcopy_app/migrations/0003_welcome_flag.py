from django.db import migrations


def add_welcome(apps, schema_editor):
    # Written as many real data migrations are: through the default connection, not
    # schema_editor.connection.alias. Whatever database is being migrated, the row lands
    # in whatever `default` is at that moment.
    Flag = apps.get_model("dbcopy_app", "Flag")
    Flag.objects.get_or_create(name="welcome", defaults={"on": True})


class Migration(migrations.Migration):
    dependencies = [("dbcopy_app", "0002_shapes")]

    operations = [migrations.RunPython(add_welcome, migrations.RunPython.noop)]
