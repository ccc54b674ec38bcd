"""Print Django's own model state for a tree of migrations, as JSON.

Django builds the state with MigrationLoader and no database, exactly as `migrate` plans
it; the output has the shape of `migrail state --format json` so that the agreement test
(tests/corpus.rs) can compare the two field by field.

usage: dump_state.py --root DIR [--root DIR ...] [--auth-user-model app.Model]

Each root is put on sys.path (unless --installed: the packages are imported from the
virtualenv, as the corpus is) and every folder below it holding `migrations/[0-9]*.py`
becomes an installed app, its module named by its path below the root.
"""

import argparse
import ast
import json
import os
import sys
from pathlib import Path

SKIPPED = {"site-packages", "node_modules", "__pycache__", ".git", ".venv", "venv", ".tox"}


def declared_name(app_dir: Path):
    """The `name` an AppConfig in the app's apps.py declares, if any."""
    try:
        tree = ast.parse((app_dir / "apps.py").read_text())
    except (OSError, SyntaxError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "name" for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
    return None


def app_modules(root: Path, extra_paths: list):
    """Module names of the apps below root. An app whose AppConfig names it differently
    (a sample project inside a package) expects its own parent folder on sys.path."""
    modules = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED)
        path = Path(dirpath)
        if path.name != "migrations":
            continue
        if not any(f[0].isdigit() and f.endswith(".py") for f in filenames):
            continue
        app_dir = path.parent
        module = ".".join(app_dir.relative_to(root).parts)
        name = declared_name(app_dir)
        if name and name != module and module.endswith("." + name):
            depth = name.count(".") + 1
            extra_paths.append(str(app_dir.parents[depth - 1]))
            module = name
        modules.append(module)
    return modules


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", action="append", required=True)
    parser.add_argument("--auth-user-model", default="auth.User")
    parser.add_argument("--installed", action="store_true")
    parser.add_argument("--exclude-app", action="append", default=[])
    parser.add_argument(
        "--unsquashed",
        action="store_true",
        help="the state of a database that applied part of each squashed range: Django's own "
        "remove_replacement_node for every squash, as the loader does for such a database",
    )
    args = parser.parse_args()

    apps = []
    extra_paths = []
    for root in args.root:
        root = Path(root).resolve()
        if not args.installed:
            sys.path.insert(0, str(root))
        apps.extend(m for m in app_modules(root, extra_paths) if m not in args.exclude_app)
    sys.path.extend(extra_paths)
    scanned = set(apps)
    for required in ("django.contrib.contenttypes", "django.contrib.auth"):
        if required not in apps:
            apps.insert(0, required)

    import django
    from django.conf import settings

    # What some corpus apps check in their ready().
    middleware = []
    if "allauth.account" in apps:
        middleware.append("allauth.account.middleware.AccountMiddleware")
    settings.configure(
        INSTALLED_APPS=apps,
        MIDDLEWARE=middleware,
        AUTH_USER_MODEL=args.auth_user_model,
        DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "never_connected"}},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        SITE_ID=1,
        USE_TZ=True,
        SECRET_KEY="agreement-test",
    )
    django.setup()

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    from django.apps import apps as registry

    # Only the apps below the roots are compared; auth and contenttypes are installed
    # because the examples depend on them.
    labels = {config.label for config in registry.get_app_configs() if config.name in scanned}

    if args.unsquashed:
        loader = MigrationLoader(None, ignore_no_migrations=True, replace_migrations=False)
        for key, migration in loader.replacements.items():
            loader.graph.remove_replacement_node(key, migration.replaces)
        loader.graph.validate_consistency()
    else:
        loader = MigrationLoader(None, ignore_no_migrations=True)
    state = loader.project_state()
    rendered = state.apps

    models = []
    for (app_label, _), model_state in sorted(state.models.items()):
        if app_label not in labels:
            continue
        model = rendered.get_model(app_label, model_state.name)
        fields = []
        for name in model_state.fields:
            field = model._meta.get_field(name)
            many = field.many_to_many
            fields.append(
                {
                    "name": name,
                    "class": type(field).__name__,
                    "column": None if many else field.column,
                    "db_type": None if many else field.db_type(connection),
                    "null": field.null,
                    "unique": field.unique,
                    "db_index": field.db_index,
                    "primary_key": field.primary_key,
                    "has_db_default": field.has_db_default(),
                }
            )
        models.append(
            {
                "app": app_label,
                "name": model_state.name,
                "table": model._meta.db_table,
                "managed": model._meta.managed,
                "proxy": model._meta.proxy,
                "fields": fields,
            }
        )
    json.dump({"version": 1, "apps": apps, "models": models}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
