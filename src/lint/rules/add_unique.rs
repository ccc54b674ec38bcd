//! `add-unique`: a unique constraint or index added to an existing table.

use crate::django::operations::OpKind;
use crate::lint::rule::{
    Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity, SqlContext,
};
use crate::lint::sql::{ConstraintKind, SqlAction};

use super::{field_code, ident, lower, one_line};
use crate::django::python::Value;
use crate::fix::{separate, Fix};

pub struct AddUnique;

static META: RuleMeta = RuleMeta {
    name: "add-unique",
    severity: Severity::Error,
    axis: Axis::CompatibilityAndLocking,
    summary:
        "A unique constraint is added to an existing table, building its index under a write lock",
    doc: r#"## What it catches
`unique=True` added by `AddField` or `AlterField`, an `AddConstraint` of a
`UniqueConstraint`, and an `AlterUniqueTogether` that adds a tuple — on an existing table.

## Why it is unsafe
- Locking: PostgreSQL builds the unique index while holding a SHARE lock: every INSERT,
  UPDATE and DELETE on the table waits for the whole build.
- Compatibility: the migration fails if duplicates exist, and the old release's writes
  that create duplicates start failing.

## Does not fire when
- the table is created in the same migration, or Django manages no table for it.

## Safe alternative
Build the index concurrently, then attach it as the constraint (a quick catalog change),
and tell Django's state what happened. In a migration with `atomic = False`:

```python
operations = [
    migrations.SeparateDatabaseAndState(
        database_operations=[
            migrations.RunSQL(
                'CREATE UNIQUE INDEX CONCURRENTLY "shop_book_isbn_uniq" ON "shop_book" ("isbn");',
                reverse_sql='DROP INDEX CONCURRENTLY "shop_book_isbn_uniq";',
            ),
            migrations.RunSQL(
                'ALTER TABLE "shop_book" ADD CONSTRAINT "shop_book_isbn_uniq" UNIQUE USING INDEX "shop_book_isbn_uniq";',
                reverse_sql='ALTER TABLE "shop_book" DROP CONSTRAINT "shop_book_isbn_uniq";',
            ),
        ],
        state_operations=[migrations.AlterField("book", "isbn", models.CharField(max_length=13, unique=True))],
    ),
]
```
"#,
    preflight: Some("duplicate values"),
    engines: crate::lint::rule::Engines::Postgresql,
};

impl Rule for AddUnique {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        let table = match action {
            SqlAction::AddConstraint {
                table,
                kind: ConstraintKind::Unique,
                ..
            }
            | SqlAction::CreateIndex {
                table,
                unique: true,
                concurrently: false,
                ..
            }
            | SqlAction::AddColumn {
                table,
                unique: true,
                ..
            } => table,
            _ => return,
        };
        if ctx.is_new_table(table) {
            return;
        }
        let t = ident(table);
        out.push(
            ctx.diagnostic(format!(
                "RunSQL builds a unique index on {t} while blocking every write to it, and fails on existing duplicates"
            ))
            .help("`CREATE UNIQUE INDEX CONCURRENTLY` (in a migration with `atomic = False`), then `ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX ...`"),
        );
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        if !ctx.touches_database() {
            return;
        }
        let (model_name, columns, constraint_name): (&String, Vec<String>, Option<String>) =
            match &op.kind {
                OpKind::AddField {
                    model_name,
                    name,
                    field,
                } => {
                    if field.unique() != Some(true) || !field.has_column() {
                        return;
                    }
                    (
                        model_name,
                        vec![field.column(name).unwrap_or_else(|| name.clone())],
                        None,
                    )
                }
                OpKind::AlterField {
                    model_name,
                    name,
                    field,
                } => {
                    if field.unique() != Some(true) || !field.has_column() {
                        return;
                    }
                    let ModelLookup::Known(model) = ctx.model(model_name) else {
                        return;
                    };
                    match model.field(name).map(|f| f.unique()) {
                        Some(Some(false)) => {}
                        _ => return,
                    }
                    (
                        model_name,
                        vec![field.column(name).unwrap_or_else(|| name.clone())],
                        None,
                    )
                }
                OpKind::AddConstraint {
                    model_name,
                    constraint,
                    ..
                } => {
                    if !constraint.is_unique() {
                        return;
                    }
                    (
                        model_name,
                        self.columns(ctx, model_name, &constraint.fields),
                        constraint.name.clone(),
                    )
                }
                OpKind::AlterUniqueTogether { name, together } => {
                    let ModelLookup::Known(model) = ctx.model(name) else {
                        return;
                    };
                    let (Some(old), Some(new)) = (&model.unique_together, together) else {
                        return;
                    };
                    let Some(added) = new.iter().find(|set| !old.contains(set)) else {
                        return;
                    };
                    (name, self.columns(ctx, name, added), None)
                }
                _ => return,
            };
        if ctx.table_is_exempt(model_name) {
            return;
        }
        let table = ctx.table_name(model_name);
        let cols = columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let refs: Vec<&str> = columns.iter().map(String::as_str).collect();
        let index = constraint_name
            .unwrap_or_else(|| crate::django::names::index_name(&table, &refs, "_uniq"));
        let (t, i) = (ident(&table), ident(&index));
        let (help, fix) = unique_help(ctx, &t, &i, &cols);
        let on_columns = if cols.is_empty() {
            String::new()
        } else {
            format!(" ({cols})")
        };
        let diagnostic = Diagnostic::at_operation(
                op,
                format!(
                    "{} adds a unique constraint on {t}{on_columns}: the index build blocks every write to {t}, and the \
                     migration fails on existing duplicates",
                    op.name()
                ),
            )
            .help(help);
        out.push(match fix {
            Some(fix) => diagnostic.with_fix(fix),
            None => diagnostic,
        });
    }
}

