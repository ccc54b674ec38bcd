//! `mysql-table-copy`: on MySQL and MariaDB, an operation the server can only do with
//! `ALGORITHM=COPY`: it copies the table row by row and blocks every write until the copy
//! is done.

use crate::django::database::Database;
use crate::django::fields::{DbType, FieldDef};
use crate::django::operations::OpKind;
use crate::django::python::Value;
use crate::lint::rule::{Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity};

use super::mysql_ident as q;

pub struct MysqlTableCopy;

static META: RuleMeta = RuleMeta {
    name: "mysql-table-copy",
    severity: Severity::Error,
    axis: Axis::Locking,
    summary:
        "MySQL or MariaDB copies the whole table (ALGORITHM=COPY), blocking writes for the copy",
    doc: r#"## What it catches
On MySQL and MariaDB (InnoDB), the operations the server can only run with
`ALGORITHM=COPY`, on a table that already exists:

| Django operation | Why it copies |
|---|---|
| `AlterField` changing the column type (`IntegerField` → `BigIntegerField`, `CharField` → `TextField`, other `max_digits`, a shorter `max_length`) | "Cannot change column type" |
| `AlterField` widening a `CharField` across 255 bytes (utf8mb4: from 63 characters or fewer to 64 or more) | the length prefix grows from one byte to two |
| `AddField`/`AlterField` adding a foreign key constraint | InnoDB adds foreign keys in place only with `foreign_key_checks = 0` |
| `AddConstraint` of a `CheckConstraint` (MySQL 8.0.16+, MariaDB) | every row is checked in a copy |
| `AddField` of a stored `GeneratedField`; on MySQL, an expression `db_default` | the values are computed into a copy |
| `RunSQL` with `ALGORITHM=COPY` or `LOCK=SHARED`/`LOCK=EXCLUSIVE` | asked for |

The verdicts are checked against MariaDB 10.11 by running Django's own DDL with
`ALGORITHM=INPLACE, LOCK=NONE` asserted (`tests/mysql.rs`); MySQL 8.0/8.4 facts follow
the MySQL manual's "Online DDL Operations" tables
(<https://dev.mysql.com/doc/refman/8.0/en/innodb-online-ddl-operations.html>).

## Why it is unsafe
`ALGORITHM=COPY` builds a new copy of the table and swaps it in: reads go on, but every
`INSERT`, `UPDATE` and `DELETE` waits for the whole copy, minutes to hours on a big table.
And like every `ALTER`, it first waits for a metadata lock behind any open transaction on
the table while new queries queue behind it (`migrail run` bounds that wait).

## Does not fire when
- the table is created in the same migration, or Django manages no table for it;
- the change is done in place: adding a nullable column or one with a literal default
  (`INSTANT` on MySQL 8.0.12+ and MariaDB 10.3+), dropping or renaming a column, adding or
  dropping an index (`INPLACE`, writes allowed: index builds are not reported on MySQL),
  `NULL` ↔ `NOT NULL` (`INPLACE` rebuild, writes allowed), widening a `CharField` within
  its length prefix;
- MySQL 5.7 (and Aurora MySQL 2), for a `CheckConstraint`: it parses CHECK and ignores it.

## Safe alternative
- A type change: expand and contract. Add a new column of the new type (instant), write
  both from the application, backfill in batches, switch the reads, drop the old column in
  a later release.
- A foreign key: add the field with `db_constraint=False` (no copy, no constraint); to
  have the constraint, add it in a `RunSQL` that sets `foreign_key_checks = 0` first, so
  InnoDB adds it in place with writes allowed. The trade-off is honest: with the checks off
  MySQL does not verify the existing rows, so check for orphans yourself first.
- A CHECK: validate in the application; MySQL has no `NOT VALID`.
- On a big table, any of these can run through an online schema-change tool (gh-ost,
  pt-online-schema-change) outside the migration, with the migration then telling Django's
  state only (`SeparateDatabaseAndState`).
- Whatever you write in `RunSQL`, assert `ALGORITHM=INPLACE, LOCK=NONE`: MySQL then refuses
  the statement instead of silently copying the table.
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::Mysql,
};

/// utf8mb4: four bytes a character; a VARCHAR's length prefix takes a second byte past
/// 255 bytes.
const BYTES_PER_CHAR: i64 = 4;

/// True when the server copies the table to change a column of type `from` to `to`
/// (MySQL and MariaDB alike; checked against MariaDB 10.11).
pub fn type_change_copies(from: &DbType, to: &DbType) -> bool {
    if from == to {
        return false;
    }
    match (from, to) {
        (
            DbType::Varchar {
                max_length: Some(a),
            },
            DbType::Varchar {
                max_length: Some(b),
            },
        ) => b < a || (a * BYTES_PER_CHAR <= 255) != (b * BYTES_PER_CHAR <= 255),
        _ => true,
    }
}

impl Rule for MysqlTableCopy {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        let db = &ctx.settings.database;
        if !ctx.touches_database() {
            return;
        }
        if let OpKind::RunSQL { sql, .. } = &op.kind {
            if let Some(d) = run_sql(ctx, &sql.value) {
                out.push(d);
            }
            return;
        }
        let Some(model_name) = op.model() else {
            return;
        };
        if ctx.table_is_exempt(model_name) {
            return;
        }
        let table = ctx.table_name(model_name);
        let t = q(&table);
        let copy = |what: String| {
            format!(
                "{what}: {} copies {t} with ALGORITHM=COPY, blocking every write to it for the whole copy",
                db.label()
            )
        };
        match &op.kind {
            OpKind::AlterField { name, field, .. } => {
                let ModelLookup::Known(model) = ctx.model(model_name) else {
                    return;
                };
                let Some(old) = model.field(name) else { return };
                let column = field.column(name).unwrap_or_else(|| name.clone());
                if let (Some(a), Some(b)) = (old.db_type(), field.db_type()) {
                    // The same PostgreSQL type can be another MySQL one (`Positive...Field`
                    // is UNSIGNED there, a CHECK on PostgreSQL).
                    let mariadb = db.engine == crate::django::database::Engine::Mariadb;
                    let other = a == b && old.mysql_type(mariadb) != field.mysql_type(mariadb);
                    if type_change_copies(&a, &b) || other {
                        out.push(type_change(ctx, &copy, &column, &a, &b, old, field));
                        return;
                    }
                }
                let adds_key = field.is_relation()
                    && field.db_constraint() == Some(true)
                    && (!old.is_relation()
                        || old.db_constraint() == Some(false)
                        || !old.same_in_database(field, name)
                        || old.db_on_delete() != field.db_on_delete());
                if adds_key {
                    let readded = old.is_relation() && old.db_constraint() != Some(false);
                    let what = if readded {
                        format!(
                            "AlterField changes the foreign key column {}: Django drops its constraint first and \
                             adds it back last, and InnoDB adds foreign keys in place only with foreign_key_checks = 0",
                            q(&column)
                        )
                    } else {
                        adds_constraint("AlterField", &column)
                    };
                    out.push(foreign_key(ctx, &copy, what, false));
                }
            }
            OpKind::AddField { name, field, .. } => {
                let column = field.column(name).unwrap_or_else(|| format!("{name}_id"));
                if field.is_relation() && field.db_constraint() == Some(true) {
                    out.push(foreign_key(
                        ctx,
                        &copy,
                        adds_constraint("AddField", &column),
                        true,
                    ));
                } else if field.class() == "GeneratedField"
                    && field
                        .call
                        .kwarg("db_persist")
                        .is_some_and(|v| v.value == Value::Bool(true))
                {
                    out.push(
                        Diagnostic::at_operation(
                            op,
                            copy(format!("AddField adds the stored generated column {}", q(&column))),
                        )
                        .help("a virtual generated column (`db_persist=False`) is added in place; or add it on a big table with an online schema-change tool (gh-ost, pt-online-schema-change)"),
                    );
                } else if db.engine == crate::django::database::Engine::Mysql
                    && field
                        .db_default()
                        .is_some_and(|v| matches!(v.value, Value::Call(_) | Value::Ref(_)))
                {
                    out.push(
                        Diagnostic::at_operation(
                            op,
                            copy(format!(
                                "AddField adds {} with an expression `db_default`",
                                q(&column)
                            )),
                        )
                        .help("add the column nullable or with a literal `db_default` (INSTANT), fill it in batches, then give it the expression default in a later release"),
                    );
                }
            }
            OpKind::AddConstraint { constraint, .. }
                if constraint.class == "CheckConstraint" && enforces_checks(db) =>
            {
                let name = constraint.name.as_deref().unwrap_or("the constraint");
                out.push(
                    Diagnostic::at_operation(
                        op,
                        copy(format!(
                            "AddConstraint adds the CHECK {} and checks every row",
                            q(name)
                        )),
                    )
                    .help("MySQL has no NOT VALID: validate in the application (model `clean`, form validation) and keep the constraint out of the database, or add it on a big table with an online schema-change tool (gh-ost, pt-online-schema-change) and tell Django's state with `SeparateDatabaseAndState`"),
                );
            }
            _ => {}
        }
    }
}

