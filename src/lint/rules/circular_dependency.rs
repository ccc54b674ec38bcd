//! `circular-dependency`: migrations that depend on each other in a cycle.

use crate::django::graph::GraphIssue;
use crate::lint::rule::{Axis, Diagnostic, MigrationContext, Rule, RuleMeta, Severity};

pub struct CircularDependency;

static META: RuleMeta = RuleMeta {
    name: "circular-dependency",
    severity: Severity::Error,
    axis: Axis::Graph,
    summary: "Migrations depend on each other in a cycle: Django refuses to migrate",
    doc: r#"## What it catches
A cycle through `dependencies` and `run_before` (a migrail addition to the catalog).

## Why it is unsafe
Django raises `CircularDependencyError` while building the plan: nothing is applied.

## Safe alternative
Break the cycle: usually one cross-app migration must be split so that the foreign key
is added in a later migration of one of the apps.
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

impl Rule for CircularDependency {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_migration(&self, ctx: &MigrationContext<'_>, out: &mut Vec<Diagnostic>) {
        let key = ctx.migration.key();
        for issue in ctx.graph.issues_of(&key) {
            let GraphIssue::Cycle { nodes } = issue else {
                continue;
            };
            if !nodes.contains(&key) {
                continue;
            }
            let names: Vec<String> = nodes.iter().map(|(a, n)| format!("{a}.{n}")).collect();
            out.push(Diagnostic::new(
                ctx.migration.class_range,
                format!("circular dependency: {}", names.join(" -> ")),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration};

    #[test]
    fn err_cycle() {
        let files = vec![
            migration("0001_a", "0002_b", ""),
            migration("0002_b", "0001_a", ""),
        ];
        assert_eq!(findings(&files, "circular-dependency").len(), 1);
    }

    #[test]
    fn ok_chain() {
        let files = vec![
            migration("0001_a", "__first__", "").clone(),
            migration("0002_b", "0001_a", ""),
        ];
        let mut files = files;
        files[0].1 = files[0].1.replace(r#"[("shop", "__first__")]"#, "[]");
        assert!(findings(&files, "circular-dependency").is_empty());
    }
}
