"""Django configured for the corpus apps (tests/django/requirements.txt) and Django's contrib
apps, or MIGRAIL_APPS (comma-separated, with contrib's: another set of apps, e.g. a real
project's), on the PostgreSQL database the PG* variables name. Shared by the scripts that
apply the corpus one migration at a time (tests/preflight/corpus.py, tests/sql/reference.py).
`DEFAULT_AUTO_FIELD` is AutoField: tests/sql/sqlsettings.py says the same to migrail."""
import os

import django
from django.conf import settings

APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sites", "django.contrib.admin",
        "django.contrib.sessions", "django.contrib.messages",
        "rest_framework", "rest_framework.authtoken", "allauth", "allauth.account", "allauth.socialaccount", "allauth.mfa",
        "django_celery_beat", "django_celery_results", "reversion", "guardian", "axes", "taggit",
        "django_otp", "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static", "django_otp.plugins.otp_hotp",
        "django_otp.plugins.otp_email", "oauth2_provider", "post_office", "auditlog", "easy_thumbnails"]
if os.environ.get("MIGRAIL_APPS"):
    APPS = os.environ["MIGRAIL_APPS"].split(",")
settings.configure(INSTALLED_APPS=APPS, MIDDLEWARE=["allauth.account.middleware.AccountMiddleware"] if "allauth" in APPS else [],
    DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": os.environ["PGDATABASE"],
                           "HOST": "127.0.0.1", "PORT": os.environ["PGPORT"], "USER": "postgres"}},
    DEFAULT_AUTO_FIELD="django.db.models.AutoField", SITE_ID=1, USE_TZ=True, SECRET_KEY="x",
    AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.ModelBackend"])
django.setup()
