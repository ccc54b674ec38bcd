from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Shelf",
            fields=[("id", models.AutoField(auto_created=True, primary_key=True, serialize=False))],
        ),
        migrations.CreateModel(
            name="Item",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=50)),
                ("pages", models.IntegerField(default=0)),
                ("price", models.DecimalField(max_digits=8, decimal_places=2, default=0)),
                ("note", models.CharField(max_length=20, null=True)),
                ("shelf_ref", models.IntegerField(null=True)),
                ("gone", models.IntegerField(null=True)),
                ("old_name", models.IntegerField(null=True)),
            ],
        ),
        migrations.RunSQL(
            "INSERT INTO verdicts_shelf (id) VALUES (1), (2);"
            "INSERT INTO verdicts_item (name, pages, price, note, shelf_ref) VALUES "
            "('a', 1, 1.50, NULL, 1), ('b', 2, 2.50, 'x', 2), ('c', 3, 3.50, NULL, 1);",
            migrations.RunSQL.noop,
        ),
    ]
