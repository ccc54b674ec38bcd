//! `drop-column`: a `RemoveField` that drops a column the old release still uses.

use crate::django::fields::FieldDef;
use crate::django::operations::OpKind;
use crate::fix::Fix;
use crate::lint::rule::{
    Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity, SqlContext,
};
use crate::lint::sql::SqlAction;

use super::{field_code, lower};

pub struct DropColumn;

static META: RuleMeta = RuleMeta {
    name: "drop-column",
    severity: Severity::Error,
    axis: Axis::Compatibility,
    summary: "RemoveField drops a column that the old release still selects and inserts",
    doc: r#"## What it catches
A `RemoveField` that changes the database: the column is dropped (for a many-to-many
field, its join table). Also a state-only `RemoveField` of a column that stays `NOT NULL`
without a database default.

## Why it is unsafe
The migration runs before the new code rolls out, and the old release keeps serving
traffic until its tasks drain. Django's ORM names every column of a model in its SELECTs
and INSERTs, so the old code touches the column whether or not the feature uses it: from
the moment the column is gone every query on the model from the old release fails with
`column "..." does not exist`. A code rollback does not bring the column back.

A state-only removal keeps the column but the new code stops writing it: if the column
is `NOT NULL` without a database default, every INSERT from the new release fails.

## Does not fire when
- the field was already removed from the state by an earlier migration (the second half
  of a two-release drop);
- the model was created in the same migration, or Django manages no table for it
  (`managed = False`, proxy models);
- the field is re-added under another name with the same definition in the same
  migration: `rename-as-remove-add` reports that rename;
- the model itself is deleted later in the same migration (Django's autodetector removes
  a model's foreign keys before the model): `drop-table` reports the drop.

## Safe alternative
Release 1 — make the column optional and remove the field from Django's state only:

```python
operations = [
    migrations.AlterField("book", "isbn", models.CharField(max_length=13, null=True)),
    migrations.SeparateDatabaseAndState(
        state_operations=[migrations.RemoveField("book", "isbn")],
    ),
]
```

Release 2 — once no old code runs, drop the column from the database:

```python
operations = [
    migrations.RunSQL('ALTER TABLE "shop_book" DROP COLUMN "isbn";', reverse_sql=migrations.RunSQL.noop),
]
```
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

impl Rule for DropColumn {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        let SqlAction::DropColumn { table, columns } = action else {
            return;
        };
        if ctx.is_new_table(table) {
            return;
        }
        for column in columns {
            // A column the state no longer has: the database half of a two-release drop.
            let Some((model, name, field)) = ctx.field_for_column(table, column) else {
                continue;
            };
            if ctx.op.accepted_post() && optional(field) {
                continue;
            }
            out.push(
                ctx.diagnostic(format!(
                    "RunSQL drops column {} of {} while `{}.{}.{name}` still has it: the old release's queries \
                     on the model fail until the rollout ends",
                    ctx.quote(column),
                    ctx.quote(table),
                    model.app,
                    model.name
                ))
                .help(two_ways_out(ctx.op, field)),
            );
        }
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        let OpKind::RemoveField { model_name, name } = &op.kind else {
            return;
        };
        if ctx.table_is_exempt(model_name) {
            return;
        }
        // The model goes later in this migration: `drop-table` reports the drop. A column
        // added earlier in this migration was never seen by the old release.
        if ctx.touches_database()
            && (ctx.deleted_later_in_migration(model_name)
                || ctx.field_added_here(model_name, name))
        {
            return;
        }
        let label = ctx.model_label(model_name);
        let table = ctx.table_name(model_name);
        // A model or field the state no longer has was removed by an earlier migration:
        // this is the database half of a two-release drop.
        let ModelLookup::Known(model) = ctx.model(model_name) else {
            return;
        };
        let Some(field) = model.field(name) else {
            // The model went through an operation migrail cannot read (a custom one may
            // have added the field): never silent.
            if !model.complete && ctx.touches_database() && !ctx.accepted_post() {
                out.push(
                    Diagnostic::at_operation(
                        op,
                        format!(
                            "RemoveField drops the column of `{label}.{name}` while the old release may still \
                             select and insert it (migrail lost track of `{label}` after an operation it \
                             cannot read: the column is `{name}`, or `{name}_id` for a relation)"
                        ),
                    )
                    .help(format!(
                        "release 1: remove it from the state only (making the column nullable first if it \
                         is NOT NULL):\n    \
                         migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField(\"{m}\", \"{name}\")]),\n\
                         release 2, once no old code runs: drop the column with RunSQL",
                        m = lower(model_name)
                    )),
                );
            }
            return;
        };
        // A many-to-many through a model of the project's own: its join table is that
        // model's, dropped (if ever) by its own DeleteModel.
        if field.is_m2m_through() {
            return;
        }
        // State only, and the model leaves this app's state in this migration (moved to
        // another app): nothing is dropped.
        if !ctx.touches_database() && ctx.migration().state_deletes_model_after(op, model_name) {
            return;
        }
        // Re-added under another name with the same definition: `rename-as-remove-add`.
        if ctx.touches_database()
            && super::rename_as_remove_add::matching_add(ctx, model_name, name, field).is_some()
        {
            return;
        }
        // Run after the rollout, by a pipeline that deploys in phases: the new code does
        // not use the column, and can insert without it.
        if ctx.touches_database() && ctx.accepted_post() && optional(field) {
            return;
        }

        if !ctx.touches_database() {
            if !field.has_column() || field.null() != Some(false) || field.db_default().is_some() {
                return;
            }
            let column = field.column(name).unwrap_or_else(|| name.clone());
            out.push(
                Diagnostic::at_operation(
                    op,
                    format!(
                        "`{label}.{name}` leaves Django's state but column {} of {} stays NOT NULL without a \
                         database default: the new release's INSERTs omit it and fail",
                        ctx.quote(&column),
                        ctx.quote(&table)
                    ),
                )
                .help(format!(
                    "make the column nullable before removing it from the state, in the same migration:\n    \
                     migrations.AlterField(\"{m}\", \"{name}\", {nullable}),",
                    m = lower(model_name),
                    nullable = field_code(field, &[("null", "True")]),
                )),
            );
            return;
        }

        let m = lower(model_name);
        let column = field.column(name).unwrap_or_else(|| name.clone());
        let (what, drop_sql) = if field.is_m2m() {
            (
                format!("drops the join table of many-to-many field `{label}.{name}`"),
                match field.join_table(&table, name) {
                    Some(join) => format!("DROP TABLE {};", ctx.quote(&join)),
                    None => "DROP TABLE the join table;".to_string(),
                },
            )
        } else {
            (
                format!(
                    "drops column {} of {}",
                    ctx.quote(&column),
                    ctx.quote(&table)
                ),
                format!(
                    "ALTER TABLE {} DROP COLUMN {};",
                    ctx.quote(&table),
                    ctx.quote(&column)
                ),
            )
        };
        let release1 = if optional(field) {
            format!(
                "release 1: remove it from the state only:\n    \
                 migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField(\"{m}\", \"{name}\")]),"
            )
        } else {
            format!(
                "release 1: make it optional and remove it from the state only:\n    \
                 migrations.AlterField(\"{m}\", \"{name}\", {nullable}),\n    \
                 migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField(\"{m}\", \"{name}\")]),",
                nullable = field_code(field, &[("null", "True")]),
            )
        };
        let fix = if field.is_m2m() {
            None
        } else if ctx.accepted_post() {
            // A post migration by inference, in a project that deploys in phases: the
            // nullable column and the state-only removal become `pre`, the drop a new
            // `post` migration. Not under an explicit after-deploy marker, which would run
            // the nullable step after the rollout too.
            (ctx.deploy_phases && ctx.phase.marker.is_none())
                .then(|| two_release_fix(ctx, &m, name, field, &table, &column))
        } else {
            Some(two_release_fix(ctx, &m, name, field, &table, &column))
        };
        let diagnostic = Diagnostic::at_operation(
                op,
                if ctx.accepted_post() {
                    // Reached only for a column the new release cannot leave out.
                    format!(
                        "RemoveField {what} after the rollout, but the new release no longer sets it: until \
                         this migration runs, its INSERTs on `{label}` leave out a NOT NULL column without a \
                         database default and fail"
                    )
                } else {
                    format!(
                        "RemoveField {what} while the old release still selects and inserts it: its queries on \
                         `{label}` fail until the rollout ends"
                    )
                },
            )
            .help(format!(
                "{release1}\n\
                 release 2, once no old code runs:\n    \
                 migrations.RunSQL('{drop_sql}', reverse_sql=migrations.RunSQL.noop),\n\
                 {}",
                two_ways_out(ctx, field)
            ));
        out.push(match fix {
            Some(fix) => diagnostic.with_fix(fix),
            None => diagnostic,
        });
    }
}

/// The fix of a `RemoveField`: the state-only removal now (nullable first when the new
/// release could not insert without the column), and the database drop after the
/// rollout — a new migration when the project deploys in phases (it runs with `--phase
/// post`), else the migration to add in the next release.
fn two_release_fix(
    ctx: &OpContext<'_>,
    m: &str,
    name: &str,
    field: &FieldDef,
    table: &str,
    column: &str,
) -> Fix {
    let mut now = Vec::new();
    if !optional(field) {
        now.push(format!(
            "migrations.AlterField(\"{m}\", \"{name}\", {})",
            field_code(field, &[("null", "True")])
        ));
    }
    now.push(crate::fix::separate(
        &[format!("migrations.RemoveField(\"{m}\", \"{name}\")")],
        &[],
    ));
    let (t, c) = (ctx.quote(table), ctx.quote(column));
    // MySQL reads the portable type names only (not `timestamp with time zone`, `uuid`).
    let portable = |t: &crate::django::fields::DbType| {
        !ctx.settings.database.is_mysql()
            || !matches!(t, crate::django::fields::DbType::Named { name }
                if !matches!(name.as_str(), "integer" | "bigint" | "smallint" | "boolean" | "date" | "double precision"))
    };
    let reverse = match field.db_type().filter(portable) {
        Some(db_type) => format!("'ALTER TABLE {t} ADD COLUMN {c} {db_type} NULL;'"),
        None => "migrations.RunSQL.noop".to_string(),
    };
    let drop = vec![format!(
        "migrations.RunSQL(\n    'ALTER TABLE {t} DROP COLUMN {c};',\n    reverse_sql={reverse},\n)"
    )];
    let fix = Fix::replace(now, true);
    if ctx.deploy_phases {
        fix.then(drop, true)
    } else {
        fix.next_release(drop, true)
    }
}

/// The new code stops writing the column: it must accept rows without it. A nullable
/// column, one with a database default or a join table already does.
fn optional(field: &FieldDef) -> bool {
    field.is_m2m() || field.null() == Some(true) || field.db_default().is_some()
}

/// The second way out, besides two releases: run the drop after the rollout.
fn two_ways_out(ctx: &OpContext<'_>, field: &FieldDef) -> String {
    let when = if ctx.accepted_post() {
        "this migration already runs after the rollout, but"
    } else {
        "or deploy in phases: run this migration after the rollout (`migrail run --phase post`, with \
         `deploy-phases = true` in the configuration or `safe = Safe.after_deploy()` on the migration);"
    };
    if optional(field) {
        format!("{when} then the drop is safe as it is")
    } else {
        format!(
            "{when} the column must first become nullable (or get a `db_default`) in an earlier migration, \
             or the new release's INSERTs fail during the rollout"
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, findings_with, migration, render, with_initial};

    const RULE: &str = "drop-column";

    /// 0002 adds a Tag model, a BookTag through model and two many-to-many fields.
    fn with_tags() -> Vec<(String, String)> {
        with_initial(migration(
            "0002_tags",
            "0001_initial",
            r#"        migrations.CreateModel(name="Tag", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.CreateModel(name="BookTag", fields=[("id", models.AutoField(primary_key=True)), ("book", models.ForeignKey("shop.Book", on_delete=models.CASCADE)), ("tag", models.ForeignKey("shop.Tag", on_delete=models.CASCADE))]),
        migrations.AddField("book", "tags", models.ManyToManyField(to="shop.Tag", through="shop.BookTag")),
        migrations.AddField("book", "labels_for_the_catalogue_of_the_bookshop_and_even_more_words", models.ManyToManyField(to="shop.Tag", related_name="+")),"#,
        ))
    }

    #[test]
    fn m2m_through_drops_nothing_and_a_join_table_is_named_as_django_names_it() {
        let mut files = with_tags();
        files.push(migration(
            "0003_untag",
            "0002_tags",
            r#"        migrations.RemoveField("book", "tags"),
        migrations.RemoveField("book", "labels_for_the_catalogue_of_the_bookshop_and_even_more_words"),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(
            found.len(),
            1,
            "only the auto-created join table: {found:?}"
        );
        let text = render(&files, RULE);
        // Django's truncate_name: 59 characters and the first 4 of the MD5 of the name.
        assert!(
            text.contains(
                "DROP TABLE \"shop_book_labels_for_the_catalogue_of_the_bookshop_and_evenb024\";"
            ),
            "{text}"
        );
        assert!(!text.contains("the join table;"), "{text}");
    }

    #[test]
    fn a_removal_after_an_operation_migrail_cannot_read_is_reported() {
        let mut files = with_initial(migration(
            "0002_custom",
            "0001_initial",
            r#"        shop.operations.AddRating("book"),"#,
        ));
        files[1].1 = files[1].1.replace(
            "from django.db import migrations, models",
            "from django.db import migrations, models\nimport shop.operations",
        );
        files.push(migration(
            "0003_drop_rating",
            "0002_custom",
            r#"        migrations.RemoveField("book", "rating"),"#,
        ));
        let text = render(&files, RULE);
        assert_eq!(findings(&files, RULE).len(), 1, "{text}");
        assert!(text.contains("lost track of `shop.Book`"), "{text}");
    }

    #[test]
    fn a_state_only_removal_of_a_model_moved_to_another_app_drops_nothing() {
        let files = with_initial(migration(
            "0002_move",
            "0001_initial",
            r#"        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.RemoveField("book", "title"),
            migrations.DeleteModel("Book"),
        ]),"#,
        ));
        assert!(
            findings(&files, RULE).is_empty(),
            "{}",
            render(&files, RULE)
        );
    }

    #[test]
    fn ok_accepted_post_migration_of_a_nullable_column() {
        let files = with_initial(migration(
            "0002_remove_subtitle",
            "0001_initial",
            r#"        migrations.RemoveField(model_name="book", name="subtitle"),"#,
        ));
        // Not accepted: the help names both ways out.
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1);
        let help = found[0].help.as_deref().unwrap_or_default();
        assert!(
            help.contains("deploy-phases = true") && help.contains("release 2"),
            "{help}"
        );
        // Accepted by the configuration.
        assert!(findings_with(&files, RULE, true).is_empty());
        // Accepted by an explicit marker (django-safemigrate), called or not.
        for marker in ["Safe.after_deploy()", "Safe.after_deploy"] {
            let marked: Vec<_> = files
                .iter()
                .map(|(p, t)| {
                    (
                        p.clone(),
                        t.replace(
                            "    dependencies",
                            &format!("    safe = {marker}\n    dependencies"),
                        )
                        .replace(
                            "from django.conf import settings",
                            "from django_safemigrate import Safe",
                        ),
                    )
                })
                .collect();
            assert!(findings(&marked, RULE).is_empty(), "{marker}");
        }
    }

    #[test]
    fn err_post_migration_still_needs_a_nullable_column_or_a_mixed_one() {
        let not_null = with_initial(migration(
            "0002_remove_isbn",
            "0001_initial",
            r#"        migrations.RemoveField(model_name="book", name="isbn"),"#,
        ));
        let found = findings_with(&not_null, RULE, true);
        assert_eq!(found.len(), 1);
        assert!(found[0]
            .help
            .as_deref()
            .unwrap_or_default()
            .contains("must first become nullable"));
        // The fix: nullable and out of the state before the rollout, the drop in a new
        // migration after it.
        let (_, fix) = found[0].fix.as_deref().expect("a fix");
        assert_eq!(fix.steps.len(), 2, "{fix:?}");
        assert!(fix.steps[0].operations[0].contains("null=True"), "{fix:?}");
        assert!(
            fix.steps[1].operations[0].contains("DROP COLUMN \"isbn\""),
            "{fix:?}"
        );
        let mixed = with_initial(migration(
            "0002_swap",
            "0001_initial",
            r#"        migrations.AddField("book", "summary", models.TextField(null=True)),
        migrations.RemoveField(model_name="book", name="subtitle"),"#,
        ));
        assert_eq!(findings_with(&mixed, RULE, true).len(), 1);
    }

    #[test]
    fn err_sql_drop_of_a_column_the_state_still_has() {
        let files = with_initial(migration(
            "0002_drop",
            "0001_initial",
            r#"        migrations.RunSQL('ALTER TABLE shop_book DROP COLUMN isbn, DROP COLUMN gone', migrations.RunSQL.noop),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].message.contains("shop.Book.isbn"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn err_remove_field() {
        let files = with_initial(migration(
            "0002_remove_isbn",
            "0001_initial",
            r#"        migrations.RemoveField(model_name="book", name="isbn"),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn err_state_only_removal_of_a_not_null_column() {
        let files = with_initial(migration(
            "0002_forget_isbn",
            "0001_initial",
            r#"        migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField("book", "isbn")]),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].message.contains("stays NOT NULL"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn err_nullable_column_needs_only_the_state_step() {
        let files = with_initial(migration(
            "0002_remove_subtitle",
            "0001_initial",
            r#"        migrations.RemoveField(model_name="book", name="subtitle"),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1);
        let help = found[0].help.as_deref().unwrap_or_default();
        assert!(!help.contains("AlterField"), "{help}");
        assert!(help.contains(r#"DROP COLUMN "subtitle""#), "{help}");
    }

    #[test]
    fn ok_two_release_recipe() {
        let release1 = with_initial(migration(
            "0002_forget_isbn",
            "0001_initial",
            r#"        migrations.AlterField("book", "isbn", models.CharField(max_length=13, null=True)),
        migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField("book", "isbn")]),"#,
        ));
        assert!(findings(&release1, RULE).is_empty());
        let mut release2 = release1.clone();
        release2.push(migration(
            "0003_drop_isbn",
            "0002_forget_isbn",
            r#"        migrations.SeparateDatabaseAndState(database_operations=[migrations.RemoveField("book", "isbn")]),
        migrations.RunSQL('ALTER TABLE "shop_book" DROP COLUMN "isbn";', reverse_sql=migrations.RunSQL.noop),"#,
        ));
        assert!(findings(&release2, RULE).is_empty());
    }

    #[test]
    fn ok_field_of_model_created_in_same_migration() {
        let files = with_initial(migration(
            "0002_author",
            "0001_initial",
            r#"        migrations.CreateModel(name="Author", fields=[("id", models.AutoField(primary_key=True)), ("nick", models.CharField(max_length=5))]),
        migrations.RemoveField("author", "nick"),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }

    #[test]
    fn ok_unmanaged_model() {
        let files = vec![
            migration(
                "0001_initial",
                "__first__",
                r#"        migrations.CreateModel(name="Legacy", fields=[("id", models.AutoField(primary_key=True)), ("x", models.IntegerField())], options={"managed": False}),"#,
            ),
            migration(
                "0002_remove",
                "0001_initial",
                r#"        migrations.RemoveField("legacy", "x"),"#,
            ),
        ];
        assert!(findings(&files, RULE).is_empty());
    }
}
