# migrail's lock guard, run inside `python manage.py shell -c`: bound every lock wait of
# the migrations with lock_timeout, retry what is safe to retry. The settings are
# transaction-scoped (SET LOCAL first in every transaction of Django's connection), so a
# pooler in transaction mode (PgBouncer, RDS Proxy) never hands them to anyone else.
# migrail fills in the values below; `migrail_migrate(...)` replaces call_command("migrate").
import random
import re
import sys
import threading
import time
import traceback

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.migrations.executor import MigrationExecutor

LOCK_MS = 5000
STATEMENT_MS = 0
RETRIES = 5
ALIAS = DEFAULT_DB_ALIAS
# Run as they are, outside migrail's transaction: transaction control, and concurrent
# builds (they cannot run in a transaction; a timeout mid-build leaves an INVALID index).
NOTX = re.compile(r"\s*(BEGIN|START|COMMIT|END|ROLLBACK|ABORT)\b|\s*(CREATE\s+(UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX|ALTER\s+TABLE)\b[^;]*\bCONCURRENTLY\b", re.I)
BEGIN = re.compile(r"^\s*(BEGIN|START\s+TRANSACTION)\b[^;]*", re.I)
TABLE = re.compile(r'\b(?:ALTER\s+TABLE(?:\s+IF\s+EXISTS)?(?:\s+ONLY)?|\bON|INTO|UPDATE|FROM|TABLE|REFERENCES)\s+["`]?([A-Za-z0-9_.]+)["`]?', re.I)
SEEN = {"migration": None, "sql": "", "done": [], "invalid": set(), "ddl": []}
# MySQL and MariaDB: no transactional DDL; each statement that changes the schema commits.
READS = re.compile(r"\s*(SELECT|SHOW|SET|SAVEPOINT|RELEASE|ROLLBACK|BEGIN|START|COMMIT|DESCRIBE|EXPLAIN|INSERT\s+INTO\s+`?django_migrations)\b", re.I)
# The preflight's check, run before each migration is applied (preflight.py sets it).
mg_check = None
# `--lock-timeout 0`: the project's own lock_timeout, if any, is left as it is.
SETS = ";".join("SET LOCAL %s = %d" % s for s in (("lock_timeout", LOCK_MS), ("statement_timeout", STATEMENT_MS)) if s[1]) or "SELECT 1"


def mg_run(raw, sql):
    with raw.cursor() as c:
        c.execute(sql)
        return c.fetchall() if c.description else None


def mg_wrapper(execute, sql, params, many, context):
    SEEN["sql"] = sql
    conn = context["connection"]
    if conn.vendor == "mysql":
        # Session settings (set on every connection); each DDL statement that ran is
        # recorded: MySQL commits it at once, whatever happens to the migration after.
        result = execute(sql, params, many, context)
        if SEEN["migration"] is not None and not READS.match(sql or ""):
            SEEN["ddl"].append(" ".join((sql or "").split())[:200])
        return result
    # The server's transaction status (psycopg 2 and 3): 0 idle, else in a transaction,
    # and SET LOCAL ran first in it.
    busy = conn.vendor != "postgresql" or conn.connection.info.transaction_status
    if busy or NOTX.match(sql or ""):
        # A BEGIN of the migration's own (RunSQL) gets SET LOCAL right after it.
        return execute(sql if busy else BEGIN.sub(r"\g<0>;" + SETS + ";", sql, 1), params, many, context)
    if not conn.get_autocommit():
        # The first statement of one of Django's transactions (an atomic migration).
        mg_run(conn.connection, SETS)
        return execute(sql, params, many, context)
    # Autocommit (a non-atomic migration, Django's own queries): a transaction of its own.
    try:
        with transaction.atomic(using=conn.alias):
            mg_run(conn.connection, SETS)
            return execute(sql, params, many, context)
    except Exception as e:
        if not mg_code(e, "25001"):
            raise
    # VACUUM and the like cannot run in a transaction: as it is.
    return execute(sql, params, many, context)


def mg_invalid(conn):
    if conn.vendor != "postgresql":
        return set()
    with conn.cursor() as c:
        c.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")
        return {r[0] for r in c.fetchall()}


_apply = MigrationExecutor.apply_migration


def mg_apply(self, state, migration, fake=False, fake_initial=False):
    SEEN["migration"] = None
    if mg_check and not fake:
        mg_check(self, state, migration)
    SEEN["migration"], SEEN["done"], SEEN["ddl"] = migration, [], []
    mysql = connections[ALIAS].vendor == "mysql"
    if (mysql or not migration.atomic) and not fake:
        SEEN["invalid"] = mg_invalid(connections[ALIAS])
        for i, op in enumerate(migration.operations):
            def forwards(*a, _f=op.database_forwards, _i=i, **k):
                r = _f(*a, **k)
                SEEN["done"].append(_i)
                return r
            op.database_forwards = forwards
    return _apply(self, state, migration, fake=fake, fake_initial=fake_initial)


