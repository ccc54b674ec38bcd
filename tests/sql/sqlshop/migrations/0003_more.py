from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sqlshop", "0002_changes")]

    operations = [
        migrations.RenameField("book", "pages", "page_count"),
        migrations.RemoveField("book", "editor"),
        migrations.AddIndex("book", models.Index(fields=["stock"], name="book_stock_idx")),
        migrations.RemoveIndex("book", "book_pages_idx"),
        migrations.AddConstraint("book", models.UniqueConstraint(fields=["title", "subtitle"], name="book_title_subtitle_uniq")),
        migrations.RemoveConstraint("book", "book_slug_uniq"),
        migrations.AlterUniqueTogether("book", set()),
        migrations.AlterModelTable("tag", "library_tag"),
        migrations.RunSQL(
            "UPDATE sqlshop_book SET stock = 0 WHERE stock IS NULL; -- none are\nSELECT 1;",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop),
    ]
