# Release 2 of dropping Book.legacy_code: no running code knows the column any more.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0004_remove_book_legacy_code_state"),
    ]

    operations = [
        migrations.RunSQL(
            sql='ALTER TABLE "catalog_book" DROP COLUMN "legacy_code";',
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
