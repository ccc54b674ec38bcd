# What reference.py configures for Django (tests/sql.rs): migrail reads it statically.
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "sqlshop"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