/// The safe sequence for a unique constraint: the index built concurrently and attached
/// (`USING INDEX`), or, for a partial or expression constraint (PostgreSQL attaches no such
/// index), the unique index alone; the operation kept for the state, as written.
fn unique_help(ctx: &OpContext<'_>, t: &str, i: &str, cols: &str) -> (String, Option<Fix>) {
    let op = ctx.op();
    let state_op = one_line(ctx.source_text(op.range()));
    let constraint = op
        .call
        .arg(Some(1), "constraint")
        .and_then(|v| v.value.as_call());
    let partial = constraint.and_then(|c| c.kwarg("condition"));
    let expressions =
        constraint.is_some_and(|c| !c.args.is_empty() || c.kwarg("expressions").is_some());
    let model = op.model().unwrap_or_default();
    let drop_index = format!("reverse_sql='DROP INDEX CONCURRENTLY IF EXISTS {i};'");
    // `nulls_distinct=False` (Django 5.0+, PostgreSQL 15+): NULLs count as equal; the index
    // must say so, or the constraint built on it lets duplicate NULL keys in.
    let nulls = match constraint
        .and_then(|c| c.kwarg("nulls_distinct"))
        .map(|v| &v.value)
    {
        None | Some(Value::Bool(true)) | Some(Value::None) => Some(""),
        Some(Value::Bool(false)) => Some(" NULLS NOT DISTINCT"),
        Some(_) => None,
    };
    let Some(nulls) = nulls else {
        return (
            format!(
                "`nulls_distinct` is computed at run time: in a migration with `atomic = False`, take the \
                 `CREATE UNIQUE INDEX` statement `python manage.py sqlmigrate {app} {migration}` prints for this \
                 operation, add `CONCURRENTLY`, and use it as the `database_operations` of a \
                 `SeparateDatabaseAndState` whose `state_operations` are this operation",
                app = ctx.app(),
                migration = ctx.migration().name,
            ),
            None,
        );
    };
    let database: Vec<String> = if partial.is_some() || expressions {
        let condition = partial.and_then(|c| q_to_sql(ctx, model, &c.value));
        let expression_sql = constraint.and_then(|c| expressions_to_sql(ctx, model, c));
        let on = match (&expression_sql, expressions) {
            (Some(sql), true) => Some(sql.clone()),
            (None, true) => None,
            (_, false) => Some(cols.to_string()),
        };
        let condition_ok = partial.is_none() || condition.is_some();
        match (on, condition_ok) {
            (Some(on), true) => {
                let filter = condition.map(|c| format!(" WHERE {c}")).unwrap_or_default();
                let filter = format!("{nulls}{filter}");
                let fix = Fix::replace(
                    vec![separate(
                        std::slice::from_ref(&state_op),
                        &[format!(
                            "migrations.RunSQL(\n    'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {i} ON {t} ({on}){filter};',\n    {drop_index},\n)"
                        )],
                    )],
                    false,
                );
                return (
                    format!(
                        "in a migration with `atomic = False`, build the unique index concurrently (PostgreSQL \
                         cannot attach a partial or expression index as a constraint: the index alone enforces \
                         it, as Django's own does), keeping this operation for the state only:\n{}",
                        fix.describe()
                    ),
                    Some(fix),
                );
            }
            _ => {
                return (
                    format!(
                        "PostgreSQL cannot attach a partial or expression unique index as a constraint: build the \
                         index concurrently and keep this operation for the state only, in a migration with \
                         `atomic = False`. Take the `CREATE UNIQUE INDEX {i} ...` statement `python manage.py \
                         sqlmigrate {app} {migration}` prints for this operation, add `CONCURRENTLY`, and use it \
                         as the `database_operations` of a `SeparateDatabaseAndState` whose `state_operations` \
                         are this operation",
                        app = ctx.app(),
                        migration = ctx.migration().name,
                    ),
                    None,
                );
            }
        }
    } else {
        let mut sql = vec![
            format!(
                "migrations.RunSQL(\n    'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {i} ON {t} ({cols}){nulls};',\n    {drop_index},\n)"
            ),
            format!(
                "migrations.RunSQL(\n    'ALTER TABLE {t} ADD CONSTRAINT {i} UNIQUE USING INDEX {i};',\n    \
                 reverse_sql='ALTER TABLE {t} DROP CONSTRAINT {i};',\n)"
            ),
        ];
        // A unique varchar or text field also gets Django's `_like` index (pattern
        // operators) on PostgreSQL.
        sql.extend(like_index(ctx));
        sql
    };
    match &op.kind {
        // The column must exist before its index: add it without `unique` first.
        // A one-to-one field is unique by its class: there is no AddField without it.
        OpKind::AddField { field, .. } if field.is_one_to_one() => (
            "add the column without the constraint (a ForeignKey with `db_index=False`), then build \
             the unique index concurrently and attach it in a migration with `atomic = False`, and \
             switch the field to OneToOneField for the state only"
                .to_string(),
            None,
        ),
        OpKind::AddField {
            model_name,
            name,
            field,
        } => {
            let m = lower(model_name);
            let fix = Fix::replace(
                vec![format!(
                    "migrations.AddField(\"{m}\", \"{name}\", {})",
                    field_code(field, &[("unique", "")])
                )],
                true,
            )
            .then(
                vec![separate(
                    &[format!(
                        "migrations.AlterField(\"{m}\", \"{name}\", {})",
                        field_code(field, &[])
                    )],
                    &database,
                )],
                false,
            );
            (
                format!(
                    "add the column without `unique`, then, in the next migration (`atomic = False`), build \
                     the index concurrently and attach it, changing the state as written:\n{}",
                    fix.describe()
                ),
                Some(fix),
            )
        }
        _ => {
            let fix = Fix::replace(vec![separate(&[state_op], &database)], false);
            (
                format!(
                    "in a migration with `atomic = False`, build the index concurrently and attach it, keeping \
                     this operation for the state only:\n{}",
                    fix.describe()
                ),
                Some(fix),
            )
        }
    }
}

