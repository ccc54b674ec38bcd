from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Book",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False)),
                ("title", models.CharField(max_length=50)),
                ("note", models.CharField(max_length=20, null=True)),
            ],
        ),
        migrations.RunSQL(
            "INSERT INTO shop_book (title, note) VALUES ('a', NULL), ('b', 'x'), ('c', NULL)",
            migrations.RunSQL.noop,
        ),
    ]
