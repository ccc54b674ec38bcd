//! `mixed-deploy-phase`: one migration holding operations that must run before the
//! rollout and operations that must wait until after it.

use crate::lint::phase::Phase;
use crate::lint::rule::{Axis, Diagnostic, MigrationContext, Rule, RuleMeta, Severity};

pub struct MixedDeployPhase;

static META: RuleMeta = RuleMeta {
    name: "mixed-deploy-phase",
    severity: Severity::Error,
    axis: Axis::Phase,
    summary: "A migration mixes operations that must run before the rollout with ones that must wait until after it",
    doc: r#"## What it catches
A migration with a `pre` operation (additive: a new column, table or constraint the new
code needs) and a `post` operation (subtractive: dropping what the old code still uses).
See `migrail plan` for each operation's phase.

## Why it is unsafe
A migration runs as a whole. Run before the rollout, its `post` part breaks the old
release; run after it, the new release starts without its `pre` part. No point in the
deploy suits it. A deploy marker (`safe = Safe.after_deploy()`) does not change that.

## Safe alternative
Split it: one migration with the additive operations, applied before the rollout
(`migrail run --phase pre`), and one with the subtractive ones, applied after it
(`migrail run --phase post`) or in the next release.
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

impl Rule for MixedDeployPhase {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_migration(&self, ctx: &MigrationContext<'_>, out: &mut Vec<Diagnostic>) {
        if !ctx.phase.mixed {
            return;
        }
        let list = |phase: Phase| {
            ctx.phase
                .operations
                .iter()
                .filter(|o| o.phase == phase)
                .map(|o| o.reason.clone())
                .collect::<Vec<_>>()
                .join("; ")
        };
        out.push(
            Diagnostic::new(
                ctx.migration.class_range,
                format!(
                    "this migration must run before the rollout ({}) and after it ({}): no moment of the deploy \
                     suits it",
                    list(Phase::Pre),
                    list(Phase::Post)
                ),
            )
            .help(
                "split it: the additive operations in one migration (before the rollout), the subtractive ones in \
                 a later one (after the rollout, or in the next release)",
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "mixed-deploy-phase";

    #[test]
    fn err_add_and_drop_together() {
        let files = with_initial(migration(
            "0002_swap",
            "0001_initial",
            r#"        migrations.AddField("book", "summary", models.TextField(null=True)),
        migrations.RemoveField("book", "subtitle"),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn ok_one_direction_and_any() {
        let files = with_initial(migration(
            "0002_add",
            "0001_initial",
            r#"        migrations.AddField("book", "summary", models.TextField(null=True)),
        migrations.AlterModelOptions("book", {"ordering": ["title"]}),
        migrations.RunPython(forwards, migrations.RunPython.noop),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }
}
