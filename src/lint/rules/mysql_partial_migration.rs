//! `mysql-partial-migration`: on MySQL and MariaDB, a migration whose later operation can
//! fail on the table's rows after earlier schema changes already took effect: DDL is not
//! transactional there, so a failure leaves the migration half applied and unrecorded.

use crate::django::operations::{OpKind, Operation};

use crate::lint::rule::{Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity};

use super::mysql_ident as q;

pub struct MysqlPartialMigration;

static META: RuleMeta = RuleMeta {
    name: "mysql-partial-migration",
    severity: Severity::Warning,
    axis: Axis::Runtime,
    summary:
        "On MySQL, a later operation can fail on the rows after earlier schema changes took effect",
    doc: r#"## What it catches
On MySQL and MariaDB, a migration with more than one schema-changing operation where an
operation after the first can fail on the existing rows: a unique constraint or
`unique=True` added (duplicates), `NULL` → `NOT NULL` (NULL rows, in strict mode), a
foreign key constraint added (orphans), a `CheckConstraint` added (violating rows), a
narrowing type change (values that do not fit).

## Why it is unsafe
MySQL commits every DDL statement on its own: Django's `atomic` migration is not atomic
there. When the third operation fails, the first two stay applied and the migration is not
recorded in `django_migrations`; the next `migrate` runs them again and fails on the first
("Duplicate column name"), and someone has to repair the schema by hand under pressure.

## Safe alternative
Give each operation that can fail on data a migration of its own (Django records each
migration as soon as it has run), or put it first. `migrail run` checks the rows before
each migration (the preflight) and, when a migration fails half way, prints which
operations were applied.
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::Mysql,
};

impl Rule for MysqlPartialMigration {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        if ctx.visit.parent.is_some() {
            return;
        }
        let here = changes_schema(ctx).then(|| describe(op));
        let before = ctx.schema_changes_before(here);
        if before.is_empty() || !ctx.touches_database() {
            return;
        }
        let Some(reason) = fails_on_rows(ctx) else {
            return;
        };
        let db = ctx.settings.database.engine.name();
        out.push(
            Diagnostic::at_operation(
                op,
                format!(
                    "{} can fail on the rows ({reason}); {db} commits each DDL statement, so the {} before it \
                     ({}) would stay applied with the migration unrecorded, and the next `migrate` fails on them",
                    op.name(),
                    if before.len() == 1 {
                        "operation".to_string()
                    } else {
                        format!("{} operations", before.len())
                    },
                    before.join(", ")
                ),
            )
            .help(
                "move it into a migration of its own (Django records each migration once it has run), or make it the \
                 first operation; check the rows before it runs (`migrail run` does, in its preflight)",
            ),
        );
    }
}

/// The operation runs DDL: it touches the database, is not a `RunPython` (rows, not the
/// schema), and an `AlterField` changes what the database holds (not `choices`, `blank`,
/// a many-to-many's `null`).
fn changes_schema(ctx: &OpContext<'_>) -> bool {
    let op = ctx.op();
    if !ctx.touches_database() {
        return false;
    }
    match &op.kind {
        OpKind::RunPython { .. } | OpKind::IgnoreMigration | OpKind::Unknown { .. } => false,
        OpKind::SeparateDatabaseAndState {
            database_operations,
            ..
        } => !database_operations.is_empty(),
        OpKind::AlterField {
            model_name,
            name,
            field,
        } => match ctx.model(model_name) {
            ModelLookup::Known(model) => model.field(name).is_none_or(|old| {
                let m2m = old.is_m2m() && field.is_m2m();
                !(m2m || old.same_in_database(field, name))
            }),
            ModelLookup::Unknown => true,
        },
        _ => true,
    }
}

fn describe(op: &Operation) -> String {
    let name = op.name();
    match &op.kind {
        OpKind::AddField { name: f, .. }
        | OpKind::AlterField { name: f, .. }
        | OpKind::RemoveField { name: f, .. } => format!("{name} \"{f}\""),
        _ => match op.model() {
            Some(m) => format!("{name} on \"{m}\""),
            None => name.to_string(),
        },
    }
}

