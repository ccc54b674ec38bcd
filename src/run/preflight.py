# migrail's preflight, appended to the lock guard. Before Django applies a migration that
# changes a table with rows (or runs SQL), the SQL it would run is collected as `sqlmigrate`
# does, and each statement the rows can fail (a unique constraint or index, SET NOT NULL,
# CHECK, FOREIGN KEY, VALIDATE CONSTRAINT, a narrower TYPE, a NOT NULL column without a
# default, a unique column with one default) gets a query in a READ ONLY transaction
# (ACCESS SHARE, statement_timeout PF_MS). A statement that may write rows (UPDATE,
# RunPython, ...) ends the checks of its migration. One `migrail: preflight: {json}` line
# per check; a violation: the migration is not started, nothing is recorded, exit PF_EXIT.
import json

from django.db.migrations import operations as pf_ops

PF_MODE = "on"
PF_MS = 10000
PF_STRICT = False
PF_EXIT = 65
PF = {"done": set(), "data": None, "refused": None, "note": False}
PF_SECRET = re.compile(r"pass(word|wd|phrase)|token|secret|salt|private|credential|(^|_)(api_?)?keys?($|_)", re.I)
PF_OPS = (pf_ops.AddField, pf_ops.AlterField, pf_ops.AddConstraint, pf_ops.AlterUniqueTogether)
PF_DDL = re.compile(r"(ALTER|CREATE|DROP|COMMENT|SET|RESET|ANALYZE|--)\b|$", re.I)
N = r'(["`]?[\w.$]+["`]?)'


class MgRefused(Exception):
    mg_exit = PF_EXIT


def pf_ro(c):
    # First in each of the preflight's transactions.
    c.ensure_connection()
    if c.vendor == "mysql":
        # The next transaction only (Django's atomic has not started it yet); each query
        # gets the time limit (pf_q), lock waits have the guard's lock_wait_timeout.
        mg_run(c.connection, "SET TRANSACTION READ ONLY")
        return
    mg_run(c.connection, "SET TRANSACTION READ ONLY;SET LOCAL statement_timeout = %d;SET LOCAL lock_timeout = %d" % (PF_MS, min(PF_MS, LOCK_MS or PF_MS)))


def pf_q(c, sql, p=None):
    if c.vendor == "mysql" and sql.lstrip().upper().startswith("SELECT"):
        # MariaDB: SET STATEMENT max_statement_time; MySQL: the MAX_EXECUTION_TIME hint.
        if c.mysql_is_mariadb:
            sql = "SET STATEMENT max_statement_time = %.3f FOR %s" % (PF_MS / 1000.0, sql)
        else:
            sql = re.sub(r"^\s*SELECT", "SELECT /*+ MAX_EXECUTION_TIME(%d) */" % PF_MS, sql, 1, flags=re.I)
    with c.cursor() as k:
        k.execute(sql, p)
        return k.fetchall()


def pf_unq(name):
    return name.strip('"`')


def pf_split(s, sep=","):
    # Top-level parts of s (outside parentheses and quotes).
    out, depth, cur, quote = [], 0, "", None
    for ch in s:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif ch == sep and depth == 0:
            out, cur = out + [cur.strip()], ""
            continue
        cur += ch
    return [p for p in out + [cur.strip()] if p]


def pf_paren(s):
    # (inside of the leading parenthesised group, the rest).
    depth = 0
    for i, ch in enumerate(s):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return s[1:i], s[i + 1:]
    return s[1:], ""


def pf_pk(c, t):
    if c.vendor == "mysql":
        return [c.ops.quote_name(r[0]) for r in pf_q(c, "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() "
                                                      "AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION", [pf_unq(t)])] or ["1"]
    return [c.ops.quote_name(r[0]) for r in pf_q(c, "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.indisprimary", [t])] or ["ctid"]