/// The help for a type change.
const EXPAND_CONTRACT: &str = "expand and contract: add a new column of the new type (instant), write both from the application, backfill in batches, switch the reads, drop the old column in a later release; on a big table an online schema-change tool (gh-ost, pt-online-schema-change) can do the change outside the migration, the migration then only telling Django's state (`SeparateDatabaseAndState`)";

/// MySQL 8.0.16+ and MariaDB enforce CHECK constraints; MySQL 5.7 parses and ignores them.
fn enforces_checks(db: &Database) -> bool {
    db.engine == crate::django::database::Engine::Mariadb || db.mysql_at_least(8, 0, 16)
}

fn type_change(
    ctx: &OpContext<'_>,
    copy: &dyn Fn(String) -> String,
    column: &str,
    from: &DbType,
    to: &DbType,
    old: &FieldDef,
    new: &FieldDef,
) -> Diagnostic {
    let op = ctx.op();
    let auto_upgrade = old.class() == "AutoField"
        && new.class() == "BigAutoField"
        && old.primary_key() == Some(true);
    let what = match (from, to) {
        (
            DbType::Varchar {
                max_length: Some(a),
            },
            DbType::Varchar {
                max_length: Some(b),
            },
        ) if b > a => format!(
            "AlterField widens {} from varchar({a}) to varchar({b}), past 255 bytes (utf8mb4: 63 characters)",
            q(column)
        ),
        _ => {
            let mariadb = ctx.settings.database.engine == crate::django::database::Engine::Mariadb;
            format!(
                "AlterField changes the type of {} from {} to {}",
                q(column),
                old.mysql_type(mariadb).unwrap_or_else(|| from.to_string()),
                new.mysql_type(mariadb).unwrap_or_else(|| to.to_string())
            )
        }
    };
    let mut message = copy(what);
    let indexed = old.unique() == Some(true) || old.db_index() == Some(true);
    if matches!(to, DbType::Text)
        && indexed
        && ctx.settings.database.engine == crate::django::database::Engine::Mysql
    {
        message.push_str(
            "; and the column is indexed: MySQL refuses a TEXT column in a key without a prefix \
             length (ERROR 1170), so the migration fails there (MariaDB copies and rebuilds the key)",
        );
    }
    if auto_upgrade {
        let model_name = op.model().unwrap_or_default();
        let key = crate::django::state::model_key(ctx.app(), model_name);
        let others: Vec<String> = ctx
            .columns_pointing_to(&key)
            .into_iter()
            .map(|(t, c)| format!("{}.{}", q(&t), q(&c)))
            .collect();
        if !others.is_empty() {
            message.push_str(&format!(
                ", and Django changes every foreign key pointing to it, copying those tables too: {}",
                others.join(", ")
            ));
        }
    }
    let help = if auto_upgrade {
        "keep the type: set `DEFAULT_AUTO_FIELD = \"django.db.models.AutoField\"` (or `default_auto_field` on the app's AppConfig) and drop this migration; if the table needs bigint ids, change it table by table with an online schema-change tool (gh-ost, pt-online-schema-change), the referencing tables first"
    } else {
        EXPAND_CONTRACT
    };
    Diagnostic::at_operation(op, message).help(help)
}

