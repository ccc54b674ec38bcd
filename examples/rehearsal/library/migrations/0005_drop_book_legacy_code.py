# New release, after the rollout: drop the column no running code uses any more.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("library", "0004_remove_book_legacy_code_state")]
    operations = [
        migrations.RunSQL(
            'ALTER TABLE "library_book" DROP COLUMN "legacy_code";',
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
