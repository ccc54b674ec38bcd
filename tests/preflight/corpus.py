"""The preflight over every migration of the corpus apps (tests/django/requirements.txt) and
Django's contrib apps, applied one by one to an empty PostgreSQL database as `migrate`
would: before each, the SQL Django would run is collected and every statement goes through
the preflight's parser, every check it plans is run. Prints one JSON line: counts, errors.
Usage: corpus.py GUARD PREFLIGHT (the two scripts); PG* variables name the database;
MIGRAIL_APPS another list of apps."""
import collections
import contextlib
import io
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "django"))
import corpus_setup  # noqa: E402,F401  (configures Django)
from django.db import connection
from django.db.migrations.loader import MigrationLoader

def compact(s): return ''.join(l.rstrip()+'\n' for l in s.splitlines() if l.strip() and not l.strip().startswith('#'))
g = {}
exec(compact(open(sys.argv[1]).read()) + compact(open(sys.argv[2]).read()), g)

from django.db.migrations.executor import MigrationExecutor
executor = MigrationExecutor(connection)
plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
state = executor._create_project_state(with_applied_migrations=True)
stats = collections.Counter(); errors = []
stmts_total = 0
for m, backwards in plan:
    key = (m.app_label, m.name)
    try:
        sql = g["pf_collect"](connection, state, m)
    except Exception as e:
        errors.append(("collect", key, repr(e))); sql = []
    for line in sql:
        for s in g["pf_split"](line, ";"):
            s = re.sub(r"--[^\n]*", "", s).strip()
            if not s: continue
            stmts_total += 1
            try:
                t, plans = g["pf_statement"](connection, s)
            except Exception as e:
                errors.append(("parse", key, s[:200], repr(e))); continue
            for p in plans:
                stats["plan:" + p[0]] += 1
                buf = io.StringIO()
                g["PF"]["data"] = None
                with contextlib.redirect_stdout(buf):
                    g["pf_check"](connection, "%s.%s" % key, "op", t, p, [])
                out = buf.getvalue().strip()
                if not out:
                    stats["not-yet-created"] += 1; continue
                r = json.loads(out.split("migrail: preflight: ", 1)[1])
                stats["verdict:" + r["verdict"]] += 1
                if r["verdict"] == "error":
                    errors.append(("check", key, s[:200], r.get("reason"), p[2]))
    state = executor.apply_migration(state, m)
print(json.dumps({"migrations": len(plan), "statements": stmts_total, "counts": stats, "errors": errors}, default=str))
