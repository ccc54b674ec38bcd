//! `migrail sql`: the SQL Django runs for each migration, as `sqlmigrate` prints it (the
//! `BEGIN;`/`COMMIT;` of an atomic migration, a `-- description` header per operation,
//! the deferred statements last), each statement followed by the lock it takes and what
//! it does to the rows; as JSON (version 1); and as the pull request comment's collapsed
//! blocks.

use serde::Serialize;

use crate::django::schema_editor::{MigrationSql, Rendered};
use crate::lint::locks::{self, Lock};

fn header(m: &MigrationSql) -> String {
    format!("{}.{}", m.app, m.name)
}

/// Every rendered statement of a migration, in order.
fn all_statements(m: &MigrationSql) -> Vec<&String> {
    m.operations
        .iter()
        .filter_map(|o| match &o.rendered {
            Rendered::Statements(l) => Some(l),
            Rendered::Unrendered(_) => None,
        })
        .flatten()
        .chain(m.deferred.iter().flatten())
        .collect()
}

/// The tables the migration creates: nothing waits on their locks (they are empty, and
/// no other session sees them before the commit).
fn created(m: &MigrationSql) -> Vec<String> {
    all_statements(m)
        .into_iter()
        .map(|s| locks::of(s))
        .filter(|l| l.effect == "new table")
        .flat_map(|l| l.tables)
        .collect()
}

/// The lock of `statement`, the tables this migration creates left out.
fn lock_of(statement: &str, new: &[String]) -> (Lock, bool) {
    let mut lock = locks::of(statement);
    let before = lock.tables.len();
    if lock.effect != "new table" {
        lock.tables.retain(|t| !new.contains(t));
    }
    let only_new = before > 0 && lock.tables.is_empty();
    (lock, only_new)
}

fn lock_line(statement: &str, new: &[String], widens: bool) -> String {
    let (mut lock, only_new) = lock_of(statement, new);
    if widens && lock.effect == "rewrites the table" {
        lock.effect = "no rewrite (the type widens in place)";
    }
    if only_new {
        format!(
            "{} on a table this migration creates: nothing waits",
            lock.mode.unwrap_or("no table lock")
        )
    } else {
        lock.describe()
    }
}

/// The text of one migration.
fn migration_text(m: &MigrationSql, with_locks: bool) -> String {
    let mut out = String::new();
    let new = created(m);
    let statement = |out: &mut String, s: &str, widens: bool| {
        out.push_str(s);
        out.push_str(";\n");
        if with_locks {
            out.push_str(&format!("-- lock: {}\n", lock_line(s, &new, widens)));
        }
    };
    if m.atomic {
        out.push_str("BEGIN;\n");
    }
    for op in &m.operations {
        out.push_str(&format!("--\n-- {}\n--\n", op.description));
        match &op.rendered {
            Rendered::Statements(list) if list.is_empty() => out.push_str("-- (no-op)\n"),
            Rendered::Statements(list) => {
                for s in list {
                    statement(&mut out, s, op.widens_in_place);
                }
            }
            Rendered::Unrendered(why) => {
                out.push_str(&format!("-- (not rendered by migrail: {why})\n"))
            }
        }
    }
    match &m.deferred {
        Ok(list) => {
            for s in list {
                statement(&mut out, s, false);
            }
        }
        Err(why) => out.push_str(&format!(
            "-- (the statements Django defers to the end are not rendered: {why})\n"
        )),
    }
    if m.atomic {
        out.push_str("COMMIT;\n");
    }
    out
}

/// `migrail sql`'s text: each migration under a `-- app.name` line.
pub fn text(migrations: &[MigrationSql]) -> String {
    if migrations.is_empty() {
        return "No migration selected.\n".to_string();
    }
    let mut out = String::new();
    for (i, m) in migrations.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("-- {}\n", header(m)));
        out.push_str(&migration_text(m, true));
    }
    out
}

#[derive(Serialize)]
struct StatementDoc {
    sql: String,
    lock: Lock,
}

