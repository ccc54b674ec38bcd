//! `add-foreign-key-validates`: a foreign key constraint added to an existing table and
//! validated at once, scanning the table under a lock on both tables.

use crate::django::operations::OpKind;
use crate::fix::Fix;
use crate::lint::rule::{
    Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity, SqlContext,
};
use crate::lint::sql::{ConstraintKind, SqlAction};

use super::{field_code, ident, lower};

pub struct AddForeignKeyValidates;

static META: RuleMeta = RuleMeta {
    name: "add-foreign-key-validates",
    severity: Severity::Warning,
    axis: Axis::Locking,
    summary:
        "A foreign key constraint is added to an existing table and validated in the same step",
    doc: r#"## What it catches
On a table that already exists: `AddField` of a `ForeignKey` / `OneToOneField` with a
database constraint (the default), an `AlterField` that turns a column into one (or sets
`db_constraint=True`), an `AlterField` that changes the column of a constrained foreign key
in any way Django's schema editor acts on (`null`, `db_index`, `unique`, its target: Django
drops the constraint first and adds it back last, validating every row again), an
`AlterField` switching `on_delete` to or from Django 6.1's
database-level handlers (`DB_CASCADE`, `DB_SET_NULL`, `DB_SET_DEFAULT`: the constraint's
`ON DELETE` clause changes, so it is dropped and added again; Django's delete signals no
longer fire for the rows the database deletes), and in `RunSQL`, `ADD CONSTRAINT ...
FOREIGN KEY` without `NOT VALID` or `ADD COLUMN ... REFERENCES`.

## Why it is unsafe
Adding a foreign key takes a SHARE ROW EXCLUSIVE lock on both the table and the
referenced table, and validates every existing row while holding it: writes to both
tables wait for the whole scan.

## Does not fire when
- the table is created in the same migration, or Django manages no table for it;
- `db_constraint=False`, or the SQL adds the constraint `NOT VALID`.

## Safe alternative
Add the column without the constraint, then add the constraint `NOT VALID` (instant),
and validate it in a later migration (`VALIDATE CONSTRAINT` takes a lock that lets
reads and writes through):

```python
operations = [
    migrations.AddField("book", "author", models.ForeignKey("shop.Author", null=True, on_delete=models.SET_NULL, db_constraint=False)),
    migrations.RunSQL(
        'ALTER TABLE "shop_book" ADD CONSTRAINT "shop_book_author_fk" FOREIGN KEY ("author_id") REFERENCES "shop_author" ("id") NOT VALID;',
        reverse_sql='ALTER TABLE "shop_book" DROP CONSTRAINT "shop_book_author_fk";',
    ),
]
# next migration:
operations = [migrations.RunSQL('ALTER TABLE "shop_book" VALIDATE CONSTRAINT "shop_book_author_fk";', migrations.RunSQL.noop)]
```
"#,
    preflight: Some("rows that point to no row"),
    engines: crate::lint::rule::Engines::Postgresql,
};

