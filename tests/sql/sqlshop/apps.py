from django.apps import AppConfig


class SqlshopConfig(AppConfig):
    name = "sqlshop"
    default_auto_field = "django.db.models.BigAutoField"