#[derive(Serialize)]
struct OperationDoc<'a> {
    description: &'a str,
    /// `null` when migrail cannot render it (`unrendered` says why).
    statements: Option<Vec<StatementDoc>>,
    unrendered: Option<&'a str>,
}

#[derive(Serialize)]
struct MigrationDoc<'a> {
    app: &'a str,
    name: &'a str,
    atomic: bool,
    operations: Vec<OperationDoc<'a>>,
    deferred: Option<Vec<StatementDoc>>,
    deferred_unrendered: Option<&'a str>,
}

fn statements(list: &[String], widens: bool) -> Vec<StatementDoc> {
    list.iter()
        .map(|s| {
            let mut lock = locks::of(s);
            if widens && lock.effect == "rewrites the table" {
                lock.effect = "no rewrite (the type widens in place)";
            }
            StatementDoc {
                sql: s.clone(),
                lock,
            }
        })
        .collect()
}

/// The JSON document (version 1).
pub fn json(migrations: &[MigrationSql]) -> String {
    let docs: Vec<MigrationDoc<'_>> = migrations
        .iter()
        .map(|m| MigrationDoc {
            app: &m.app,
            name: &m.name,
            atomic: m.atomic,
            operations: m
                .operations
                .iter()
                .map(|o| match &o.rendered {
                    Rendered::Statements(list) => OperationDoc {
                        description: &o.description,
                        statements: Some(statements(list, o.widens_in_place)),
                        unrendered: None,
                    },
                    Rendered::Unrendered(why) => OperationDoc {
                        description: &o.description,
                        statements: None,
                        unrendered: Some(why),
                    },
                })
                .collect(),
            deferred: m.deferred.as_ref().ok().map(|d| statements(d, false)),
            deferred_unrendered: m.deferred.as_ref().err().map(String::as_str),
        })
        .collect();
    serde_json::json!({ "version": 1, "migrations": docs }).to_string() + "\n"
}

/// The strongest lock of a migration's statements on tables that exist before it, for
/// the summary line.
fn strongest(m: &MigrationSql) -> Option<String> {
    let new = created(m);
    let all: Vec<Lock> = all_statements(m)
        .into_iter()
        .map(|s| lock_of(s, &new).0)
        .filter(|l| l.effect != "new table")
        .collect();
    const ORDER: [&str; 4] = [
        "ACCESS EXCLUSIVE",
        "SHARE ROW EXCLUSIVE",
        "SHARE",
        "SHARE UPDATE EXCLUSIVE",
    ];
    for mode in ORDER {
        let mut tables: Vec<String> = Vec::new();
        for t in all
            .iter()
            .filter(|l| l.mode == Some(mode))
            .flat_map(|l| l.tables.iter())
        {
            if !tables.contains(t) {
                tables.push(t.clone());
            }
        }
        if !tables.is_empty() {
            return Some(format!(
                "{mode} on {}",
                tables
                    .iter()
                    .map(|t| format!("\"{t}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    (!new.is_empty()).then(|| "new tables only".to_string())
}

/// The pull request's section: one collapsed block per migration that runs SQL.
pub fn markdown(migrations: &[MigrationSql]) -> String {
    let shown: Vec<&MigrationSql> = migrations
        .iter()
        .filter(|m| !crate::django::schema_editor::is_empty(m))
        .collect();
    if shown.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "#### SQL (what Django runs, rendered by migrail; each statement's lock below it)\n\n",
    );
    for m in shown {
        let unrendered = m
            .operations
            .iter()
            .filter(|o| matches!(o.rendered, Rendered::Unrendered(_)))
            .count()
            + usize::from(m.deferred.is_err());
        let mut summary = format!("<code>{}</code>", header(m));
        if let Some(lock) = strongest(m) {
            summary.push_str(&format!(": {}", super::markdown::html(&lock)));
        }
        if unrendered > 0 {
            summary.push_str(&format!(" ({unrendered} part(s) not rendered)"));
        }
        out.push_str(&format!(
            "<details><summary>{summary}</summary>\n\n{}</details>\n\n",
            super::markdown::fenced("sql", &migration_text(m, true))
        ));
    }
    out
}