impl Rule for AddForeignKeyValidates {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        if !ctx.touches_database() {
            return;
        }
        let (model_name, name, field) = match &op.kind {
            OpKind::AddField {
                model_name,
                name,
                field,
            } => (model_name, name, field),
            OpKind::AlterField {
                model_name,
                name,
                field,
            } => {
                let ModelLookup::Known(model) = ctx.model(model_name) else {
                    return;
                };
                let Some(old) = model.field(name) else {
                    return;
                };
                let on_delete_changed = old.is_relation()
                    && field.is_relation()
                    && old.db_on_delete() != field.db_on_delete();
                // Any change Django makes to a constrained foreign key's column (NULL, its
                // index, its target) drops the constraint first and adds it back last.
                let revalidated =
                    old.is_relation() && field.is_relation() && !old.same_in_database(field, name);
                if old.is_relation()
                    && old.db_constraint() != Some(false)
                    && !on_delete_changed
                    && !revalidated
                {
                    return;
                }
                (model_name, name, field)
            }
            _ => return,
        };
        if !field.is_relation() || field.db_constraint() != Some(true) {
            return;
        }
        if ctx.table_is_exempt(model_name) {
            return;
        }
        let table_name = ctx.table_name(model_name);
        let table = ident(&table_name);
        let column = field.column(name).unwrap_or_else(|| format!("{name}_id"));
        let Some((to_table, to_column)) = referenced(ctx, model_name, field) else {
            // The target is computed at run time: the recipe without the names migrail
            // cannot know, and no fix.
            out.push(
                Diagnostic::at_operation(
                    op,
                    format!(
                        "{} adds a foreign key constraint on {table}.{} and validates every row at once, \
                         blocking writes to {table} and to the referenced table",
                        op.name(),
                        ident(&column)
                    ),
                )
                .help(
                    "add the field with `db_constraint=False`, then `ALTER TABLE ... ADD CONSTRAINT ... \
                     FOREIGN KEY (...) REFERENCES <the target's table> (...) NOT VALID`, and `VALIDATE \
                     CONSTRAINT` in a later migration, telling the state the constraint is there (migrail \
                     cannot read the target, a setting or a call, to write the names)",
                ),
            );
            return;
        };
        let constraint =
            crate::django::names::foreign_key_name(&table_name, &column, &to_table, &to_column);
        let m = lower(model_name);
        let (table_q, col, c) = (&table, ident(&column), ident(&constraint));
        let (rt, rc) = (ident(&to_table), ident(&to_column));
        // Django 6.1's database-level on_delete: the constraint's ON DELETE clause.
        let on_delete = field
            .db_on_delete()
            .map(|clause| format!(" ON DELETE {clause}"))
            .unwrap_or_default();
        let changed_on_delete = match &op.kind {
            OpKind::AlterField { .. } => match ctx.model(model_name) {
                ModelLookup::Known(model) => model.field(name).is_some_and(|old| {
                    old.is_relation() && old.db_on_delete() != field.db_on_delete()
                }),
                ModelLookup::Unknown => false,
            },
            _ => false,
        };
        // An existing constrained key whose column changes: Django re-adds its constraint.
        let re_added = match &op.kind {
            OpKind::AlterField { .. } => match ctx.model(model_name) {
                ModelLookup::Known(model) => model.field(name).is_some_and(|old| {
                    old.is_relation()
                        && old.db_constraint() != Some(false)
                        && !old.same_in_database(field, name)
                }),
                ModelLookup::Unknown => false,
            },
            _ => false,
        };
        let fix = Fix::replace(
            vec![
                format!(
                    "migrations.{}(\"{m}\", \"{name}\", {})",
                    op.name(),
                    field_code(field, &[("db_constraint", "False")])
                ),
                format!(
                    "migrations.RunSQL(\n    'ALTER TABLE {table_q} ADD CONSTRAINT {c} FOREIGN KEY ({col}) REFERENCES {rt} ({rc}){on_delete} \
                     DEFERRABLE INITIALLY DEFERRED NOT VALID;',\n    reverse_sql='ALTER TABLE {table_q} DROP CONSTRAINT {c};',\n)"
                ),
            ],
            true,
        )
        .then(
            vec![
                format!(
                    "migrations.RunSQL(\n    'ALTER TABLE {table_q} VALIDATE CONSTRAINT {c};',\n    reverse_sql=migrations.RunSQL.noop,\n)"
                ),
                crate::fix::separate(
                    &[format!(
                        "migrations.AlterField(\"{m}\", \"{name}\", {})",
                        field_code(field, &[])
                    )],
                    &[],
                ),
            ],
            true,
        );
        out.push(
            Diagnostic::at_operation(
                op,
                if changed_on_delete {
                    format!(
                        "AlterField changes the ON DELETE of the foreign key on {table}.{}: Django drops the \
                         constraint and adds it again, validating every row at once, blocking writes to {table} \
                         and to the referenced table{}",
                        ident(&column),
                        if on_delete.is_empty() {
                            ""
                        } else {
                            "; and Django's delete signals no longer fire for the rows the database deletes"
                        }
                    )
                } else if re_added {
                    format!(
                        "AlterField changes the foreign key column {table}.{}: Django drops its constraint and \
                         adds it again, validating every row at once, blocking writes to {table} and to the \
                         referenced table",
                        ident(&column)
                    )
                } else {
                    format!(
                        "{} adds a foreign key constraint on {table}.{} and validates every row at once, blocking \
                         writes to {table} and to the referenced table",
                        op.name(),
                        ident(&column)
                    )
                },
            )
            .help(format!(
                "{}, then the constraint NOT VALID, and VALIDATE it in a later migration, telling the \
                 state the constraint is there:\n{}",
                if matches!(op.kind, OpKind::AlterField { .. }) {
                    "alter the field with `db_constraint=False` (Django drops the constraint and does not \
                     add it back)"
                } else {
                    "add the field with `db_constraint=False`"
                },
                fix.describe()
            ))
            .with_fix_unless(ctx.migration().changes_field_after(op, model_name, name), fix),
        );
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        let table = match action {
            SqlAction::AddConstraint {
                table,
                kind: ConstraintKind::ForeignKey,
                not_valid: false,
                ..
            }
            | SqlAction::AddColumn {
                table,
                references: true,
                ..
            } => table,
            _ => return,
        };
        if ctx.is_new_table(table) {
            return;
        }
        out.push(
            ctx.diagnostic(format!(
                "the foreign key on {} is validated as it is added: writes to both tables wait for the scan",
                ident(table)
            ))
            .help(
                "add it with `NOT VALID`, then run `ALTER TABLE ... VALIDATE CONSTRAINT ...` in a later migration",
            ),
        );
    }
}

