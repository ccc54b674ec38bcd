from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("sqlshop", "0004_delete")]

    operations = [
        AddIndexConcurrently("book", models.Index(fields=["price"], name="book_price_idx")),
        RemoveIndexConcurrently("book", "book_stock_idx"),
    ]