/// Django's `_like` index for a unique varchar/text field this `AddField`/`AlterField`
/// makes unique, as a concurrent `RunSQL`.
fn like_index(ctx: &OpContext<'_>) -> Option<String> {
    let op = ctx.op();
    let (model_name, name, field) = match &op.kind {
        OpKind::AddField {
            model_name,
            name,
            field,
        }
        | OpKind::AlterField {
            model_name,
            name,
            field,
        } => (model_name, name, field),
        _ => return None,
    };
    let ops = match field.db_type()? {
        crate::django::fields::DbType::Varchar { .. } => "varchar_pattern_ops",
        crate::django::fields::DbType::Text => "text_pattern_ops",
        _ => return None,
    };
    if field.primary_key() == Some(true) {
        return None;
    }
    let table = ctx.table_name(model_name);
    let column = field.column(name).unwrap_or_else(|| name.clone());
    let like = crate::django::names::index_name(&table, &[column.as_str()], "_like");
    Some(format!(
        "migrations.RunSQL(\n    'CREATE INDEX CONCURRENTLY IF NOT EXISTS {l} ON {t} ({c} {ops});',\n    \
         reverse_sql='DROP INDEX CONCURRENTLY IF EXISTS {l};',\n)",
        l = ident(&like),
        t = ident(&table),
        c = ident(&column),
    ))
}