/// The table and column a foreign key field references: the target model's table and
/// its primary key's column (or `to_field`'s), Django's defaults when the target's
/// history is not in the tree (`auth.User` -> `auth_user`.`id`); `None` when the target
/// is computed (a setting migrail cannot read, a swapper call).
fn referenced(
    ctx: &OpContext<'_>,
    model_name: &str,
    field: &crate::django::fields::FieldDef,
) -> Option<(String, String)> {
    use crate::django::python::Value;
    use crate::django::state::{model_key, ProjectState};
    let app = ctx.app();
    let key = match &field.target()?.value {
        Value::Str(s) if s.as_str() == "self" => model_key(app, model_name),
        target => ProjectState::resolve_target(target, app, ctx.settings)?,
    };
    let to_field = field
        .call
        .kwarg("to_field")
        .and_then(|v| v.value.as_str())
        .map(str::to_string);
    Some(match ctx.visit.state.get(&key) {
        Some(target) => {
            let table = target
                .table()
                .unwrap_or_else(|| crate::django::state::default_table(&key.0, &key.1));
            let column = match &to_field {
                Some(f) => target
                    .field(f)
                    .and_then(|d| d.column(f))
                    .unwrap_or_else(|| f.clone()),
                None => target
                    .fields
                    .iter()
                    .find(|(_, d)| d.primary_key() == Some(true))
                    .and_then(|(n, d)| d.column(n))
                    .unwrap_or_else(|| "id".to_string()),
            };
            (table, column)
        }
        None => (
            crate::django::state::default_table(&key.0, &key.1),
            to_field.unwrap_or_else(|| "id".to_string()),
        ),
    })
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "add-foreign-key-validates";

    fn with_author(next: (String, String)) -> Vec<(String, String)> {
        let mut files = with_initial(migration(
            "0002_author",
            "0001_initial",
            r#"        migrations.CreateModel(name="Author", fields=[("id", models.AutoField(primary_key=True))]),"#,
        ));
        files.push(next);
        files
    }

    #[test]
    fn err_add_foreign_key() {
        let files = with_author(migration(
            "0003_book_author",
            "0002_author",
            r#"        migrations.AddField("book", "author", models.ForeignKey("shop.Author", null=True, on_delete=models.SET_NULL)),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    /// Django's `_alter_field` drops a constrained foreign key's constraint before any
    /// change to its column and adds it back after: every row validated again. A change
    /// Django does not act on (`related_name`, `on_delete`, the label's case) is nothing.
    #[test]
    fn altering_a_constrained_foreign_key_column_re_adds_the_constraint() {
        let mut files = with_initial(migration(
            "0002_author",
            "0001_initial",
            r#"        migrations.CreateModel(name="Author", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.AddField("book", "author", models.ForeignKey("shop.Author", on_delete=models.CASCADE)),"#,
        ));
        files.push(migration(
            "0003_nullable",
            "0002_author",
            r#"        migrations.AlterField("book", "author", models.ForeignKey("shop.author", null=True, on_delete=models.SET_NULL, related_name="books")),"#,
        ));
        let text = render(&files, RULE);
        assert!(
            text.contains("AlterField changes the foreign key column \"shop_book\".\"author_id\": Django drops its constraint and adds it again"),
            "{text}"
        );
        assert!(
            text.contains("alter the field with `db_constraint=False`"),
            "{text}"
        );
        let last = files.len() - 1;
        files[last] = migration(
            "0003_nullable",
            "0002_author",
            r#"        migrations.AlterField("book", "author", models.ForeignKey("shop.author", on_delete=models.SET_NULL, related_name="books")),"#,
        );
        assert!(findings(&files, RULE).is_empty());
    }

    /// Django 6.1's database-level on_delete: switching to it changes the constraint's
    /// ON DELETE clause (drop and re-add, every row validated), and signals stop firing.
    #[test]
    fn switching_to_a_database_on_delete_re_adds_the_constraint() {
        let files = with_initial(migration(
            "0002_author",
            "0001_initial",
            r#"        migrations.CreateModel(name="Author", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.AddField("book", "author", models.ForeignKey("shop.Author", null=True, on_delete=models.CASCADE)),"#,
        ));
        let mut files = files;
        files.push(migration(
            "0003_db_cascade",
            "0002_author",
            r#"        migrations.AlterField("book", "author", models.ForeignKey("shop.Author", null=True, on_delete=models.DB_CASCADE)),"#,
        ));
        let text = render(&files, "add-foreign-key-validates");
        assert!(text.contains("changes the ON DELETE"), "{text}");
        assert!(text.contains("signals no longer fire"), "{text}");
        assert!(
            text.contains("ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED NOT VALID"),
            "{text}"
        );
        // Between two Python-level handlers nothing reaches the database.
        let mut plain = files.clone();
        plain[2].1 = plain[2].1.replace("DB_CASCADE", "PROTECT");
        assert!(findings(&plain, "add-foreign-key-validates").is_empty());
    }

    #[test]
    fn a_target_migrail_cannot_read_gets_no_table_guessed_and_no_fix() {
        let files = with_initial(migration(
            "0002_subnet",
            "0001_initial",
            r#"        migrations.AddField("book", "subnet", models.ForeignKey(null=True, on_delete=models.CASCADE, to=settings.IPAM_SUBNET_MODEL)),"#,
        ));
        let found = findings(&files, "add-foreign-key-validates");
        assert_eq!(found.len(), 1);
        let help = found[0].help.as_deref().unwrap_or_default();
        assert!(help.contains("<the target's table>"), "{help}");
        assert!(!help.contains("shop_book\" (\"id\")"), "{help}");
        assert!(found[0].fix.is_none());
        // `self` is the model itself.
        let own = with_initial(migration(
            "0002_parent",
            "0001_initial",
            r#"        migrations.AddField("book", "parent", models.ForeignKey("self", null=True, on_delete=models.CASCADE)),"#,
        ));
        let text = render(&own, "add-foreign-key-validates");
        assert!(text.contains("REFERENCES \"shop_book\" (\"id\")"), "{text}");
    }

    #[test]
    fn the_help_names_the_real_table_of_a_contrib_model() {
        let files = with_initial(migration(
            "0002_site",
            "0001_initial",
            r#"        migrations.AddField("book", "site", models.ForeignKey("sites.Site", null=True, on_delete=models.CASCADE)),"#,
        ));
        let text = render(&files, "add-foreign-key-validates");
        assert!(text.contains("REFERENCES \"django_site\""), "{text}");
        assert!(!text.contains("sites_site"), "{text}");
    }

    #[test]
    fn err_sql_constraint() {
        let files = with_author(migration(
            "0003_fk",
            "0002_author",
            r#"        migrations.RunSQL('ALTER TABLE shop_book ADD CONSTRAINT fk FOREIGN KEY (author_id) REFERENCES shop_author (id)', migrations.RunSQL.noop),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
    }

    #[test]
    fn ok_not_valid_no_constraint_and_new_table() {
        let files = with_author(migration(
            "0003_fk",
            "0002_author",
            r#"        migrations.AddField("book", "author", models.ForeignKey("shop.Author", null=True, on_delete=models.SET_NULL, db_constraint=False)),
        migrations.RunSQL('ALTER TABLE shop_book ADD CONSTRAINT fk FOREIGN KEY (author_id) REFERENCES shop_author (id) NOT VALID', migrations.RunSQL.noop),
        migrations.CreateModel(name="Shelf", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.AddField("shelf", "author", models.ForeignKey("shop.Author", on_delete=models.CASCADE)),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }
}
