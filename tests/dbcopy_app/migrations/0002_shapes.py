import django.db.models.deletion
from django.db import migrations, models

import tests.dbcopy_app.models


class Migration(migrations.Migration):
    dependencies = [("dbcopy_app", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("action", models.CharField(max_length=20)),
                ("author", models.ForeignKey(db_constraint=False, null=True,
                                             on_delete=django.db.models.deletion.DO_NOTHING,
                                             to="dbcopy_app.author")),
            ],
        ),
        migrations.CreateModel(
            name="Voucher",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("code", models.CharField(max_length=20, null=True, unique=True)),
            ],
        ),
        migrations.CreateModel(
            name="SearchEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("title", models.CharField(max_length=100)),
                ("body", tests.dbcopy_app.models.SearchVectorField()),
            ],
        ),
        migrations.CreateModel(
            name="Flag",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("name", models.CharField(max_length=50, unique=True)),
                ("on", models.BooleanField(default=False)),
            ],
        ),
    ]  # fmt: skip
