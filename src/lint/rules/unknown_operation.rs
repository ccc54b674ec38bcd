//! `unknown-operation`: an operation (or operations list) migrail cannot judge.

use crate::django::migration::ProblemKind;
use crate::django::operations::OpKind;
use crate::lint::rule::{Axis, Diagnostic, MigrationContext, OpContext, Rule, RuleMeta, Severity};

pub struct UnknownOperation;

static META: RuleMeta = RuleMeta {
    name: "unknown-operation",
    severity: Severity::Warning,
    axis: Axis::Input,
    summary: "A custom operation, or operations computed at run time, that migrail cannot judge",
    doc: r#"## What it catches
- a call in `operations` that is not a Django operation migrail knows (a custom
  `Operation` subclass, a third-party operation);
- a known operation whose arguments cannot be read statically;
- `operations` (or `dependencies`, `atomic`...) built at run time: a conditional on a
  setting, a comprehension, a function call.

An entry of `dependencies` computed at run time (a swappable model's
`swapper.dependency(...)`) is a note in an initial migration: the missing edge only orders
tables nobody uses yet, on a fresh install where Django resolves it.

## Why it is unsafe
migrail cannot tell what such an operation does to the schema, so it cannot judge it,
and the model state after it may be incomplete. It may be perfectly safe; a person has
to decide.

## Safe alternative
Review it by hand, then suppress the warning with the reason, or write the operations
as a literal list so that migrail can read them.
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

impl Rule for UnknownOperation {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        if let OpKind::Unknown { reason } = &op.kind {
            out.push(
                Diagnostic::at_operation(
                    op,
                    format!("migrail cannot judge this operation: {reason}"),
                )
                .help("review what it does to the schema by hand; migrail lints around it"),
            );
        }
    }

    fn check_migration(&self, ctx: &MigrationContext<'_>, out: &mut Vec<Diagnostic>) {
        for problem in ctx.migration.problems.iter().filter(|p| {
            matches!(
                p.kind,
                ProblemKind::Unreadable
                    | ProblemKind::UnreadableOperations
                    | ProblemKind::UnreadableDependency
            )
        }) {
            let d = Diagnostic::new(problem.range, problem.message.clone())
                .help("write it as a literal so that migrail can read it, or review it by hand");
            // An edge the graph lacks, in an initial migration (tables nobody uses yet):
            // the order only matters on a fresh install, where Django resolves it.
            let harmless = problem.kind == ProblemKind::UnreadableDependency
                && ctx.migration.initial == Some(true);
            out.push(if harmless { d.info() } else { d });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "unknown-operation";

    #[test]
    fn warn_custom_operation() {
        let (path, text) = migration("0002_custom", "0001_initial", "        Backfill(\"book\"),");
        let text = text.replace(
            "import django.db.models.deletion",
            "from shop.ops import Backfill",
        );
        let files = with_initial((path, text));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn a_run_time_dependency_of_an_initial_migration_is_a_note() {
        let (path, text) = migration("0002_swappable", "0001_initial", "");
        let text = text
            .replace(
                "dependencies = [(\"shop\", \"0001_initial\")]",
                "dependencies = [(\"shop\", \"0001_initial\"), swapper.dependency(\"config\", \"Device\")]",
            )
            .replace("import django.db.models.deletion", "import swapper");
        let severity = |files: &[(String, String)]| {
            let found = findings(files, RULE);
            assert_eq!(found.len(), 1, "{found:?}");
            found[0].severity
        };
        let files = with_initial((path.clone(), text.clone()));
        assert_eq!(severity(&files), crate::lint::rule::Severity::Warning);
        let initial = text.replace("    dependencies", "    initial = True\n    dependencies");
        let files = with_initial((path, initial));
        assert_eq!(severity(&files), crate::lint::rule::Severity::Info);
    }

    #[test]
    fn warn_runtime_operations_list() {
        let (path, text) = migration("0002_dyn", "0001_initial", "");
        let text = text.replace(
            "operations = [\n\n    ]",
            "operations = [migrations.RunSQL(\"SELECT 1\")] if settings.DEBUG else []",
        );
        let files = with_initial((path, text));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("computed at run time"));
    }

    #[test]
    fn ok_known_operations() {
        let files = with_initial(migration(
            "0002_ok",
            "0001_initial",
            "        migrations.AddField(\"book\", \"n\", models.IntegerField(null=True)),",
        ));
        assert!(findings(&files, RULE).is_empty());
    }
}
