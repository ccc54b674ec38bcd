//! `add-not-null-column`: an `AddField` of a NOT NULL column without a database default.

use crate::django::operations::OpKind;
use crate::fix::Fix;
use crate::lint::rule::{Axis, Diagnostic, OpContext, Rule, RuleMeta, Severity, SqlContext};
use crate::lint::sql::SqlAction;

use super::{field_code, lower};

pub struct AddNotNullColumn;

static META: RuleMeta = RuleMeta {
    name: "add-not-null-column",
    severity: Severity::Error,
    axis: Axis::Compatibility,
    summary: "AddField adds a NOT NULL column without a database default to an existing table",
    doc: r#"## What it catches
An `AddField` with `null=False` (Django's default) and no non-NULL `db_default`, on a
table that already exists. Also a stored `GeneratedField` (`db_persist=True`) added to an
existing table: PostgreSQL computes it for every row, rewriting the table under an
ACCESS EXCLUSIVE lock (a generated column is never left out by INSERTs, so it is never
reported as a NOT NULL column).

## Why it is unsafe
The old release does not know the column, so its INSERTs leave it out. Without a
database default every one of them fails with `null value in column "..." violates
not-null constraint` until the rollout ends. A Python `default=` does not help: Django
uses it once to fill the existing rows and then drops the column default.

## Does not fire when
- the field has a non-NULL `db_default` (Django 5.0+): the database fills the column for
  the old code's INSERTs;
- `null=True`;
- the table is created in the same migration, or Django manages no table for it;
- the field is a `ManyToManyField` (a join table, no column).

## Safe alternative
Give the column a database default:

```python
migrations.AddField("book", "format", models.CharField(max_length=20, db_default="paperback")),
```

or add it nullable, backfill, and make it NOT NULL in a later release (see `set-not-null`).
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

impl Rule for AddNotNullColumn {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        let SqlAction::AddColumn {
            table,
            column,
            not_null: true,
            has_default: false,
            ..
        } = action
        else {
            return;
        };
        if ctx.is_new_table(table) {
            return;
        }
        out.push(
            ctx.diagnostic(format!(
                "RunSQL adds NOT NULL column {} to {} without a DEFAULT: it fails on a table with rows, and the old \
                 release's INSERTs, which do not name the column, fail",
                ctx.quote(column),
                ctx.quote(table)
            ))
            .help("add a `DEFAULT` (PostgreSQL 11+ fills old rows without a rewrite), or add it nullable, backfill, then SET NOT NULL safely"),
        );
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        let OpKind::AddField {
            model_name,
            name,
            field,
        } = &op.kind
        else {
            return;
        };
        if !ctx.touches_database() || ctx.table_is_exempt(model_name) || !field.has_column() {
            return;
        }
        // A generated column is computed by the database: INSERTs never name it, so it is
        // never a NOT NULL column the old release leaves out. A stored one fills every
        // existing row when it is added: a rewrite of the table under its lock.
        if field.class() == "GeneratedField" {
            let stored = field
                .call
                .kwarg("db_persist")
                .and_then(|v| v.value.as_bool())
                .unwrap_or(false);
            if stored && !ctx.settings.database.is_mysql() {
                let column = field.column(name).unwrap_or_else(|| name.clone());
                let table = ctx.table_name(model_name);
                out.push(
                    Diagnostic::at_operation(
                        op,
                        format!(
                            "AddField adds stored generated column {} to {}: PostgreSQL computes it for every \
                             existing row, rewriting the whole table under an ACCESS EXCLUSIVE lock that blocks \
                             reads and writes until it ends",
                            ctx.quote(&column),
                            ctx.quote(&table)
                        ),
                    )
                    .help(
                        "on a large table, add a plain nullable column instead, fill it in batches (a \
                         trigger or the application keeps new rows in step), or create the generated column \
                         with the table",
                    ),
                );
            }
            return;
        }
        // A field class outside Django may default to NOT NULL (most do, as Django's
        // fields) or not: the verdict is a warning until `null` is given explicitly.
        let uncertain = match field.null() {
            Some(false) => false,
            None if field.call.kwarg("null").is_none() && field.is_third_party() => true,
            _ => return,
        };
        if field.db_default().is_some()
            || default_kept_by_sql(ctx, &field.column(name).unwrap_or_else(|| name.clone()))
        {
            return;
        }
        let column = field.column(name).unwrap_or_else(|| name.clone());
        let table = ctx.table_name(model_name);
        let default_note = if field.has_default() {
            " (its Python `default` fills the existing rows, then Django drops the column default)"
        } else {
            ""
        };
        let m = lower(model_name);
        let literal = match field.call.kwarg("default").map(|d| &d.value) {
            Some(
                v @ (crate::django::python::Value::Str(_)
                | crate::django::python::Value::Int(_)
                | crate::django::python::Value::Float(_)
                | crate::django::python::Value::Bool(_)),
            ) => Some(v),
            _ => None,
        };
        let nullable = field_code(field, &[("null", "True")]);
        let (verb, class_note) = if uncertain {
            (
                "may add",
                format!(
                    " (`{}` is not a Django field: migrail cannot see whether it defaults to NULL; say `null=` explicitly)",
                    field.class()
                ),
            )
        } else {
            ("adds", String::new())
        };
        let mut diagnostic = Diagnostic::at_operation(
            op,
            format!(
                "AddField {verb} NOT NULL column {} to {} without a database default{default_note}: the old release's \
                 INSERTs leave it out and fail{class_note}",
                ctx.quote(&column),
                ctx.quote(&table)
            ),
        );
        if uncertain {
            diagnostic.severity = Some(Severity::Warning);
        }
        let nullable_way = format!(
            "add it nullable, backfill, and set NOT NULL in a later release:\n    \
             migrations.AddField(\"{m}\", \"{name}\", {nullable}),"
        );
        let Some((literal, sql_lit)) =
            literal.and_then(|l| super::sql_literal(l).map(|sql| (l, sql)))
        else {
            out.push(diagnostic.help(format!(
                "give it a database default (`db_default=`, Django 5.0+), or {nullable_way}"
            )));
            return;
        };
        // The operation as written, its field given a database default.
        let as_written = ctx.source_text(op.range());
        let with_db_default = field_code(field, &[("db_default", &literal.describe())]);
        let field_arg = op.call.arg(Some(2), "field").map(|v| v.range);
        let rewritten = field_arg.map(|r| {
            let start = usize::from(r.start() - op.range().start());
            let end = usize::from(r.end() - op.range().start());
            format!(
                "{}{with_db_default}{}",
                &as_written[..start],
                &as_written[end..]
            )
        });
        let table_q = ctx.quote(&table);
        let column_q = ctx.quote(&column);
        let as_written_line = super::one_line(as_written);
        let keep_default = Fix::replace(
            vec![crate::fix::separate(
                std::slice::from_ref(&as_written_line),
                &[
                    as_written_line.clone(),
                    format!(
                        "migrations.RunSQL(\n    'ALTER TABLE {table_q} ALTER COLUMN {column_q} SET DEFAULT {};',\n    \
                         reverse_sql='ALTER TABLE {table_q} ALTER COLUMN {column_q} DROP DEFAULT;',\n)",
                        sql_lit
                    ),
                ],
            )],
            true,
        );
        let modern = ctx
            .settings
            .django_version
            .is_some_and(|v| v.has_db_default());
        let help = format!(
            "give it a database default (Django 5.0+; keep `db_default={lit}` on the field in models.py):\n    \
             migrations.AddField(\"{m}\", \"{name}\", {with_db_default}),\n\
             before Django 5.0, keep the database default Django drops, with the state as written:\n{}\n\
             or {nullable_way}",
            keep_default.describe(),
            lit = literal.describe(),
        );
        let fix = match (&rewritten, modern) {
            // The state gets the database default too: `models.py` must say so.
            (Some(rewritten), true) => {
                Fix::replace(vec![rewritten.clone()], true).pinning(crate::fix::Pin {
                    model: match ctx.model(model_name) {
                        crate::lint::rule::ModelLookup::Known(state) => state.name.clone(),
                        crate::lint::rule::ModelLookup::Unknown => model_name.clone(),
                    },
                    field: Some(name.clone()),
                    keyword: "db_default".to_string(),
                    value: literal.describe(),
                })
            }
            _ => keep_default,
        };
        out.push(diagnostic.help(help).with_fix(fix));
    }
}

/// The database-only `AddField` of the recipe for Django before 5.0: the same
/// `SeparateDatabaseAndState` sets the column's default again with `RunSQL`.
fn default_kept_by_sql(ctx: &OpContext<'_>, column: &str) -> bool {
    use crate::django::operations::OpKind;
    let Some(OpKind::SeparateDatabaseAndState {
        database_operations,
        ..
    }) = ctx.visit.parent.map(|p| &p.kind)
    else {
        return false;
    };
    let lower = column.to_lowercase();
    let wanted = [
        format!("alter column \"{lower}\" set default"),
        format!("alter column `{lower}` set default"),
        format!("alter column {lower} set default"),
    ];
    database_operations.iter().any(|op| match &op.kind {
        OpKind::RunSQL { sql, .. } => sql.value.as_str().is_some_and(|s| {
            let s = s.to_lowercase();
            wanted.iter().any(|w| s.contains(w))
        }),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "add-not-null-column";

    #[test]
    fn err_not_null_with_python_default() {
        let files = with_initial(migration(
            "0002_format",
            "0001_initial",
            r#"        migrations.AddField(model_name="book", name="format", field=models.CharField(default="paperback", max_length=20), preserve_default=False),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn err_foreign_key_without_null() {
        let files = with_initial(migration(
            "0002_owner",
            "0001_initial",
            r#"        migrations.AddField("book", "owner", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to=settings.AUTH_USER_MODEL)),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("\"owner_id\""));
    }

    #[test]
    fn ok_db_default_nullable_m2m_and_new_table() {
        let files = with_initial(migration(
            "0002_ok",
            "0001_initial",
            r#"        migrations.AddField("book", "format", models.CharField(max_length=20, db_default="paperback")),
        migrations.AddField("book", "note", models.TextField(null=True)),
        migrations.AddField("book", "tags", models.ManyToManyField(to="shop.book")),
        migrations.CreateModel(name="Shelf", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.AddField("shelf", "label", models.CharField(max_length=10)),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }

    #[test]
    fn ok_unknown_nullability_is_not_guessed() {
        let files = with_initial(migration(
            "0002_x",
            "0001_initial",
            r#"        migrations.AddField("book", "x", models.TextField(null=settings.NULLABLE)),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }

    #[test]
    fn warn_third_party_field_without_explicit_null() {
        let files = with_initial(migration(
            "0002_phone",
            "0001_initial",
            r#"        migrations.AddField("book", "phone", phonenumber_field.modelfields.PhoneNumberField(max_length=128)),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, crate::lint::rule::Severity::Warning);
        assert!(
            found[0].message.contains("not a Django field"),
            "{}",
            found[0].message
        );

        let explicit = with_initial(migration(
            "0002_phone",
            "0001_initial",
            r#"        migrations.AddField("book", "phone", phonenumber_field.modelfields.PhoneNumberField(max_length=128, null=True)),"#,
        ));
        assert!(findings(&explicit, RULE).is_empty());
    }
}
