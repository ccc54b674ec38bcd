"""The preflight tests' settings: PostgreSQL from the PG* environment variables."""

import os

SECRET_KEY = "preflight-tests-only"
USE_TZ = True
INSTALLED_APPS = ["shop"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        "NAME": os.environ.get("PGDATABASE", "rehearsal"),
        "USER": os.environ.get("PGUSER", "postgres"),
    }
}