fn adds_constraint(op_name: &str, column: &str) -> String {
    format!(
        "{op_name} adds a foreign key constraint on {} (InnoDB adds foreign keys in place only with foreign_key_checks = 0)",
        q(column)
    )
}

fn foreign_key(
    ctx: &OpContext<'_>,
    copy: &dyn Fn(String) -> String,
    what: String,
    added: bool,
) -> Diagnostic {
    Diagnostic::at_operation(ctx.op(), copy(what))
    .help(format!(
        "{} the field with `db_constraint=False` (no copy); if you want the constraint, add it in a later `RunSQL` \
         with `SET foreign_key_checks = 0;` before the `ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY ..., \
         ALGORITHM=INPLACE, LOCK=NONE` (writes allowed) and `SET foreign_key_checks = 1;` after: MySQL then does \
         not check the existing rows, so look for orphans first (a LEFT JOIN to the referenced table)",
        if added {
            "add"
        } else {
            "alter"
        }
    ))
}

/// `RunSQL` asking for a copy or a lock: `ALGORITHM=COPY`, `LOCK=SHARED|EXCLUSIVE`.
fn run_sql(ctx: &OpContext<'_>, sql: &Value) -> Option<Diagnostic> {
    let mut texts = Vec::new();
    collect_strings(sql, &mut texts);
    // Tables the migration created before this operation: empty, no old code on them.
    let new_tables: Vec<String> = ctx
        .visit
        .created_here
        .iter()
        .filter_map(|k| ctx.visit.state.get(k))
        .filter_map(|m| ctx.visit.state.table_of(m))
        .map(|t| t.to_ascii_lowercase())
        .collect();
    for text in texts {
        let whole: String = text
            .to_ascii_uppercase()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let checks_off = whole.contains("FOREIGN_KEY_CHECKS=0");
        for statement in text.split(';') {
            let upper = statement.to_ascii_uppercase();
            let squeezed: String = upper.chars().filter(|c| !c.is_whitespace()).collect();
            let online =
                squeezed.contains("ALGORITHM=INPLACE") || squeezed.contains("ALGORITHM=INSTANT");
            let words: Vec<&str> = upper.split_whitespace().collect();
            let original: Vec<&str> = statement.split_whitespace().collect();
            // `ALTER TABLE [IF EXISTS] name`: the table, unquoted.
            let table = words
                .iter()
                .position(|w| *w == "TABLE")
                .filter(|&i| i > 0 && words[i - 1] == "ALTER")
                .and_then(|i| {
                    let mut j = i + 1;
                    while words
                        .get(j)
                        .is_some_and(|w| matches!(*w, "IF" | "EXISTS" | "ONLY"))
                    {
                        j += 1;
                    }
                    original.get(j)
                })
                .map(|t| {
                    t.trim_matches(|c| c == '`' || c == '"')
                        .to_ascii_lowercase()
                });
            if table.as_ref().is_some_and(|t| new_tables.contains(t)) {
                continue;
            }
            let adds = |what: &str| {
                words
                    .windows(2)
                    .any(|w| w[0] == "ADD" && w[1].starts_with(what))
                    || words
                        .windows(4)
                        .any(|w| w[0] == "ADD" && w[1] == "CONSTRAINT" && w[3].starts_with(what))
            };
            let asked = if squeezed.contains("ALGORITHM=COPY") {
                Some("ALGORITHM=COPY: the table is copied, writes blocked for the whole copy")
            } else if squeezed.contains("LOCK=EXCLUSIVE") {
                Some("LOCK=EXCLUSIVE: no reads or writes on the table until the statement is done")
            } else if squeezed.contains("LOCK=SHARED") {
                Some("LOCK=SHARED: writes blocked until the statement is done")
            } else if !online && adds("FOREIGN") && !checks_off {
                Some("a foreign key with foreign_key_checks on: the table is copied (ALGORITHM=COPY), writes blocked for the whole copy")
            } else if !online && adds("CHECK") {
                Some("a CHECK constraint: every row is checked in a copy of the table (ALGORITHM=COPY), writes blocked")
            } else {
                None
            };
            if let Some(asked) = asked {
                return Some(
                    Diagnostic::at_operation(ctx.op(), format!("RunSQL asks {} for {asked}", ctx.settings.database.label()))
                        .help("assert `ALGORITHM=INPLACE, LOCK=NONE` (or `ALGORITHM=INSTANT`) instead: MySQL then refuses what it cannot do online rather than blocking; what needs a copy goes through an online schema-change tool (gh-ost, pt-online-schema-change) on a big table"),
                );
            }
        }
    }
    None
}