def mg_err(e, states=(), numbers=()):
    # The error, or one it was raised from, has one of PostgreSQL's SQLSTATEs `states`
    # (psycopg 2 and 3) or one of MySQL's/MariaDB's error `numbers` (its first argument).
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if getattr(e, "pgcode", None) in states or getattr(e, "sqlstate", None) in states:
            return True
        args = getattr(e, "args", ())
        if numbers and args and args[0] in numbers:
            return True
        e = e.__cause__ or e.__context__
    return False


def mg_code(e, code="55P03"):
    # A lock wait timeout: 55P03, or MySQL/MariaDB's 1205 (metadata and row locks alike)
    # and 3572 (NOWAIT).
    return mg_err(e, (code,), (1205, 3572) if code == "55P03" else ())


def mg_partial(m, e):
    # MySQL/MariaDB: the statements that ran are committed; the migration is not recorded.
    ran = [m.operations[i].describe() for i in SEEN["done"]]
    print("\nmigrail: %s failed part way: %s commits each DDL statement, so what ran before the failure stays "
          "applied and the migration is NOT recorded in django_migrations.\nmigrail: operations completed: %s"
          % (mg_label(m), connections[ALIAS].display_name, "; ".join(ran) or "none"), file=sys.stderr)
    for sql in SEEN["ddl"]:
        print("migrail: applied: %s" % sql, file=sys.stderr)
    print("migrail: failed on: %s\nmigrail: error: %s\nmigrail: before the next migrate, either undo the statements "
          "above, or finish the migration by hand and record it with `manage.py migrate --fake %s %s`"
          % (" ".join((SEEN["sql"] or "").split())[:200], e, m.app_label, m.name), file=sys.stderr)


def mg_label(m):
    return "%s.%s" % (m.app_label, m.name) if m is not None else "a migration"


def mg_nonatomic(m):
    ran = [m.operations[i].describe() for i in SEEN["done"]]
    print("\nmigrail: %s is not atomic (atomic = False): it is not retried; the operations that "
          "ran stay applied: %s" % (mg_label(m), "; ".join(ran) or "none"), file=sys.stderr)
    for name in sorted(mg_invalid(connections[ALIAS]) - SEEN["invalid"]):
        print('migrail: it left the INVALID index %s behind; clear it with: DROP INDEX '
              'CONCURRENTLY IF EXISTS %s;' % (name, name), file=sys.stderr)


def mg_fresh(conn, sql):
    # A new connection with the same settings, in autocommit: a pooler may hand it any of
    # its server connections. Bounded: a saturated pool in session mode makes it wait.
    out = []

    def probe():
        raw = conn.Database.connect(**conn.get_connection_params())
        try:
            raw.autocommit = True
            out.append(mg_run(raw, sql))
        except Exception as e:
            out.append(e)
        finally:
            raw.close()

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(10)
    if not out or isinstance(out[0], Exception):
        raise RuntimeError(out[0] if out else "no answer within 10 s")
    return out[0]


def mg_reset():
    # After each migrate (the phase script's too), check on a new connection that no
    # session setting is left (setting = reset_val; behind a pooler, it gets the server
    # connection used last), then RESET anyway (nothing was set per session).
    conn = connections[ALIAS]
    if conn.vendor != "postgresql":
        return
    try:
        left = mg_fresh(conn, "SELECT name, setting FROM pg_settings WHERE name IN ('lock_timeout', "
                        "'statement_timeout') AND setting <> reset_val")
        if conn.connection and conn.get_autocommit():
            mg_run(conn.connection, "RESET lock_timeout;RESET statement_timeout")
    except Exception as e:
        left = [("could not check:", e)]
    if left:
        print("migrail: warning: a new connection to database %r has %s, not the server's defaults"
              % (ALIAS, ", ".join("%s %s" % r for r in left)), file=sys.stderr)


