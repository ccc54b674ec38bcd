//! `runsql-unparsed`: SQL migrail cannot read, so no rule could judge it.

use crate::django::operations::OpKind;
use crate::lint::rule::{Axis, Diagnostic, OpContext, Rule, RuleMeta, Severity, SqlContext};
use crate::lint::sql::{self, SqlAction};

pub struct RunsqlUnparsed;

static META: RuleMeta = RuleMeta {
    name: "runsql-unparsed",
    severity: Severity::Warning,
    axis: Axis::Input,
    summary: "RunSQL holds SQL that migrail cannot parse or that is built at run time",
    doc: r#"## What it catches
A `RunSQL` statement (forward `sql` or `reverse_sql`) that sqlparser's PostgreSQL dialect
cannot parse and migrail does not recognise, or SQL built at run time (an f-string, a
function call, a name imported from elsewhere). Catalog-only statements sqlparser cannot
read are recognised and not reported: `ALTER INDEX|SEQUENCE [IF EXISTS] ... RENAME TO`,
`CREATE [OR REPLACE] FUNCTION|PROCEDURE|TRIGGER|TYPE|AGGREGATE|OPERATOR`, `CREATE
CONSTRAINT TRIGGER`, their `DROP`, and `COMMENT ON`. Statements of one SQL string that
cannot be placed one by one are reported once per distinct message.

## Why it is unsafe
Every other rule judges the SQL it can read: this statement may drop, rename or lock
anything, and nothing has checked it.

## Safe alternative
Review the statement by hand, then suppress the finding with the reason:
`# migrail: ignore[runsql-unparsed] -- reviewed: only touches a new table`.
Prefer literal SQL strings over SQL assembled at run time.
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

impl Rule for RunsqlUnparsed {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        if let SqlAction::Unparsed { reason } = action {
            out.push(
                ctx.diagnostic(format!(
                    "migrail cannot judge this SQL: {reason}; no rule checked it"
                ))
                .help("review it by hand, then suppress with `# migrail: ignore[runsql-unparsed] -- <why it is safe>`"),
            );
        }
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let OpKind::RunSQL {
            reverse_sql: Some(reverse),
            ..
        } = &ctx.op().kind
        else {
            return;
        };
        if !ctx.touches_database() {
            return;
        }
        for statement in sql::analyse_for(
            reverse,
            &ctx.migration().source,
            ctx.settings.database.is_mysql(),
        ) {
            for action in &statement.actions {
                if let SqlAction::Unparsed { reason } = action {
                    out.push(
                        Diagnostic::new(
                            statement.range,
                            format!("migrail cannot read this reverse_sql: {reason}"),
                        )
                        .help("check the rollback by hand (`manage.py sqlmigrate --backwards`)"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "runsql-unparsed";

    #[test]
    fn err_unparsable_and_dynamic_sql() {
        let files = with_initial(migration(
            "0002_sql",
            "0001_initial",
            r#"        migrations.RunSQL("""
            UPDATE shop_book SET pages = 0;
            THIS IS NOT SQL;
        """, reverse_sql=migrations.RunSQL.noop),
        migrations.RunSQL(f"DROP TABLE {settings.X}", reverse_sql="ALSO NOT SQL"),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 3);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn ok_plain_sql() {
        let files = with_initial(migration(
            "0002_sql",
            "0001_initial",
            r#"        migrations.RunSQL(["UPDATE shop_book SET pages = 0", ("UPDATE shop_book SET title = %s", ["x"])], migrations.RunSQL.noop),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }
}