/// Why the operation can fail on the existing rows, if it can.
fn fails_on_rows(ctx: &OpContext<'_>) -> Option<String> {
    let op = ctx.op();
    let model_name = op.model()?;
    if ctx.table_is_exempt(model_name) {
        return None;
    }
    let table = q(&ctx.table_name(model_name));
    match &op.kind {
        OpKind::AddConstraint { constraint, .. } if constraint.is_unique() => {
            Some(format!("duplicates in {table}"))
        }
        OpKind::AddConstraint { constraint, .. } if constraint.class == "CheckConstraint" => {
            Some(format!("rows of {table} breaking the CHECK"))
        }
        OpKind::AddField { field, .. } if !field.has_column() => None,
        OpKind::AddField { field, .. } if field.is_relation() => {
            (field.db_constraint() == Some(true) && field.null() != Some(true))
                .then(|| format!("rows of {table} whose new key points nowhere"))
        }
        OpKind::AddField { field, .. } => (field.unique() == Some(true)
            && field.null() != Some(true))
        .then(|| format!("every row of {table} gets the same value under a unique constraint")),
        OpKind::AlterField { name, field, .. } => {
            let ModelLookup::Known(model) = ctx.model(model_name) else {
                return None;
            };
            let old = model.field(name)?;
            if !field.has_column() || !old.has_column() {
                return None;
            }
            let column = q(&field.column(name).unwrap_or_else(|| name.clone()));
            if old.null() == Some(true) && field.null() == Some(false) {
                return Some(format!("NULL values in {table}.{column}"));
            }
            if old.unique() != Some(true) && field.unique() == Some(true) {
                return Some(format!("duplicates in {table}.{column}"));
            }
            if field.is_relation()
                && field.db_constraint() == Some(true)
                && (!old.is_relation() || old.db_constraint() == Some(false))
            {
                return Some(format!("values of {table}.{column} that point nowhere"));
            }
            let (a, b) = (old.db_type()?, field.db_type()?);
            let mariadb = ctx.settings.database.engine == crate::django::database::Engine::Mariadb;
            (!crate::django::fields::DbType::holds_every_value_of(&b, &a)).then(|| {
                format!(
                    "values of {table}.{column} that do not fit {}",
                    field.mysql_type(mariadb).unwrap_or_else(|| b.to_string())
                )
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings_on, migration, with_initial};

    const RULE: &str = "mysql-partial-migration";

    #[test]
    fn warn_a_later_operation_that_can_fail() {
        let m = with_initial(migration(
            "0002_x",
            "0001_initial",
            "        migrations.AddField('book', 'note', models.CharField(max_length=20, null=True)),\n        \
             migrations.AlterField('book', 'subtitle', models.CharField(max_length=200)),",
        ));
        let found = findings_on(&m, RULE, "mysql", None);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains("NULL values in `shop_book`.`subtitle`"),
            "{found:?}"
        );
        assert!(found[0].contains("(AddField \"note\")"), "{found:?}");
        assert!(findings_on(&m, RULE, "postgresql", None).is_empty());
    }

    #[test]
    fn ok_first_or_alone() {
        let m = with_initial(migration(
            "0002_x",
            "0001_initial",
            "        migrations.AlterField('book', 'subtitle', models.CharField(max_length=200)),\n        \
             migrations.AddField('book', 'note', models.CharField(max_length=20, null=True)),",
        ));
        assert!(findings_on(&m, RULE, "mariadb", None).is_empty());
    }

    /// A many-to-many's `null` and `choices` changes run no DDL, and have no column.
    #[test]
    fn ok_after_changes_that_run_no_ddl() {
        let m = with_initial(migration(
            "0002_x",
            "0001_initial",
            "        migrations.AddField('book', 'tags', models.ManyToManyField('shop.Book', null=True)),\n",
        ));
        let next = migration(
            "0003_y",
            "0002_x",
            "        migrations.AlterField('book', 'tags', models.ManyToManyField('shop.Book')),\n        \
             migrations.AlterField('book', 'pages', models.IntegerField(default=0, choices=[(0, 'none')])),\n        \
             migrations.AlterField('book', 'subtitle', models.CharField(max_length=200)),",
        );
        let mut files = m;
        files.push(next);
        assert!(findings_on(&files, RULE, "mysql", None).is_empty());
    }
}
