"""What `manage.py sqlmigrate` prints for every migration of the corpus apps (the list of
tests/django/corpus_setup.py, or MIGRAIL_APPS), in plan order on an empty PostgreSQL database:
before each migration is applied, its SQL is collected exactly as sqlmigrate collects it
(`schema_editor(collect_sql=True)` on the state Django applies it to); then it is applied,
so that the next one's introspection sees the database it would see. Prints one JSON
document: per migration, its file, each operation's description and statements, and the
statements Django deferred to the end. PG* variables name the database."""
import json
import os
import sys


# The fixture app of every operation type (tests/sql/sqlshop).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "django"))
import corpus_setup  # noqa: E402,F401  (configures Django)
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

executor = MigrationExecutor(connection)
plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
state = executor._create_project_state(with_applied_migrations=True)
out = []
for m, _ in plan:
    module = sys.modules[type(m).__module__]
    entry = {"app": m.app_label, "name": m.name, "file": getattr(module, "__file__", None),
             "operations": [], "deferred": [], "error": None}
    try:
        with connection.schema_editor(collect_sql=True, atomic=m.atomic) as editor:
            m.apply(state.clone(), editor, collect_sql=True)
            ops_end = len(editor.collected_sql)
        collected = editor.collected_sql
        # "--", "-- DESCRIPTION", "--" open each operation.
        i = 0
        while i < ops_end:
            line = collected[i]
            if line == "--" and i + 2 < ops_end and collected[i + 2] == "--":
                entry["operations"].append({"description": collected[i + 1][3:], "sql": []})
                i += 3
                continue
            if entry["operations"]:
                entry["operations"][-1]["sql"].append(line)
            i += 1
        entry["deferred"] = collected[ops_end:]
    except Exception as e:
        entry["error"] = repr(e)
    out.append(entry)
    state = executor.apply_migration(state, m)
print(json.dumps(out))