def pf_plan(c, t, a):
    # [(check, target, query listing the violations, their column names, minimum)] for one
    # action of ALTER TABLE t (or a whole statement).
    u = re.match(r"(?:ADD\s+(?:CONSTRAINT\s+\S+\s+)?)?(?:UNIQUE|PRIMARY\s+KEY)\s*(NULLS\s+NOT\s+DISTINCT\s*)?(\(.*)", a, re.I | re.S)
    if u and not re.search(r"USING\s+INDEX", a, re.I):
        return [pf_dups(t, pf_split(pf_paren(u.group(2))[0]), bool(u.group(1)), None)]
    if re.search(r"\bNOT\s+VALID\s*$", a, re.I):
        return []
    m = re.match(r"ADD\s+CONSTRAINT\s+(\S+)\s+CHECK\s*(\(.*)", a, re.I | re.S)
    if m:
        pk = pf_pk(c, t)
        return [("check", m.group(1), "SELECT %s FROM %s WHERE NOT (%s)" % (", ".join(pk), t, pf_paren(m.group(2))[0]), pk, 0)]
    m = re.match(r"ADD\s+CONSTRAINT\s+(\S+)\s+FOREIGN\s+KEY\s*(\(.*)", a, re.I | re.S)
    if m:
        cols, rest = pf_paren(m.group(2))
        r = re.match(r"\s*REFERENCES\s+%s\s*(\(.*)" % N, rest, re.I | re.S)
        if not r:
            return []
        cols = pf_split(cols)
        if c.vendor == "mysql":
            return [pf_orphans(t, cols, r.group(1), pf_split(pf_paren(r.group(2))[0]))]
        # Re-created (Django drops and adds it again around a type change): the validated
        # constraint it replaces proves every row already.
        proven = pf_q(c, "SELECT 1 FROM pg_constraint k WHERE k.contype = 'f' AND k.convalidated AND k.conrelid = to_regclass(%s) "
                      "AND k.confrelid = to_regclass(%s) AND k.conkey = ARRAY(SELECT a.attnum FROM unnest(%s::text[]) WITH ORDINALITY u(n, i) "
                      "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attname = u.n ORDER BY u.i)::int2[]", [t, r.group(1), [k.strip('"') for k in cols]])
        return [] if proven else [pf_orphans(t, cols, r.group(1), pf_split(pf_paren(r.group(2))[0]))]
    m = re.match(r"MODIFY\s+(?:COLUMN\s+)?%s\s+(.*)$" % N, a, re.I | re.S)
    if m and c.vendor == "mysql":
        return pf_modify(c, t, m.group(1), m.group(2))
    m = re.match(r"VALIDATE\s+CONSTRAINT\s+%s" % N, a, re.I)
    if m:
        d = pf_q(c, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(%s) AND conname = %s AND NOT convalidated", [t, m.group(1).strip('"')])
        return pf_plan(c, t, "ADD CONSTRAINT %s %s" % (m.group(1), re.sub(r"\s+NOT\s+VALID\s*$", "", d[0][0]))) if d else []
    m = re.match(r"ALTER\s+(?:COLUMN\s+)?%s\s+SET\s+NOT\s+NULL" % N, a, re.I)
    if m:
        pk = pf_pk(c, t)
        return [("null", m.group(1), "SELECT %s FROM %s WHERE %s IS NULL" % (", ".join(pk), t, m.group(1)), pk, 0)]
    m = re.match(r"ALTER\s+(?:COLUMN\s+)?%s\s+(?:SET\s+DATA\s+)?TYPE\s+(.*?)(\s+USING\s+(.*))?$" % N, a, re.I | re.S)
    if m:
        col, ty = m.group(1), m.group(2).strip().lower()
        old = (pf_q(c, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s", [t, col.strip('"')]) or [[""]])[0][0]
        old, pk = old.replace("character varying", "varchar"), pf_pk(c, t)
        plain = not m.group(4) or re.sub(r"\s", "", m.group(4)).lower() == re.sub(r"\s", "", "%s::%s" % (col, ty))
        if old == re.sub(r"\s+COLLATE\s.*", "", ty):
            return []
        size = re.match(r"(character varying|varchar|character|char)\s*\((\d+)\)", ty)
        was = re.match(r"(varchar|character|char)\s*\((\d+)\)", old)
        ranks = {"smallint": 1, "integer": 2, "bigint": 3}
        if size and was and int(was.group(2)) <= int(size.group(2)) or ranks.get(old, 4) <= ranks.get(ty, 0):
            # Wider: every value fits (an integer primary key made bigint scans nothing).
            return []
        if size:
            cond = "length(%s::text) > %s" % (col, size.group(2))
        elif ty in ranks and re.match(r"(smallint|integer|bigint|numeric|real|double)", old):
            lim = 2 ** {"smallint": 15, "integer": 31, "bigint": 63}[ty]
            cond = "%s::numeric NOT BETWEEN %d AND %d" % (col, -lim, lim - 1)
        elif c.pg_version >= 160000 and re.match(r"(varchar|character|text)", old) and plain:
            cond = "NOT pg_input_is_valid(%s::text, '%s')" % (col, ty.replace("'", "''"))
        else:
            return [("cast", col, None, [old, ty], 0)] if re.match(r"(varchar|character|text|numeric)", old) else []
        return [("fit", col, "SELECT %s, %s FROM %s WHERE %s IS NOT NULL AND %s" % (", ".join(pk), col, t, col, cond), pk + [col], 0)]
    m = re.match(r"ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?%s\s+(.*)" % N, a, re.I | re.S)
    if m and not re.match(r"CONSTRAINT\b", m.group(1), re.I):
        rest, pk = m.group(2), pf_pk(c, t)
        literal = re.search(r"\bDEFAULT\s+('(?:[^']|'')*'|-?[\d.]+|true|false)(\s|$)", rest, re.I)
        out = []
        if re.search(r"\bNOT\s+NULL\b", rest, re.I) and not re.search(r"\b(DEFAULT|GENERATED|serial|bigserial|smallserial)\b", rest, re.I):
            out.append(("rows", m.group(1), "SELECT %s FROM %s" % (", ".join(pk), t), [], 0))
        if re.search(r"\bUNIQUE\b", rest, re.I) and literal:
            out.append(("unique-default", m.group(1), "SELECT %s FROM %s" % (", ".join(pk), t), [], 1))
        return out
    return []


def pf_modify(c, t, col, rest):
    # MySQL's `MODIFY col <definition>`: NOT NULL over NULL rows, a narrower type.
    old = pf_q(c, "SELECT IS_NULLABLE, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s "
                  "AND COLUMN_NAME = %s", [pf_unq(t), pf_unq(col)])
    if not old:
        return []
    nullable, was = old[0][0] == "YES", old[0][1].lower()
    ty = (re.match(r"\s*([a-z]+(?:\s*\([^)]*\))?(?:\s+unsigned)?)", rest, re.I) or re.match(r"", "")).group(0).strip().lower()
    pk, out = pf_pk(c, t), []
    if nullable and re.search(r"\bNOT\s+NULL\b", rest, re.I):
        out.append(("null", col, "SELECT %s FROM %s WHERE %s IS NULL" % (", ".join(pk), t, col), pk, 0))
    size = re.match(r"(varchar|char)\s*\((\d+)\)", ty)
    before = re.match(r"(varchar|char)\s*\((\d+)\)", was)
    ranks = {"tinyint": 7, "smallint": 15, "mediumint": 23, "int": 31, "integer": 31, "bigint": 63}
    new_int, old_int = re.match(r"(\w+)(\s*\(\d+\))?(\s+unsigned)?$", ty), re.match(r"(\w+)(\s*\(\d+\))?(\s+unsigned)?$", was)
    cond = None
    if size and (not before or int(before.group(2)) > int(size.group(2))) and (before or re.match(r"(text|longtext|mediumtext)", was)):
        cond = "CHAR_LENGTH(%s) > %s" % (col, size.group(2))
    elif new_int and old_int and new_int.group(1) in ranks and old_int.group(1) in ranks:
        bits, unsigned = ranks[new_int.group(1)], bool(new_int.group(3))
        low, high = (0, 2 ** (bits + 1) - 1) if unsigned else (-2 ** bits, 2 ** bits - 1)
        if ranks[old_int.group(1)] > bits or bool(old_int.group(3)) != unsigned:
            cond = "%s NOT BETWEEN %d AND %d" % (col, low, high)
    if cond:
        out.append(("fit", col, "SELECT %s, %s FROM %s WHERE %s IS NOT NULL AND %s" % (", ".join(pk), col, t, col, cond), pk + [col], 0))
    return out


def pf_dups(t, keys, nulls_too, where):
    keys = [re.sub(r"\s+(ASC|DESC|NULLS\s+(FIRST|LAST)|COLLATE\s+\S+|\w+_ops)\b.*$", "", k, flags=re.I | re.S) for k in keys]
    conds = ([] if nulls_too else ["(%s) IS NOT NULL" % k for k in keys]) + (["(%s)" % where] if where else [])
    return ("unique", ", ".join(keys), "SELECT %s, count(*) FROM %s%s GROUP BY %s HAVING count(*) > 1" % (
        ", ".join(keys), t, " WHERE " + " AND ".join(conds) if conds else "", ", ".join(keys)), keys + ["rows"], 0)


def pf_orphans(t, cols, r, rcols):
    return ("foreign-key", "%s -> %s" % (", ".join(cols), r), "SELECT DISTINCT %s FROM %s x WHERE %s AND NOT EXISTS (SELECT 1 FROM %s y WHERE %s)" % (
        ", ".join("x." + k for k in cols), t, " AND ".join("x.%s IS NOT NULL" % k for k in cols), r,
        " AND ".join("y.%s = x.%s" % (b, a) for a, b in zip(cols, rcols))), cols, 0)


def pf_statement(c, s):
    # (table, [(check, ...)]) for one statement of SQL.
    m = re.match(r"ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?%s\s+(.*)$" % N, s, re.I | re.S)
    if m:
        return m.group(1), [p for a in pf_split(m.group(2)) for p in pf_plan(c, m.group(1), a)]
    m = re.match(r"CREATE\s+UNIQUE\s+INDEX\s+(?:CONCURRENTLY\s+)?(IF\s+NOT\s+EXISTS\s+)?(\S+\s+)?ON\s+(?:ONLY\s+)?%s\s*(?:USING\s+\w+\s*)?(\(.*)$" % N, s, re.I | re.S)
    if m and not (m.group(1) and c.vendor == "postgresql" and pf_q(c, "SELECT to_regclass(%s) IS NOT NULL", [m.group(2).strip()])[0][0]):
        keys, tail = pf_paren(m.group(4))
        w = re.search(r"\bWHERE\s+(.*)$", tail, re.I | re.S)
        return m.group(3), [pf_dups(m.group(3), pf_split(keys), bool(re.search(r"NULLS\s+NOT\s+DISTINCT", tail, re.I)), w and w.group(1))]
    return None, []


def pf_cut(v):
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= 60 else s[:59] + "\u2026"


def pf_check(c, label, op, t, plan, bad):
    check, target, sql, names, least = plan
    r = {"migration": label, "operation": op, "check": check, "table": pf_unq(t), "target": target.replace('"', "").replace("`", "")}
    start = time.monotonic()
    try:
        if PF["data"] or not sql:
            r.update(verdict="skipped", ms=0, reason="after: %s" % PF["data"] if PF["data"] else "cast: %s -> %s" % tuple(names), count=None)
        else:
            with transaction.atomic(using=c.alias):
                pf_ro(c)
                n = pf_q(c, "SELECT count(*) FROM (%s) x" % sql)[0][0]
                n = n if n > least else 0
                ex = [", ".join("%s=%s" % (pf_unq(k), "***" if PF_SECRET.search(k) else pf_cut(v)) for k, v in zip(names, row)) for row in pf_q(c, sql + " LIMIT 5")] if n and names else []
            r.update(verdict="violation" if n else "ok", count=n, examples=ex, query=sql, ms=round((time.monotonic() - start) * 1000, 1))
    except Exception as e:
        if mg_err(e, ("42P01", "42703"), (1146, 1054)):
            return
        r.update(verdict="timeout" if mg_err(e, ("57014",), (3024, 1969)) or mg_code(e) else "error", reason=pf_cut((str(e).strip().splitlines() or [type(e).__name__])[0]), ms=round((time.monotonic() - start) * 1000, 1))
    print("migrail: preflight: " + json.dumps(r, default=str), flush=True)
    if r["verdict"] == "violation" or PF_STRICT and r["verdict"] == "timeout":
        bad.append(r)


def pf_flat(ops):
    for op in ops:
        yield from pf_flat(op.database_operations) if isinstance(op, pf_ops.SeparateDatabaseAndState) else [op]


def pf_rows(c, state, migration):
    # Whether the migration may depend on rows: SQL or an unknown operation, or a field or
    # constraint operation on a table with rows.
    for op in pf_flat(migration.operations):
        if isinstance(op, pf_ops.RunSQL) or not type(op).__module__.startswith("django."):
            return True
        if isinstance(op, PF_OPS):
            try:
                M = state.apps.get_model(migration.app_label, getattr(op, "model_name", None) or op.name)
            except LookupError:
                continue
            try:
                with transaction.atomic(using=c.alias):
                    pf_ro(c)
                    if pf_q(c, "SELECT EXISTS (SELECT 1 FROM %s)" % c.ops.quote_name(M._meta.db_table))[0][0]:
                        return True
            except Exception as e:
                if not mg_err(e, ("42P01",), (1146,)):
                    return True
    return False


def pf_collect(c, state, migration):
    # The SQL Django would run, collected as sqlmigrate does. An operation that is not
    # Django's own may touch the database while collecting: then it happens in a READ ONLY
    # transaction, rolled back.
    custom = any(not type(op).__module__.startswith("django.") for op in pf_flat(migration.operations))
    with c.schema_editor(collect_sql=True, atomic=False) as ed:
        if not custom:
            migration.apply(state.clone(), ed, collect_sql=True)
        else:
            with transaction.atomic(using=c.alias):
                pf_ro(c)
                migration.apply(state.clone(), ed, collect_sql=True)
                transaction.set_rollback(True, using=c.alias)
    return ed.collected_sql


def mg_preflight(executor, state, migration):
    # Never the cause of a failure: a check that cannot run is reported, not fatal.
    try:
        pf_migration(executor, state, migration)
    except MgRefused:
        raise
    except Exception as e:
        r = {"migration": mg_label(migration), "operation": "", "check": "sql", "table": None, "verdict": "error", "ms": 0,
             "reason": pf_cut((str(e).strip().splitlines() or [type(e).__name__])[0])}
        print("migrail: preflight: " + json.dumps(r, default=str), flush=True)


def pf_migration(executor, state, migration):
    c, label = executor.connection, mg_label(migration)
    if c.vendor not in ("postgresql", "mysql"):
        if not PF["note"]:
            PF["note"] = True
            print("migrail: preflight: database %r is %s: not checked (PostgreSQL, MySQL and MariaDB only)" % (c.alias, c.vendor), file=sys.stderr)
        return
    if PF_MODE != "only":
        PF["data"] = None
    if not pf_rows(c, state, migration):
        return
    op, prev, bad = "", "", []
    for line in pf_collect(c, state, migration):
        if prev == "--" and line.startswith("-- "):
            op = line[3:]
        prev = line
        if "CANNOT BE WRITTEN AS SQL" in line:
            PF["data"] = PF["data"] or "%s (%s)" % (op, label)
        for s in pf_split(line, ";"):
            s = re.sub(r"--[^\n]*", "", s).strip()
            t, plans = pf_statement(c, s)
            for p in plans:
                pf_check(c, label, op, t, p, bad)
            if not PF_DDL.match(s):
                PF["data"] = PF["data"] or "%s (%s)" % (pf_cut(s), label)
    if bad:
        print("migrail: preflight refused %s: %d check(s) failed%s" % (label, len(bad), "" if PF_MODE == "only" else "; it was not started and nothing was recorded"), file=sys.stderr)
        PF["refused"] = PF["refused"] or MgRefused(label)
        if PF_MODE != "only":
            raise PF["refused"]


def mg_only(*args, **kwargs):
    # `--preflight only`: every pending migration checked, none applied, no signal sent.
    ex = MigrationExecutor(connections[ALIAS])
    pos = [a for a in args if not str(a).startswith("-")]
    if len(pos) > 1:
        targets = [(pos[0], None if pos[1] == "zero" else ex.loader.get_migration_by_prefix(pos[0], pos[1]).name)]
    else:
        targets = [k for k in ex.loader.graph.leaf_nodes() if not pos or k[0] == pos[0]]
    state, n = ex._create_project_state(with_applied_migrations=True), 0
    for m, backwards in ex.migration_plan(targets):
        if not backwards and (m.app_label, m.name) not in PF["done"]:
            PF["done"].add((m.app_label, m.name))
            n += 1
            mg_preflight(ex, state, m)
            state = m.mutate_state(state, preserve=False)
    print("migrail: preflight only: %d pending migration(s) checked, none applied" % n, flush=True)
    if PF["refused"]:
        raise PF["refused"]


mg_check = mg_preflight
if PF_MODE == "only":
    migrail_migrate = mg_only