fn collect_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Str(s) => out.push(s.as_str()),
        Value::List(items) | Value::Tuple(items) => {
            for i in items {
                collect_strings(&i.value, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::testing::{findings_on, migration, with_initial};

    const RULE: &str = "mysql-table-copy";

    #[test]
    fn varchar_length_prefix() {
        let v = |n| DbType::Varchar {
            max_length: Some(n),
        };
        assert!(!type_change_copies(&v(50), &v(60)));
        assert!(type_change_copies(&v(60), &v(70)));
        assert!(type_change_copies(&v(100), &v(40)));
        assert!(!type_change_copies(&v(100), &v(200)));
        assert!(type_change_copies(&v(100), &DbType::Text));
    }

    #[test]
    fn err_type_change_and_foreign_key_on_mysql() {
        let m = with_initial(migration(
            "0002_x",
            "0001_initial",
            "        migrations.AlterField('book', 'pages', models.BigIntegerField(default=0)),\n        \
             migrations.AddField('book', 'owner', models.ForeignKey('auth.User', on_delete=models.CASCADE, null=True)),\n        \
             migrations.AddConstraint('book', models.CheckConstraint(condition=models.Q(pages__gte=0), name='pages_ok')),",
        ));
        let found = findings_on(&m, RULE, "mysql", None);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(
            found[0].contains("copies `shop_book` with ALGORITHM=COPY"),
            "{found:?}"
        );
        assert!(found[0].contains("from integer to bigint"), "{found:?}");
        assert!(found[1].contains("foreign_key_checks"), "{found:?}");
        assert!(found[2].contains("CHECK `pages_ok`"), "{found:?}");
        // MySQL 5.7 ignores CHECK constraints.
        assert_eq!(findings_on(&m, RULE, "mysql", Some("5.7")).len(), 2);
        // Not a PostgreSQL rule.
        assert!(findings_on(&m, RULE, "postgresql", None).is_empty());
    }

    #[test]
    fn ok_in_place_changes() {
        let m = with_initial(migration(
            "0002_x",
            "0001_initial",
            "        migrations.AddField('book', 'note', models.CharField(max_length=20, null=True)),\n        \
             migrations.AlterField('book', 'isbn', models.CharField(max_length=20)),\n        \
             migrations.AlterField('book', 'subtitle', models.CharField(max_length=200)),\n        \
             migrations.AddIndex('book', models.Index(fields=['pages'], name='pages_idx')),",
        ));
        assert!(findings_on(&m, RULE, "mysql", None).is_empty());
        let sql = with_initial(migration(
            "0002_x",
            "0001_initial",
            "        migrations.RunSQL('ALTER TABLE shop_book ADD COLUMN x int, ALGORITHM=COPY'),\n        \
             migrations.RunSQL('ALTER TABLE shop_book ADD CONSTRAINT fk FOREIGN KEY (x) REFERENCES shop_book (id)'),\n        \
             migrations.RunSQL('SET foreign_key_checks = 0; ALTER TABLE shop_book ADD CONSTRAINT fk2 FOREIGN KEY (x) REFERENCES shop_book (id)'),\n        \
             migrations.RunSQL('ALTER TABLE shop_book ADD CONSTRAINT ck CHECK (x > 0)'),\n        \
             migrations.RunSQL('ALTER TABLE shop_book ADD COLUMN y int, ALGORITHM=INSTANT'),",
        ));
        let found = findings_on(&sql, RULE, "mariadb", None);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(
            found[1].contains("a foreign key with foreign_key_checks on"),
            "{found:?}"
        );
        assert!(found[2].contains("a CHECK constraint"), "{found:?}");
    }

    /// MySQL 8.0 copies the table to add a column with an expression default (the MySQL
    /// manual, "Online DDL Operations", column operations); MariaDB adds it instantly
    /// (checked in tests/mysql.rs's probe of the server).
    #[test]
    fn expression_default_copies_on_mysql_only() {
        let m = with_initial(migration(
            "0002_x",
            "0001_initial",
            "        migrations.AddField('book', 'stamped', models.DateTimeField(db_default=models.functions.Now())),\n        \
             migrations.AddField('book', 'flag', models.IntegerField(db_default=1)),",
        ));
        let found = findings_on(&m, RULE, "mysql", Some("8.4"));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains("with an expression `db_default`"),
            "{found:?}"
        );
        assert!(findings_on(&m, RULE, "mariadb", Some("10.11")).is_empty());
    }

    #[test]
    fn ok_run_sql_on_a_table_created_in_the_same_migration() {
        let m = with_initial(migration(
            "0002_x",
            "0001_initial",
            "        migrations.CreateModel('Shelf', fields=[('id', models.AutoField(primary_key=True)), ('book_id', models.IntegerField())]),\n        \
             migrations.RunSQL('ALTER TABLE `shop_shelf` ADD CONSTRAINT fk FOREIGN KEY (book_id) REFERENCES shop_book (id)'),",
        ));
        assert!(findings_on(&m, RULE, "mysql", None).is_empty());
    }

    #[test]
    fn an_indexed_column_made_text_is_refused_by_mysql() {
        let m = with_initial(migration(
            "0002_x",
            "0001_initial",
            "        migrations.AlterField('book', 'isbn', models.CharField(max_length=13, unique=True)),",
        ));
        let mut files = m;
        files.push(migration(
            "0003_y",
            "0002_x",
            "        migrations.AlterField('book', 'isbn', models.TextField(unique=True)),",
        ));
        let found = findings_on(&files, RULE, "mysql", None);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("ERROR 1170"), "{found:?}");
        let found = findings_on(&files, RULE, "mariadb", None);
        assert!(!found[0].contains("ERROR 1170"), "{found:?}");
    }
}
