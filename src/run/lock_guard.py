# migrail's lock guard, run inside `python manage.py shell -c`: bound every lock wait of
# the migrations with lock_timeout (set on Django's own connections, so it holds whatever
# OPTIONS the settings pass), verify it with SHOW, and retry what is safe to retry.
# migrail fills in the values below; `migrail_migrate(...)` replaces call_command("migrate").
import random
import re
import sys
import time
import traceback

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.signals import connection_created
from django.db.migrations.executor import MigrationExecutor

LOCK_MS = 5000
STATEMENT_MS = 0
RETRIES = 5
ALIAS = DEFAULT_DB_ALIAS
CONCURRENTLY = re.compile(r"^\s*(CREATE\s+(UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX)\b[^;]*\bCONCURRENTLY\b", re.I)
TABLE = re.compile(r'\b(?:ALTER\s+TABLE(?:\s+IF\s+EXISTS)?(?:\s+ONLY)?|\bON|INTO|UPDATE|FROM|TABLE|REFERENCES)\s+"?([A-Za-z0-9_.]+)"?', re.I)
SEEN = {"migration": None, "sql": "", "done": [], "invalid": set()}


def mg_set(conn, lock_ms):
    with conn.connection.cursor() as c:
        # `--lock-timeout 0`: the project's own lock_timeout, if any, is left as it is.
        if LOCK_MS:
            c.execute("SET lock_timeout = %d" % lock_ms)
        if STATEMENT_MS:
            c.execute("SET statement_timeout = %d" % STATEMENT_MS)


def mg_connected(sender, connection, **kwargs):
    if connection.vendor == "postgresql":
        mg_set(connection, LOCK_MS)


def mg_wrapper(execute, sql, params, many, context):
    SEEN["sql"] = sql
    if LOCK_MS and CONCURRENTLY.match(sql or ""):
        # A timeout in the middle of a concurrent build leaves an INVALID index: this
        # statement waits as long as it must (it blocks no reads or writes meanwhile).
        mg_set(context["connection"], 0)
        try:
            return execute(sql, params, many, context)
        finally:
            mg_set(context["connection"], LOCK_MS)
    return execute(sql, params, many, context)


def mg_invalid(conn):
    if conn.vendor != "postgresql":
        return set()
    with conn.cursor() as c:
        c.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")
        return {r[0] for r in c.fetchall()}


_apply = MigrationExecutor.apply_migration


def mg_apply(self, state, migration, fake=False, fake_initial=False):
    SEEN["migration"], SEEN["done"] = migration, []
    if not migration.atomic and not fake:
        SEEN["invalid"] = mg_invalid(connections[ALIAS])
        for i, op in enumerate(migration.operations):
            def forwards(*a, _f=op.database_forwards, _i=i, **k):
                r = _f(*a, **k)
                SEEN["done"].append(_i)
                return r
            op.database_forwards = forwards
    return _apply(self, state, migration, fake=fake, fake_initial=fake_initial)


def mg_lock_timeout(e):
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if "55P03" in (getattr(e, "pgcode", None), getattr(e, "sqlstate", None)):
            return True
        e = e.__cause__ or e.__context__
    return False


def mg_label(m):
    return "%s.%s" % (m.app_label, m.name) if m is not None else "a migration"


def mg_nonatomic(m):
    ran = [m.operations[i].describe() for i in SEEN["done"]]
    print("\nmigrail: %s is not atomic (atomic = False): it is not retried; the operations that "
          "ran stay applied: %s" % (mg_label(m), "; ".join(ran) or "none"), file=sys.stderr)
    for name in sorted(mg_invalid(connections[ALIAS]) - SEEN["invalid"]):
        print('migrail: it left the INVALID index %s behind; clear it with: DROP INDEX '
              'CONCURRENTLY IF EXISTS %s;' % (name, name), file=sys.stderr)


def migrail_migrate(*args, **kwargs):
    attempt = 0
    while True:
        SEEN["migration"] = None
        try:
            with connections[ALIAS].execute_wrapper(mg_wrapper):
                return call_command("migrate", *args, **kwargs)
        except Exception as e:
            m, found = SEEN["migration"], TABLE.search(SEEN["sql"] or "")
            on = " on %s" % found.group(1) if found else ""
            if m is not None and not m.atomic:
                mg_nonatomic(m)
                raise
            if not mg_lock_timeout(e):
                raise
            if attempt >= RETRIES:
                print("\nmigrail: lock timeout%s while applying %s: gave up after %d retries "
                      "(lock_timeout %d ms)" % (on, mg_label(m), RETRIES, LOCK_MS), file=sys.stderr)
                raise
            attempt += 1
            wait = min(60.0, LOCK_MS / 1000.0 * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
            print("\nmigrail: lock timeout%s while applying %s, retry %d/%d in %.1f s"
                  % (on, mg_label(m), attempt, RETRIES, wait), flush=True)
            time.sleep(wait)


def migrail_guard():
    connection_created.connect(mg_connected)
    MigrationExecutor.apply_migration = mg_apply
    conn = connections[ALIAS]
    if conn.vendor != "postgresql":
        print("migrail: warning: database %r is %s, not PostgreSQL: lock_timeout is not set"
              % (ALIAS, conn.vendor), file=sys.stderr)
        return
    if conn.connection is not None:
        mg_set(conn, LOCK_MS)
    conn.ensure_connection()
    with conn.cursor() as c:
        c.execute("SELECT setting FROM pg_settings WHERE name = 'lock_timeout'")
        ms = int(c.fetchone()[0])
        c.execute("SHOW lock_timeout")
        lock = c.fetchone()[0]
        c.execute("SHOW statement_timeout")
        statement = c.fetchone()[0]
    if LOCK_MS and ms != LOCK_MS:
        print("migrail: warning: lock_timeout is %s on database %r, not %d ms: a pooler in "
              "transaction mode may drop session settings (README, \"Lock timeouts\")"
              % (lock, ALIAS, LOCK_MS), file=sys.stderr)
        return
    print("migrail: lock_timeout %s in effect on database %r (SHOW lock_timeout), "
          "statement_timeout %s, up to %d retries" % (lock, ALIAS, statement, RETRIES), flush=True)


def migrail_run(*args):
    migrail_guard()
    try:
        migrail_migrate(*args)
    except CommandError as e:
        print("CommandError: %s" % e, file=sys.stderr)
        return 1
    except Exception:
        traceback.print_exc()
        return 1
    return 0
