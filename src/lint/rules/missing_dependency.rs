//! `missing-dependency`: a dependency naming a migration that does not exist.

use crate::django::graph::GraphIssue;
use crate::lint::rule::{Axis, Diagnostic, MigrationContext, Rule, RuleMeta, Severity};

pub struct MissingDependency;

static META: RuleMeta = RuleMeta {
    name: "missing-dependency",
    severity: Severity::Error,
    axis: Axis::Graph,
    summary: "A dependency names a migration that is not in its (scanned) app",
    doc: r#"## What it catches
An entry of `dependencies` or `run_before` naming a migration of a scanned app that does
not exist (a typo, a renamed or deleted migration, a squash whose `replaces` dropped it).
A dependency on an app outside the scanned tree is only noted (severity info): migrail
cannot know its migrations.

## Why it is unsafe
Django raises `NodeNotFoundError` while loading the graph: `migrate` applies nothing and
the deploy fails.

## Safe alternative
Fix the name: `ls <app>/migrations/` shows the real ones. Scan the other app too
(`migrail lint path/to/project`) so migrail can check the dependency.
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

impl Rule for MissingDependency {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_migration(&self, ctx: &MigrationContext<'_>, out: &mut Vec<Diagnostic>) {
        let key = ctx.migration.key();
        for issue in ctx.graph.issues_of(&key) {
            match issue {
                GraphIssue::MissingDependency { from, app, name, range } if *from == key => out.push(
                    Diagnostic::new(*range, format!("dependency (\"{app}\", \"{name}\") does not exist: Django raises NodeNotFoundError"))
                        .help(format!("check the name against the files in `{app}/migrations/`")),
                ),
                GraphIssue::ExternalDependency { from, app, name, range } if *from == key => out.push(
                    Diagnostic::new(
                        *range,
                        format!("app `{app}` is not in the scanned tree: dependency (\"{app}\", \"{name}\") and its models' history are unknown"),
                    )
                    .info(),
                ),
                GraphIssue::UnresolvedDependency { from, text, range } if *from == key => out.push(
                    Diagnostic::new(*range, format!("swappable dependency on `{text}` cannot be resolved statically"))
                        .info(),
                ),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rule::Severity;
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "missing-dependency";

    #[test]
    fn err_typo() {
        let files = with_initial(migration("0002_x", "0001_inital", ""));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::Error);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn info_for_apps_outside_the_tree() {
        let (path, text) = migration("0002_x", "0001_initial", "");
        let text = text.replace(
            r#"[("shop", "0001_initial")]"#,
            r#"[("shop", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]"#,
        );
        let files = with_initial((path, text));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::Info);
    }

    #[test]
    fn ok_existing_dependency() {
        let files = with_initial(migration("0002_x", "0001_initial", ""));
        assert!(findings(&files, RULE).is_empty());
    }
}
