"""Settings of the bookshop example: just enough for `manage.py makemigrations`."""
import os

SECRET_KEY = "example-only-not-a-secret"
DEBUG = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "catalog",
    "orders",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("POSTGRES_DB", "bookshop"),
        "HOST": os.environ.get("POSTGRES_HOST", "localhost"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