def migrail_migrate(*args, **kwargs):
    attempt = 0
    try:
        while True:
            SEEN["migration"] = None
            try:
                with connections[ALIAS].execute_wrapper(mg_wrapper):
                    return call_command("migrate", *args, **kwargs)
            except Exception as e:
                m, found = SEEN["migration"], TABLE.search(SEEN["sql"] or "")
                on = " on %s" % found.group(1) if found else ""
                mysql = connections[ALIAS].vendor == "mysql"
                if mysql and m is not None and SEEN["ddl"]:
                    if mg_code(e):
                        print("\nmigrail: lock timeout%s while applying %s: not retried, part of it is applied"
                              % (on, mg_label(m)), file=sys.stderr)
                    mg_partial(m, e)
                    raise
                if not mysql and m is not None and not m.atomic:
                    mg_nonatomic(m)
                    raise
                if not mg_code(e):
                    raise
                if attempt >= RETRIES:
                    setting = "lock_wait_timeout %d s" % MY_SECONDS if mysql else "lock_timeout %d ms" % LOCK_MS
                    print("\nmigrail: lock timeout%s while applying %s: gave up after %d retries "
                          "(%s)" % (on, mg_label(m), RETRIES, setting), file=sys.stderr)
                    raise
                attempt += 1
                base = MY_SECONDS if mysql else LOCK_MS / 1000.0
                wait = min(60.0, base * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
                print("\nmigrail: lock timeout%s while applying %s, retry %d/%d in %.1f s"
                      % (on, mg_label(m), attempt, RETRIES, wait), flush=True)
                time.sleep(wait)
    finally:
        mg_reset()


# MySQL and MariaDB take whole seconds: the timeout rounded up.
MY_SECONDS = max(1, -(-LOCK_MS // 1000)) if LOCK_MS else 0


def mg_mysql_session(sender=None, connection=None, **kwargs):
    # Every connection Django opens to the database: the bounded waits, per session (a
    # setting of this session only; it ends with the connection).
    if connection is None or connection.vendor != "mysql" or connection.alias != ALIAS:
        return
    sets = []
    if MY_SECONDS:
        sets += ["lock_wait_timeout = %d" % MY_SECONDS, "innodb_lock_wait_timeout = %d" % MY_SECONDS]
    if STATEMENT_MS and connection.mysql_is_mariadb:
        sets.append("max_statement_time = %.3f" % (STATEMENT_MS / 1000.0))
    if sets:
        with connection.connection.cursor() as c:
            c.execute("SET SESSION " + ", SESSION ".join(sets))


def mg_mysql_guard(conn):
    from django.db.backends.signals import connection_created
    connection_created.connect(mg_mysql_session, weak=False)
    conn.ensure_connection()
    mg_mysql_session(connection=conn)
    if not MY_SECONDS:
        print("migrail: --lock-timeout 0: the server's lock_wait_timeout is left as it is", flush=True)
        return
    (lock, row), = mg_run(conn.connection, "SELECT @@SESSION.lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout")
    rounded = "" if LOCK_MS % 1000 == 0 else " (whole seconds: --lock-timeout %d ms rounded up)" % LOCK_MS
    statement = ""
    if STATEMENT_MS:
        statement = (", max_statement_time %.3f s" % (STATEMENT_MS / 1000.0) if conn.mysql_is_mariadb
                     else ", no statement timeout (MySQL has none for DDL)")
    print("migrail: lock_wait_timeout %s s in effect on database %r (%s, SET SESSION on each connection, "
          "SELECT @@SESSION.lock_wait_timeout)%s, innodb_lock_wait_timeout %s s%s, up to %d retries of a migration "
          "nothing of which was applied" % (lock, ALIAS, conn.display_name, rounded, row, statement, RETRIES), flush=True)


def migrail_guard():
    MigrationExecutor.apply_migration = mg_apply
    conn = connections[ALIAS]
    if conn.vendor == "mysql":
        return mg_mysql_guard(conn)
    if conn.vendor != "postgresql":
        print("migrail: warning: database %r is %s, not PostgreSQL, MySQL or MariaDB: no lock timeout is set"
              % (ALIAS, conn.vendor), file=sys.stderr)
        return
    conn.ensure_connection()
    # Transaction pooling: one connection's backend changes between two statements, or
    # another connection gets the same backend (never so when direct, or pooled per session).
    pid = "SELECT pg_backend_pid()"
    a = mg_run(conn.connection, pid)
    try:
        b = mg_fresh(conn, pid)
    except Exception:
        b = None
    c = mg_run(conn.connection, pid)
    if a != c or b in (a, c):
        print("migrail: a pooler in transaction mode serves database %r (%s): timeouts are set per transaction with "
              "SET LOCAL" % (ALIAS, "backend pid changed between two statements" if a != c else "two connections shared a backend"))
    with transaction.atomic(using=ALIAS):
        mg_run(conn.connection, SETS)
        (lock, statement), = mg_run(conn.connection, "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')")
        transaction.set_rollback(True, using=ALIAS)
    print("migrail: lock_timeout %s in effect on database %r (SET LOCAL in each transaction, SHOW lock_timeout), "
          "statement_timeout %s, up to %d retries" % (lock, ALIAS, statement, RETRIES), flush=True)


def mg_main(work, *args):
    # The process's exit code: work's, 1 on an error, the preflight's when it refused.
    try:
        return work(*args) or 0
    except CommandError as e:
        print("CommandError: %s" % e, file=sys.stderr)
        return 1
    except Exception as e:
        if getattr(e, "mg_exit", None):
            return e.mg_exit
        traceback.print_exc()
        return 1


def migrail_run(*args):
    migrail_guard()
    return mg_main(migrail_migrate, *args)
