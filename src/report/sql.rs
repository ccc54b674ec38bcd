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

/// The text of one migration.
fn migration_text(m: &MigrationSql, with_locks: bool) -> String {
    let mut out = String::new();
    let statement = |out: &mut String, s: &str| {
        out.push_str(s);
        out.push_str(";\n");
        if with_locks {
            out.push_str(&format!("-- lock: {}\n", locks::of(s).describe()));
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
                    statement(&mut out, s);
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
                statement(&mut out, s);
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

fn statements(list: &[String]) -> Vec<StatementDoc> {
    list.iter()
        .map(|s| StatementDoc {
            sql: s.clone(),
            lock: locks::of(s),
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
                        statements: Some(statements(list)),
                        unrendered: None,
                    },
                    Rendered::Unrendered(why) => OperationDoc {
                        description: &o.description,
                        statements: None,
                        unrendered: Some(why),
                    },
                })
                .collect(),
            deferred: m.deferred.as_ref().ok().map(|d| statements(d)),
            deferred_unrendered: m.deferred.as_ref().err().map(String::as_str),
        })
        .collect();
    serde_json::json!({ "version": 1, "migrations": docs }).to_string() + "\n"
}

/// The strongest lock of a migration's statements, for the summary line.
fn strongest(m: &MigrationSql) -> Option<String> {
    let all: Vec<String> = m
        .operations
        .iter()
        .filter_map(|o| match &o.rendered {
            Rendered::Statements(l) => Some(l.clone()),
            Rendered::Unrendered(_) => None,
        })
        .flatten()
        .chain(m.deferred.clone().unwrap_or_default())
        .collect();
    const ORDER: [&str; 4] = [
        "ACCESS EXCLUSIVE",
        "SHARE ROW EXCLUSIVE",
        "SHARE",
        "SHARE UPDATE EXCLUSIVE",
    ];
    for mode in ORDER {
        let tables: Vec<String> = all
            .iter()
            .map(|s| locks::of(s))
            .filter(|l| l.mode == Some(mode) && l.effect != "new table")
            .flat_map(|l| l.tables)
            .collect();
        if !tables.is_empty() {
            let mut unique: Vec<String> = Vec::new();
            for t in tables {
                if !unique.contains(&t) {
                    unique.push(t);
                }
            }
            return Some(format!(
                "{mode} on {}",
                unique
                    .iter()
                    .map(|t| format!("\"{t}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    None
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