/// The expressions of a `UniqueConstraint(Lower("title"), F("isbn"), ...)` as index
/// elements (`(LOWER("title")), "isbn"`); `None` for anything else.
fn expressions_to_sql(
    ctx: &OpContext<'_>,
    model: &str,
    constraint: &crate::django::python::Call,
) -> Option<String> {
    if constraint.args.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    for arg in &constraint.args {
        let call = arg.value.as_call()?;
        let field = match call.args.as_slice() {
            [f] if call.kwargs.is_empty() => f.value.as_str()?,
            _ => return None,
        };
        let column = ident(&ctx.column_of(model, field));
        parts.push(match call.short_name() {
            "F" => column,
            "Lower" => format!("(LOWER({column}))"),
            "Upper" => format!("(UPPER({column}))"),
            _ => return None,
        });
    }
    Some(parts.join(", "))
}

/// A `Q(...)` of literal lookups as SQL written inside the help's single-quoted Python
/// string (`Q(deleted_at__isnull=True, status="live")` -> `"deleted_at" IS NULL AND
/// "status" = \'live\'`); `None` for anything else.
fn q_to_sql(ctx: &OpContext<'_>, model: &str, q: &Value) -> Option<String> {
    let call = q.as_call()?;
    if call.short_name() != "Q"
        || !call.args.is_empty()
        || call.has_unpacked
        || call.kwargs.is_empty()
    {
        return None;
    }
    let literal = super::sql_literal;
    // Django's `Q(**kwargs)` sorts its lookups by name: the SQL follows that order.
    let mut lookups: Vec<&(crate::django::python::Name, crate::django::python::Spanned)> =
        call.kwargs.iter().collect();
    lookups.sort_by(|a, b| a.0.cmp(&b.0));
    let mut parts = Vec::new();
    for (key, value) in lookups {
        let (field, lookup) = key.split_once("__").unwrap_or((key.as_str(), "exact"));
        if lookup.contains("__") {
            return None;
        }
        let column = ident(&ctx.column_of(model, field));
        let part = match (lookup, &value.value) {
            ("exact", Value::None) | ("isnull", Value::Bool(true)) => format!("{column} IS NULL"),
            ("isnull", Value::Bool(false)) => format!("{column} IS NOT NULL"),
            ("exact", v) => format!("{column} = {}", literal(v)?),
            ("gt", v) => format!("{column} > {}", literal(v)?),
            ("gte", v) => format!("{column} >= {}", literal(v)?),
            ("lt", v) => format!("{column} < {}", literal(v)?),
            ("lte", v) => format!("{column} <= {}", literal(v)?),
            _ => return None,
        };
        parts.push(part);
    }
    Some(parts.join(" AND "))
}

