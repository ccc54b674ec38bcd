# The MySQL/MariaDB fixture of tests/mysql.rs: the server the test started, on 127.0.0.1.
import os

SECRET_KEY = "tests-only"
INSTALLED_APPS = ["shop", "verdicts"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": os.environ.get("MYSQL_DATABASE", "shop"),
        "USER": "root",
        "HOST": "127.0.0.1",
        "PORT": os.environ.get("MYSQL_PORT", "3306"),
        "OPTIONS": {"charset": "utf8mb4"},
    }
}
