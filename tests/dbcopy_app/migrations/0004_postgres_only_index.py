from django.db import migrations, models


def create_on_postgresql(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.create_model(apps.get_model("dbcopy_app", "PostgresOnlyIndex"))


def drop_on_postgresql(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.delete_model(apps.get_model("dbcopy_app", "PostgresOnlyIndex"))


class Migration(migrations.Migration):
    dependencies = [("dbcopy_app", "0003_welcome_flag")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="PostgresOnlyIndex",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                                   serialize=False, verbose_name="ID")),
                        ("document", models.CharField(max_length=100)),
                    ],
                ),
            ],
        ),
        # The model exists in the state now, so RunPython's apps can build its table.
        migrations.RunPython(create_on_postgresql, drop_on_postgresql),
    ]  # fmt: skip