impl AddUnique {
    /// Column names of `fields` of the model, from the state where known.
    fn columns(&self, ctx: &OpContext<'_>, model_name: &str, fields: &[String]) -> Vec<String> {
        fields
            .iter()
            .map(|f| match ctx.model(model_name) {
                ModelLookup::Known(m) => m
                    .field(f)
                    .and_then(|d| d.column(f))
                    .unwrap_or_else(|| f.clone()),
                ModelLookup::Unknown => f.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "add-unique";

    #[test]
    fn err_alter_field_unique() {
        let files = with_initial(migration(
            "0002_isbn_unique",
            "0001_initial",
            r#"        migrations.AlterField(model_name="book", name="isbn", field=models.CharField(max_length=13, unique=True)),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn err_constraint_together_and_add_field() {
        let files = with_initial(migration(
            "0002_uniques",
            "0001_initial",
            r#"        migrations.AddConstraint("book", models.UniqueConstraint(fields=["title", "isbn"], name="uniq_title_isbn")),
        migrations.AlterUniqueTogether(name="book", unique_together={("title", "price")}),
        migrations.AddField("book", "slug", models.SlugField(null=True, unique=True)),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 3);
        insta::assert_snapshot!(render(&files, RULE));
    }

    /// `nulls_distinct=False` survives into the index the help builds (its proof on
    /// PostgreSQL is tests/helps.rs's `unique_nulls_not_distinct`); a computed value gets
    /// no guessed SQL.
    #[test]
    fn nulls_not_distinct_is_kept_in_the_index() {
        let files = with_initial(migration(
            "0002_nnd",
            "0001_initial",
            r#"        migrations.AddConstraint("book", models.UniqueConstraint(fields=["isbn", "subtitle"], nulls_distinct=False, name="uniq_isbn_sub")),
        migrations.AddConstraint("book", models.UniqueConstraint(fields=["isbn"], condition=models.Q(pages__gt=0), nulls_distinct=False, name="uniq_isbn_paged")),
        migrations.AddConstraint("book", models.UniqueConstraint(fields=["title"], nulls_distinct=NULLS, name="uniq_title")),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 3);
        let plain = found[0].help.as_deref().unwrap_or_default();
        assert!(
            plain.contains(r#"ON "shop_book" ("isbn", "subtitle") NULLS NOT DISTINCT;"#)
                && plain.contains("USING INDEX"),
            "{plain}"
        );
        let partial = found[1].help.as_deref().unwrap_or_default();
        assert!(
            partial.contains(r#"("isbn") NULLS NOT DISTINCT WHERE "pages" > 0;"#),
            "{partial}"
        );
        let computed = found[2].help.as_deref().unwrap_or_default();
        assert!(
            computed.contains("sqlmigrate shop 0002_nnd")
                && !computed.contains("CREATE UNIQUE INDEX CONCURRENTLY IF"),
            "{computed}"
        );
    }

    /// A partial constraint: the unique index alone (PostgreSQL refuses `USING INDEX`),
    /// its condition as SQL; an expression constraint: the statement to take from
    /// `sqlmigrate`.
    #[test]
    fn err_partial_and_expression_constraints() {
        let files = with_initial(migration(
            "0002_partial",
            "0001_initial",
            r#"        migrations.AddConstraint("book", models.UniqueConstraint(fields=["isbn"], condition=models.Q(subtitle__isnull=True, pages__gt=0), name="uniq_isbn_live")),
        migrations.AddConstraint("book", models.UniqueConstraint(django.db.models.functions.Lower("title"), name="uniq_title_ci")),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 2);
        let partial = found[0].help.as_deref().unwrap_or_default();
        assert!(
            partial
                .contains(r#"ON "shop_book" ("isbn") WHERE "pages" > 0 AND "subtitle" IS NULL;"#)
                && !partial.contains("USING INDEX"),
            "{partial}"
        );
        let expression = found[1].help.as_deref().unwrap_or_default();
        assert!(
            expression.contains(r#"ON "shop_book" ((LOWER("title")));"#),
            "{expression}"
        );
        insta::assert_snapshot!(render(&files, RULE));
        // An expression migrail cannot write as SQL: the statement Django prints.
        let other = with_initial(migration(
            "0002_expr",
            "0001_initial",
            r#"        migrations.AddConstraint("book", models.UniqueConstraint(django.db.models.functions.Coalesce("subtitle", "title"), name="uniq_sub"))"#,
        ));
        let found = findings(&other, RULE);
        let help = found[0].help.as_deref().unwrap_or_default();
        assert!(help.contains("sqlmigrate shop 0002_expr"), "{help}");
    }

    #[test]
    fn ok_concurrent_recipe_and_new_table() {
        let files = with_initial(migration(
            "0002_isbn_unique",
            "0001_initial",
            r#"        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL('CREATE UNIQUE INDEX CONCURRENTLY "u" ON "shop_book" ("isbn");'),
                migrations.RunSQL('ALTER TABLE "shop_book" ADD CONSTRAINT "u" UNIQUE USING INDEX "u";'),
            ],
            state_operations=[migrations.AlterField("book", "isbn", models.CharField(max_length=13, unique=True))],
        ),
        migrations.CreateModel(name="Shelf", fields=[("id", models.AutoField(primary_key=True)), ("code", models.CharField(max_length=5))]),
        migrations.AlterField("shelf", "code", models.CharField(max_length=5, unique=True)),
        migrations.AlterUniqueTogether(name="shelf", unique_together={("id", "code")}),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }
}
