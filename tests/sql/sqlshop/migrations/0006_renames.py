from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sqlshop", "0005_concurrently")]

    operations = [
        migrations.CreateModel(
            name="Memo",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("body", models.TextField()),
            ],
        ),
        migrations.RenameIndex("book", new_name="book_price_index", old_name="book_price_idx"),
    ]
